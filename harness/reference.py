"""Exact and high-precision weights for a built network (the references tests hold it to)."""

from __future__ import annotations

import numpy as np

from .errors import HarnessError
from .network import Network

__all__ = ["exact_weights", "hp_weights", "labels_in_neuron_order"]


def labels_in_neuron_order(net: Network, y):
    """The caller's labels (original row order, ``net.n_input`` rows) permuted to neuron order.

    Non-float entries (decimal strings, Fractions) are kept as objects so that the
    exact reference can take them exactly.
    """
    arr = np.asarray(y, dtype=object)
    if arr.shape[0] != net.n_input:
        raise HarnessError(f"y has {arr.shape[0]} rows but the network was built from {net.n_input}")
    if (arr.ndim == 1) != (net.w.ndim == 1) or (arr.ndim == 2 and arr.shape[1] != net.k):
        raise HarnessError(f"y has shape {arr.shape}, the network has {net.k} output(s)")
    return arr[np.asarray(net.order)]


def exact_weights(net: Network, y) -> list:
    """Exact rational solution of the network's own triangular system for labels y.

    The system is the one the network's floating-point z and b define
    (``M[i, j] = relu(z_i - b_j)`` taken exactly); y is in the caller's row order
    and taken exactly (floats as their dyadic values, strings as decimals).

    Returns
    -------
    list of fractions.Fraction in neuron order (matching ``net.b``); for k outputs,
    a list of n lists of k Fractions.
    """
    from .exact import solve_exact

    z = np.asarray(net.z, np.float64).tolist()
    b = np.asarray(net.b, np.float64).tolist()
    return solve_exact(z, b, labels_in_neuron_order(net, y))


def hp_weights(net: Network, y, prec: int = 256) -> list:
    """The same solution by the O(n) recurrence in mpmath at ``prec`` bits (mpf values)."""
    from .exact import solve_mp

    z = np.asarray(net.z, np.float64)
    b = np.asarray(net.b, np.float64)
    return solve_mp(z, b, np.asarray(labels_in_neuron_order(net, y), dtype=np.float64), prec)
