"""The real-framework path: PyTorch against the emulated arithmetics (skipped, with the reason,
where the optional extra torch is absent), the crosscheck, deployments and user pipelines."""

from __future__ import annotations

import json

import numpy as np
import pytest

import harness
from harness.cli import main
from harness.core.arith import parse_arith
from harness.core.errors import HarnessError

torch = pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install 'harness[torch]')")


def _same(a, b) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))



@pytest.mark.parametrize("arith", ["bfloat16@float32", "float16@float32"])
def test_torch_cpu_bit_for_bit_when_every_sum_is_order_free(arith):
    """Two cases where the summation order cannot matter, so the emulation must equal PyTorch
    CPU bit for bit: (1) d = 1 and n <= 2 with arbitrary values (each sum has at most two
    terms; floating-point addition is commutative); (2) any n, d on a small-integer grid,
    where every partial sum is an integer below 2^24 (exact in float32 in any order) and only
    the roundings to storage (outputs past 256 in bfloat16, 2048 in float16) remain."""
    from harness.build.torch_eval import torch_forward
    from harness.core.mixed import eval_mixed

    ar = parse_arith(arith)
    S = ar.storage
    rng = np.random.default_rng(9)
    for _ in range(50):  # case 1
        n = int(rng.integers(1, 3))
        X = S.cast(rng.standard_normal((64, 1)))
        a = S.cast(rng.standard_normal(1))
        b = np.sort(S.cast(rng.standard_normal(n)))
        W = S.cast(rng.standard_normal((n, 1)) * 10)
        assert _same(torch_forward(X, a, b, W, arith), eval_mixed(X, a, b, W, ar.kernel()))
    X = rng.integers(0, 4, (300, 64)).astype(float)  # case 2
    a = rng.integers(-2, 3, 64).astype(float)
    b = np.sort(rng.choice(np.arange(-40, 40), 50, replace=False)).astype(float)
    W = rng.integers(-30, 31, (50, 1)).astype(float)
    got = torch_forward(X, a, b, W, arith)
    assert _same(got, eval_mixed(X, a, b, W, ar.kernel()))
    assert np.any(np.abs(got) > (256 if S.name == "bfloat16" else 2048))  # the output rounding is exercised


def test_to_torch_and_the_torch_evaluator_agree_with_the_network():
    rng = np.random.default_rng(4)
    X = rng.random((80, 6))
    y = (rng.random(80) > 0.5) * 1.0
    net = harness.construct(X, y)
    model = net.to_torch()
    assert model[0].weight.dtype == torch.float64 and model[0].weight.shape == (net.n, net.d)
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()[:, 0]
    assert _same(out, net.forward(X, evaluator="torch"))
    # float64 in a framework is float64 arithmetic in another order. Each engine is within
    # B = sum_j |w_j| dh_j + gamma_n sum_j |w_j| (h_j + dh_j), dh_j = gamma_(d+1) (sum |x a| + |b_j|),
    # of the exact network, whatever its summation order (recursive summation, products rounded
    # or not), so the two differ by at most 2B.
    g = lambda m: m * 2.0**-53 / (1 - m * 2.0**-53)  # noqa: E731
    a, b, W = net.carriers()
    w = np.abs(W[:, 0])
    H = np.maximum((X @ a)[:, None] - b[None, :], 0)
    dh = g(net.d + 1) * ((np.abs(X) @ np.abs(a))[:, None] + np.abs(b)[None, :])
    B = (dh * w).sum(axis=1) + g(net.n) * ((H + dh) * w).sum(axis=1)
    diff = np.abs(out - np.asarray(net.forward(X), np.float64))
    assert np.all(diff <= 2 * B), (diff.max(), B.min())
    with pytest.raises(HarnessError, match="torch has no dtype for float8_e4m3"):
        net.forward(X, evaluator="torch", fmt="float8_e4m3@float32")
    with pytest.raises(HarnessError, match="no CUDA GPU"):
        if torch.cuda.is_available():
            raise HarnessError("no CUDA GPU (skipped: this machine has one)")
        net.forward(X, evaluator="torch-cuda")


