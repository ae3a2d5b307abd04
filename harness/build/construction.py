"""Theorem 1's construction: direction, projections, knots, solve -> :class:`Network`."""

from __future__ import annotations

import numpy as np

from .biases import place
from .directions import DIRECTIONS, RANDOM_DIRECTIONS, ROW_BLIND_DIRECTIONS
from ..core.errors import CollisionError, FormatOverflowError, HarnessError
from ..core.formats import Format
from ..core.seeding import rng_for, solve_seed
from .network import Network
from .ordering import gather_rows, sort_projections
from .solvers import SOLVERS, knots_and_recurrence
from ..core.validation import as_inputs, as_labels, check_cast, check_finite, first_nonfinite
from .streams import is_source, take_rows

__all__ = ["construct", "resolve_direction", "project_points", "DEFAULT_MAX_RETRIES"]

#: Fresh random directions tried after a collision before giving up. A Gaussian
#: direction collides only through rounding; 8 more tries fail only when the
#: format is far too coarse for n, which the error then says.
DEFAULT_MAX_RETRIES = 8

def resolve_direction(Xf: np.ndarray, direction, fmt: Format, seed: int, attempt: int = 0, project=None):
    """(name, a) for a strategy name or an explicit vector (a rounded to ``fmt``); ``project``
    is the construction's projection, for strategies that score directions by it."""
    if isinstance(direction, str):
        entry = DIRECTIONS.get(direction)
        a = entry.func(Xf, fmt, rng_for(seed, "direction", attempt), entry.param, project)
        return entry.name, np.ascontiguousarray(a, dtype=np.float64)
    a = np.asarray(direction, dtype=np.float64).ravel()
    if a.size != Xf.shape[1]:
        raise HarnessError(f"explicit direction has {a.size} entries but X has d = {Xf.shape[1]}")
    if not np.all(np.isfinite(a)):
        raise HarnessError("explicit direction has non-finite entries")
    af = fmt.cast(a)
    check_cast(a, af, "direction", fmt)
    return "explicit", af


def _projector(Xf, F: tuple, seed: int, arith=None):
    """a -> the projections <a, x_i> of every row of Xf (an array, or a RowSource read block by
    block: each row's projection is computed alone, so the bits are the same either way)."""
    from ..core.kernels import hardware_rounded

    if arith is not None:
        from ..core.mixed import project_mixed

        K = arith.layers[0].kernel()
        kern = lambda B, v, row0: project_mixed(B, v, K)  # noqa: E731
    elif hardware_rounded(F):  # float64, round to nearest: the hardware's rounding, same bits
        from ..core.kernels import project_f64

        kern = lambda B, v, row0: project_f64(B, v, np.empty(B.shape[0]))  # noqa: E731
    else:
        from ..core.kernels import project

        kseed = solve_seed(seed)
        kern = lambda B, v, row0: project(B, v, F, kseed, row0)  # noqa: E731
    if not is_source(Xf):
        return lambda v: kern(Xf, v, 0)

    def streamed(v):
        z = np.empty(Xf.n)
        for start, B in Xf.blocks():
            z[start:start + B.shape[0]] = kern(B, v, start)
        return z

    return streamed


def project_points(Xf: np.ndarray, direction, fmt: Format, F: tuple, seed: int, attempt: int = 0,
                   arith=None):
    """(direction name, a, z): the direction for this attempt and the projections
    ``<a, x_i>`` exactly as :func:`construct` computes them (same kernel, rounding and
    stochastic-rounding seed; with ``arith`` an arithmetic S@A: accumulated in A, rounded
    once to S). Raises if a projection overflows the format."""
    proj = _projector(Xf, F, seed, arith)
    dname, a = resolve_direction(Xf, direction, fmt, seed, attempt, project=proj)
    z = proj(a)
    bad = first_nonfinite(z)
    if bad is not None:
        if not is_source(Xf):  # an input that is not finite is the input's error, not an overflow
            check_finite(Xf)
        raise FormatOverflowError(f"projection <a, x> of row {int(bad[0])} overflows {fmt.name} "
                           f"(direction {dname}); rescale the data")
    return dname, a, z


def _rows_equal(Xf, r0, r1) -> np.ndarray:
    """Whether rows r0[i] and r1[i] of Xf (an array or a RowSource: one gather) are identical."""
    R = take_rows(Xf, np.concatenate([r0, r1]))
    return np.all(R[:r0.size] == R[r0.size:], axis=1)


