"""Seeded generators of inputs and labels, and real data sets.

Data: ``f(n, d, rng, param) -> X`` (n, d) float64, or ``(X, y_true)`` for data that come
with labels of their own. Labels: ``f(n, rng, rank, param, true)`` -> (n,) or (n, k)
float64, where ``rank[i]`` is point i's position in projection order (only
``alternating`` looks at it) and ``true`` the data set's own labels (``true`` and
``randomized`` need them).

Real data sets (``digits``, ``patches``, ``cifar10:PATH``) have their own dimension d;
the requested d does not apply to them (:func:`native_dim`), and ask for no more
points than they hold.
"""

from __future__ import annotations

import functools
import math

from typing import Protocol

import numpy as np

from ..core.errors import HarnessError
from ..core.registry import Registry, int_param

__all__ = ["DATA", "LABELS", "BLOCKWISE", "blockwise", "check_size", "make_data", "make_dataset", "make_labels", "label_kind", "native_dim", "real_size"]

class DataSource(Protocol):
    """A data generator: X (n, d), or (X, the data's own labels), from n, d, a seeded
    Generator and the family's parameter text (None if plain)."""

    def __call__(self, n: int, d: int, rng, param: str | None = None): ...


class LabelSource(Protocol):
    """A label generator: y (n,) or (n, K) from n, a seeded Generator, each point's rank in
    projection order, the family's parameter text and the data's own labels (None if it has none)."""

    def __call__(self, n: int, rng, rank, param: str | None = None, true=None) -> np.ndarray: ...


DATA = Registry("data", DataSource)
LABELS = Registry("labels", LabelSource)


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


#: clustered:K: at most this many centres (K x d numbers, drawn whatever n is).
MAX_CLUSTERS = 2**20
#: classes:K: at most this many classes (a K-output network; the one-hot labels are n x K).
MAX_CLASSES = 2**16


@DATA.register("clustered", param="K")
def clustered(n, d, rng, param):
    """Gaussian mixture: K centres ~ N(0, I), points ~ N(centre, 0.05^2 I), seeded (the centres,
    the assignments and the offsets from three streams, so n points are a prefix of n + 1)."""
    k = int_param(f"data clustered:{param} (K)", param, 1, MAX_CLUSTERS)
    r_centre, r_assign, r_noise = rng.spawn(3)
    centres = r_centre.standard_normal((k, d))
    return centres[r_assign.integers(0, k, size=n)] + 0.05 * r_noise.standard_normal((n, d))


@DATA.register("near-duplicates", param="DELTA")
def near_duplicates(n, d, rng, param):
    """Pairs of points at distance DELTA (uniform on the cube; the second of a pair is the
    first moved DELTA in a random direction): the smallest gaps are ~DELTA |a|."""
    try:
        delta = float(param)
    except ValueError:
        raise HarnessError(f"data near-duplicates:{param}: DELTA must be a number") from None
    if not 0 < delta < 1:
        raise HarnessError(f"data near-duplicates:{param}: DELTA must be in (0, 1)")
    half = (n + 1) // 2
    r_base, r_step = rng.spawn(2)  # two streams, pairs interleaved: n points are a prefix of n + 1
    base = r_base.random((half, d))
    step = r_step.standard_normal((half, d))
    step *= delta / np.maximum(np.sqrt(np.sum(step * step, axis=1, keepdims=True)), 1e-300)
    X = np.empty((2 * half, d))
    X[0::2] = base
    X[1::2] = base + step
    return X[:n]


@DATA.register("low-rank", param="K")
def low_rank(n, d, rng, param):
    """Points on a random K-dimensional subspace of R^d (K <= d): uniform coefficients."""
    k = int_param(f"data low-rank:{param} (K)", param, 1)
    if k > d:
        raise HarnessError(f"data low-rank:{k}: K must be <= d = {d}")
    # Gram-Schmidt and the combination in elementwise numpy, not LAPACK's QR and a BLAS matmul:
    # those round differently with the CPU's kernel, and data must be the same on every machine
    G = rng.standard_normal((d, k))
    basis = np.empty((d, k))
    for j in range(k):
        v = G[:, j].copy()
        for i in range(j):
            v = v - np.sum(basis[:, i] * v) * basis[:, i]
        basis[:, j] = v / np.sqrt(np.sum(v * v))
    C = rng.random((n, k))
    X = C[:, :1] * basis[:, 0]
    for j in range(1, k):
        X = X + C[:, j:j + 1] * basis[:, j]
    return X


