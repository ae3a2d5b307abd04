"""Measuring charts from their PNG pixels: drawn data inside an axes box, ink at the image's edge."""

from __future__ import annotations

import numpy as np

#: A pixel differs from the white background by more than this (0-255, any channel): drawn. The
#: grid (grey at alpha 0.3, ~#e7e7e7; ~#d7d7d7 where two grid lines cross) stays below it.
INK = 60


def ink(png) -> np.ndarray:
    """Boolean image: the drawn (non-background) pixels."""
    import matplotlib.image as mpimg

    px = (mpimg.imread(png)[..., :3] * 255).astype(np.int16)
    return np.max(255 - px, axis=-1) > INK


def edge_ink(png, width: int = 3) -> int:
    """Drawn pixels within ``width`` of the image's edge (a clipped title, label or legend has some)."""
    k = ink(png)
    return int(sum(a.sum() for a in (k[:width], k[-width:], k[:, :width], k[:, -width:])))


def drawn(png, box, legends=()) -> tuple:
    """(drawn pixels, their share) strictly inside the axes ``box`` (left, top, right, bottom), its
    frame and every legend box (the same form) left out: the data, not the words about it."""
    k = ink(png).copy()
    for l, t, r, b in legends:
        k[max(t - 2, 0):b + 2, max(l - 2, 0):r + 2] = False
    left, top, right, bottom = box
    inner = k[top + 3:bottom - 3, left + 3:right - 3]
    return int(inner.sum()), float(inner.mean()) if inner.size else 0.0