def _sort_and_dedupe(z, Xf, X, Y, final: bool, Yf=None):
    """Sort projections; merge duplicate points; find collisions (vectorised).

    Returns (order, keep mask over sorted positions or None for all, merged pairs, collision or None, the
    sorted projections z[order], the labels Yf[order] or None when ties changed the order).
    Duplicate points (identical rows in the format) have equal projections under
    every direction, so they are equal neighbours after sorting. If every pair of
    equal neighbours is identical, each run of equal projections is one repeated
    point; a pair that differs proves a collision. Only then, and only on the
    ``final`` try, are the runs re-sorted by row contents to look for duplicates
    with conflicting labels (the more fundamental error) before reporting it.
    """
    # numpy's stable argsort, by a vectorised sort of packed keys (harness.build.ordering)
    order, zs, Ys, ties = sort_projections(z, Yf)
    if not ties:  # the usual case: no mask, no n-long temporaries
        return order, None, [], None, zs, Ys
    keep = np.ones(z.size, dtype=bool)
    eq = zs[1:] == zs[:-1]
    tie = np.flatnonzero(eq)
    same_row = np.zeros(eq.size, dtype=bool)
    same_row[tie] = _rows_equal(Xf, order[tie], order[tie + 1])
    collide = np.flatnonzero(eq & ~same_row)
    collision = None
    if collide.size:
        i = int(collide[0])
        r0, r1 = sorted((int(order[i]), int(order[i + 1])))
        collision = (r0, r1, float(zs[i]), int(collide.size))
        if not final:
            return order, keep, [], collision, zs, None
        # group identical rows inside each run: sort runs by (row contents, row index)
        in_run = np.zeros(z.size, dtype=bool)
        in_run[:-1] |= eq
        in_run[1:] |= eq
        pos = np.flatnonzero(in_run)
        sub = order[pos]
        Xs = take_rows(Xf, sub)
        keys = [sub] + [Xs[:, j] for j in range(Xf.shape[1] - 1, -1, -1)] + [z[sub]]
        order[pos] = sub[np.lexsort(keys)]
        same_row[tie] = _rows_equal(Xf, order[tie], order[tie + 1])
    dup = np.flatnonzero(same_row)
    merged = []
    if dup.size:
        # each run of identical rows keeps its first element (the smallest row index)
        run_start = np.flatnonzero(np.r_[True, ~same_row])
        rep = order[run_start[np.searchsorted(run_start, dup + 1, side="right") - 1]]
        dropped = order[dup + 1]
        differ = np.flatnonzero(np.any(Y[dropped] != Y[rep], axis=1))
        if differ.size:
            r, r0 = int(dropped[differ[0]]), int(rep[differ[0]])
            pair = take_rows(X, [r, r0])
            note = "" if np.array_equal(pair[0], pair[1]) else " after rounding to the format"
            err = CollisionError if note else HarnessError
            raise err(f"rows {r0} and {r} are the same point{note} with different labels "
                      f"({Y[r0].tolist()} vs {Y[r].tolist()}): no function can fit both")
        keep[dup + 1] = False
        merged = list(zip(dropped.tolist(), rep.tolist()))
    return order, keep, merged, collision, z[order], None


def _spare(z, shape):
    """z (the projections, this module's own array) as memory for a result of ``shape``, where it fits."""
    return z if z.shape == shape and z.dtype == np.float64 and z.flags.c_contiguous else None