def _distinct(X, y):
    """Rows of X kept once each (the first occurrence, order kept): real sets hold exact
    duplicates (flat patches, repeated images), and a duplicate under two labels is a
    contradiction no function fits, not a numerical failure. Rows compare as raw bytes."""
    X = np.ascontiguousarray(X)
    rows = X.view(np.dtype((np.void, X.shape[1] * X.itemsize))).ravel()
    _, first = np.unique(rows, return_index=True)
    keep = np.sort(first)
    return X[keep], np.asarray(y)[keep]


def _take(name, X, y, n, rng, distinct: bool = False):
    """n seeded distinct points of a real data set (see _distinct)."""
    if not distinct:
        X, y = _distinct(X, y)
    if n > X.shape[0]:
        raise HarnessError(f"data {name} has {X.shape[0]} distinct points; asked for n = {n}")
    idx = rng.permutation(X.shape[0])[:n]
    return np.ascontiguousarray(X[idx], dtype=np.float64), np.asarray(y, np.float64)[idx]


@DATA.register("digits")
def digits(n, d, rng, param=None):
    """scikit-learn's bundled handwritten digits: 1,797 x 64 integer pixels (0..16), true labels 0..9
    (duplicates kept once)."""
    from sklearn.datasets import load_digits

    ds = load_digits()
    return _take("digits", ds.data, ds.target, n, rng)


#: scikit-image's bundled RGB photographs (shipped with the package, no download).
PATCH_IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina", "hubble_deep_field")
#: Patch side and stride: 32 x 32 x 3 (CIFAR's shape), overlapping by 24 pixels.
PATCH, PATCH_STRIDE = 32, 8


@functools.lru_cache(maxsize=1)
def _patch_bank():
    import skimage.data

    Xs, ys = [], []
    for label, name in enumerate(PATCH_IMAGES):
        im = np.asarray(getattr(skimage.data, name)())[..., :3]
        h, w = im.shape[:2]
        for r in range(0, h - PATCH + 1, PATCH_STRIDE):
            for c in range(0, w - PATCH + 1, PATCH_STRIDE):
                Xs.append(im[r:r + PATCH, c:c + PATCH].reshape(-1))
                ys.append(label)
    return _distinct(np.array(Xs, dtype=np.uint8), np.array(ys))


@DATA.register("patches")
def patches(n, d, rng, param=None):
    """32x32x3 patches (stride 8) of scikit-image's bundled photographs: a CIFAR-shaped real image
    set (d = 3072, integer pixels 0..255), labelled by source photograph (56,121 distinct patches)."""
    X, y = _patch_bank()
    return _take("patches", X, y, n, rng, distinct=True)


@DATA.register("cifar10", param="PATH")
def cifar10(n, d, rng, param):
    """The CIFAR-10 python batches in folder PATH (data_batch_1..5, test_batch): d = 3072, true labels."""
    from .datafiles import load_cifar10

    X, y = load_cifar10(param, max_rows=None)
    return _take(f"cifar10:{param}", X, y, n, rng)


#: Generators whose points depend on n as a whole (equispaced: the spacing is 2^-ceil(log2 n) and
#: the shuffle is of all n); every other source draws its points so that the first n of n + m
#: are the n-point data set (tests/test_data.py checks both ways).
NOT_PREFIX = ("equispaced",)

#: Generators whose rows, drawn block by block from one Generator (any block sizes), are bit for bit
#: those of one call for all n: each row is drawn alone, in order, from the one stream. These are
#: the ones a problem can stream (harness.build.streams.GeneratedSource; tests/test_streams.py holds
#: each to it). The others draw from several streams, or from all n at once.
BLOCKWISE = ("uniform", "gaussian", "sphere", "lattice")


