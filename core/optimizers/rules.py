"""The public optimizers: each one function returning a :func:`chain` of transforms, registered
with its hyperparameters (defaults, allowed intervals, meanings) in :data:`OPTIMIZERS`.

Each rule does the same floating-point operations in the same order as the matching
``torch.optim`` single-tensor implementation, and the tests prove it (``tests/test_optimizers.py``):
bit-identical free runs at d = 2 in float64, and one step from identical state within an ulp-level
bound at any width, in float64 and float32, state as well as parameters. Lion, which torch.optim
lacks, is held to a plain reference written in the test.

Momentum conventions (the lecture warns about exactly this):

- ``momentum`` / ``nesterov`` (PyTorch): ``v = beta v + (1 - dampening) g`` (first step ``v = g``),
  ``theta -= lr v``; Nesterov uses ``g + beta v`` in place of ``v``. This differs from Sutskever et
  al. (2013), where the learning rate sits inside the velocity.
- ``momentum_lowpass``: ``v = beta v + (1 - beta) g`` from ``v = 0``, ``theta -= lr v``: an
  exponential moving average of gradients. It equals the PyTorch form with ``lr' = (1 - beta) lr``.
  The lecture writes it ``a = (1 - b) a + b g`` with ``b = 1 - beta``.

Adding an optimizer is one function under ``@register(...)`` here, plus its test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from core.errors import LabError, suggest
from core.optimizers.transforms import (
    GradientTransformation, Scalar, _any, _f64, add_decayed_weights, chain, ema, inverse_time_decay,
    scale_by_adam, scale_by_learning_rate, scale_by_lion, scale_by_rms, scale_by_rss, trace,
)

Hyper = dict[str, Tensor]


@dataclass(frozen=True)
class HyperSpec:
    """One hyperparameter: default, allowed interval (``low``/``high``, open or closed) and meaning."""

    name: str
    default: float
    low: float = 0.0
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True
    doc: str = ""

    def check(self, value: Any, path: str = "") -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LabError(f"expected a number, got {value!r}", path or self.name)
        v = float(value)
        lo_ok = v > self.low if self.low_open else v >= self.low
        hi_ok = v < self.high if self.high_open else v <= self.high
        if not (math.isfinite(v) and lo_ok and hi_ok):
            lo = ("(" if self.low_open else "[") + f"{self.low:g}"
            hi = (f"{self.high:g}" if math.isfinite(self.high) else "inf") + (")" if self.high_open else "]")
            raise LabError(f"{self.name} must be in {lo}, {hi}, got {v:g}{(' (' + self.doc + ')') if self.doc else ''}", path or self.name)
        return v


@dataclass(frozen=True)
class Rule:
    """A public optimizer: ``make(**hyper)`` builds its transformation; ``label`` says which
    convention it is; ``hypers`` are what a scenario may set."""

    name: str
    label: str
    hypers: tuple[HyperSpec, ...]
    make: Callable[..., GradientTransformation]

    def __call__(self, hyper: Mapping[str, Scalar]) -> GradientTransformation:
        """The transformation for these hyperparameters (``[B, 1]`` tensors from :func:`make_hyper`)."""
        return self.make(**hyper)

    def spec(self, name: str) -> HyperSpec:
        return next(h for h in self.hypers if h.name == name)

    @property
    def hyper_names(self) -> list[str]:
        return [h.name for h in self.hypers]


OPTIMIZERS: dict[str, Rule] = {}


def register(name: str, label: str, *hypers: HyperSpec) -> Callable[[Callable[..., GradientTransformation]], Callable[..., GradientTransformation]]:
    """Enters the decorated function in :data:`OPTIMIZERS` as ``kind = name``."""

    def add(make: Callable[..., GradientTransformation]) -> Callable[..., GradientTransformation]:
        OPTIMIZERS[name] = Rule(name, label, tuple(hypers), make)
        return make

    return add


def get_rule(kind: str, path: str = "kind") -> Rule:
    if kind not in OPTIMIZERS:
        raise LabError(f"unknown optimizer {kind!r}{suggest(kind, list(OPTIMIZERS))}; allowed: {', '.join(OPTIMIZERS)}", path)
    return OPTIMIZERS[kind]


def make_hyper(rule: Rule, rows: Sequence[Mapping[str, Any]], device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float64, path: str = "") -> Hyper:
    """Validates one mapping of hyperparameters per trajectory (missing ones take their default)
    and stacks them into ``[B, 1]`` tensors. They stay float64 whatever ``dtype`` (the parameters'
    dtype, accepted for the caller's convenience) is: transforms round each derived coefficient
    once, like torch.optim's Python floats (see :mod:`core.optimizers.transforms`)."""
    out: dict[str, list[float]] = {h.name: [] for h in rule.hypers}
    for row in rows:
        for key in row:
            if key not in out:
                raise LabError(f"{rule.name} has no hyperparameter {key!r}{suggest(key, list(out))}; allowed: {', '.join(out)}",
                               f"{path}.{key}" if path else key)
        for h in rule.hypers:
            out[h.name].append(h.check(row.get(h.name, h.default), f"{path}.{h.name}" if path else h.name))
    return {k: torch.tensor(v, dtype=torch.float64, device=device).reshape(-1, 1) for k, v in out.items()}


# --- hyperparameters shared by several rules -------------------------------------------------
def _lr(default: float) -> HyperSpec:
    return HyperSpec("lr", default, low=0.0, low_open=True, doc="learning rate")


def _beta(name: str, default: float, doc: str) -> HyperSpec:
    return HyperSpec(name, default, low=0.0, high=1.0, high_open=True, doc=doc)


WD = HyperSpec("weight_decay", 0.0, doc="L2 penalty added to the gradient")
_MOMENTUM = _beta("momentum", 0.9, "momentum coefficient beta")
_DAMP = HyperSpec("dampening", 0.0, high=1.0, high_open=False, doc="scales the gradient into the velocity by 1 - dampening")
# torch.optim.SGD refuses nesterov=True with dampening != 0 ("Nesterov momentum requires a momentum
# and zero dampening"): there is no reference to match, so only 0 is accepted
_NESTEROV_DAMP = HyperSpec("dampening", 0.0, high=0.0, high_open=False,
                           doc="Nesterov takes no dampening, as in torch.optim; use kind = 'momentum' for a damped heavy ball")
_EPS = HyperSpec("eps", 1e-8, low_open=True, doc="added to the root mean square")
_ADAM = (_lr(0.001), _beta("b1", 0.9, "first-moment decay"), _beta("b2", 0.999, "second-moment decay"), _EPS)


# --- the rules -------------------------------------------------------------------------------
@register("gd", "gradient descent: theta -= lr g", _lr(0.1), WD)
def gd(lr: Scalar = 0.1, weight_decay: Scalar = 0.0) -> GradientTransformation:
    """``theta -= lr (g + weight_decay theta)``: torch.optim.SGD(momentum=0)."""
    return chain(add_decayed_weights(weight_decay), scale_by_learning_rate(lr))


@register("sgd", "stochastic gradient descent: theta -= lr g_batch", _lr(0.1), WD)
def sgd(lr: Scalar = 0.1, weight_decay: Scalar = 0.0) -> GradientTransformation:
    """:func:`gd` on minibatch or noisy gradients (the engine decides which gradient it gets)."""
    return gd(lr, weight_decay)


@register("momentum", "heavy ball, PyTorch form: v = beta v + (1-dampening) g; theta -= lr v", _lr(0.1), _MOMENTUM, _DAMP, WD)
def momentum(lr: Scalar = 0.1, momentum: Scalar = 0.9, dampening: Scalar = 0.0, weight_decay: Scalar = 0.0) -> GradientTransformation:
    """Heavy ball as torch.optim.SGD(momentum, dampening): ``v = beta v + (1 - dampening) g``
    (``v = g`` at the first step), ``theta -= lr v``; momentum 0 is plain GD."""
    return chain(add_decayed_weights(weight_decay), trace(momentum, dampening=dampening), scale_by_learning_rate(lr))


@register("nesterov", "Nesterov, PyTorch form: v = beta v + g; theta -= lr (g + beta v)", _lr(0.1), _MOMENTUM, _NESTEROV_DAMP, WD)
def nesterov(lr: Scalar = 0.1, momentum: Scalar = 0.9, dampening: Scalar = 0.0, weight_decay: Scalar = 0.0) -> GradientTransformation:
    """torch.optim.SGD(momentum, nesterov=True): ``v = beta v + g``, ``theta -= lr (g + beta v)``."""
    return chain(add_decayed_weights(weight_decay), trace(momentum, dampening=dampening, nesterov=True),
                 scale_by_learning_rate(lr))


@register("momentum_lowpass", "heavy ball, low-pass form: v = beta v + (1-beta) g; theta -= lr v",
          _lr(0.1), _beta("beta", 0.9, "EMA coefficient of the velocity"), WD)
def momentum_lowpass(lr: Scalar = 0.1, beta: Scalar = 0.9, weight_decay: Scalar = 0.0) -> GradientTransformation:
    """``v = beta v + (1 - beta) g`` from ``v = 0``, ``theta -= lr v``: torch.optim.SGD with
    ``lr (1 - beta)`` and ``momentum = beta`` from ``v = 0`` (identical iterates, up to rounding)."""
    return chain(add_decayed_weights(weight_decay), ema(beta), scale_by_learning_rate(lr))


@register("adam", "Adam (Kingma & Ba 2015), bias-corrected; weight_decay is L2 in the gradient", *_ADAM, WD)
def adam(lr: Scalar = 0.001, b1: Scalar = 0.9, b2: Scalar = 0.999, eps: Scalar = 1e-8,
         weight_decay: Scalar = 0.0) -> GradientTransformation:
    """torch.optim.Adam: ``theta -= lr mu_hat / (sqrt(nu_hat) + eps)`` (arXiv 1412.6980). Note
    TensorFlow's Adam puts eps against the uncorrected ``sqrt(nu)``: its iterates differ."""
    return chain(add_decayed_weights(weight_decay), scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))


