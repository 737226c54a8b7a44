"""Device and dtype names as scenarios spell them."""

from __future__ import annotations

import torch

from core.errors import LabError

DEVICES = ("auto", "cpu", "cuda")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is present, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise LabError(f"unknown device {name!r}; allowed: {', '.join(DEVICES)}", "device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LabError("device 'cuda' asked for, but no CUDA GPU is available here; use 'auto' or 'cpu'", "device")
    return torch.device(name)


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    try:
        return DTYPES[name]
    except KeyError:
        raise LabError(f"unknown dtype {name!r}; allowed: {', '.join(DTYPES)}", "dtype") from None
