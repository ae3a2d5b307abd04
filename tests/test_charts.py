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