@register("adamw", "AdamW (Loshchilov & Hutter 2019): decoupled weight decay theta *= 1 - lr wd",
          *_ADAM, HyperSpec("weight_decay", 0.01, doc="decoupled weight decay"))
def adamw(lr: Scalar = 0.001, b1: Scalar = 0.9, b2: Scalar = 0.999, eps: Scalar = 1e-8,
          weight_decay: Scalar = 0.01) -> GradientTransformation:
    """torch.optim.AdamW: ``theta *= 1 - lr wd`` then the Adam step (arXiv 1711.05101)."""
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, decoupled=True), scale_by_learning_rate(lr))


@register("rmsprop", "RMSProp (Hinton 2012): theta -= lr g / (sqrt(EMA g^2) + eps)",
          _lr(0.01), _beta("alpha", 0.99, "EMA coefficient of g^2"), HyperSpec("eps", 1e-8, low_open=True, doc="added to the root mean square"),
          _beta("momentum", 0.0, "momentum on the scaled step"), WD)
def rmsprop(lr: Scalar = 0.01, alpha: Scalar = 0.99, eps: Scalar = 1e-8, momentum: Scalar = 0.0,
            weight_decay: Scalar = 0.0) -> GradientTransformation:
    """torch.optim.RMSprop (not centred): ``s = alpha s + (1 - alpha) g^2``; with momentum
    ``v = momentum v + g / (sqrt(s) + eps)``, ``theta -= lr v``. Without momentum in any row the
    step is torch's ``addcdiv`` form (decided once, here)."""
    with_momentum = _any(_f64(momentum) != 0)
    return chain(add_decayed_weights(weight_decay), scale_by_rms(alpha, eps),
                 *([trace(momentum)] if with_momentum else []), scale_by_learning_rate(lr))


