"""Seeded generators of inputs and labels.

Data: ``f(n, d, rng, param) -> X`` (n, d) float64. Labels: ``f(n, rng, rank, param)``
-> (n,) or (n, k) float64, where ``rank[i]`` is point i's position in projection
order (only ``alternating`` looks at it).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import HarnessError
from .registry import Registry, int_param

__all__ = ["DATA", "LABELS", "make_data", "make_labels", "label_kind"]

DATA = Registry("data")
LABELS = Registry("labels")


@DATA.register("uniform")
def uniform(n, d, rng, param=None):
    """Uniform on the unit cube [0, 1)^d."""
    return rng.random((n, d))


@DATA.register("gaussian")
def gaussian(n, d, rng, param=None):
    """Standard normal in R^d."""
    return rng.standard_normal((n, d))


@DATA.register("sphere")
def sphere(n, d, rng, param=None):
    """Uniform on the unit sphere S^(d-1)."""
    g = rng.standard_normal((n, d))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return g / norms


@DATA.register("equispaced")
def equispaced(n, d, rng, param=None):
    """x_i = (i / 2^K) (1, ..., 1), i = 0..n-1, 2^K >= n: exact dyadic points on the diagonal.

    Every direction a with sum(a) != 0 sees equally spaced projections
    i * sum(a) / 2^K; with a = ones they are exact in float64 (d * i / 2^K).
    The row order is shuffled (seeded) so that sorting is exercised.
    """
    scale = 2.0 ** -max(math.ceil(math.log2(max(n, 1))), 0)
    t = np.arange(n, dtype=np.float64) * scale
    return np.repeat(t[rng.permutation(n), None], d, axis=1)


@DATA.register("lattice")
def lattice(n, d, rng, param=None):
    """Integer pixel-like values 0..255 (collides constantly under a = ones)."""
    return rng.integers(0, 256, size=(n, d)).astype(np.float64)


@LABELS.register("binary")
def binary(n, rng, rank, param=None):
    """0/1 labels, fair coin per point."""
    return rng.integers(0, 2, size=n).astype(np.float64)


@LABELS.register("real")
def real(n, rng, rank, param=None):
    """Standard normal real labels."""
    return rng.standard_normal(n)


@LABELS.register("alternating")
def alternating(n, rng, rank, param=None):
    """0, 1, 0, 1, ... in projection order: every neighbouring pair differs (adversarial)."""
    return (np.asarray(rank) % 2).astype(np.float64)


@LABELS.register("classes", param="K")
def classes(n, rng, rank, param):
    """One-hot labels for K random classes: (n, K), a K-output network."""
    k = int_param(f"labels classes:{param} (K)", param, 2)
    return np.eye(k)[rng.integers(0, k, size=n)]


def make_data(kind: str, n: int, d: int, rng) -> np.ndarray:
    """Generate inputs; validates n and d."""
    entry = DATA.get(kind)
    if int(n) < 1:
        raise HarnessError(f"n must be at least 1, got {n}")
    if int(d) < 1:
        raise HarnessError(f"d must be at least 1, got {d}")
    return entry.func(int(n), int(d), rng, entry.param)


def make_labels(kind: str, n: int, rng, rank) -> np.ndarray:
    entry = LABELS.get(kind)
    return entry.func(int(n), rng, rank, entry.param)


def label_kind(y: np.ndarray) -> str:
    """'classes' for one-hot rows, 'binary' for 0/1, 'integer' for other integers, else 'real'."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] > 1:
        if np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
            return "classes"
        return "real"
    if np.all((y == 0) | (y == 1)):
        return "binary"
    if np.all(y == np.round(y)):
        return "integer"
    return "real"
