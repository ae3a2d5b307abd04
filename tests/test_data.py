"""Data sources: the prefix property the failure-point search relies on, declared and checked."""

import numpy as np
import pytest

from harness.build.data import DATA, NOT_PREFIX, make_dataset
from harness.core.seeding import rng_for

GENERATED = ["uniform", "gaussian", "sphere", "equispaced", "lattice", "clustered:5", "near-duplicates:0.01",
             "low-rank:3"]
REAL = ["digits", "patches"]


@pytest.mark.parametrize("kind", GENERATED + REAL)
def test_smaller_n_is_a_prefix_unless_declared(kind):
    d = 6
    small, _ = make_dataset(kind, 41, d, rng_for(3, "data"))
    large, _ = make_dataset(kind, 97, d, rng_for(3, "data"))
    prefix = np.array_equal(large[:41], small)
    assert prefix == (kind.split(":")[0] not in NOT_PREFIX), kind


def test_every_registered_source_is_covered():
    names = {n.split(":")[0] for n in DATA.names()}
    covered = {k.split(":")[0] for k in GENERATED + REAL} | {"cifar10"}
    assert names <= covered, names - covered
