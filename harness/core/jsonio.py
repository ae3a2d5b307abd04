"""Standard JSON for result records (the CLI's ``--json``, the store's metadata, digests).

JSON has no NaN or infinity: :func:`to_json` writes NaN as ``null`` and infinities as
the strings ``"inf"`` / ``"-inf"``, so that any JSON reader (jq, JavaScript) accepts the
output; tuples become lists, dataclasses their ``asdict``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass

__all__ = ["to_json", "json_safe"]


def json_safe(obj):
    """obj with dataclasses as dicts, tuples as lists, NaN as None, +-inf as strings."""
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return json_safe(obj.item())
    return obj


def to_json(obj) -> str:
    return json.dumps(json_safe(obj), indent=2, allow_nan=False)