def native_dim(kind: str):
    """The fixed dimension of a real data set, or None for generators that take d."""
    head = kind.split(":", 1)[0]
    return {"digits": 64, "patches": 3 * PATCH * PATCH, "cifar10": 3072}.get(head)


def real_size(kind: str) -> int:
    """How many distinct points a real data set holds (the largest n it accepts)."""
    head = kind.split(":", 1)[0]
    if head == "digits":
        from sklearn.datasets import load_digits

        ds = load_digits()
        return int(_distinct(ds.data, ds.target)[0].shape[0])
    if head == "patches":
        return int(_patch_bank()[0].shape[0])
    if head == "cifar10":
        from .datafiles import load_cifar10

        X, y = load_cifar10(kind.split(":", 1)[1], max_rows=None)
        return int(_distinct(X, y)[0].shape[0])
    raise HarnessError(f"data {kind}: a generator, not a real data set; give n")


@LABELS.register("true")
def true(n, rng, rank, param=None, true=None):
    """The data set's own labels (class numbers as one real output; real data only)."""
    if true is None:
        raise HarnessError("labels true: this data has no labels of its own (use digits, patches or cifar10:PATH)")
    return np.asarray(true, np.float64).copy()


@LABELS.register("randomized")
def randomized(n, rng, rank, param=None, true=None):
    """Each label replaced by a uniformly random class of the data set (the paper's randomization test)."""
    if true is None:
        raise HarnessError("labels randomized: this data has no labels of its own (use digits, patches or "
                           "cifar10:PATH)")
    classes = np.unique(np.asarray(true))
    return classes[rng.integers(0, classes.size, size=n)].astype(np.float64)


@LABELS.register("binary")
def binary(n, rng, rank, param=None, true=None):
    """0/1 labels, fair coin per point."""
    return rng.integers(0, 2, size=n).astype(np.float64)


@LABELS.register("real")
def real(n, rng, rank, param=None, true=None):
    """Standard normal real labels."""
    return rng.standard_normal(n)


@LABELS.register("alternating")
def alternating(n, rng, rank, param=None, true=None):
    """0, 1, 0, 1, ... in projection order: every neighbouring pair differs (adversarial)."""
    return (np.asarray(rank) % 2).astype(np.float64)


@LABELS.register("classes", param="K")
def classes(n, rng, rank, param, true=None):
    """One-hot labels for K random classes: (n, K), a K-output network."""
    k = int_param(f"labels classes:{param} (K)", param, 2, MAX_CLASSES)
    return np.eye(k)[rng.integers(0, k, size=n)]


def check_size(n: int, d: int) -> None:
    """Raise unless n, d >= 1 (every generator's first check)."""
    if int(n) < 1:
        raise HarnessError(f"n must be at least 1, got {n}")
    if int(d) < 1:
        raise HarnessError(f"d must be at least 1, got {d}")


def blockwise(kind: str):
    """The registry entry of a generator of BLOCKWISE; an error naming those for any other."""
    entry = DATA.get(kind)
    if entry.name not in BLOCKWISE:
        raise HarnessError(f"data {kind}: cannot be streamed (generated block by block: {', '.join(BLOCKWISE)})")
    return entry


def make_dataset(kind: str, n: int, d: int, rng):
    """(X, the data's own labels or None); validates n and d."""
    entry = DATA.get(kind)
    check_size(n, d)
    out = entry.func(int(n), int(d), rng, entry.param)
    return out if isinstance(out, tuple) else (out, None)


def make_data(kind: str, n: int, d: int, rng) -> np.ndarray:
    """Generate inputs; validates n and d."""
    return make_dataset(kind, n, d, rng)[0]


def make_labels(kind: str, n: int, rng, rank, true=None) -> np.ndarray:
    entry = LABELS.get(kind)
    return entry.func(int(n), rng, rank, entry.param, true=true)


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
