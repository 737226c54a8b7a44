"""The lecture's activation functions, one table: name -> ``phi`` and its first two derivatives.

Each entry of :data:`ACTIVATIONS` is an :class:`Activation` with elementwise tensor functions
``phi(z, slope)``, ``d1(z, slope)`` (``phi'``) and ``d2(z, slope)`` (``phi''``, ``None`` where it is 0
everywhere it is defined: identity, step, ReLU, leaky ReLU). ``slope`` is the leaky ReLU's slope
for ``z < 0`` (the lecture's 0.1 by default); the other functions ignore it. The MLP's forward pass
uses ``phi``; its Hessian-vector product (Pearlmutter's R-operator, :mod:`core.problems.neural`)
uses ``phi'`` and ``phi''`` in closed form. tests/test_activations.py checks every ``phi'`` and
``phi''`` against its closed form and against autograd on ``phi`` in float64.

Conventions at the kinks are PyTorch's own, so the closed forms agree with autograd there too:
ReLU's ``phi'(0) = 0``, leaky ReLU's ``phi'(0) = slope``, ELU's ``phi'(0) = phi''(0) = 1`` (the
``z <= 0`` branch), the step's ``phi(0) = 0.5`` and ``phi' = 0`` (its derivative almost everywhere:
a step net gets no gradient through its step layers, which is the lecture's point about it).
GELU is the exact (erf) one, ELU has ``alpha = 1``, softplus is PyTorch's (``beta = 1``, linear
above ``z = 20``), SiLU (also called swish) is ``z sigmoid(z)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

#: the lecture slide's leaky-ReLU slope for z < 0 (PyTorch's own default is 0.01)
LEAKY_SLOPE = 0.1
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class _Step(torch.autograd.Function):
    """Heaviside step with ``H(0) = 0.5`` whose derivative is 0 (autograd has none for heaviside)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z: Tensor) -> Tensor:  # type: ignore[override]
        return torch.heaviside(z, torch.tensor(0.5, dtype=z.dtype, device=z.device))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        pass

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return torch.zeros_like(grad)


def _zeros(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    return torch.zeros_like(z)


def _sig_d1(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


def _sig_d2(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s) * (1 - 2 * s)


def _tanh_d1(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    t = torch.tanh(z)
    return 1 - t * t


def _tanh_d2(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    t = torch.tanh(z)
    return -2 * t * (1 - t * t)


def _silu_d1(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    s = torch.sigmoid(z)
    return s * (1 + z * (1 - s))


def _silu_d2(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s) * (2 + z * (1 - 2 * s))


def _gelu_d1(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))
    return cdf + z * torch.exp(-0.5 * z * z) * _INV_SQRT_2PI


def _gelu_d2(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    return torch.exp(-0.5 * z * z) * _INV_SQRT_2PI * (2 - z * z)


def _elu_d1(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    return torch.where(z > 0, torch.ones_like(z), torch.exp(z))


def _elu_d2(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    return torch.where(z > 0, torch.zeros_like(z), torch.exp(z))


def _softplus_d1(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    return torch.where(z > 20, torch.ones_like(z), torch.sigmoid(z))


def _softplus_d2(z: Tensor, slope: float = LEAKY_SLOPE) -> Tensor:
    s = torch.sigmoid(z)
    return torch.where(z > 20, torch.zeros_like(z), s * (1 - s))


@dataclass(frozen=True)
class Activation:
    """``phi``, ``phi'`` and ``phi''`` (``None``: identically 0) as ``f(z, slope)``; ``formula`` for docs."""

    phi: Callable[..., Tensor]
    d1: Callable[..., Tensor]
    d2: Callable[..., Tensor] | None
    formula: str


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(lambda z, slope=LEAKY_SLOPE: z, lambda z, slope=LEAKY_SLOPE: torch.ones_like(z), None, "z"),
    "step": Activation(lambda z, slope=LEAKY_SLOPE: _Step.apply(z), _zeros, None, "1 if z > 0, 0.5 at 0, else 0"),
    "sigmoid": Activation(lambda z, slope=LEAKY_SLOPE: torch.sigmoid(z), _sig_d1, _sig_d2, "1 / (1 + exp(-z))"),
    "tanh": Activation(lambda z, slope=LEAKY_SLOPE: torch.tanh(z), _tanh_d1, _tanh_d2, "tanh(z)"),
    "relu": Activation(lambda z, slope=LEAKY_SLOPE: F.relu(z), lambda z, slope=LEAKY_SLOPE: (z > 0).to(z), None, "max(0, z)"),
    "leaky_relu": Activation(lambda z, slope=LEAKY_SLOPE: F.leaky_relu(z, slope),
                             lambda z, slope=LEAKY_SLOPE: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, slope)),
                             None, "z if z > 0, else slope z"),
    "elu": Activation(lambda z, slope=LEAKY_SLOPE: F.elu(z), _elu_d1, _elu_d2, "z if z > 0, else exp(z) - 1"),
    "softplus": Activation(lambda z, slope=LEAKY_SLOPE: F.softplus(z), _softplus_d1, _softplus_d2, "log(1 + exp(z))"),
    "silu": Activation(lambda z, slope=LEAKY_SLOPE: F.silu(z), _silu_d1, _silu_d2, "z sigmoid(z)"),
    "gelu": Activation(lambda z, slope=LEAKY_SLOPE: F.gelu(z), _gelu_d1, _gelu_d2, "z Phi(z) (exact, erf)"),
}
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]  # the same function under its other name

#: in-place variants, used when no gradient is recorded (grids): one pass less over the activations
INPLACE: dict[str, Callable[[Tensor], Tensor]] = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}


def derivatives(name: str, z: Tensor, slope: float = LEAKY_SLOPE) -> tuple[Tensor, Tensor, Tensor | None]:
    """``phi(z)``, ``phi'(z)`` and ``phi''(z)`` (``None`` where it is identically 0), closed form."""
    act = ACTIVATIONS[name]
    return act.phi(z, slope), act.d1(z, slope), None if act.d2 is None else act.d2(z, slope)


__all__ = ["ACTIVATIONS", "INPLACE", "LEAKY_SLOPE", "Activation", "derivatives"]
