"""Charts of a run's rows (matplotlib, Agg): PNG plus the CSV of the data behind it.

Every chart has a title, axes labelled with their units, a log (log2) axis where the
quantity spans decades, one colour per strategy or format that is the same in every
chart (:func:`colour`), and theory drawn dashed beside the measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Chart", "colour", "line_chart", "scatter_chart", "heatmap_chart", "band_chart", "failure_n_chart",
           "small_multiples", "history_chart", "png_size"]

#: Every name the harness draws, in groups that share charts (bias strategies, formats, solvers and
#: condition methods, evaluators, directions, stages, engines, pipelines, label sets). Each known name
#: has its own colour (no two share one, tests/test_charts.py), and inside a group they are far apart.
_GROUPS = (("midpoint", "left", "fraction:0.25", "fraction:0.75", "random", "fraction:0.3", "fraction:0.9"),
           ("float64", "float32", "tf32", "bfloat16", "float16", "float8_e4m3", "float8_e5m2", "bfloat16@float32",
            "float16@float32", "float32@float32", "tf32@float32/float32", "bfloat16@float32+rz"),
           ("recurrence", "backsub", "lapack", "exact", "estimate", "closed form"),
           ("sequential", "compensated", "dense", "prefix"),
           ("gaussian", "ones", "best-of:8", "maximin:8"),
           ("forward only", "solve only", "user"),
           ("emulated", "torch-cpu", "torch-cuda"),
           ("numpy", "torch", "harness", "harness-best"))
_KNOWN = tuple(name for g in _GROUPS for name in g)
#: 48 distinct colours (matplotlib's tab10, Dark2, Set1 and the dark halves of tab20b / tab20c), one per known
#: name in _KNOWN's order; names beyond them hash into it.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf", "#1b9e77", "#d95f02", "#7570b3", "#e7298a",
            "#66a61e", "#e6ab02", "#a6761d", "#e41a1c", "#377eb8", "#4daf4a",
            "#984ea3", "#ff7f00", "#a65628", "#f781bf",
            "#393b79", "#637939", "#8c6d31", "#843c39",
            "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#5254a3",
            "#8ca252", "#bd9e39", "#ad494a",
            "#a55194", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696", "#9c9ede", "#cedb9c",
            "#e7ba52", "#d6616b")


#: Pairs drawn together that must contrast whatever their palette index.
_FIXED = {"true": "#2ca02c", "randomized": "#d62728",
          # the precision stages, drawn together: strong, far apart, none in the palette
          "projection": "#a0522d", "build": "#0050a0", "forward": "#e08000", "whole": "#111111"}


def colour(name: str) -> str:
    """The colour of a strategy or format name, the same in every chart of every report."""
    if name in _FIXED:
        return _FIXED[name]
    if name in _KNOWN:
        return _PALETTE[_KNOWN.index(name) % len(_PALETTE)]
    h = sum((i + 1) * ord(c) for i, c in enumerate(name))
    return _PALETTE[h % len(_PALETTE)]


@dataclass(frozen=True)
class Chart:
    """A written chart: its files (relative to the report folder) and words."""

    slug: str
    title: str
    png: str
    csv: str
    caption: str
    width: int = 720             # the PNG's size in pixels (the page draws it at this size, never distorted)
    height: int = 440
    axes: tuple = ()             # each drawn axes' box in the PNG, (left, top, right, bottom) pixels
    legends: tuple = ()          # each legend's, title's and axis label's box in the PNG, the same way

    @property
    def axes_text(self) -> str:
        """The axes boxes as the page writes them (data-axes="l,t,r,b;...")."""
        return ";".join(",".join(map(str, b)) for b in self.axes)

    @property
    def legends_text(self) -> str:
        """The words' boxes as the page writes them (data-legends="l,t,r,b;...")."""
        return ";".join(",".join(map(str, b)) for b in self.legends)


#: Margin around the tight bounding box of every saved figure (inches).
_PAD_INCHES = 0.1


