"""Stability limits on a quadratic, one definition per optimizer (issue 11): the sharpness
expectation, the eigen panel, the sharpness tracker and ``core.theory`` all call these.

On a quadratic with Hessian eigenvalue ``lam`` (and coupled weight decay ``wd``, which adds to every
eigenvalue: ``h = lam + wd``) each linear method is, per eigendirection, a recurrence whose
characteristic polynomial is ``z^2 - T z + D`` (``core.theory.char_poly``; the iteration matrices are
derived in ``core/theory.py``'s docstring). It is stable (both roots inside the unit circle) iff
Jury's conditions hold: ``|D| < 1``, ``1 - T + D > 0`` and ``1 + T + D > 0`` (Jury 1964; for
second order e.g. Goh, "Why Momentum Really Works", Distill 2017). For ``h > 0`` and
``0 <= beta < 1`` only the last one binds, and it is linear in ``lr h``:

- GD / SGD, ``e' = (1 - lr h) e``: ``|1 - lr h| < 1``, so ``h < 2 / lr`` (Cohen et al. 2021, the
  edge of stability, arXiv 2103.00065).
- heavy ball, PyTorch form (kind ``momentum``: ``v' = beta v + c g``, ``w' = w - lr v'``, ``c = 1 -
  dampening``): ``T = 1 + beta - lr c h``, ``D = beta``, so ``h < 2 (1 + beta) / (c lr)`` (Polyak
  1964; Goh 2017). The tree follows ``torch.optim.SGD``: with ``momentum = 0`` dampening is
  ignored (plain SGD, ``core.optimizers``'s ``plain_rows``), so then ``c = 1``. PyTorch's first step
  starts the buffer undamped (``v_1 = g``); a one-step transient that does not move the limit.
- heavy ball, low-pass form (kind ``momentum_lowpass``: ``v' = beta v + (1 - beta) g``): the same with
  ``c = 1 - beta``, so ``h < 2 (1 + beta) / ((1 - beta) lr)``: the lecture's warning that the same
  ``lr`` is a ``1 / (1 - beta)`` times smaller step than PyTorch's.
- Nesterov, PyTorch form (kind ``nesterov``, ``nesterov=True``: ``v' = beta v + c g``,
  ``w' = w - lr (g + beta v')``): ``T = 1 + beta - lr h (1 + beta c)``, ``D = beta (1 - lr h)``, so
  ``h < 2 (1 + beta) / ((1 + beta + beta c) lr)`` (``2 (1 + beta) / ((1 + 2 beta) lr)`` for the
  ``c = 1`` the optimizer accepts; Lessard, Recht & Packard 2016 for the classical form).
  ``|D| < 1`` needs ``lr h < 1 + 1 / beta``, which is implied.

A dampening of 1 (``c = 0``) keeps the gradient out of the velocity: the iteration matrix has
eigenvalues ``1`` and ``beta`` for every ``h``, so no curvature makes it diverge and the limit is
``inf``. Adaptive methods (adam, adamw, rmsprop, adagrad, lion) have no limit linear in ``1 / lr``:
their step is rescaled by the gradient history, and these functions return None for them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.errors import LabError

#: the optimizers that are linear on a quadratic (the one list; ``core.theory`` covers exactly these)
LINEAR_KINDS = ("gd", "sgd", "momentum", "nesterov", "momentum_lowpass")


def defaults(kind: str, hyper: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule's defaults for ``kind`` (a linear kind) overlaid with ``hyper`` (numbers, or
    broadcastable tensors for ``core.theory``); an unknown key is a one-line LabError."""
    if kind not in LINEAR_KINDS:
        raise LabError(f"no linear theory for optimizer {kind!r}; allowed: {', '.join(LINEAR_KINDS)}", "kind")
    from core.optimizers import get_rule

    out = {h.name: h.default for h in get_rule(kind).hypers}
    for key, value in (hyper or {}).items():
        if key not in out:
            raise LabError(f"{kind} has no hyperparameter {key!r}; allowed: {', '.join(out)}", key)
        out[key] = value
    return out


