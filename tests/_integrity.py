"""Row integrity of a run, for the store, gate and fault tests: every point at most once
(exactly once when complete), nothing foreign, the run readable, and the values of its rows
equal to a reference run's (timings and messages aside: the rest is bit-identical)."""

import warnings

import pandas as pd

from harness.sweep.store import RunWarning, load_run, read_run_info


def values(df):
    """A run's rows without timings and messages, in key order."""
    keep = [c for c in df.columns if not c.startswith("time") and c != "message"]
    return df[keep].sort_values("key").reset_index(drop=True)


def check_once(run, spec, complete=True, reference=None):
    """Assert the integrity of ``run`` (a sweep of ``spec``); returns its rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunWarning)  # a damaged part left in place warns on each read
        df = load_run(run)
    keys = list(df["key"])
    expected = {p.key for p in spec.points()}
    assert len(keys) == len(set(keys)), "a point appears twice"
    assert set(keys) <= expected, f"foreign rows: {set(keys) - expected}"
    if complete:
        assert set(keys) == expected, f"missing: {expected - set(keys)}"
    read_run_info(run)
    if reference is not None:
        ref = values(reference[reference["key"].isin(keys)])
        pd.testing.assert_frame_equal(values(df)[ref.columns], ref)
    return df