def _write(plt, fig, png: Path) -> tuple:
    """Save ``fig`` to ``png`` cropped to matplotlib's tight bounding box (every title, label and legend,
    wherever placed, lies inside the image: nothing is clipped at the edge) and return (width, height,
    the visible axes' boxes and the legends' boxes in PNG pixels)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer)
    fig.savefig(png, bbox_inches="tight", pad_inches=_PAD_INCHES)
    w, h = png_size(png)
    boxes = artist_boxes(fig, renderer, (tight.x0 - _PAD_INCHES) * fig.dpi, (tight.y0 - _PAD_INCHES) * fig.dpi, h)
    plt.close(fig)
    return (w, h, *boxes)


def artist_boxes(fig, renderer, ox: float, oy: float, height: int) -> tuple:
    """Boxes (left, top, right, bottom) in the pixels of an image of ``height`` whose lower left corner
    is display point (ox, oy): the visible axes, then every legend, title and axis label (the words a
    clipped chart would lose)."""
    def box(e):
        return (int(round(e.x0 - ox)), int(round(height - (e.y1 - oy))), int(round(e.x1 - ox)),
                int(round(height - (e.y0 - oy))))

    axes = [ax for ax in fig.axes if ax.get_visible()]
    words = [ax.get_legend() for ax in axes] + list(fig.legends)
    words += [t for ax in axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()]
    if fig._suptitle is not None:
        words.append(fig._suptitle)
    return (tuple(box(ax.get_window_extent(renderer)) for ax in axes),
            tuple(box(a.get_window_extent(renderer)) for a in words if a is not None))


def png_size(path) -> tuple:
    """(width, height) of a PNG file, from its IHDR header."""
    import struct

    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    return struct.unpack(">II", head[16:24])


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=100)
    return plt, fig, ax


def _save(plt, fig, out: Path, slug: str, title: str, caption: str, table) -> Chart:
    fig.tight_layout()
    png = out / f"{slug}.png"
    w, h, boxes, legends = _write(plt, fig, png)
    csv = out / f"{slug}.csv"
    table.to_csv(csv, index=False)
    return Chart(slug, title, png.name, csv.name, caption, w, h, boxes, legends)


def line_chart(out: Path, slug: str, title: str, series: dict, xlabel: str, ylabel: str, *, logx=True,
               logy=False, theory: dict | None = None, hline=None, caption: str = "", logx_base: int = 2,
               theory_label: str = "theory (dashed)", ends: dict | None = None) -> Chart | None:
    """Lines ``{name: (x, y)}`` (and dashed ``theory`` lines ``{name: (x, y)}``); ``ends``
    ({name: (x, why)}) marks where a series stops before the others: an 'x' on the top edge at that x,
    the reason in the legend."""
    import pandas as pd

    series = {k: v for k, v in series.items() if len(v[0])}
    if not series:
        return None
    plt, fig, ax = _figure()
    rows = []
    ys = []
    for name, (x, y) in series.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        fin = np.isfinite(x) & np.isfinite(y)  # inf (an overflowed weight) is in the CSV, not the plot
        if logy:
            fin &= y > 0
        ax.plot(x[fin], y[fin], "o-", color=colour(name), label=name, markersize=4)
        ys.append(y[fin])
        rows += [{"series": name, "x": a, "y": b, "kind": "measured"} for a, b in zip(x, y)]
    for name, (x, y) in (theory or {}).items():
        ax.plot(x, y, "--", color=colour(name), alpha=0.7, linewidth=1.2)
        rows += [{"series": name, "x": a, "y": b, "kind": "theory"} for a, b in zip(x, y)]
    for k, (hy, hl) in enumerate([hline] if hline is not None and not isinstance(hline, list) else (hline or [])):
        ax.axhline(hy, color=("#d62728", "#555555", "#999999", "#bbbbbb")[k % 4], linestyle=":", linewidth=1.2,
                   label=hl)
    if logx:
        ax.set_xscale("log", base=logx_base)
    if logy:
        _log_axis(ax, np.concatenate(ys) if ys else np.array([]))
    for name, (xe, why) in (ends or {}).items():
        ax.plot([xe], [1.0], "x", color=colour(name), markersize=9, mew=2.2, transform=ax.get_xaxis_transform(),
                clip_on=False, label=f"{name}: stops ({why})")
        rows.append({"series": name, "x": xe, "y": math.nan, "kind": f"stops: {why}"})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if theory:
        ax.plot([], [], "k--", alpha=0.7, label=theory_label)
    ax.legend(fontsize=8, ncol=2)
    return _save(plt, fig, out, slug, title, caption, pd.DataFrame(rows))


def _log_axis(ax, y) -> None:
    """A log y axis that holds data up to float64's range. matplotlib's own autoscale margin and
    LogLocator overflow past ~1e300 (the axis collapses, or the tick formatter raises
    OverflowError), so the limits (a 5% margin in log10, inside float64's range) and at most
    eight decade ticks are set here; nothing finite and positive: matplotlib's defaults."""
    from matplotlib.ticker import FixedLocator, NullLocator

    y = y[np.isfinite(y) & (y > 0)]
    if not y.size:
        ax.set_yscale("log")
        return
    lo, hi = float(np.log10(y.min())), float(np.log10(y.max()))
    pad = max(0.05 * (hi - lo), 0.1)
    top = min(hi + pad, 308.0)
    bottom = max(lo - pad, -320.0)
    ax.set_ylim(10.0 ** bottom, 10.0 ** top)  # before the scale: autoscale is off from here
    ax.set_yscale("log")
    need = max(1, math.ceil((math.floor(top) - math.ceil(bottom) + 1) / 8))
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200) if s >= need)  # round decade steps
    first, last = step * math.ceil(bottom / step), math.floor(top)
    ax.yaxis.set_major_locator(FixedLocator([10.0 ** k for k in range(first, last + 1, step)]))
    if step > 1:
        ax.yaxis.set_minor_locator(NullLocator())
    if -3 <= bottom and top <= 7:  # plain numbers (60, 4,096), not 6 x 10^1, where they fit
        from matplotlib.ticker import FuncFormatter

        plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:.3g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain if top - bottom < 1.2 else FuncFormatter(lambda v, _: ""))


