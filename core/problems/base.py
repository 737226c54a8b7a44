"""The problem interface: a loss over a *batch* of parameter vectors.

Every routine of the lab (optimizers, engine, landscapes, spectra) sees a problem only through
``loss(theta[B, d], batch) -> [B]`` (:class:`core.problems.protocols.BatchLoss`). Toys are
analytic; data problems (linear models, nets) also take ``batch``, an index tensor ``[B, m]`` that
gives each trajectory its own minibatch. Gradients and Hessians come from autograd, never from
finite differences. What a problem offers beyond that is stated by the protocols of
:mod:`core.problems.protocols`, checked with ``isinstance``.

A problem is an immutable value: a frozen dataclass (subclasses are ``@dataclass(frozen=True)``
too). :meth:`Problem.to` returns a new problem; a private cache (``field(init=False)``) belongs
to one problem and starts empty in every copy.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Self

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class Problem:
    """Base class. Subclasses set ``dim`` and implement :meth:`loss`.

    ``kind`` and ``params`` are what the problem was built from (the scenario's ``[problem]``
    table), kept so that a run can be saved and replayed. ``n_samples`` is ``None`` for analytic
    problems and the training-set size for data problems. ``minima`` (``[k, d]``) are known
    minimizers, ``loss_star`` the known minimum value, ``box`` the default view range per axis.
    Problems compare and hash by identity (``eq=False``): tensors have no one equality.
    """

    kind: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    dim: int = 0
    minima: Tensor | None = None
    #: other stationary points the landscape marks (never used as targets): local minima that are
    #: not the global one(s), and saddles, ``[k, d]`` each
    local_minima: Tensor | None = None
    saddles: Tensor | None = None
    loss_star: float | None = None
    box: list[tuple[float, float]] = field(default_factory=list)
    n_samples: int | None = None
    coord_names: list[str] = field(default_factory=list)
    dtype: torch.dtype = torch.float64
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        if not self.coord_names:
            self._init(coord_names=[f"x{i}" for i in range(self.dim)])
        if not self.box:
            self._init(box=[(-3.0, 3.0)] * min(self.dim, 2))

    def _init(self, **values: Any) -> None:
        """Sets fields while the problem is being built (``__post_init__``); never afterwards."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (no constructor re-run: no SVD or data set is rebuilt); the copy's
        private caches (``init=False`` fields) start empty."""
        new = copy.copy(self)
        for f in dataclasses.fields(self):
            if not f.init:
                object.__setattr__(new, f.name, f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
        new._init(**changes)
        return new

    # -- the one thing subclasses must provide ---------------------------------------------
    def loss(self, theta: Tensor, batch: Tensor | None = None) -> Tensor:
        """Losses ``[B]`` at ``theta[B, d]``; ``batch`` (``[B, m]`` sample indices) for data problems."""
        raise NotImplementedError

    # -- derived, shared by every problem ----------------------------------------------------
    def loss_and_grad(self, theta: Tensor, batch: Tensor | None = None, **kw: Any) -> tuple[Tensor, Tensor]:
        """Losses ``[B]`` and gradients ``[B, d]`` by reverse-mode autograd. Rows are independent,
        so the gradient of the summed loss is the per-row gradient. ``kw`` goes to :meth:`loss`
        (a net's ``dropout_u``)."""
        with torch.enable_grad():
            t = theta.detach().requires_grad_(True)
            value = self.loss(t, batch, **kw)
            (grad,) = torch.autograd.grad(value.sum(), t)
        return value.detach(), grad

    def hessian(self, theta: Tensor) -> Tensor:
        """Exact Hessian ``[d, d]`` at one point ``theta[d]`` (``torch.func.hessian``); for small d."""
        return torch.func.hessian(lambda t: self.loss(t.unsqueeze(0))[0])(theta)

    def hvp(self, theta: Tensor, v: Tensor) -> Tensor:
        """Hessian-vector product at one point (forward-over-reverse), ``[d] -> [d]``."""
        grad_fn = torch.func.grad(lambda t: self.loss(t.unsqueeze(0))[0])
        return torch.func.jvp(grad_fn, (theta,), (v,))[1]

    def initial_point(self, seed: int = 0) -> Tensor | None:
        """A default start ``[d]`` (nets: their seeded initialization); ``None`` for toys."""
        return None

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Self:
        """This problem with every tensor field (data, constants) on ``device`` in ``dtype`` (integer
        tensors keep theirs): a new problem, or this one when it is there already. ``self`` is
        never changed."""
        device = torch.device(device) if device is not None else self.device
        dtype = dtype or self.dtype
        if device == self.device and dtype == self.dtype:
            return self
        moved = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.init and isinstance(value, Tensor):
                moved[f.name] = value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        return self.replace(device=device, dtype=dtype, **moved)

    def distance_to_minimum(self, theta: Tensor) -> Tensor | None:
        """Distance ``[...]`` from each point to the nearest known minimum, or ``None``."""
        if self.minima is None:
            return None
        m = self.minima.to(theta)
        return torch.cdist(theta.reshape(-1, self.dim), m, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values.reshape(theta.shape[:-1])

    def describe(self) -> str:
        return f"{self.kind} ({self.dim} parameters)"