@register("adagrad", "AdaGrad (Duchi et al. 2011): theta -= lr g / (sqrt(sum g^2) + eps)",
          _lr(0.01), HyperSpec("lr_decay", 0.0, doc="step size lr / (1 + (t - 1) lr_decay)"),
          HyperSpec("eps", 1e-10, low_open=True, doc="added to the root of the sum"),
          HyperSpec("initial_accumulator_value", 0.0, doc="starting value of the sum of g^2"), WD)
def adagrad(lr: Scalar = 0.01, lr_decay: Scalar = 0.0, eps: Scalar = 1e-10, initial_accumulator_value: Scalar = 0.0,
            weight_decay: Scalar = 0.0) -> GradientTransformation:
    """torch.optim.Adagrad: ``s = s + g^2``, ``theta -= lr / (1 + (t - 1) lr_decay) g / (sqrt(s) + eps)``;
    the decay is a learning-rate schedule (:func:`inverse_time_decay`)."""
    return chain(add_decayed_weights(weight_decay), scale_by_rss(initial_accumulator_value, eps),
                 scale_by_learning_rate(inverse_time_decay(lr, lr_decay)))


@register("lion", "Lion (Chen et al. 2023): theta -= lr sign(b1 m + (1-b1) g); m = b2 m + (1-b2) g",
          _lr(1e-4), _beta("b1", 0.9, "interpolation of momentum and gradient in the sign"),
          _beta("b2", 0.99, "momentum decay"), HyperSpec("weight_decay", 0.0, doc="decoupled weight decay"))
def lion(lr: Scalar = 1e-4, b1: Scalar = 0.9, b2: Scalar = 0.99, weight_decay: Scalar = 0.0) -> GradientTransformation:
    """Lion, "Symbolic Discovery of Optimization Algorithms" (arXiv 2302.06675): ``theta *= 1 - lr wd``,
    ``theta -= lr sign(b1 m + (1 - b1) g)``, ``m = b2 m + (1 - b2) g``. Every coordinate moves by
    exactly ``lr`` (or 0), so it wants a learning rate 3-10x smaller than AdamW's."""
    return chain(scale_by_lion(b1, b2), add_decayed_weights(weight_decay, decoupled=True), scale_by_learning_rate(lr))
