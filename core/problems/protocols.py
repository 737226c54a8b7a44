"""What a problem may offer, as ``typing.Protocol``s (runtime-checkable).

Every routine of the lab needs only :class:`BatchLoss`; the others are capabilities a problem may
add, and code that can use one asks ``isinstance(problem, Capability)`` (never ``hasattr`` or the
problem's class):

- :class:`BatchLoss`: losses and gradients of a batch of parameter vectors (every problem);
- :class:`DataProblem`: a training set of ``n_samples`` rows ``X, y`` (minibatches index it);
- :class:`ConstantHessian`: a Hessian that is the same everywhere, with its eigenbasis and
  stationary point (quadratic toys, least squares): the closed-form theory applies;
- :class:`PlaneEvaluator`: a fast evaluator of the loss on a plane of parameter space (nets);
- :class:`ModelView`: a layered model: its parameter layout (``shapes``), widths, activations,
  predictions and loss/accuracy per data split (nets);
- :class:`ParameterLayout`: ``theta`` is named tensors of known shapes (filter normalization);
- :class:`HeldOut`: a held-out (test) split of ``n_test`` rows the engine scores every step
  without training on it (``test_loss``, ``test_accuracy``).

A problem is an immutable value (a frozen dataclass): ``to(device, dtype)`` returns a new problem,
and nothing changes a problem in place. This module imports no torch at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch
    from torch import Tensor


@runtime_checkable
class BatchLoss(Protocol):
    """Losses ``[B]`` and gradients ``[B, d]`` at ``theta[B, d]``; ``batch`` (``[B, m]`` sample
    indices) for data problems. What the engine, landscapes and spectra need of every problem."""

    dim: int
    device: torch.device
    dtype: torch.dtype

    def loss(self, theta: Tensor, batch: Tensor | None = None) -> Tensor: ...

    def loss_and_grad(self, theta: Tensor, batch: Tensor | None = None) -> tuple[Tensor, Tensor]: ...

    def hvp(self, theta: Tensor, v: Tensor) -> Tensor: ...

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> BatchLoss: ...


@runtime_checkable
class DataProblem(Protocol):
    """A loss that is a mean over ``n_samples`` training rows ``X [n, p]``, ``y [n]``."""

    n_samples: int
    X: Tensor
    y: Tensor


@runtime_checkable
class ConstantHessian(Protocol):
    """A Hessian that does not depend on the point: ``eigenbasis() -> (h [d], Q [d, d])`` (eigenvalues
    paired with the columns of ``Q``) and the point where the gradient vanishes (the minimizer, the
    minimum-norm one for a wide least-squares problem, or a quadratic's saddle)."""

    def eigenbasis(self) -> tuple[Tensor, Tensor]: ...

    def stationary_point(self) -> Tensor: ...


@runtime_checkable
class PlaneEvaluator(Protocol):
    """Loss (and accuracy) ``[G]`` at ``theta0 + a d1 + b d2`` for ``coords[G, 2]``, faster than
    evaluating the points one batch at a time; ``plane_point_size`` is the number of elements one
    grid point holds at its peak (to size the chunks)."""

    def loss_on_plane(self, theta0: Tensor, d1: Tensor, d2: Tensor | None, coords: Tensor, split: str = "train",
                      workspace: dict | None = None, accuracy: bool = True) -> tuple[Tensor, Tensor | None]: ...

    def plane_point_size(self, split: str = "train") -> int: ...


@runtime_checkable
class ModelView(Protocol):
    """A layered model of inputs: ``shapes`` is the ``(name, shape)`` of every parameter tensor in
    ``theta`` order (what filter normalization needs), ``sizes`` the layer widths, ``activations``
    one name per hidden layer; ``evaluate`` gives loss and accuracy (``None`` for regression) on the
    ``train`` or ``test`` split, ``predict`` the outputs at inputs ``X`` for one ``theta``;
    ``layer_slices`` the part of ``theta`` each layer owns (per-layer gradient norms)."""

    shapes: Sequence[tuple[str, tuple[int, ...]]]

    @property
    def sizes(self) -> list[int]: ...

    @property
    def activations(self) -> list[str]: ...

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]: ...

    def evaluate(self, theta: Tensor, split: str = "train") -> tuple[Tensor, Tensor | None]: ...

    def predict(self, theta: Tensor, X: Tensor) -> Tensor: ...

    def split_data(self, split: str = "train") -> tuple[Tensor, Tensor]: ...

    def layer_slices(self) -> list[tuple[str, slice]]: ...


@runtime_checkable
class ParameterLayout(Protocol):
    """``theta`` is made of named tensors: ``shapes`` lists ``(name, shape)`` in ``theta`` order
    (nets, your own modules). Landscapes filter-normalize directions by it (Li et al. 2018: every
    slice along a tensor's first dimension, a neuron's row or a convolution's output channel)."""

    shapes: Sequence[tuple[str, tuple[int, ...]]]


@runtime_checkable
class Dropout(Protocol):
    """Training-time dropout: probability ``dropout`` (0: none); ``dropout_units(m)`` uniforms per row
    and step for ``m`` samples, passed to ``loss(theta, batch, dropout_u=u)`` for the gradient only."""

    dropout: float

    def dropout_units(self, samples: int) -> int: ...


@runtime_checkable
class HeldOut(Protocol):
    """A held-out split: ``n_test`` rows (0: none) and ``held_out(theta[B, d]) -> (loss [B],
    accuracy [B] or None for regression)`` on them, the same loss as training, without gradients;
    ``scores(theta, split)`` the same on either split (the training accuracy, the 0/1 error's
    complement, comes from it)."""

    @property
    def n_test(self) -> int: ...

    def held_out(self, theta: Tensor) -> tuple[Tensor, Tensor | None]: ...

    def scores(self, theta: Tensor, split: str = "train") -> tuple[Tensor, Tensor | None]: ...


__all__ = ["BatchLoss", "ConstantHessian", "DataProblem", "Dropout", "HeldOut", "ModelView", "ParameterLayout", "PlaneEvaluator"]
