"""Learning-rate schedules: one closed form, used by the optimizer and by the drawing.

A schedule replaces a rule's constant ``lr`` by ``lr_t = lr_at(spec, lr, t)``, where ``t`` is the
step count (0 at the first update, the convention of :data:`core.optimizers.transforms.Schedule`
and of ``torch.optim.lr_scheduler``'s ``last_epoch`` when ``scheduler.step()`` follows
``optimizer.step()``). Every rule takes its step size from :func:`scale_by_learning_rate`
(AdaGrad divides it by its own ``1 + (t - 1) lr_decay`` on top), so :func:`scheduled` only swaps
the ``lr`` tensor for the schedule and every rule (gd, sgd, momentum, nesterov, adam, adamw's
decoupled decay ``1 - lr_t wd``, rmsprop, adagrad, lion) uses ``lr_t`` exactly where torch.optim
uses ``group["lr"]``. Without a schedule nothing changes, bit for bit.

With ``s = t - warmup`` (after a linear warm-up ``lr (t + 1) / warmup`` for ``t < warmup``, which
reaches ``lr`` at step ``warmup - 1``; Goyal et al. 2017, arXiv 1706.02677):

- ``constant``: ``lr``
- ``step``: ``lr gamma^floor(s / every)`` (torch ``StepLR(step_size=every, gamma)``)
- ``exponential``: ``lr gamma^s`` (torch ``ExponentialLR``)
- ``inverse_time``: ``lr / (1 + k s)^power``; ``power = 1`` is the Robbins-Monro ``1/t`` decay
  (Robbins & Monro 1951; Bottou, Curtis & Nocedal 2018, Thm 4.7): ``a / (t0 + t)`` is
  ``lr = a / t0, k = 1 / t0``, and ``lr0 / t`` counted from ``t = 1`` is ``k = 1``;
  ``power = 0.5`` is ``1/sqrt(t)``.
- ``cosine``: ``min_lr + (lr - min_lr) (1 + cos(pi min(s, steps) / steps)) / 2``, held at
  ``min_lr`` after ``steps`` (default: the run's steps after the warm-up; Loshchilov & Hutter
  2017, SGDR, without restarts; torch ``CosineAnnealingLR(T_max=steps, eta_min=min_lr)``).

All arithmetic is float64 tensor operations on the count's device, batched over the ``[B, 1]``
rows of ``lr``: nothing syncs with the host inside a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from core.errors import LabError, suggest
from core.optimizers.transforms import GradientTransformation, Scalar
from core.values import integer, number, show

#: kind -> its own keys (every kind also takes ``warmup``)
KINDS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "step": ("every", "gamma"),
    "exponential": ("gamma",),
    "inverse_time": ("k", "power"),
    "cosine": ("steps", "min_lr"),
}
#: key -> (reader, default, meaning); a default of None means required for the kinds that use it
KEYS: dict[str, tuple[Any, Any, str]] = {
    "warmup": (integer(0), 0, "linear warm-up steps lr (t + 1) / warmup before the schedule (any kind)"),
    "every": (integer(1), None, "step: multiply by gamma every this many steps"),
    "gamma": (number(0.0, True, 1.0), None, "step, exponential: the decay factor, in (0, 1]"),
    "k": (number(0.0), None, "inverse_time: lr / (1 + k t)^power"),
    "power": (number(0.0, True), 1.0, "inverse_time: the exponent (1: 1/t, 0.5: 1/sqrt(t))"),
    "steps": (integer(1), None, "cosine: steps from lr down to min_lr (default: the run's steps after warm-up)"),
    "min_lr": (number(0.0), 0.0, "cosine: the final learning rate"),
}
_OPTIONAL = {"steps"}  # required keys are those with default None, except these


@dataclass(frozen=True)
class ScheduleSpec:
    """A validated schedule (see the module docstring for each kind's formula)."""

    kind: str = "constant"
    warmup: int = 0
    every: int | None = None
    gamma: float | None = None
    k: float | None = None
    power: float = 1.0
    steps: int | None = None
    min_lr: float = 0.0

    def table(self) -> dict[str, Any]:
        """The scenario table that reads back as this spec (defaults left out)."""
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("warmup", *KINDS[self.kind]):
            value = getattr(self, key)
            if value is not None and value != KEYS[key][1]:
                out[key] = value
        return out


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_schedule(value: Any, path: str = "schedule") -> ScheduleSpec:
    """A ``schedule = { kind = ..., ... }`` table as a :class:`ScheduleSpec`, or a one-line
    :class:`LabError` at ``path.<key>`` (unknown kind or key with did-you-mean, bad number)."""
    if isinstance(value, ScheduleSpec):
        return value
    if not isinstance(value, Mapping):
        raise LabError(f"expected a table such as {{ kind = \"cosine\" }}, got {show(value)}", path)
    if "kind" not in value:
        raise LabError(f"missing key 'kind' (one of {', '.join(KINDS)})", _at(path, "kind"))
    kind = value["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise LabError(f"unknown schedule {show(kind)}{suggest(str(kind), list(KINDS))}; allowed: {', '.join(KINDS)}",
                       _at(path, "kind"))
    allowed = ["kind", "warmup", *KINDS[kind]]
    for key in value:
        if key not in allowed:
            owners = [n for n, ks in KINDS.items() if key in ks]
            other = f" ({key!r} belongs to {', '.join(owners)})" if owners else ""
            raise LabError(f"schedule {kind!r} has no key {key!r}{suggest(key, allowed[1:])}{other}; "
                           f"allowed: {', '.join(allowed[1:]) or 'warmup'}", _at(path, key))
    out: dict[str, Any] = {"kind": kind}
    for key in allowed[1:]:
        read, default, _ = KEYS[key]
        if key in value:
            out[key] = read(value[key], _at(path, key))
        elif default is None and key not in _OPTIONAL:
            raise LabError(f"schedule {kind!r} needs {key!r} ({KEYS[key][2]})", _at(path, key))
    return ScheduleSpec(**out)


def resolve(spec: ScheduleSpec, total_steps: int) -> ScheduleSpec:
    """``spec`` with the run's length filled in where it defaults to it (cosine ``steps``)."""
    if spec.kind == "cosine" and spec.steps is None:
        return replace(spec, steps=max(1, total_steps - spec.warmup))
    return spec


def lr_at(spec: ScheduleSpec, lr: Scalar, t: Tensor | int) -> Tensor:
    """``lr_t`` in float64 at step count(s) ``t`` (0 at the first update), broadcast against
    ``lr`` (a number or ``[B, 1]``): the one definition the optimizer and the drawing share."""
    t = torch.as_tensor(t)
    lr = lr.to(torch.float64) if isinstance(lr, Tensor) else torch.tensor(float(lr), dtype=torch.float64)
    lr = lr if lr.device == t.device else lr.to(t.device)
    tf = t.to(torch.float64)
    s = tf - spec.warmup if spec.warmup else tf
    if spec.kind == "constant":
        base = lr * torch.ones_like(s)
    elif spec.kind == "step":
        base = lr * torch.pow(torch.tensor(spec.gamma, dtype=torch.float64, device=t.device),
                              torch.floor(s.clamp_min(0) / spec.every))
    elif spec.kind == "exponential":
        base = lr * torch.pow(torch.tensor(spec.gamma, dtype=torch.float64, device=t.device), s.clamp_min(0))
    elif spec.kind == "inverse_time":
        base = lr / (1 + spec.k * s.clamp_min(0)) ** spec.power
    elif spec.kind == "cosine":
        if spec.steps is None:
            raise ValueError("cosine needs its steps: call resolve(spec, total_steps) first")
        phase = torch.cos(math.pi * s.clamp(0, spec.steps) / spec.steps)
        base = spec.min_lr + (lr - spec.min_lr) * (1 + phase) / 2
    else:  # read_schedule refuses other kinds
        raise ValueError(f"unknown schedule kind {spec.kind!r}")
    if spec.warmup:
        base = torch.where(tf < spec.warmup, lr * (tf + 1) / spec.warmup, base)
    return base


def lr_curve(spec: ScheduleSpec | None, lr: Scalar, steps: int) -> Tensor:
    """``lr_t`` for ``t = 0 .. steps - 1`` (``[steps]``, or ``[B, steps]`` for ``[B, 1]`` rows of
    ``lr``); a constant curve without a schedule."""
    t = torch.arange(steps, dtype=torch.int64)
    if spec is None:
        spec = ScheduleSpec()
    return lr_at(resolve(spec, steps), lr, t)


def scheduled(rule: Any, hyper: Mapping[str, Tensor], spec: ScheduleSpec | None, steps: int) -> GradientTransformation:
    """``rule``'s transformation with its ``lr`` (``[B, 1]``) replaced by the schedule
    ``count -> lr_at(spec, lr, count)`` (every rule passes ``lr`` to scale_by_learning_rate, which
    accepts a schedule); ``rule(hyper)`` itself when ``spec`` is None."""
    if spec is None:
        return rule(hyper)
    spec = resolve(spec, steps)
    lr = hyper["lr"]
    return rule({**hyper, "lr": lambda count: lr_at(spec, lr, count)})


def describe(spec: ScheduleSpec) -> str:
    """A short text of the formula, for legends and reports."""
    body = {"constant": "lr", "step": f"lr {spec.gamma:g}^floor(t/{spec.every})",
            "exponential": f"lr {spec.gamma:g}^t", "cosine": f"cosine to {spec.min_lr:g}" + (f" over {spec.steps}" if spec.steps else ""),
            "inverse_time": f"lr / (1 + {spec.k:g} t)" + (f"^{spec.power:g}" if spec.power != 1 else "")}[spec.kind]
    return (f"warm-up {spec.warmup}, then " if spec.warmup else "") + body


__all__ = ["KINDS", "KEYS", "ScheduleSpec", "describe", "lr_at", "lr_curve", "read_schedule", "resolve", "scheduled"]
