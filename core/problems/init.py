"""Initialization schemes for the lab's nets: the problem key ``init = { scheme = "he", bias = 0.0, scale = 1.0 }``.

Schemes, per layer with ``fan_in`` inputs and ``fan_out`` outputs (weights; then ``scale``
multiplies every weight):

- ``default``: PyTorch's ``nn.Linear`` default, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights
  *and* biases (what ``kaiming_uniform_(a=sqrt(5))`` amounts to);
- ``normal``: ``N(0, sigma^2)`` with ``sigma`` (default 0.1);
- ``lecun``: ``N(0, 1/fan_in)``;
- ``xavier_uniform``: ``U(-a, a)``, ``a = sqrt(6/(fan_in+fan_out))`` (variance ``2/(fan_in+fan_out)``);
- ``xavier_normal``: ``N(0, 2/(fan_in+fan_out))``;
- ``he`` (also ``kaiming``): ``N(0, 2/fan_in)``.

``bias``: ``"zero"``, a number (every bias that constant), or ``"draw"`` (each bias drawn from the
scheme's weight distribution, e.g. ``N(0, sigma^2)`` for ``normal``: what the CS182 lecture's
elbow argument assumes); its default is the scheme's own: the ``default`` scheme draws biases as
PyTorch does, every other scheme sets them to 0. Draws are
float64 from ``torch.Generator().manual_seed(seed)``, layer by layer, weight then bias, so a seed
names one point. Without an ``init`` key a net starts exactly where it did before this module
(the ``default`` scheme, bit for bit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from core.errors import LabError, suggest

SCHEMES = ("default", "normal", "lecun", "xavier_uniform", "xavier_normal", "he", "kaiming")
KEYS = ("scheme", "sigma", "bias", "scale")


@dataclass(frozen=True)
class InitSpec:
    """A checked ``init`` table; ``bias`` is ``None`` for the scheme's own bias rule."""

    scheme: str = "default"
    sigma: float = 0.1
    bias: float | str | None = None  # None: the scheme's rule; "draw": like the weights
    scale: float = 1.0


def _number(value: Any, path: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LabError(f"expected a finite number, got {value!r}", path)
    if positive and not value > 0:
        raise LabError(f"expected a positive number, got {value!r}", path)
    return float(value)


def parse_init(value: Any, path: str = "init") -> InitSpec:
    """``None`` (the default), a scheme name, or a table with :data:`KEYS`; a one-line
    :class:`LabError` at ``init.<key>`` otherwise."""
    if value is None:
        return InitSpec()
    if isinstance(value, str):
        value = {"scheme": value}
    if not isinstance(value, dict):
        raise LabError(f"expected a table such as {{ scheme = \"he\", bias = 0.0, scale = 1.0 }}, got {value!r}", path)
    for key in value:
        if key not in KEYS:
            raise LabError(f"unknown key {key!r}{suggest(str(key), KEYS)}; allowed: {', '.join(KEYS)}", f"{path}.{key}")
    scheme = value.get("scheme", "default")
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        hint = suggest(scheme, SCHEMES) if isinstance(scheme, str) else ""
        raise LabError(f"unknown init scheme {scheme!r}{hint}; allowed: {', '.join(SCHEMES)}", f"{path}.scheme")
    if "sigma" in value and scheme != "normal":
        raise LabError(f"sigma belongs to the 'normal' scheme, not {scheme!r}", f"{path}.sigma")
    bias = value.get("bias")
    if bias is not None and bias != "draw":
        bias = 0.0 if bias == "zero" else _number(bias, f"{path}.bias") if not isinstance(bias, str) else None
        if bias is None:
            raise LabError(f"expected \"zero\", \"draw\" or a number, got {value['bias']!r}", f"{path}.bias")
    return InitSpec(scheme="he" if scheme == "kaiming" else scheme,
                    sigma=_number(value.get("sigma", 0.1), f"{path}.sigma", positive=True), bias=bias,
                    scale=_number(value.get("scale", 1.0), f"{path}.scale"))


def weight_std(spec: InitSpec, fan_in: int, fan_out: int) -> float:
    """The standard deviation of one weight under ``spec`` (before ``scale``)."""
    if spec.scheme == "default":
        return 1.0 / math.sqrt(3.0 * fan_in)  # U(-a, a) has variance a^2/3, a = 1/sqrt(fan_in)
    if spec.scheme == "normal":
        return spec.sigma
    if spec.scheme == "lecun":
        return math.sqrt(1.0 / fan_in)
    if spec.scheme in ("xavier_uniform", "xavier_normal"):
        return math.sqrt(2.0 / (fan_in + fan_out))
    return math.sqrt(2.0 / fan_in)  # he


def init_point(layers: Sequence[tuple[int, int]], spec: InitSpec | None, seed: int) -> Tensor:
    """The flat float64 parameter vector (per layer weight ``[out, in]`` then bias ``[out]``) for
    layers given as ``(fan_in, fan_out)``, drawn from ``torch.Generator().manual_seed(seed)``."""
    spec = spec or InitSpec()
    g = torch.Generator().manual_seed(int(seed))
    parts = []
    for fan_in, fan_out in layers:
        if spec.scheme == "default":  # exactly the draws the nets made before init.py existed
            k = 1.0 / math.sqrt(fan_in)
            W = (2 * torch.rand((fan_out, fan_in), generator=g, dtype=torch.float64) - 1).mul(k)
            b = (2 * torch.rand((fan_out,), generator=g, dtype=torch.float64) - 1).mul(k)
        else:
            std = weight_std(spec, fan_in, fan_out)
            if spec.scheme == "xavier_uniform":
                a = math.sqrt(3.0) * std
                W = (2 * torch.rand((fan_out, fan_in), generator=g, dtype=torch.float64) - 1).mul(a)
            else:
                W = torch.randn((fan_out, fan_in), generator=g, dtype=torch.float64).mul(std)
            if spec.bias == "draw":  # from the weights' distribution, after the layer's weights
                if spec.scheme == "xavier_uniform":
                    b = (2 * torch.rand((fan_out,), generator=g, dtype=torch.float64) - 1).mul(math.sqrt(3.0) * std)
                else:
                    b = torch.randn((fan_out,), generator=g, dtype=torch.float64).mul(std)
            else:
                b = torch.zeros(fan_out, dtype=torch.float64)
        if spec.scale != 1.0:
            W = W * spec.scale
        if spec.bias is not None and spec.bias != "draw":
            b = torch.full((fan_out,), spec.bias, dtype=torch.float64)
        parts += [W.reshape(-1), b]
    return torch.cat(parts)


__all__ = ["KEYS", "SCHEMES", "InitSpec", "init_point", "parse_init", "weight_std"]