def scatter_chart(out: Path, slug: str, title: str, groups: dict, xlabel: str, ylabel: str, *, diagonal=None,
                  band=None, caption: str = "", log: bool = False) -> Chart | None:
    """Points ``{name: (x, y)}``; ``diagonal`` draws y = x (dashed) with a label, ``band`` a factor band;
    ``log``: both axes log10 (points that are not finite and positive are in the CSV only)."""
    import pandas as pd

    groups = {k: v for k, v in groups.items() if len(v[0])}
    if not groups:
        return None
    plt, fig, ax = _figure()
    rows, lo, hi = [], math.inf, -math.inf
    ys = []
    for name, (x, y) in groups.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        fin = np.isfinite(x) & np.isfinite(y)
        if log:
            fin &= (x > 0) & (y > 0)
        ax.plot(x[fin], y[fin], "o", color=colour(name), label=name, markersize=3 if log else 4,
                alpha=0.5 if log else 0.8)
        ys.append(y[fin])
        rows += [{"series": name, "x": a, "y": b} for a, b in zip(x, y)]
        if fin.any():
            lo, hi = min(lo, x[fin].min(), y[fin].min()), max(hi, x[fin].max(), y[fin].max())
    if diagonal and math.isfinite(lo):
        ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label=diagonal)
        if band:
            ax.fill_between([lo, hi], [lo - band, hi - band], [lo, hi], color="grey", alpha=0.15,
                            label=f"documented factor ({2 ** band:g}x)")
    if log:
        ax.set_xscale("log")
        _log_axis(ax, np.concatenate(ys) if ys else np.array([]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return _save(plt, fig, out, slug, title, caption, pd.DataFrame(rows))


def heatmap_chart(out: Path, slug: str, title: str, table, value: str, rows: str, cols: str, label: str,
                  caption: str = "", text: str | None = None, colorbar_ticks=None) -> Chart | None:
    """A heat map of ``value`` over (rows x cols) of a DataFrame, values written in the cells (or the
    column ``text``: the cell's own words, e.g. "4,096" or "> 65,536"); ``colorbar_ticks``
    ({value: label}) labels the colour bar in the quantity's own units."""
    if table is None or table.empty:
        return None
    pivot = table.pivot_table(index=rows, columns=cols, values=value, aggfunc="median", dropna=False)
    words = (table.pivot_table(index=rows, columns=cols, values=text, aggfunc="first", dropna=False)
             .reindex(index=pivot.index, columns=pivot.columns) if text else None)
    if pivot.empty:
        return None
    plt, fig, ax = _figure()
    data = pivot.to_numpy(dtype=float)
    im = ax.imshow(np.where(np.isfinite(data), data, np.nan), aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(pivot.columns)), [str(c) for c in pivot.columns], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(pivot.index)), [str(i) for i in pivot.index], fontsize=8)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = data[i, j]
            if words is not None and isinstance(words.iat[i, j], str):
                text = words.iat[i, j]
            else:
                text = "-" if not np.isfinite(v) else (f"{v:.3g}" if abs(v) >= 1e4 or 0 < abs(v) < 0.01 else f"{v:.1f}")
            # dark text on the light (high) end of viridis, light text on the dark end: readable in grey too
            shade = im.norm(v) if np.isfinite(v) else 1.0  # a blank cell is the white background
            ax.text(j, i, text, ha="center", va="center", color="black" if shade > 0.55 else "white", fontsize=8)
    cb = fig.colorbar(im, ax=ax, label=label)
    if colorbar_ticks:
        cb.set_ticks(list(colorbar_ticks), labels=list(colorbar_ticks.values()))
    ax.set_title(title)
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    return _save(plt, fig, out, slug, title, caption, pivot.reset_index())


