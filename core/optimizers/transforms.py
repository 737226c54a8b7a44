"""Gradient transformations in the shape of optax, with the arithmetic of torch.optim.

A :class:`GradientTransformation` is a pair of pure functions, ``init(params) -> state`` and
``update(updates, state, params) -> (updates, state)``; :func:`chain` composes them left to right
and :func:`apply_updates` adds the result to the parameters. Everything is batched over rows: one
trajectory per row of ``params [B, d]``, every hyperparameter a ``[B, 1]`` tensor (or a number),
so a sweep of learning rates, starts and seeds advances in one tensor operation. Configuration
(betas, the Nesterov flag, which rows have momentum 0) is fixed when a transform is made; the state
holds tensors only, ``count`` included, so nothing syncs with the host inside a run.

One difference from optax, for torch.optim's last bit: what flows through a chain is an
:class:`Updates`, the step *kept factored* (``num / den``, a step size, a divisor of it and a
decoupled decay) until :func:`apply_updates` combines it with the parameters in the very kernels
torch.optim uses (``add_(alpha=)``, ``addcdiv_``, ``mul_(1 - lr wd)``). Coefficients are derived
in float64 whatever the parameters' dtype, as torch.optim derives them from Python floats, and
each is rounded once to the parameters' dtype where it is applied (:func:`_c`). Deriving
``1 - b2`` in float32 instead would be off by up to ~1e-4 relative at b2 = 0.999. A plain tensor
is accepted everywhere an :class:`Updates` is (a raw gradient).

The sign lives in one place, :func:`scale_by_learning_rate`. Schedules are functions of the step
count returning a ``[B, 1]`` float64 tensor; :func:`scale_by_schedule` is the hook that applies
one (:func:`constant_schedule` and torch.optim.Adagrad's :func:`inverse_time_decay` are here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

Scalar = Tensor | float
#: a function of the step count (a 0-dim int64 tensor, 0 at the first step) -> ``[B, 1]`` float64
Schedule = Callable[[Tensor], Tensor]


class GradientTransformation(NamedTuple):
    """``init(params) -> state`` and ``update(updates, state, params) -> (updates, state)``."""

    init: Callable[[Tensor], Any]
    update: Callable[[Any, Any, Tensor], tuple["Updates", Any]]


class Updates(NamedTuple):
    """A step kept factored until it is applied (see the module docstring).

    Before :func:`scale_by_learning_rate` it stands for ``u = coef * num / den / div + decay * params``
    (absent fields: ``den = div = coef = 1``, ``decay = 0``); :func:`apply_updates` computes
    ``params * (1 + coef * decay) + (coef / div) * num / den``: torch.optim's
    ``p.mul_(1 - lr wd); p.addcdiv_(num, den, value=-lr / bias_correction)``. ``coef``, ``div`` and
    ``decay`` are float64 ``[B, 1]`` (or broadcastable) tensors."""

    num: Tensor
    den: Tensor | None = None
    coef: Tensor | None = None
    div: Tensor | None = None
    decay: Tensor | None = None


class EmptyState(NamedTuple):
    """The state of a stateless transform."""


def _c(coefficient: Tensor, like: Tensor) -> Tensor:
    """A coefficient derived in float64, rounded once to the dtype of the tensor it scales."""
    return coefficient if coefficient.dtype == like.dtype else coefficient.to(like.dtype)


def _f64(x: Scalar) -> Tensor:
    return x.to(torch.float64) if isinstance(x, Tensor) else torch.tensor(float(x), dtype=torch.float64)


def _on(x: Tensor, params: Tensor) -> Tensor:
    return x if x.device == params.device else x.to(params.device)


def _any(x: Tensor) -> bool:
    """One host sync, when a transform is made (never per step)."""
    return bool(x.any().item())


def _lift(u: Updates | Tensor) -> Updates:
    return u if isinstance(u, Updates) else Updates(u)


def materialize(u: Updates | Tensor) -> Tensor:
    """The update as one tensor, for a transform that works on its values (momentum, moments).
    Refuses a pending decoupled decay: it is applied with the learning rate, so it comes after the
    preconditioner and right before :func:`scale_by_learning_rate`."""
    if isinstance(u, Tensor):
        return u
    if u.decay is not None:
        raise ValueError("a decoupled weight decay must come after the transforms that use the update's values")
    x = u.num if u.den is None else u.num / u.den
    step = _step_size(u)
    return x if step is None else x * _c(step, x)


def _step_size(u: Updates) -> Tensor | None:
    """``coef / div`` in float64 (torch: ``lr / bias_correction``), or None when both are 1."""
    if u.div is None:
        return u.coef
    return 1 / u.div if u.coef is None else u.coef / u.div


def _scaled(u: Updates, factor: Tensor) -> Updates:
    return u._replace(coef=factor if u.coef is None else u.coef * factor)


def apply_updates(params: Tensor, updates: Updates | Tensor) -> Tensor:
    """``params + updates``, with a factored :class:`Updates` combined as torch.optim does."""
    if isinstance(updates, Tensor):
        return params + updates
    u = updates
    if u.decay is not None:  # torch: p.mul_(1 - lr * weight_decay)
        params = params * _c(1 + (u.decay if u.coef is None else u.coef * u.decay), params)
    step = _step_size(u)
    if step is None:
        return params + (u.num if u.den is None else u.num / u.den)
    if u.den is None:  # torch: p.add_(num, alpha=-lr)
        return torch.addcmul(params, _c(step, params), u.num)
    return params + _c(step, params) * u.num / u.den  # torch: p.addcdiv_(num, den, value=-lr / div)


# --- combinators -----------------------------------------------------------------------------
def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies ``transforms`` in order; the state is the tuple of their states."""

    def init(params: Tensor) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(updates: Any, state: tuple, params: Tensor) -> tuple[Updates, tuple]:
        new_state = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return _lift(updates), tuple(new_state)

    return GradientTransformation(init, update)