def test_crosscheck_agrees_with_the_framework_and_says_so(capsys):
    from harness.analysis.crosscheck import agreement, crosscheck

    cc = crosscheck(d=64, ns=(30, 100), biases=("left",), seeds=4, ariths=("bfloat16@float32", "float16@float32"))
    recs = cc.to_dict()["records"]
    assert {r["engine"] for r in recs} == {"emulated", "torch-cpu"}
    assert len(recs) == 2 * 2 * 2
    inside, total = agreement(cc)
    assert total == 4 and inside >= 0.9 * total, recs  # the acceptance share
    # the emulation reproduces PyTorch CPU's bfloat16 outputs almost everywhere at d = 64
    bf = [r for r in recs if r["arith"] == "bfloat16@float32"]
    assert min(r["bitwise_equal"] for r in bf) > 0.9, bf
    assert main(["crosscheck", "--d", "16", "--n", "30", "--seeds", "2", "--bias", "left", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"n", "bias", "arith", "engine", "label_accuracy", "max_error", "bitwise_equal"} <= set(out[0])


@pytest.mark.parametrize("argv, message", [
    (["crosscheck", "--arith", "bfloat16@float8_e4m3"], "narrower than its storage"),
    (["crosscheck", "--arith", "bfloat16@float32+chop"], "unknown modifier"),
    (["crosscheck", "--arith", "float8_e4m3@float32"], "torch has no dtype for float8_e4m3"),
    (["fit", "--deploy", "bfloat16@float8_e4m3"], "narrower than its storage"),
    (["failure-point", "--pipeline", "nosuch"], "unknown pipeline"),
])
def test_bad_framework_input_exits_2_with_the_reason(argv, message, capsys):
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_device_cuda_without_a_gpu_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert main(["crosscheck", "--device", "cuda", "--quiet"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_missing_torch_is_a_clear_error(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    X = np.random.default_rng(0).random((10, 3))
    net = harness.construct(X, (X[:, 0] > 0.5) * 1.0)
    with pytest.raises(HarnessError, match=r"pip install 'harness\[torch\]'"):
        net.forward(X, evaluator="torch")
    assert main(["crosscheck", "--quiet"]) == 2
    assert "optional extra" in capsys.readouterr().err


def test_fit_deploy_reports_both(capsys):
    assert main(["fit", "--n", "200", "--d", "8", "--deploy", "bfloat16@float32", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fmt"] == "float64" and r["deploy"] == "bfloat16@float32"
    assert r["fit_fraction"] == 1.0 and 0 <= r["deploy_fraction"] < 1.0
    net, rep = harness.fit(200, 8, deploy="bfloat16@float32", deploy_evaluator="torch", check=False)
    assert 0 <= rep.deploy_fraction <= 1


def test_pipelines_differ_where_the_stack_differs(capsys):
    """numpy (LAPACK + BLAS) fails before the harness's own float32 pipeline; bfloat16 has no
    numpy pipeline, which is said, not fatal."""
    assert main(["failure-point", "--pipeline", "numpy,harness", "--fmt", "float32,bfloat16", "--seeds", "2",
                 "--n-max", "2048", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {(p["pipeline"], p["target"]): p["n_fail"] for p in out["pipelines"] if not p["skipped"]}
    assert set(got) == {("numpy", "float32"), ("harness", "float32"), ("harness", "bfloat16")}
    assert got[("numpy", "float32")] < got[("harness", "float32")]
    skipped = [p for p in out["pipelines"] if p["skipped"]]
    assert [(p["pipeline"], p["target"]) for p in skipped] == [("numpy", "bfloat16")]
    assert "float32 or float64" in skipped[0]["reason"]