def band_chart(out: Path, slug: str, title: str, series: dict, xlabel: str, ylabel: str, *, logx=True,
               caption: str = "") -> Chart | None:
    """Lines with bands ``{name: (x, y, lo, hi)}``: 'emulated' solid, every other name dashed
    over its shaded band (a framework's 10-90% seed range)."""
    import pandas as pd

    series = {k: v for k, v in series.items() if len(v[0])}
    if not series:
        return None
    plt, fig, ax = _figure()
    rows = []
    # fixed, well-separated colours: the lines often coincide, and both must stay visible
    cols = {"emulated": "#1f77b4", "torch-cpu": "#d62728", "torch-cuda": "#2ca02c"}
    for name, (x, y, lo, hi) in series.items():
        x, y, lo, hi = (np.asarray(v, float) for v in (x, y, lo, hi))
        col = cols.get(name, colour(name))
        if name == "emulated":
            ax.plot(x, y, "o-", color=col, label=name, markersize=7, linewidth=3, alpha=0.55)
        else:
            ax.fill_between(x, lo, hi, color=col, alpha=0.13, label=f"{name}: 10-90% of seeds")
            ax.plot(x, y, "s--", color=col, label=f"{name}: mean", markersize=4, linewidth=1.3)
        rows += [{"series": name, "x": a, "y": b, "lo": c, "hi": d} for a, b, c, d in zip(x, y, lo, hi)]
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, out, slug, title, caption, pd.DataFrame(rows))


def failure_n_chart(out: Path, slug: str, title: str, recs: list, caption: str = "", *, rows: str = "target",
                    markers: str = "pipeline") -> Chart | None:
    """Failure n per ``rows`` value (a format) and ``markers`` value (a pipeline or a bias strategy), with
    the search's 95% interval as a bar; a search censored at its smallest n tried is drawn '<' there
    (failure n <= n_min), one censored at its largest '>' (failure n > n_max)."""
    import pandas as pd

    recs = [r for r in recs if not r.get("skipped")]
    if not recs:
        return None
    targets = list(dict.fromkeys(r[rows] for r in recs))
    names = list(dict.fromkeys(r[markers] for r in recs))
    plt, fig, ax = _figure()
    if len(targets) > 4:
        fig.set_size_inches(7.2, 1.2 + 0.62 * len(targets))
    table = []
    step = min(0.15, 0.8 / max(len(names), 1))
    for k, name in enumerate(names):
        off = (k - (len(names) - 1) / 2) * step
        col = colour(name)
        first = True
        for r in (r for r in recs if r[markers] == name):
            y = targets.index(r[rows]) + off
            lo, hi = r["interval"]
            if r["censored"] == "above":
                x, marker = r["n_max"], ">"
            elif r["censored"] == "below":
                x, marker = r["n_min"], "<"
            else:
                x, marker = r["n_fail"], "o"
            if lo is not None or hi is not None:
                ax.plot([lo if lo is not None else x, hi if hi is not None else x], [y, y], "-", color=col,
                        linewidth=2, alpha=0.5)
            ax.plot([x], [y], marker, color=col, markersize=8, label=name if first else None)
            first = False
            table.append({markers: name, rows: r[rows], "n_fail": r["n_fail"], "n_pass": r.get("n_pass"),
                          "lo": lo, "hi": hi, "censored": r["censored"], "n_min": r["n_min"], "n_max": r["n_max"],
                          "cause": r["cause"], "seeds": r.get("seeds")})
    ax.set_xscale("log", base=2)
    ax.set_yticks(range(len(targets)), targets)
    ax.set_ylim(len(targets) - 0.4, -0.6)  # the first row on top
    ax.set_xlabel("failure n (points): smallest n at which half the seeds fail; bar: 95% interval")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    if any(r["censored"] == "above" for r in recs):
        ax.plot([], [], ">", color="black", label="> n: never failed up to n")
    if any(r["censored"] == "below" for r in recs):
        ax.plot([], [], "<", color="black", label="< n: failed already at n")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _save(plt, fig, out, slug, title, caption, pd.DataFrame(table))