def identity() -> GradientTransformation:
    return GradientTransformation(lambda params: EmptyState(), lambda u, state, params: (_lift(u), state))


def _stateless(fn: Callable[[Updates | Tensor, Tensor], Updates]) -> GradientTransformation:
    return GradientTransformation(lambda params: EmptyState(), lambda u, state, params: (fn(u, params), state))


# --- weight decay ----------------------------------------------------------------------------
def add_decayed_weights(weight_decay: Scalar, *, decoupled: bool = False) -> GradientTransformation:
    """``u <- u + weight_decay * params``.

    Placed before a momentum or preconditioner this is the L2 penalty torch.optim's SGD, Adam,
    RMSprop and Adagrad call ``weight_decay`` (``g.add(p, alpha=wd)``). With ``decoupled=True``,
    placed right before :func:`scale_by_learning_rate`, it is AdamW's and Lion's decoupled decay
    (Loshchilov & Hutter 2019), kept pending and applied as ``p *= 1 - lr wd`` as torch.optim.AdamW
    does. All-zero rows make it the identity (torch skips ``weight_decay = 0`` too)."""
    wd = _f64(weight_decay)
    if not _any(wd != 0):
        return identity()
    if decoupled:
        return _stateless(lambda u, params: _lift(u)._replace(decay=_on(wd, params)))
    return _stateless(lambda u, params: Updates(torch.addcmul(materialize(u), _c(_on(wd, params), params), params)))


# --- scaling and the learning rate -----------------------------------------------------------
def scale(step_size: Scalar) -> GradientTransformation:
    """``u <- step_size * u`` (a float64 factor, folded into the step's coefficient)."""
    s = _f64(step_size)
    return _stateless(lambda u, params: _scaled(_lift(u), _on(s, params)))


class ScaleByScheduleState(NamedTuple):
    count: Tensor  # steps taken, 0-dim int64


def _zero_count(params: Tensor) -> Tensor:
    return torch.zeros((), dtype=torch.int64, device=params.device)


def scale_by_schedule(schedule: Schedule) -> GradientTransformation:
    """``u <- schedule(count) * u``: the hook for learning-rate schedules (``count`` is 0 at the
    first step)."""

    def update(u: Updates | Tensor, state: ScaleByScheduleState, params: Tensor) -> tuple[Updates, ScaleByScheduleState]:
        return _scaled(_lift(u), schedule(state.count)), ScaleByScheduleState(state.count + 1)

    return GradientTransformation(lambda params: ScaleByScheduleState(_zero_count(params)), update)


def constant_schedule(value: Scalar) -> Schedule:
    v = _f64(value)
    return lambda count: _on(v, count)


def inverse_time_decay(lr: Scalar | Schedule, decay: Scalar) -> Schedule:
    """``lr / (1 + count * decay)``: torch.optim.Adagrad's ``lr_decay`` (``count = step - 1``);
    ``lr`` may itself be a schedule (torch: a scheduler setting ``group["lr"]``)."""
    decay = _f64(decay)
    if callable(lr):
        base = lr
        return lambda count: base(count) / (1 + count * _on(decay, count))
    lr = _f64(lr)
    return lambda count: _on(lr, count) / (1 + count * _on(decay, count))


def scale_by_learning_rate(learning_rate: Scalar | Schedule, *, flip_sign: bool = True) -> GradientTransformation:
    """``u <- -learning_rate * u``: the one place the descent sign is applied. ``learning_rate``
    is a number, a ``[B, 1]`` tensor, or a :data:`Schedule` of the step count."""
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        schedule = learning_rate
        return scale_by_schedule(lambda count: sign * schedule(count))
    return scale(sign * _f64(learning_rate))


