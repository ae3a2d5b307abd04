"""The real-framework path: the network as PyTorch ``nn.Sequential``, run on CPU or CUDA.

PyTorch is an optional extra (``pip install harness[torch]``): nothing here imports it
before it is needed, and every entry point says how to install it when it is missing.

The dtype follows the format or arithmetic asked for: ``float64``, ``float32``,
``bfloat16`` / ``bfloat16@...``, ``float16`` / ``float16@...`` (a framework's bf16 and
fp16 kernels store in the low format and accumulate in float32 on CPU and on tensor
cores: compare with the emulated ``bfloat16@float32``). Formats PyTorch cannot run
(tf32 as a storage, float8, ``fp:P``) are refused with the list of those it can.
:func:`torch_info` records what decides a CUDA run's arithmetic: the device, the torch
version and the TF32 / reduced-precision-reduction flags.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import HarnessError

__all__ = ["require_torch", "torch_dtype", "to_sequential", "torch_forward", "torch_info", "TORCH_DTYPES"]

#: Storage formats and the torch dtype each runs in.
TORCH_DTYPES = {"float64": "float64", "float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def require_torch():
    """The torch module, or a HarnessError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise HarnessError("the torch evaluator needs PyTorch, an optional extra: "
                           "pip install 'harness[torch]' (or pip install torch)") from None
    return torch


def _storage_name(fmt) -> str:
    from ..core.arith import Arithmetic, resolve

    f = resolve(fmt)
    if isinstance(f, Arithmetic):
        if len({layer.storage.name for layer in f.layers}) != 1:
            raise HarnessError(f"torch runs one dtype for the whole network; {f.name} has two storages")
        return f.storage.name
    return f.name


def torch_dtype(fmt):
    """The torch dtype for a format or arithmetic (by its storage)."""
    torch = require_torch()
    name = _storage_name(fmt)
    if name not in TORCH_DTYPES:
        raise HarnessError(f"torch has no dtype for {name}; it runs {', '.join(TORCH_DTYPES)}")
    return getattr(torch, TORCH_DTYPES[name])


def _device(device: str):
    torch = require_torch()
    if device == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda: no CUDA GPU is available to PyTorch here "
                           f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use cpu")
    if device not in ("cpu", "cuda"):
        raise HarnessError(f"device must be cpu or cuda, got {device!r}")
    return torch.device(device)


def to_sequential(a, b, W, fmt, device: str = "cpu"):
    """``nn.Sequential(Linear(d, n), ReLU(), Linear(n, k, bias=False))`` holding a (every row of
    layer 1), -b and W, in the dtype of ``fmt`` (values rounded once to it by torch's cast)."""
    torch = require_torch()
    dt = torch_dtype(fmt) if not isinstance(fmt, torch.dtype) else fmt
    dev = _device(device)
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    W = np.asarray(W, np.float64).reshape(b.size, -1)
    n, d, k = b.size, a.size, W.shape[1]
    # parameters made in the target dtype: a float32 Linear filled from float64 would round
    # every weight to float32 first
    l1 = torch.nn.Linear(d, n, dtype=dt, device=dev)
    l2 = torch.nn.Linear(n, k, bias=False, dtype=dt, device=dev)
    with torch.no_grad():
        l1.weight.copy_(torch.from_numpy(np.repeat(a[None, :], n, axis=0)))
        l1.bias.copy_(torch.from_numpy(-b))
        l2.weight.copy_(torch.from_numpy(W.T.copy()))
    return torch.nn.Sequential(l1, torch.nn.ReLU(), l2).eval()


def torch_forward(X, a, b, W, fmt, device: str = "cpu") -> np.ndarray:
    """f(X) by PyTorch in the dtype of ``fmt`` on ``device``; (m, k) float64 carriers.

    X, a, b, W arrive already rounded to the storage format, so torch's casts are exact.
    """
    torch = require_torch()
    model = to_sequential(a, b, W, fmt, device)
    dt = next(model.parameters()).dtype
    dev = next(model.parameters()).device
    out = np.empty((X.shape[0], np.asarray(W).reshape(np.asarray(b).size, -1).shape[1]))
    rows = 4096  # bounds the hidden layer's memory (rows x n) per call
    with torch.no_grad():
        for s in range(0, X.shape[0], rows):
            xb = torch.from_numpy(np.ascontiguousarray(X[s:s + rows], np.float64)).to(device=dev, dtype=dt)
            out[s:s + rows] = model(xb).to(torch.float64).cpu().numpy()
    return out


def torch_info(device: str = "cpu") -> dict:
    """What decides the framework's arithmetic on ``device``: versions and precision flags."""
    torch = require_torch()
    info = {"torch": torch.__version__, "device": device, "threads": torch.get_num_threads(),
            "float32_matmul_precision": torch.get_float32_matmul_precision()}
    cuda = torch.backends.cuda.matmul
    info.update(cuda_matmul_allow_tf32=bool(cuda.allow_tf32), cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
                allow_bf16_reduced_precision_reduction=bool(cuda.allow_bf16_reduced_precision_reduction),
                allow_fp16_reduced_precision_reduction=bool(cuda.allow_fp16_reduced_precision_reduction))
    if device == "cuda" and torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                    capability=".".join(map(str, torch.cuda.get_device_capability(0))))
    return info
