"""Chart functions against hostile values: series reaching 1e296, inf and NaN must neither crash
nor collapse an axis; each chart still draws its finite data (measured from the PNG's pixels)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.report import charts


def _pixels_of(png, hex_colour, tol=60) -> int:
    """Pixels of the PNG within ``tol`` (RGB distance, 0-255) of the colour: drawn data."""
    import matplotlib.image as mpimg

    img = (mpimg.imread(png)[..., :3] * 255).astype(float)
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], float)
    return int(np.sum(np.linalg.norm(img - rgb, axis=-1) < tol))


HOSTILE = np.array([1.0, 1e10, 1e150, 8.55e296, math.inf, math.nan])


@pytest.mark.parametrize("logy", [True, False])
def test_line_chart_survives_1e296_inf_and_nan(tmp_path, logy):
    x = np.arange(1, HOSTILE.size + 1, dtype=float) * 16
    c = charts.line_chart(tmp_path, "hostile", "max|w| vs n", {"midpoint": (x, HOSTILE), "left": (x[:3], HOSTILE[:3] * 3)},
                          "n", "max |w|", logy=logy)
    png = tmp_path / c.png
    assert _pixels_of(png, charts.colour("midpoint")) > 200, "no midpoint data drawn"
    assert _pixels_of(png, charts.colour("left")) > 100, "no left data drawn"
    csv = pd.read_csv(tmp_path / c.csv)
    assert len(csv) == HOSTILE.size + 3  # the CSV keeps every value, inf and NaN included


def test_log_axis_limits_cover_the_data_up_to_float64s_range(tmp_path):
    """The chart spans its finite data: the largest value, 8.55e296, lies inside the y limits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3, 4], HOSTILE[:4])
    charts._log_axis(ax, HOSTILE)
    fig.canvas.draw()  # ticks formatted: no OverflowError
    lo, hi = ax.get_ylim()
    plt.close(fig)
    assert lo <= 1.0 and hi >= 8.55e296 and math.isfinite(hi)


def test_scatter_heatmap_band_and_failure_charts_survive_hostile_values(tmp_path):
    c = charts.scatter_chart(tmp_path, "sc", "bits lost vs log2 cond", {"float32": (HOSTILE, HOSTILE[::-1])},
                             "log2 cond", "bits lost", diagonal="y = x")
    assert c is not None and _pixels_of(tmp_path / c.png, charts.colour("float32")) > 20
    t = pd.DataFrame({"fmt": ["float32", "float32", "bfloat16", "bfloat16"], "bias": ["left", "midpoint"] * 2,
                      "v": [8.55e296, math.inf, math.nan, 2.0]})
    c = charts.heatmap_chart(tmp_path, "hm", "failure n", t, "v", "fmt", "bias", "value")
    assert c is not None and (tmp_path / c.png).stat().st_size > 5000
    c = charts.band_chart(tmp_path, "band", "accuracy", {"emulated": ([30, 100, 300], [0.5, math.nan, 0.1],
                                                                      [0.5, math.nan, 0.1], [0.5, math.nan, 0.1]),
                                                         "torch-cpu": ([30, 100, 300], [0.5, 0.2, 0.1],
                                                                       [0.3, math.nan, 0.0], [0.7, 0.4, 0.2])},
                          "n", "accuracy")
    assert _pixels_of(tmp_path / c.png, "#1f77b4", tol=90) > 50
    recs = [{"pipeline": "numpy", "target": "float32", "skipped": False, "n_fail": 215, "interval": [197, None],
             "censored": "none", "cause": "misfit", "n_min": 2, "n_max": 1 << 23},
            {"pipeline": "harness", "target": "bfloat16", "skipped": False, "n_fail": None, "interval": [None, None],
             "censored": "above", "cause": "", "n_min": 2, "n_max": 1 << 23},
            {"pipeline": "numpy", "target": "bfloat16", "skipped": True, "reason": "native only"}]
    c = charts.failure_n_chart(tmp_path, "fn", "failure n", recs)
    assert c is not None and len(pd.read_csv(tmp_path / c.csv)) == 2


def test_small_multiples_and_history_charts_survive_hostile_values(tmp_path):
    x = np.arange(1, HOSTILE.size + 1, dtype=float) * 16
    c = charts.small_multiples(tmp_path, "sm", "rate per bias", {"midpoint": {"float32": (x, HOSTILE)},
                                                                 "left": {"float64": (x, HOSTILE[::-1])}},
                               "n", "value", ends={("left", "float64"): (512.0, "collision")})
    assert c is not None and len(c.axes) == 2
    assert _pixels_of(tmp_path / c.png, charts.colour("float32")) > 30
    c = charts.history_chart(tmp_path, "hi", "ratio over runs", {"a": HOSTILE[:3], "b": [math.nan, 2.0, math.inf]},
                             ["r1", "r2", "r3"], "ratio", logy=True)
    assert c is not None and len(pd.read_csv(tmp_path / c.csv)) == 6
    one = charts.history_chart(tmp_path, "one", "one run", {"a": [3.0]}, ["r1"], "ratio")
    assert one is not None and one.axes


def test_the_pixel_measures_can_fail(tmp_path):
    """The page test's measures detect what they look for: a chart whose data are all NaN has an empty
    plot area, and a legend placed beside the axes of a figure saved without its tight bounding box is
    cut at the edge; the harness's own charts with the same legend are not."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from _pixels import drawn, edge_ink

    c = charts.line_chart(tmp_path, "empty", "nothing finite", {"midpoint": ([16, 32], [math.nan, math.nan])}, "n", "y")
    assert drawn(tmp_path / c.png, c.axes[0], c.legends)[0] < 20
    assert drawn(tmp_path / c.png, c.axes[0])[0] >= 20  # its legend alone would have passed
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.plot([1, 2], [1, 2], label="a long legend entry that runs off the figure")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(tmp_path / "cut.png")  # the canvas as it is: the legend falls outside
    fig.canvas.draw()
    _, words = charts.artist_boxes(fig, fig.canvas.get_renderer(), 0.0, 0.0, 300)
    plt.close(fig)
    assert edge_ink(tmp_path / "cut.png") == 0  # ink at the edge alone does not see it...
    assert any(r > 500 for _, _, r, _ in words)  # ...the legend's box does
    names = {f"a long legend entry number {k} that runs off the figure": ([1, 2], [k, k + 1]) for k in range(30)}
    c = charts.history_chart(tmp_path, "long", "long legend", {k: v[1] for k, v in names.items()}, ["r1", "r2"], "y")
    assert edge_ink(tmp_path / c.png) == 0 and drawn(tmp_path / c.png, c.axes[0], c.legends)[0] > 100


def test_every_known_name_has_its_own_colour():
    names = charts._KNOWN + tuple(charts._FIXED)
    assert len({charts.colour(n) for n in charts._KNOWN}) == len(charts._KNOWN)
    for group in charts._GROUPS:  # names drawn together never share a colour
        assert len({charts.colour(n) for n in group}) == len(group), group
    assert {charts.colour(n) for n in ("lapack", "backsub", "closed form", "estimate")}.__len__() == 4
    assert all(charts.colour(n).startswith("#") for n in names)