# --- momentum --------------------------------------------------------------------------------
class TraceState(NamedTuple):
    count: Tensor  # steps taken, 0-dim int64
    velocity: Tensor


def trace(decay: Scalar, *, dampening: Scalar | None = None, nesterov: bool = False) -> GradientTransformation:
    """Momentum, PyTorch's convention: ``v <- decay v + u`` from ``v = 0`` (optax's ``trace``, and
    torch.optim.RMSprop's momentum buffer).

    With ``dampening`` (torch.optim.SGD): ``v <- decay v + (1 - dampening) u``, the first step
    taking ``v = u`` undamped, and rows with ``decay = 0`` plain SGD whatever the dampening. With
    ``nesterov``, the output is ``u + decay v`` in place of ``v``; torch.optim refuses Nesterov with
    dampening, so this does too. Note PyTorch's velocity carries no learning rate, unlike Sutskever
    et al. (2013), where it sits inside: the two agree only for a constant learning rate."""
    beta = _f64(decay)
    if dampening is None:
        gain = None
    else:
        damp = _f64(dampening)
        if nesterov and _any(damp != 0):
            raise ValueError("Nesterov momentum requires zero dampening (as in torch.optim.SGD)")
        gain = torch.where(beta == 0, 1.0, 1 - damp)  # momentum 0 is plain SGD in torch.optim.SGD

    def init(params: Tensor) -> TraceState:
        return TraceState(_zero_count(params), torch.zeros_like(params))

    def update(u: Updates | Tensor, state: TraceState, params: Tensor) -> tuple[Updates, TraceState]:
        g = materialize(u)
        b = _on(beta, params)
        if gain is None:
            v = state.velocity * _c(b, g) + g
        else:
            first = state.count == 0  # torch.optim.SGD starts the buffer at the first gradient, undamped
            v = torch.addcmul(state.velocity * _c(torch.where(first, 0.0, b), g),
                              _c(torch.where(first, 1.0, _on(gain, params)), g), g)
        out = torch.addcmul(g, _c(b, g), v) if nesterov else v
        return Updates(out), TraceState(state.count + 1, v)

    return GradientTransformation(init, update)


class EmaState(NamedTuple):
    velocity: Tensor


def ema(decay: Scalar) -> GradientTransformation:
    """Low-pass momentum: ``v <- decay v + (1 - decay) u`` from ``v = 0``, an exponential moving
    average of the updates (optax's ``ema`` without debiasing). As heavy ball it equals the PyTorch
    form with the learning rate times ``1 - decay``; the lecture writes ``a = (1 - b) a + b g``
    with ``b = 1 - decay``."""
    beta = _f64(decay)

    def update(u: Updates | Tensor, state: EmaState, params: Tensor) -> tuple[Updates, EmaState]:
        g = materialize(u)
        b = _on(beta, params)
        v = torch.addcmul(state.velocity * _c(b, g), _c(1 - b, g), g)
        return Updates(v), EmaState(v)

    return GradientTransformation(lambda params: EmaState(torch.zeros_like(params)), update)


# --- adaptive preconditioners ----------------------------------------------------------------
class ScaleByAdamState(NamedTuple):
    count: Tensor  # steps taken, 0-dim int64
    mu: Tensor
    nu: Tensor


#: torch's pow kernel runs C's ``pow`` (what Python's ``**`` and so torch.optim call) on short
#: inputs and a vectorised approximation, not equal in the last bit, on 8 elements or more: the
#: bias corrections of the distinct (b1, b2) pairs are computed this many pairs at a time
_POW_PAIRS = 3


