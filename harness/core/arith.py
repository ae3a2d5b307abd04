"""Arithmetics as hardware and frameworks run them: storage format, accumulator, modifiers.

A plain format name (``bfloat16``) keeps the harness's per-operation meaning: every
product and sum rounded to the format (:mod:`harness.core.rounding`). An *arithmetic*
``STORAGE@ACCUM`` is what tensor cores and fp32-accumulating CPU kernels (PyTorch's
bf16 / fp16 Linear) do instead:

* inputs, weights and layer outputs are held in STORAGE;
* products are exact (STORAGE has at most 25 bits, so a product is a float64 value);
* sums are accumulated in ACCUM, each addition correctly rounded to it
  (:func:`~harness.core.rounding.rnd_sum`), a layer's bias added in the accumulator;
* the layer output is rounded once to STORAGE.

Modifiers, appended with ``+`` (composable, documented hardware behaviour):

=========  ==========================================================================
``rz``     the accumulator rounds toward zero (truncation), as Fasi, Higham, Mikaitis
           & Pranesh (PeerJ CS 2021) measured in V100 / T4 / A100 tensor cores
``fma:K``  block fused multiply-add: K products summed exactly, then one rounding into
           the accumulator (Blanchard, Higham, Lopez, Mary & Pranesh, SISC 2020)
``sat``    a STORAGE overflow saturates to +-max_finite (FP8 stacks' "satfinite")
           instead of the format's own inf (E5M2, float16, ...) or NaN (E4M3)
=========  ==========================================================================

Per-layer arithmetics join two with ``/``: ``tf32@float32/float32`` runs layer 1 (the
projection and the bias) in tf32 storage with float32 accumulation and layer 2 in
float32; inside such a pair a plain name ``F`` means ``F@F`` (storage and accumulator F:
a BLAS kernel's FMA-based dot product). Frameworks choose kernels per layer, so the
deployment axis takes either form; construction takes a single ``S@A``.

Examples
--------
>>> a = parse_arith("bfloat16@float32+fma:4")
>>> a.name, a.layers[0].storage.name, a.layers[0].accum.name, a.layers[0].block
('bfloat16@float32+fma:4', 'bfloat16', 'float32', 4)
>>> parse_arith("tf32@float32/float32").name
'tf32@float32/float32@float32'
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import HarnessError
from .formats import GENERIC_MAX_P, Format, get_format

__all__ = ["Layer", "Arithmetic", "parse_arith", "is_arith", "resolve", "split_target", "require_per_op", "MODIFIERS",
           "MAX_BLOCK"]

#: Largest K of ``fma:K``: a block is summed exactly as an expansion of K + 1 terms.
MAX_BLOCK = 1024
#: The modifiers and what each does (the text of the unknown-modifier error).
MODIFIERS = {
    "rz": "accumulate rounding toward zero (truncation)",
    "fma:K": "block FMA: K products summed exactly before one accumulation",
    "sat": "storage overflow saturates to +-max_finite",
}


@dataclass(frozen=True)
class Layer:
    """One layer's arithmetic: STORAGE@ACCUM with its modifiers."""

    storage: Format
    accum: Format
    truncate: bool = False     # accumulator rounds toward zero
    block: int = 1             # products summed exactly per accumulation
    saturate: bool = False     # storage overflow -> +-max_finite

    @property
    def name(self) -> str:
        mods = ("+rz" if self.truncate else "") + (f"+fma:{self.block}" if self.block > 1 else "") + \
               ("+sat" if self.saturate else "")
        return f"{self.storage.name}@{self.accum.name}{mods}"

    def storage_spec(self) -> tuple:
        """Kernel tuple rounding to STORAGE (nearest-even; kind 4 when it saturates)."""
        kind, p, emin, maxf, _ = self.storage.kernel_spec("nearest")
        if self.saturate and kind != 0:
            kind = 4
        return (int(kind), int(p), int(emin), float(maxf), 0)

    def accum_spec(self) -> tuple:
        """Kernel tuple of the accumulator (rounding 0 nearest-even, 2 toward zero)."""
        kind, p, emin, maxf, _ = self.accum.kernel_spec("nearest")
        if self.truncate and kind == 1:
            kind = 2  # float32's hardware cast rounds to nearest: truncation takes the generic path
        if self.truncate and kind == 0:
            raise HarnessError(f"arithmetic {self.name}: rounding toward zero needs an accumulator narrower "
                               "than float64 (float64 is the carrier)")
        return (int(kind), int(p), int(emin), float(maxf), 2 if self.truncate else 0)

    def kernel(self) -> tuple:
        return (self.storage_spec(), self.accum_spec(), int(self.block))

    @property
    def u_accum(self) -> float:
        """Largest relative error of one accumulation: u, or 2u toward zero."""
        return self.accum.u * (2.0 if self.truncate else 1.0)


@dataclass(frozen=True)
class Arithmetic:
    """Layer 1 and layer 2 arithmetics (equal unless the name gave two)."""

    layers: tuple

    @property
    def name(self) -> str:
        l1, l2 = self.layers
        return l1.name if l1 == l2 else f"{l1.name}/{l2.name}"

    @property
    def storage(self) -> Format:
        """Layer 1's storage: the network's stored format when it is built in this arithmetic."""
        return self.layers[0].storage

    @property
    def output(self) -> Format:
        """Layer 2's storage: the format of the outputs."""
        return self.layers[1].storage

    @property
    def single(self) -> bool:
        return self.layers[0] == self.layers[1]

    def kernel(self) -> tuple:
        """The nested tuple the mixed kernels take: ((S1, A1, K1), (S2, A2, K2))."""
        return (self.layers[0].kernel(), self.layers[1].kernel())


