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

__all__ = ["Chart", "colour", "line_chart", "scatter_chart", "heatmap_chart", "band_chart", "failure_n_chart"]

_KNOWN = ("midpoint", "left", "fraction:0.25", "fraction:0.3", "fraction:0.75", "fraction:0.9", "random",
          "float64", "float32", "tf32", "bfloat16", "float16", "float8_e4m3", "float8_e5m2",
          "recurrence", "backsub", "lapack", "exact", "sequential", "compensated", "dense", "prefix",
          "gaussian", "ones", "best-of:8", "forward only", "solve only", "user", "emulated", "torch-cpu",
          "torch-cuda", "true", "randomized", "maximin:8")
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")


#: Pairs drawn together that must contrast whatever their palette index.
_FIXED = {"true": "#2ca02c", "randomized": "#d62728"}


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


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=100)
    return plt, fig, ax


def _save(plt, fig, out: Path, slug: str, title: str, caption: str, table) -> Chart:
    fig.tight_layout()
    png = out / f"{slug}.png"
    fig.savefig(png)
    plt.close(fig)
    csv = out / f"{slug}.csv"
    table.to_csv(csv, index=False)
    return Chart(slug, title, png.name, csv.name, caption)


def line_chart(out: Path, slug: str, title: str, series: dict, xlabel: str, ylabel: str, *, logx=True,
               logy=False, theory: dict | None = None, hline=None, caption: str = "", logx_base: int = 2,
               theory_label: str = "theory (dashed)") -> Chart | None:
    """Lines ``{name: (x, y)}`` (and dashed ``theory`` lines ``{name: (x, y)}``)."""
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
    if hline is not None:
        ax.axhline(hline[0], color="#d62728", linestyle=":", linewidth=1.2, label=hline[1])
    if logx:
        ax.set_xscale("log", base=logx_base)
    if logy:
        _log_axis(ax, np.concatenate(ys) if ys else np.array([]))
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
                  caption: str = "") -> Chart | None:
    """A heat map of ``value`` over (rows x cols) of a DataFrame, values written in the cells."""
    if table is None or table.empty:
        return None
    pivot = table.pivot_table(index=rows, columns=cols, values=value, aggfunc="median")
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
            text = "-" if not np.isfinite(v) else (f"{v:.3g}" if abs(v) >= 1e4 or 0 < abs(v) < 0.01 else f"{v:.1f}")
            # dark text on the light (high) end of viridis, light text on the dark end: readable in grey too
            shade = im.norm(v) if np.isfinite(v) else 0.0
            ax.text(j, i, text, ha="center", va="center", color="black" if shade > 0.55 else "white", fontsize=8)
    fig.colorbar(im, ax=ax, label=label)
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


def failure_n_chart(out: Path, slug: str, title: str, recs: list, caption: str = "") -> Chart | None:
    """Failure n per target format (rows) and pipeline (markers) with the search's 95% interval;
    censored results drawn as '<' at the smallest n tried or '>' at the largest."""
    import pandas as pd

    recs = [r for r in recs if not r.get("skipped")]
    if not recs:
        return None
    targets = list(dict.fromkeys(r["target"] for r in recs))
    names = list(dict.fromkeys(r["pipeline"] for r in recs))
    plt, fig, ax = _figure()
    rows = []
    for k, name in enumerate(names):
        off = (k - (len(names) - 1) / 2) * 0.15
        col = _PALETTE[k % len(_PALETTE)]
        first = True
        for r in (r for r in recs if r["pipeline"] == name):
            y = targets.index(r["target"]) + off
            lo, hi = r["interval"]
            if r["censored"] == "above":
                x, marker = r["n_max"], ">"
            elif r["censored"] == "below":
                x, marker = r["n_min"], "<"
            else:
                x, marker = r["n_fail"], "o"
            if marker == "o" and (lo is not None or hi is not None):
                ax.plot([lo if lo is not None else x, hi if hi is not None else x], [y, y], "-", color=col,
                        linewidth=2, alpha=0.5)
            ax.plot([x], [y], marker, color=col, markersize=8, label=name if first else None)
            first = False
            rows.append({"pipeline": name, "target": r["target"], "n_fail": r["n_fail"], "lo": lo, "hi": hi,
                         "censored": r["censored"], "cause": r["cause"]})
    ax.set_xscale("log", base=2)
    ax.set_yticks(range(len(targets)), targets)
    ax.set_ylim(-0.6, len(targets) - 0.4)
    ax.set_xlabel("failure n (points): smallest n at which half the seeds fail; bar: 95% interval")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(plt, fig, out, slug, title, caption, pd.DataFrame(rows))