def momentum_parts(kind: str, p: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(beta, c)`` of a momentum kind (full hyperparameters ``p``): the velocity's decay and the
    factor on the new gradient. Works on floats and on tensors alike (``core.theory`` batches).
    ``momentum = 0`` ignores dampening, as ``torch.optim.SGD`` and ``core.optimizers`` do."""
    if kind == "momentum_lowpass":
        return p["beta"], 1 - p["beta"]
    beta = p["momentum"]
    return beta, 1 - p["dampening"] * (beta != 0)


def _bound(kind: str, p: Mapping[str, Any]) -> float:
    """``K`` with the method stable iff ``lr (lam + wd) < K`` (``inf``: stable for every ``lam``)."""
    if kind in ("gd", "sgd"):
        return 2.0
    beta, c = (float(x) for x in momentum_parts(kind, p))
    if not 0.0 <= beta < 1.0:
        raise LabError(f"momentum coefficient must be in [0, 1), got {beta!r}", "beta" if kind == "momentum_lowpass" else "momentum")
    denominator = c if kind != "nesterov" else 1.0 + beta + beta * c
    return 2.0 * (1.0 + beta) / denominator if denominator > 0 else math.inf


def curvature_limit(kind: str, hyper: Mapping[str, float]) -> float | None:
    """The largest Hessian eigenvalue ``lam`` for which ``kind`` with ``hyper`` is stable on a
    quadratic (stable for every eigenvalue below it, divergent above): GD/SGD ``2 / lr``, heavy
    ball ``2 (1 + beta) / ((1 - dampening) lr)``, low-pass ``2 (1 + beta) / ((1 - beta) lr)``,
    Nesterov ``2 (1 + beta) / ((1 + beta + beta (1 - dampening)) lr)``, each less the coupled
    ``weight_decay``; ``inf`` with dampening 1. None for a method with no such linear limit
    (adaptive methods) or without an ``lr``. Missing keys take the rule's defaults."""
    if kind not in LINEAR_KINDS or "lr" not in hyper:
        return None
    p = defaults(kind, hyper)
    lr = float(p["lr"])
    if not lr > 0:
        raise LabError(f"lr must be > 0, got {lr!r}", "lr")
    return _bound(kind, p) / lr - float(p["weight_decay"])


def lr_limit(kind: str, hyper: Mapping[str, float], L: float) -> float | None:
    """The largest stable learning rate for ``kind`` with the other ``hyper`` on a quadratic whose
    largest Hessian eigenvalue is ``L`` (``hyper``'s ``lr``, if any, is ignored): ``K / (L + wd)``
    with ``K`` as in :func:`curvature_limit` (``lr_limit(kind, h, L) = lr`` exactly where
    ``curvature_limit(kind, h with lr) = L``). ``inf`` when every ``lr`` is stable (dampening 1, or
    ``L + wd <= 0``); None for kinds without a linear limit."""
    if kind not in LINEAR_KINDS:
        return None
    p = defaults(kind, {k: v for k, v in hyper.items() if k != "lr"})
    h = float(L) + float(p["weight_decay"])
    if not math.isfinite(h):
        raise LabError(f"the curvature must be finite, got {L!r}", "L")
    return _bound(kind, p) / h if h > 0 else math.inf


def describe(kind: str) -> str:
    """The limit's formula for ``kind`` as a short phrase (labels and expectation messages)."""
    return {"gd": "2/lr", "sgd": "2/lr", "momentum": "2(1+beta)/((1-dampening) lr)",
            "momentum_lowpass": "2(1+beta)/((1-beta) lr)",
            "nesterov": "2(1+beta)/((1+2 beta) lr)"}.get(kind, "no linear stability limit")