def bias_corrections(pairs: Tensor, t: Tensor, half: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``1 - b1^t`` and ``sqrt(1 - b2^t)`` per row of ``pairs [P, 2]`` (float64, on the device),
    bit for bit what torch.optim.Adam computes from Python floats on the CPU. ``half`` is a 0-dim
    float64 0.5 on the device: ``pow(x, half)`` is C's ``pow(x, 0.5)``, as Python's ``** 0.5``
    (a Python 0.5 would take torch's sqrt shortcut)."""
    if pairs.shape[0] <= _POW_PAIRS:
        powers = torch.pow(pairs, t)
    else:
        powers = torch.cat([torch.pow(pairs[i:i + _POW_PAIRS], t) for i in range(0, pairs.shape[0], _POW_PAIRS)])
    bc = 1 - powers
    if half is None:
        half = torch.tensor(0.5, dtype=torch.float64, device=pairs.device)
    return bc[:, :1], torch.pow(bc[:, 1:], half)


def scale_by_adam(b1: Scalar, b2: Scalar, eps: Scalar) -> GradientTransformation:
    """Adam's preconditioner (Kingma & Ba 2015, arXiv 1412.6980): ``mu <- b1 mu + (1 - b1) u``,
    ``nu <- b2 nu + (1 - b2) u^2``, output ``(mu / (1 - b1^t)) / (sqrt(nu / (1 - b2^t)) + eps)``,
    bias-corrected, eps outside the square root, in torch.optim's order of operations. The
    distinct ``(b1, b2)`` pairs are found once here; their bias corrections are computed on the
    device from ``count`` each step."""
    b1, b2, eps = _f64(b1), _f64(b2), _f64(eps)
    flat = torch.cat(torch.broadcast_tensors(b1.reshape(-1, 1), b2.reshape(-1, 1)), dim=1)
    pairs, which = torch.unique(flat, dim=0, return_inverse=True)
    which = None if pairs.shape[0] == 1 else which
    half = torch.tensor(0.5, dtype=torch.float64, device=pairs.device)

    def init(params: Tensor) -> ScaleByAdamState:
        return ScaleByAdamState(_zero_count(params), torch.zeros_like(params), torch.zeros_like(params))

    def update(u: Updates | Tensor, state: ScaleByAdamState, params: Tensor) -> tuple[Updates, ScaleByAdamState]:
        g = materialize(u)
        t = state.count + 1
        mu = torch.lerp(state.mu, g, _c(1 - _on(b1, params), g))
        nu = state.nu * _c(_on(b2, params), g) + _c(1 - _on(b2, params), g) * g * g
        bc1, bc2_sqrt = bias_corrections(_on(pairs, params), t, _on(half, params))
        if which is not None:
            w = _on(which, params)
            bc1, bc2_sqrt = bc1[w], bc2_sqrt[w]
        denom = nu.sqrt() / _c(bc2_sqrt, g) + _c(_on(eps, params), g)
        return Updates(mu, denom, div=bc1), ScaleByAdamState(t, mu, nu)

    return GradientTransformation(init, update)


class ScaleByRmsState(NamedTuple):
    nu: Tensor


def scale_by_rms(decay: Scalar, eps: Scalar) -> GradientTransformation:
    """RMSProp's preconditioner (Hinton 2012): ``nu <- decay nu + (1 - decay) u^2``, output
    ``u / (sqrt(nu) + eps)`` from ``nu = 0``. As torch.optim.RMSprop: eps outside the square root
    (optax puts it inside)."""
    alpha, eps = _f64(decay), _f64(eps)

    def update(u: Updates | Tensor, state: ScaleByRmsState, params: Tensor) -> tuple[Updates, ScaleByRmsState]:
        g = materialize(u)
        a = _on(alpha, params)
        nu = state.nu * _c(a, g) + _c(1 - a, g) * g * g
        return Updates(g, nu.sqrt() + _c(_on(eps, params), g)), ScaleByRmsState(nu)

    return GradientTransformation(lambda params: ScaleByRmsState(torch.zeros_like(params)), update)


class ScaleByRssState(NamedTuple):
    sum_of_squares: Tensor


def scale_by_rss(initial_accumulator_value: Scalar, eps: Scalar) -> GradientTransformation:
    """AdaGrad's preconditioner (Duchi et al. 2011): ``s <- s + u^2`` from
    ``s = initial_accumulator_value``, output ``u / (sqrt(s) + eps)`` (torch.optim.Adagrad's form)."""
    init_value, eps = _f64(initial_accumulator_value), _f64(eps)

    def init(params: Tensor) -> ScaleByRssState:
        return ScaleByRssState(torch.zeros_like(params) + _c(_on(init_value, params), params))

    def update(u: Updates | Tensor, state: ScaleByRssState, params: Tensor) -> tuple[Updates, ScaleByRssState]:
        g = materialize(u)
        s = state.sum_of_squares + 1 * g * g
        return Updates(g, s.sqrt() + _c(_on(eps, params), g)), ScaleByRssState(s)

    return GradientTransformation(init, update)


class ScaleByLionState(NamedTuple):
    mu: Tensor


def scale_by_lion(b1: Scalar, b2: Scalar) -> GradientTransformation:
    """Lion's direction (Chen et al. 2023, arXiv 2302.06675): output ``sign(b1 mu + (1 - b1) u)``,
    then ``mu <- b2 mu + (1 - b2) u`` from ``mu = 0``."""
    b1, b2 = _f64(b1), _f64(b2)

    def update(u: Updates | Tensor, state: ScaleByLionState, params: Tensor) -> tuple[Updates, ScaleByLionState]:
        g = materialize(u)
        c1, c2 = _on(b1, params), _on(b2, params)
        direction = torch.sign(state.mu * _c(c1, g) + g * _c(1 - c1, g))
        mu = torch.addcmul(state.mu * _c(c2, g), _c(1 - c2, g), g)
        return Updates(direction), ScaleByLionState(mu)

    return GradientTransformation(lambda params: ScaleByLionState(torch.zeros_like(params)), update)