def is_arith(name) -> bool:
    """Whether ``name`` is an arithmetic (``S@A``, with modifiers or layers), not a plain format."""
    return isinstance(name, Arithmetic) or (isinstance(name, str) and ("@" in name or "/" in name))


def _layer(text: str, whole: str, pair: bool) -> Layer:
    head, *mods = [t.strip() for t in text.split("+")]
    if "@" in head:
        s_name, _, a_name = head.partition("@")
    elif pair:
        s_name = a_name = head
    else:
        raise HarnessError(f"arithmetic {whole!r}: {text!r} needs STORAGE@ACCUM (e.g. bfloat16@float32)")
    try:
        storage, accum = get_format(s_name.strip()), get_format(a_name.strip())
    except HarnessError as exc:
        raise HarnessError(f"arithmetic {whole!r}: {exc}") from None
    if storage.name == "float64" or storage.p > GENERIC_MAX_P:
        raise HarnessError(f"arithmetic {whole!r}: storage {storage.name} is too wide for exact products in the "
                           f"float64 carrier (at most {GENERIC_MAX_P} bits); plain 'float64' is float64 arithmetic")
    if accum.p < storage.p or accum.max_finite < storage.max_finite:
        raise HarnessError(f"arithmetic {whole!r}: the accumulator {accum.name} (p = {accum.p}, max "
                           f"{accum.max_finite:g}) is narrower than its storage {storage.name} (p = {storage.p}, "
                           f"max {storage.max_finite:g}); accumulate in a format at least as wide")
    truncate = saturate = False
    block = 1
    for m in mods:
        if m == "rz":
            truncate = True
        elif m == "sat":
            saturate = True
        elif m.startswith("fma:"):
            k = m[4:]
            if not k.isdigit() or not 1 <= int(k) <= MAX_BLOCK:
                raise HarnessError(f"arithmetic {whole!r}: fma:K needs a whole number 1 <= K <= {MAX_BLOCK}, "
                                   f"got {k!r}")
            block = int(k)
        else:
            raise HarnessError(f"arithmetic {whole!r}: unknown modifier {m!r}; valid: "
                               + ", ".join(f"{k} ({v})" for k, v in MODIFIERS.items()))
    layer = Layer(storage, accum, truncate, block, saturate)
    layer.accum_spec()  # refuses combinations the kernels cannot run, naming them
    return layer


def parse_arith(text) -> Arithmetic:
    """Parse ``S@A[+mod...]`` or ``L1/L2`` (see the module docstring); HarnessError names the problem."""
    if isinstance(text, Arithmetic):
        return text
    if not isinstance(text, str) or not text.strip():
        raise HarnessError(f"arithmetic must be a name like bfloat16@float32, got {text!r}")
    parts = text.strip().split("/")
    if len(parts) > 2:
        raise HarnessError(f"arithmetic {text!r}: at most two layers (LAYER1/LAYER2)")
    layers = [_layer(p, text, pair=len(parts) == 2) for p in parts]
    return Arithmetic(tuple(layers * 2 if len(layers) == 1 else layers))


def resolve(name):
    """A :class:`Format` for a plain format name, an :class:`Arithmetic` for ``S@A`` names."""
    if isinstance(name, (Format, Arithmetic)):
        return name
    return parse_arith(name) if is_arith(name) else get_format(name)


class _Names:
    """A registry-like check (``get``) for an axis that takes formats and arithmetics by name."""

    def __init__(self, kind: str, none: bool = False):
        self.kind = kind
        self.none = none

    def get(self, name):
        if not isinstance(name, str):
            raise HarnessError(f"{self.kind} must be a name, got {name!r}")
        if self.none and name == "none":
            return name
        try:
            return resolve(name)
        except HarnessError as exc:
            raise HarnessError(f"{self.kind}: {exc}" + ("; or none" if self.none else "")) from None

    def names(self) -> list:
        from .formats import FORMATS

        return (["none"] if self.none else []) + FORMATS.names() + ["STORAGE@ACCUM[+rz][+fma:K][+sat][/LAYER2]"]


#: The sweeps' ``fmt`` axis: a format or an arithmetic ``S@A`` to build in.
FORMAT_OR_ARITH = _Names("format or arithmetic")
#: The sweeps' ``deploy`` axis: ``none`` (evaluate in the build format) or a format / arithmetic.
DEPLOYMENTS = _Names("deployment", none=True)


def split_target(fmt) -> tuple:
    """(storage Format, Arithmetic or None) of a format or arithmetic name: what construction
    and data generation store values in, and the arithmetic when there is one."""
    t = resolve(fmt)
    return (t.storage, t) if isinstance(t, Arithmetic) else (t, None)


def require_per_op(what: str, fmt) -> None:
    """Raise unless ``fmt`` is a per-operation Format (``what``: e.g. 'solver lapack')."""
    if isinstance(fmt, Arithmetic):
        raise HarnessError(f"{what} runs per-operation formats only, not the arithmetic {fmt.name}; "
                           + ("use recurrence (running sums in the accumulator) or exact" if what.startswith("solver")
                              else "use sequential (or torch) for STORAGE@ACCUM arithmetics"))