def construct(X, y, *, direction="gaussian", bias="midpoint", fmt="float64", solver="recurrence",
              seed: int = 0, first_offset: float | None = None, rounding: str = "nearest",
              max_retries: int = DEFAULT_MAX_RETRIES) -> Network:
    """Build Theorem 1's network for points X (n, d) and labels y (n,) or (n, k).

    Parameters
    ----------
    X, y : array_like
        Distinct points and their labels. X may be a :class:`harness.build.streams.RowSource`
        (rows read block by block: O(n) memory; the same network, bit for bit). Duplicate points with equal labels are
        merged (recorded in ``Network.merged``); with different labels it is an error.
    direction : str or array_like
        ``ones``, ``gaussian``, ``best-of:K``, ``maximin:K`` or an explicit vector of length d.
    bias : str or array_like
        ``midpoint``, ``left``, ``fraction:theta``, ``random`` or explicit knots
        (sorted order, validated to interleave).
    fmt : str
        Working format (see ``harness.core.formats``); X, y and a are rounded to it once,
        then every operation of projection, knot placement and solve is done in it. Or an
        arithmetic ``S@A`` (:mod:`harness.core.arith`): X, y, a, the knots and the
        weights stored in S, the projection accumulated in A and rounded to S, the
        recurrence's running sums held in A (solvers recurrence and exact).
    solver : str
        ``recurrence``, ``backsub``, ``lapack`` or ``exact``.
    seed : int
        Seeds every random choice (direction, random knots, stochastic rounding).
    first_offset : float, optional
        ``z_(1) - b_1``; default the mean gap (see :mod:`harness.build.biases`).
    rounding : {"nearest", "stochastic"}
    max_retries : int
        Fresh directions tried after a collision (random directions only).

    Returns
    -------
    Network

    Raises
    ------
    HarnessError
        For every bad input, naming the row, value or option.

    Examples
    --------
    >>> import numpy as np, harness
    >>> X = np.array([[0.2, 0.3], [0.5, 0.7], [0.3, 0.1]])
    >>> net = harness.construct(X, [1.0, 0.0, 1.0])
    >>> net.n_params, net.forward(X).round(12).tolist()
    (8, [1.0, 0.0, 1.0])
    """
    from ..core.arith import split_target

    fmt_obj, arith = split_target(fmt)
    if arith is not None:
        if not arith.single:
            raise HarnessError(f"construct takes one arithmetic S@A; the per-layer {arith.name} is for "
                               "deployment (Network.forward, --deploy)")
        if rounding != "nearest":
            raise HarnessError(f"arithmetic {arith.name}: rounding {rounding!r} applies to per-operation formats")
        F = arith.layers[0].kernel()
    else:
        F = fmt_obj.kernel_spec(rounding)
    solver_entry = SOLVERS.get(solver)
    exact = fmt_obj.name == "float64"  # rounding to float64 is the identity: no copies, nothing overflows
    if is_source(X):  # a RowSource (harness.build.streams): validated and rounded block by block
        Xc, Xf = X, X.in_format(fmt_obj)
    else:
        # float64; the caller's own array where it already is one (read only here). Finite: checked
        # here, or in float64 with a direction that reads no row (ROW_BLIND_DIRECTIONS, an explicit
        # vector) proved by the projections: a NaN or an infinity in a row makes its projection NaN
        # or infinite (inf * 0 is NaN, inf - inf is NaN, NaN propagates), and project_points names
        # the entry before calling anything an overflow.
        deferred = exact and arith is None and (
            not isinstance(direction, str) or DIRECTIONS.get(direction).name in ROW_BLIND_DIRECTIONS)
        Xc = as_inputs(X, finite=not deferred)
        Xf = Xc if exact else fmt_obj.cast(Xc)
        if not exact:
            check_cast(Xc, Xf, "X", fmt_obj)
    Y, one_d = as_labels(y, Xc.shape[0])
    Yf = Y if exact else fmt_obj.cast(Y)
    if not exact:
        check_cast(Y, Yf, "y", fmt_obj)
    kseed = solve_seed(seed)

    retry = isinstance(direction, str) and direction.split(":")[0] in RANDOM_DIRECTIONS
    tries = 1 + (int(max_retries) if retry else 0)
    for attempt in range(tries):
        dname, a, z = project_points(Xf, direction, fmt_obj, F, seed, attempt, arith=arith)
        order, keep, merged, collision, zs, Yn = _sort_and_dedupe(z, Xf, Xc, Y, final=attempt == tries - 1, Yf=Yf)
        if collision is None:
            break
    else:
        r0, r1, zval, count = collision
        what = f"after {tries} directions" if tries > 1 else f"(direction {dname})"
        distinct = int(keep.sum()) if keep is not None else z.size
        room = fmt_obj.count_between(float(z.min()), float(z.max()))
        pigeon = (f"; {fmt_obj.name} has only {room} values between the smallest and largest "
                  f"projection, fewer than the {distinct} distinct points" if room < distinct else "")
        raise CollisionError(f"rows {r0} and {r1} are distinct points whose projections collide in "
                           f"{fmt_obj.name}: <a, x> = {zval!r} for both {what} ({count} colliding "
                           f"neighbours in the last try), a = "
                           f"{np.array2string(a[:6], precision=4)}{' ...' if a.size > 6 else ''}{pigeon}; "
                           "use another direction (e.g. gaussian or best-of:K) or a wider format")

    if keep is not None and not keep.all():
        order = order[keep]
        zs = zs[keep]
        Yn = None
    Ys = gather_rows(Yf, order) if Yn is None else Yn
    # one pass where it is the same computation; the knots into the unsorted projections' memory
    # and the weights into the sorted labels' (both this function's own, no longer needed: fresh
    # memory costs its page faults, ~5 ms for these two at 10^6 here)
    fused = None if arith else knots_and_recurrence(bias, zs, Ys, fmt_obj, F, solver_entry.func, first_offset,
                                                    b=_spare(z, zs.shape), W=Ys)
    if fused is None:
        b, moved = place(bias, zs, fmt_obj, rng_for(seed, "bias"), first_offset)
        W = solver_entry.func(zs, np.ascontiguousarray(b), Ys, arith or fmt_obj, F, kseed)
    else:  # float64 knots at one fraction of each gap, and the recurrence: one pass, the same bits
        b, moved, W = fused
    bias_name = bias if isinstance(bias, str) else "explicit"
    return Network.adopt(
        a=a, b=b, w=W[:, 0] if one_d else W, z=zs, order=order, fmt=fmt_obj.name,
        direction=dname, bias=bias_name, solver=solver_entry.name, rounding=rounding,
        seed=int(seed), first_offset=first_offset, merged=tuple(sorted(merged)),
        attempts=attempt + 1, moved_biases=moved, n_input=Xc.shape[0], arith=arith.name if arith else "",
    )