def small_multiples(out: Path, slug: str, title: str, panels: dict, xlabel: str, ylabel: str, *, logx=True,
                    logx_base: int = 2, hline=None, ylim=None, caption: str = "", ends: dict | None = None) -> Chart | None:
    """One small panel per key of ``panels`` (``{panel: {series: (x, y)}}``), shared axes, one legend:
    a quantity per strategy without pooling the strategies. ``ends`` ({(panel, series): (x, why)}) marks
    where a series stops (an 'x' at that n, with the reason in the legend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    panels = {p: {k: v for k, v in s.items() if len(v[0])} for p, s in panels.items()}
    panels = {p: s for p, s in panels.items() if s}
    if not panels:
        return None
    k = len(panels)
    cols = min(3, k)
    nrows = math.ceil(k / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(max(2.9 * cols, 5.2), max(2.3 * nrows + 0.5, 3.4)), dpi=100, sharex=True,
                             sharey=True, squeeze=False)
    rows, handles = [], {}
    for ax, (pname, series) in zip(axes.flat, panels.items()):
        for name, (x, y) in series.items():
            x, y = np.asarray(x, float), np.asarray(y, float)
            fin = np.isfinite(x) & np.isfinite(y)
            (h,) = ax.plot(x[fin], y[fin], "o-", color=colour(name), markersize=3.5, linewidth=1.4)
            handles.setdefault(name, h)
            rows += [{"panel": pname, "series": name, "x": a, "y": b} for a, b in zip(x, y)]
        for (p2, name), (xe, why) in (ends or {}).items():
            if p2 == pname:
                yl = ax.get_ylim() if ylim is None else ylim
                (h,) = ax.plot([xe], [yl[1]], "x", color=colour(name), markersize=8, mew=2, clip_on=False)
                handles.setdefault(f"{name}: stops ({why})", h)
                rows.append({"panel": pname, "series": name, "x": xe, "y": math.nan, "ends": why})
        if hline is not None:
            h = ax.axhline(hline[0], color="#d62728", linestyle=":", linewidth=1.1)
            handles.setdefault(hline[1], h)
        if logx:
            ax.set_xscale("log", base=logx_base)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(str(pname), fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[k:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    fig.suptitle(title)
    fig.legend(list(handles.values()), list(handles.keys()), loc="upper left", bbox_to_anchor=(0.995, 0.93),
               fontsize=8, borderaxespad=0)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    png = out / f"{slug}.png"
    w, h, boxes, legends = _write(plt, fig, png)
    csv = out / f"{slug}.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return Chart(slug, title, png.name, csv.name, caption, w, h, boxes, legends)


def history_chart(out: Path, slug: str, title: str, series: dict, runs: list, ylabel: str, *, logy=False,
                  caption: str = "") -> Chart | None:
    """Figures over runs: ``series`` {name: values per run} (NaN: not measured), x = the run, labelled
    with ``runs`` (dates); the axis spans [0.5, k + 0.5], so one or two runs read as runs, not as a
    fraction of one. The legend sits beside the plot, inside the saved image."""
    import pandas as pd

    series = {k: np.asarray(v, float) for k, v in series.items() if np.isfinite(np.asarray(v, float)).any()}
    if not series:
        return None
    plt, fig, ax = _figure()
    k = len(runs)
    x = np.arange(1, k + 1, dtype=float)
    rows, ys = [], []
    for name, y in series.items():
        fin = np.isfinite(y) & ((y > 0) if logy else True)
        ax.plot(x[fin], y[fin], "o-", color=colour(name), label=name, markersize=4, linewidth=1.3)
        ys.append(y[fin])
        rows += [{"series": name, "run": r, "value": v} for r, v in zip(runs, y)]
    ax.set_xlim(0.5, k + 0.5)
    step = max(1, math.ceil(k / 10))
    ax.set_xticks(x[::step], [runs[i] for i in range(0, k, step)], rotation=25, ha="right", fontsize=7)
    if logy:
        _log_axis(ax, np.concatenate(ys))
    ax.set_xlabel("run (date, oldest first)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ncol = 1 if len(series) <= 16 else 2
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, ncol=ncol)
    fig.tight_layout()
    png = out / f"{slug}.png"
    w, h, boxes, legends = _write(plt, fig, png)
    csv = out / f"{slug}.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return Chart(slug, title, png.name, csv.name, caption, w, h, boxes, legends)
