"""Optimizers as pure, batched update rules (the shape of optax, the arithmetic of torch.optim).

A rule is ``init(theta, hyper) -> state`` and ``step(theta, grad, state, hyper) -> (theta, state)``
on tensors with one row per trajectory: ``theta`` and ``grad`` are ``[B, d]``, every hyperparameter
is a ``[B, 1]`` tensor, so a sweep over learning rates, start points and seeds advances in one
tensor operation. Nothing lives in ``self``: the engine can keep a state per step and replay.

Each rule does the same floating-point operations in the same order as the matching
``torch.optim`` single-tensor implementation, and the tests prove it (``tests/test_optimizers.py``):
bit-identical free runs at d = 2 in float64, and one step from identical state within an ulp-level
bound at any width, in float64 and float32.

Hyperparameters are kept in float64 whatever the parameters' dtype. torch.optim holds them as
Python floats, derives ``1 - b2``, ``lr / (1 - b1^t)`` and the like in double precision and rounds
each coefficient once to the tensor's dtype when it is applied; :func:`_c` does the same here.
(Deriving them in float32 instead would put ``1 - b2`` off by up to ~1e-4 relative at b2 = 0.999.)

Momentum conventions (the lecture warns about exactly this):

- ``momentum`` / ``nesterov`` (PyTorch): ``v = beta v + (1 - dampening) g`` (first step ``v = g``),
  ``theta -= lr v``; Nesterov uses ``g + beta v`` in place of ``v``. This differs from Sutskever et
  al. (2013), where the learning rate sits inside the velocity.
- ``momentum_lowpass``: ``v = beta v + (1 - beta) g`` from ``v = 0``, ``theta -= lr v``: an
  exponential moving average of gradients. It equals the PyTorch form with ``lr' = (1 - beta) lr``.
  The lecture writes it ``a = (1 - b) a + b g`` with ``b = 1 - beta``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from core.errors import LabError

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


LR = HyperSpec("lr", 0.1, low=0.0, low_open=True, doc="learning rate")
WD = HyperSpec("weight_decay", 0.0, doc="L2 penalty added to the gradient")


def _beta(name: str, default: float, doc: str) -> HyperSpec:
    return HyperSpec(name, default, low=0.0, high=1.0, high_open=True, doc=doc)


@dataclass(frozen=True)
class Rule:
    """An update rule with its hyperparameters. ``label`` says which convention it is."""

    name: str
    label: str
    hypers: tuple[HyperSpec, ...]
    init: Callable[[Tensor, Hyper], Any]
    step: Callable[[Tensor, Tensor, Any, Hyper], tuple[Tensor, Any]]
    torch_equivalent: str = ""

    def spec(self, name: str) -> HyperSpec:
        return next(h for h in self.hypers if h.name == name)

    @property
    def hyper_names(self) -> list[str]:
        return [h.name for h in self.hypers]


# --- plain gradient descent ----------------------------------------------------------------
class Count(NamedTuple):
    count: int


def _c(coefficient: Tensor, like: Tensor) -> Tensor:
    """A coefficient derived in float64, rounded once to the dtype of the tensor it scales."""
    return coefficient if coefficient.dtype == like.dtype else coefficient.to(like.dtype)


def _decay(theta: Tensor, grad: Tensor, hyper: Hyper) -> Tensor:
    """Coupled L2 weight decay as torch.optim applies it: ``g + wd * theta``."""
    wd = hyper.get("weight_decay")
    return grad if wd is None else torch.addcmul(grad, _c(wd, theta), theta)


def _gd_init(theta: Tensor, hyper: Hyper) -> Count:
    return Count(0)


def _gd_step(theta: Tensor, grad: Tensor, state: Count, hyper: Hyper) -> tuple[Tensor, Count]:
    grad = _decay(theta, grad, hyper)
    return torch.addcmul(theta, _c(-hyper["lr"], theta), grad), Count(state.count + 1)


# --- heavy ball and Nesterov, PyTorch convention ---------------------------------------------
class TraceState(NamedTuple):
    count: int
    velocity: Tensor
    plain_rows: bool = False  # some row has momentum 0: torch.optim.SGD then ignores dampening and the buffer


def _trace_init(theta: Tensor, hyper: Hyper) -> TraceState:
    momentum = hyper.get("momentum")
    # decided once per run (one host sync here, none per step)
    plain = momentum is not None and bool((momentum == 0).any().item())
    return TraceState(0, torch.zeros_like(theta), plain)


def _make_trace_step(nesterov: bool) -> Callable:
    def step(theta: Tensor, grad: Tensor, state: TraceState, hyper: Hyper) -> tuple[Tensor, TraceState]:
        grad = _decay(theta, grad, hyper)
        beta = _c(hyper["momentum"], theta)
        if state.count == 0:
            v = grad.clone()  # torch.optim.SGD starts the buffer at the first gradient, undamped
        else:
            v = torch.addcmul(state.velocity * beta, _c(1 - hyper["dampening"], theta), grad)
            if state.plain_rows:  # momentum 0 is plain SGD in torch.optim, whatever the dampening
                v = torch.where(beta == 0, grad, v)
        direction = torch.addcmul(grad, beta, v) if nesterov else v
        return torch.addcmul(theta, _c(-hyper["lr"], theta), direction), state._replace(count=state.count + 1, velocity=v)

    return step


# --- heavy ball, low-pass (EMA) convention ------------------------------------------------
def _lowpass_step(theta: Tensor, grad: Tensor, state: TraceState, hyper: Hyper) -> tuple[Tensor, TraceState]:
    grad = _decay(theta, grad, hyper)
    beta = hyper["beta"]
    v = torch.addcmul(state.velocity * _c(beta, theta), _c(1 - beta, theta), grad)
    return torch.addcmul(theta, _c(-hyper["lr"], theta), v), state._replace(count=state.count + 1, velocity=v)


# --- Adam / AdamW -----------------------------------------------------------------------------
class AdamState(NamedTuple):
    count: int
    mu: Tensor
    nu: Tensor
    betas: tuple[tuple[float, float], ...] = ()  # the distinct (b1, b2) pairs of the rows
    which: Tensor | None = None  # [B] index of each row's pair in ``betas``


def _adam_init(theta: Tensor, hyper: Hyper) -> AdamState:
    # Bias corrections 1 - b^t are computed per distinct (b1, b2) in Python floats, exactly as
    # torch.optim does: torch's vectorised tensor pow is not the C library's pow in the last bit.
    # One host sync here per run; none per step.
    pairs, which = torch.unique(torch.cat([hyper["b1"], hyper["b2"]], dim=1), dim=0, return_inverse=True)
    betas = tuple((float(a), float(b)) for a, b in pairs.tolist())
    return AdamState(0, torch.zeros_like(theta), torch.zeros_like(theta), betas, which)


def _bias_corrections(state: AdamState, t: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """``1 - b1^t`` and ``sqrt(1 - b2^t)`` per row, ``[B, 1]``, in float64."""
    table = torch.tensor([[1 - b1**t, (1 - b2**t) ** 0.5] for b1, b2 in state.betas], dtype=torch.float64)
    rows = table.to(like.device)[state.which]
    return rows[:, :1], rows[:, 1:]


def _make_adam_step(decoupled: bool) -> Callable:
    def step(theta: Tensor, grad: Tensor, state: AdamState, hyper: Hyper) -> tuple[Tensor, AdamState]:
        t = state.count + 1
        lr, b1, b2, eps = hyper["lr"], hyper["b1"], hyper["b2"], hyper["eps"]
        if decoupled:
            theta = theta * _c(1 - lr * hyper["weight_decay"], theta)
        else:
            grad = _decay(theta, grad, hyper)
        mu = torch.lerp(state.mu, grad, _c(1 - b1, theta))
        nu = state.nu * _c(b2, theta) + _c(1 - b2, theta) * grad * grad
        bc1, bc2_sqrt = _bias_corrections(state, t, theta)
        denom = nu.sqrt() / _c(bc2_sqrt, theta) + _c(eps, theta)
        step_size = lr / bc1
        return theta + _c(-step_size, theta) * mu / denom, state._replace(count=t, mu=mu, nu=nu)

    return step


# --- RMSProp and AdaGrad ---------------------------------------------------------------------
class SquareState(NamedTuple):
    count: int
    square: Tensor
    velocity: Tensor
    plain: bool = False  # RMSProp without momentum in every row: torch.optim's addcdiv path


def _rmsprop_init(theta: Tensor, hyper: Hyper) -> SquareState:
    # decided once per run (one host sync here, none per step)
    plain = not bool((hyper["momentum"] != 0).any().item())
    return SquareState(0, torch.zeros_like(theta), torch.zeros_like(theta), plain)


def _rmsprop_step(theta: Tensor, grad: Tensor, state: SquareState, hyper: Hyper) -> tuple[Tensor, SquareState]:
    grad = _decay(theta, grad, hyper)
    alpha = hyper["alpha"]
    sq = state.square * _c(alpha, theta) + _c(1 - alpha, theta) * grad * grad
    avg = sq.sqrt() + _c(hyper["eps"], theta)
    if state.plain:
        return theta + _c(-hyper["lr"], theta) * grad / avg, state._replace(count=state.count + 1, square=sq)
    v = state.velocity * _c(hyper["momentum"], theta) + grad / avg
    return torch.addcmul(theta, _c(-hyper["lr"], theta), v), state._replace(count=state.count + 1, square=sq, velocity=v)


def _adagrad_init(theta: Tensor, hyper: Hyper) -> SquareState:
    return SquareState(0, torch.zeros_like(theta) + _c(hyper["initial_accumulator_value"], theta), torch.zeros_like(theta))


def _adagrad_step(theta: Tensor, grad: Tensor, state: SquareState, hyper: Hyper) -> tuple[Tensor, SquareState]:
    t = state.count + 1
    grad = _decay(theta, grad, hyper)
    clr = hyper["lr"] / (1 + (t - 1) * hyper["lr_decay"])
    sq = state.square + 1 * grad * grad
    std = sq.sqrt() + _c(hyper["eps"], theta)
    return theta + _c(-clr, theta) * grad / std, state._replace(count=t, square=sq)


_MOMENTUM = _beta("momentum", 0.9, "momentum coefficient beta")
_DAMP = HyperSpec("dampening", 0.0, high=1.0, high_open=False, doc="scales the gradient into the velocity by 1 - dampening")
# torch.optim.SGD refuses nesterov=True with dampening != 0 ("Nesterov momentum requires a momentum
# and zero dampening"): there is no reference to match, so only 0 is accepted
_NESTEROV_DAMP = HyperSpec("dampening", 0.0, high=0.0, high_open=False,
                           doc="Nesterov takes no dampening, as in torch.optim; use kind = 'momentum' for a damped heavy ball")
_ADAM = (HyperSpec("lr", 0.001, low_open=True, doc="learning rate"), _beta("b1", 0.9, "first-moment decay"),
         _beta("b2", 0.999, "second-moment decay"), HyperSpec("eps", 1e-8, low_open=True, doc="added to the root mean square"))

OPTIMIZERS: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("gd", "gradient descent: theta -= lr g", (LR, WD), _gd_init, _gd_step, "SGD(momentum=0)"),
        Rule("sgd", "stochastic gradient descent: theta -= lr g_batch", (LR, WD), _gd_init, _gd_step, "SGD(momentum=0)"),
        Rule("momentum", "heavy ball, PyTorch form: v = beta v + (1-dampening) g; theta -= lr v",
             (LR, _MOMENTUM, _DAMP, WD), _trace_init, _make_trace_step(False), "SGD(momentum, dampening)"),
        Rule("nesterov", "Nesterov, PyTorch form: v = beta v + g; theta -= lr (g + beta v)",
             (LR, _MOMENTUM, _NESTEROV_DAMP, WD), _trace_init, _make_trace_step(True), "SGD(momentum, nesterov=True)"),
        Rule("momentum_lowpass", "heavy ball, low-pass form: v = beta v + (1-beta) g; theta -= lr v",
             (LR, _beta("beta", 0.9, "EMA coefficient of the velocity"), WD), _trace_init, _lowpass_step,
             "SGD(lr=(1-beta) lr, momentum=beta) from v = 0"),
        Rule("adam", "Adam (Kingma & Ba 2015), bias-corrected; weight_decay is L2 in the gradient",
             (*_ADAM, WD), _adam_init, _make_adam_step(False), "Adam"),
        Rule("adamw", "AdamW (Loshchilov & Hutter 2019): decoupled weight decay theta *= 1 - lr wd",
             (*_ADAM, HyperSpec("weight_decay", 0.01, doc="decoupled weight decay")), _adam_init, _make_adam_step(True), "AdamW"),
        Rule("rmsprop", "RMSProp (Hinton 2012): theta -= lr g / (sqrt(EMA g^2) + eps)",
             (HyperSpec("lr", 0.01, low_open=True, doc="learning rate"), _beta("alpha", 0.99, "EMA coefficient of g^2"),
              HyperSpec("eps", 1e-8, low_open=True), _beta("momentum", 0.0, "momentum on the scaled step"), WD),
             _rmsprop_init, _rmsprop_step, "RMSprop"),
        Rule("adagrad", "AdaGrad (Duchi et al. 2011): theta -= lr g / (sqrt(sum g^2) + eps)",
             (HyperSpec("lr", 0.01, low_open=True, doc="learning rate"), HyperSpec("lr_decay", 0.0),
              HyperSpec("eps", 1e-10, low_open=True), HyperSpec("initial_accumulator_value", 0.0), WD),
             _adagrad_init, _adagrad_step, "Adagrad"),
    )
}


def get_rule(kind: str, path: str = "kind") -> Rule:
    from core.errors import suggest

    if kind not in OPTIMIZERS:
        raise LabError(f"unknown optimizer {kind!r}{suggest(kind, list(OPTIMIZERS))}; allowed: {', '.join(OPTIMIZERS)}", path)
    return OPTIMIZERS[kind]


def make_hyper(rule: Rule, rows: Sequence[Mapping[str, Any]], device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float64, path: str = "") -> Hyper:
    """Validates one mapping of hyperparameters per trajectory (missing ones take their default)
    and stacks them into ``[B, 1]`` tensors. They stay float64 whatever ``dtype`` (the parameters'
    dtype, accepted for the caller's convenience) is: rules round each derived coefficient once,
    like torch.optim's Python floats (see the module docstring)."""
    out: dict[str, list[float]] = {h.name: [] for h in rule.hypers}
    for i, row in enumerate(rows):
        for key in row:
            if key not in out:
                from core.errors import suggest

                raise LabError(f"{rule.name} has no hyperparameter {key!r}{suggest(key, list(out))}; allowed: {', '.join(out)}",
                               f"{path}.{key}" if path else key)
        for h in rule.hypers:
            out[h.name].append(h.check(row.get(h.name, h.default), f"{path}.{h.name}" if path else h.name))
    return {k: torch.tensor(v, dtype=torch.float64, device=device).reshape(-1, 1) for k, v in out.items()}


@dataclass
class Optimizer:
    """A rule bound to per-trajectory hyperparameters: what the engine advances."""

    rule: Rule
    hyper: Hyper
    state: Any = field(default=None)

    def init(self, theta: Tensor) -> Any:
        self.state = self.rule.init(theta, self.hyper)
        return self.state

    def step(self, theta: Tensor, grad: Tensor) -> Tensor:
        theta, self.state = self.rule.step(theta, grad, self.state, self.hyper)
        return theta
