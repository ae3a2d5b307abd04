"""The fitted two-layer network (immutable) and its plain-weights export."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Tuple

import numpy as np

from ..core.errors import HarnessError
from ..core.formats import get_format
from ..core.validation import as_inputs

__all__ = ["Network", "TwoLayer", "SCHEMA_VERSION"]

#: Version of the Network / TwoLayer field layout (bump on any change).
SCHEMA_VERSION = 1


#: Set while :meth:`Network.adopt` builds a network: its arrays are handed over, not copied.
_ADOPTING = threading.local()


def _frozen(arr, dtype) -> np.ndarray:
    if getattr(_ADOPTING, "on", False) and isinstance(arr, np.ndarray) and arr.dtype == dtype:
        out = arr  # handed over by its only holder (construct): read-only from now on, no copy
    else:
        out = np.array(arr, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class Network:
    """``f(x) = sum_j w_j relu(<a, x> - b_j)``: Theorem 1's memorizing network.

    Arrays are read-only, in the format's storage dtype (``fmt.storage_dtype()``),
    neurons in sorted order.

    Attributes
    ----------
    a : (d,)  direction (layer 1: every row of W1 equals a)
    b : (n,)  knots, increasing; layer-1 biases are ``-b``
    w : (n,) or (n, k)  output weights
    z : (n,)  the training projections ``<a, x>`` in sorted order, computed in fmt
    order : (n,) int  training-row index of each sorted projection (``z[i]`` is row ``order[i]``)
    fmt : str  the working format of construction (the storage format when built in an arithmetic)
    arith : str  the arithmetic ``S@A`` it was built in ('' for per-operation rounding in fmt)
    direction, bias, solver, rounding : str  strategies used
    seed : int
    first_offset : float  ``z[0] - b[0]`` requested (None: the default, the mean gap)
    merged : tuple of (dropped_row, kept_row)  duplicate points merged before solving
    attempts : int  directions tried (collisions retry random directions)
    moved_biases : int  knots that rounding put on a point and were moved below it
    n_input : int  rows in the caller's X
    """

    a: np.ndarray
    b: np.ndarray
    w: np.ndarray
    z: np.ndarray
    order: np.ndarray
    fmt: str
    direction: str
    bias: str
    solver: str
    rounding: str = "nearest"
    seed: int = 0
    first_offset: float | None = None
    merged: Tuple[Tuple[int, int], ...] = ()
    attempts: int = 1
    moved_biases: int = 0
    n_input: int = field(default=-1)
    arith: str = ""
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def adopt(cls, **fields) -> "Network":
        """A Network that takes ownership of the arrays given (no copies; they become read-only):
        for a caller that made them and keeps no other reference (:func:`harness.construct`)."""
        _ADOPTING.on = True
        try:
            return cls(**fields)
        finally:
            _ADOPTING.on = False

    def __post_init__(self):
        dt = get_format(self.fmt).storage_dtype()
        for name in ("a", "b", "w", "z"):
            object.__setattr__(self, name, _frozen(getattr(self, name), dt))
        object.__setattr__(self, "order", _frozen(self.order, np.int64))
        if self.n_input < 0:
            object.__setattr__(self, "n_input", int(self.order.size))

    @property
    def n(self) -> int:
        """Hidden neurons (= distinct training points)."""
        return int(self.b.size)

    @property
    def d(self) -> int:
        return int(self.a.size)

    @property
    def k(self) -> int:
        """Outputs."""
        return 1 if self.w.ndim == 1 else int(self.w.shape[1])

    @property
    def n_params(self) -> int:
        """2n + d for one output (Theorem 1), plus n per further output."""
        return 2 * self.n + self.d + (self.k - 1) * self.n

    def carriers(self):
        """(a, b, W (n, k)) as float64 arrays (exact: every format value is a float64)."""
        W = np.asarray(self.w, np.float64).reshape(self.n, -1)
        return np.asarray(self.a, np.float64), np.asarray(self.b, np.float64), W

    def forward(self, X, evaluator: str = "sequential", fmt: str | None = None,
                rounding: str = "nearest", seed: int | None = None) -> np.ndarray:
        """Outputs f(X) computed by ``evaluator`` in ``fmt`` (default: the network's own format
        or arithmetic).

        ``fmt`` is a format name (per-operation rounding: every operation done in it;
        ``dense``: numpy/BLAS in that dtype) or an arithmetic ``S@A`` / ``L1/L2``
        (:mod:`harness.core.arith`: storage, exact products, accumulation, one rounding
        per layer output). The weights and X are rounded once to the storage (a cast,
        nearest-even).

        Returns (m,) or (m, k) in the output format's storage dtype.

        Examples
        --------
        >>> import numpy as np, harness
        >>> net = harness.construct(np.array([[0.], [1.], [2.]]), [1., 0., 1.])
        >>> net.forward(np.array([[0.], [1.], [2.]])).round(12).tolist()
        [1.0, 0.0, 1.0]
        """
        from ..core.arith import Arithmetic, resolve
        from .evaluators import run_forward

        target = resolve(fmt or self.arith or self.fmt)
        Xc = as_inputs(X)
        if Xc.shape[1] != self.d:
            raise HarnessError(f"X has {Xc.shape[1]} features but the network expects d = {self.d}")
        storages = [l.storage for l in target.layers] if isinstance(target, Arithmetic) else [target]
        out_fmt = storages[-1]
        a, b, W = self.carriers()
        out = run_forward(Xc, a, b, W, target, evaluator, rounding, self.seed if seed is None else int(seed),
                          weights_in_format=all(s.name == self.fmt for s in storages))
        out = out_fmt.to_storage(out)
        return out[:, 0] if self.w.ndim == 1 else out

    def to_torch(self, dtype=None, device: str = "cpu"):
        """The network as PyTorch ``nn.Sequential(Linear(d, n), ReLU(), Linear(n, k))``: layer 1's
        rows all equal a, its bias -b; layer 2 without bias. ``dtype`` defaults to the torch
        dtype of the network's format (float64, float32, bfloat16, float16). Needs the
        optional extra ``torch``."""
        from .torch_eval import to_sequential

        a, b, W = self.carriers()
        return to_sequential(a, b, W, dtype if dtype is not None else self.arith or self.fmt, device)

    def export(self) -> "TwoLayer":
        """The plain two-layer weights (W1 n x d with identical rows, b1 = -b, w2)."""
        dt = get_format(self.fmt).storage_dtype()
        W1 = np.repeat(np.asarray(self.a)[None, :], self.n, axis=0)
        return TwoLayer(W1=W1, b1=(-np.asarray(self.b, np.float64)).astype(dt), w2=np.asarray(self.w), fmt=self.fmt)


@dataclass(frozen=True, eq=False)
class TwoLayer:
    """Plain weights of ``f(x) = w2 . relu(W1 x + b1)``, ready for any framework."""

    W1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    fmt: str
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        dt = get_format(self.fmt).storage_dtype()
        for name in ("W1", "b1", "w2"):
            object.__setattr__(self, name, _frozen(getattr(self, name), dt))
        n = self.b1.size
        if self.W1.ndim != 2 or self.W1.shape[0] != n or self.w2.shape[0] != n:
            raise HarnessError(f"inconsistent shapes: W1 {self.W1.shape}, b1 {self.b1.shape}, w2 {self.w2.shape}")

    def save(self, path) -> Path:
        """Write an .npz with W1, b1, w2 (storage dtype bits as-is), fmt and schema version."""
        path = Path(path)
        bits = {k: np.ascontiguousarray(getattr(self, k)).view(f"u{getattr(self, k).itemsize}")
                for k in ("W1", "b1", "w2")}
        np.savez(path, fmt=np.array(self.fmt), schema_version=np.array(self.schema_version), **bits)
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path) -> "TwoLayer":
        with np.load(path, allow_pickle=False) as f:
            fmt = str(f["fmt"])
            if int(f["schema_version"]) != SCHEMA_VERSION:
                raise HarnessError(f"{path}: schema version {int(f['schema_version'])}, "
                                   f"this harness reads {SCHEMA_VERSION}")
            dt = get_format(fmt).storage_dtype()
            return cls(W1=f["W1"].view(dt), b1=f["b1"].view(dt), w2=f["w2"].view(dt), fmt=fmt)

    def direction(self) -> np.ndarray:
        """Layer 1's shared row a (raises if the rows of W1 differ)."""
        if not np.all(self.W1 == self.W1[:1]):
            raise HarnessError("W1's rows are not identical: not a Theorem-1 network")
        return self.W1[0].copy()
