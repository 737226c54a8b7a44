"""Your own model and data: any ``torch.nn.Module`` as a lab problem (``[problem] kind = "module"``).

From a scenario::

    [problem]
    kind = "module"
    file = "model.py"          # a Python file next to the scenario ...
    factory = "make_model"     # ... defining this function, called with no arguments
    data = "data.npz"          # X, y (and optionally X_test, y_test); .pt the same keys; .csv with `target`
    loss = "cross_entropy"     # mse | bce (one logit, 0/1 labels) | cross_entropy (class indices)

From Python: :func:`from_module` ``(model, loss, X, y, X_test=None, y_test=None)`` returns the same
problem, so ``core.engine.run``, the landscapes, the spectra and the app work on it unchanged.

**Security.** A scenario that names a Python file runs that file. Building such a problem is
refused unless the caller trusts it: the command line's ``--trust``, the app's confirmation dialog
naming the file, or Python code inside :func:`trusting`. The trust lives in a context variable of
the process, never in the scenario, so a shared lesson cannot grant itself trust.

**Parameters** are the module's trainable ``parameters()`` flattened in ``named_parameters`` order
into ``theta [d]``; its buffers (BatchNorm running statistics) are kept as the factory left them
and the module is evaluated in ``eval()`` mode, so a loss, a slice or a Hessian is a deterministic
function of ``theta`` (Li et al. 2018's ``--xignore biasbn`` semantics: running statistics frozen).
``B`` parameter vectors are evaluated at once with ``torch.func.vmap`` over
``torch.func.functional_call``. The factory is called after ``torch.manual_seed(seed)`` (inside
``torch.random.fork_rng``, so the caller's global generator is untouched): its initialization,
seeded, is the problem's :meth:`~ModuleProblem.initial_point`.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from core.errors import LabError, suggest
from core.problems.base import Problem

MODULE_LOSSES = ("mse", "bce", "cross_entropy")
#: the largest data file the problem reads (bytes)
MAX_DATA_BYTES = 2 * 2**30
#: the files this process trusts to run (resolved paths), or ``True`` for any (``--trust``)
_TRUSTED: contextvars.ContextVar[frozenset[str] | bool] = contextvars.ContextVar("trusted_code", default=frozenset())


@contextlib.contextmanager
def trusting(*files: str | Path, everything: bool = False) -> Iterator[None]:
    """Within this block, building a ``module`` problem may run ``files`` (or any file with
    ``everything``: the command line's ``--trust``)."""
    token = _TRUSTED.set(True if everything else frozenset(str(Path(f).resolve()) for f in files))
    try:
        yield
    finally:
        _TRUSTED.reset(token)


#: files the user allowed for the rest of this process (the app's confirmation dialog); a process-wide
#: set because the app builds problems in worker threads, which do not see the GUI thread's context
_ALLOWED: set[str] = set()


def allow(file: str | Path) -> None:
    """Trusts ``file`` for the rest of this process (the app, after the user confirmed it)."""
    _ALLOWED.add(str(Path(file).resolve()))


def is_trusted(file: str | Path) -> bool:
    trusted, name = _TRUSTED.get(), str(Path(file).resolve())
    return trusted is True or name in trusted or name in _ALLOWED


def code_file(scenario: Any) -> Path | None:
    """The Python file a scenario would run (``kind = "module"``'s ``file``, next to the scenario),
    or None: what the app names when it asks for trust."""
    problem = getattr(scenario, "problem", None)
    if problem is None or problem.kind != "module" or not isinstance(problem.params.get("file"), str):
        return None
    base = Path(scenario.source).resolve().parent if getattr(scenario, "source", "") else Path.cwd()
    return (base / problem.params["file"]).resolve()


def _criterion(loss: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The mean loss of outputs ``[n, o]`` against targets ``[n]``."""
    if loss == "mse":
        return lambda out, y: ((out.reshape(y.shape[0], -1)[:, 0] if out.dim() > 1 else out) - y).pow(2).mean()
    if loss == "bce":
        return lambda out, y: F.binary_cross_entropy_with_logits(out.reshape(y.shape[0], -1)[:, 0], y)
    return lambda out, y: F.cross_entropy(out, y.long())


@dataclass(frozen=True, eq=False)
class ModuleProblem(Problem):
    """A ``torch.nn.Module`` and its data (:func:`from_module`). ``X, y`` are the training set,
    ``X_test, y_test`` the held-out one (possibly empty); ``names`` and ``shapes`` the trainable
    parameters in ``theta`` order."""

    module: nn.Module | None = field(default=None, repr=False)
    loss_name: str = "mse"
    X: Tensor | None = field(default=None, repr=False)
    y: Tensor | None = field(default=None, repr=False)
    X_test: Tensor | None = field(default=None, repr=False)
    y_test: Tensor | None = field(default=None, repr=False)
    #: ``(name, shape)`` of every trainable parameter in ``theta`` order (a
    #: :class:`~core.problems.protocols.ParameterLayout`: landscapes filter-normalize by it)
    shapes: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    buffers: dict[str, Tensor] = field(default_factory=dict, repr=False)
    make: Callable[[], nn.Module] | None = field(default=None, repr=False)

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        parts = torch.split(theta, [math.prod(s) for _, s in self.shapes], dim=-1)
        return {n: p.reshape(*theta.shape[:-1], *s) for (n, s), p in zip(self.shapes, parts)}

    def _per_row(self, X: Tensor, y: Tensor) -> Callable[[Tensor], Tensor]:
        crit = _criterion(self.loss_name)
        buffers = {k: b.to(X.device) for k, b in self.buffers.items()}

        def one(t: Tensor, Xr: Tensor, yr: Tensor) -> Tensor:
            params = self.unflatten(t)
            return crit(functional_call(self.module, (params, buffers), (Xr.to(t.dtype),)), yr.to(t.dtype))

        return one

    def loss(self, theta: Tensor, batch: Tensor | None = None) -> Tensor:
        """Mean training loss ``[B]`` at ``theta [B, d]``: full batch, or minibatches ``batch [B, m]``."""
        one = self._per_row(self.X, self.y)
        if batch is None:
            return vmap(one, in_dims=(0, None, None))(theta, self.X, self.y)
        return vmap(one)(theta, self.X[batch], self.y[batch])

    def scores(self, theta: Tensor, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """Loss and, for classifiers, accuracy ``[B]`` on the train or test split, without gradients."""
        X, y = (self.X, self.y) if split == "train" else (self.X_test, self.y_test)
        if X is None or X.shape[0] == 0:
            raise LabError("this problem has no test split", "split")
        buffers = {k: b.to(X.device) for k, b in self.buffers.items()}
        with torch.no_grad():
            out = vmap(lambda t: functional_call(self.module, (self.unflatten(t), buffers), (X.to(t.dtype),)))(theta)
            loss = vmap(lambda o: _criterion(self.loss_name)(o, y.to(o.dtype)))(out)
        if self.loss_name == "mse":
            return loss, None
        if self.loss_name == "bce":
            pred = out.reshape(out.shape[0], y.shape[0], -1)[..., 0] > 0
            return loss, (pred == (y > 0.5)).to(out.dtype).mean(dim=-1)
        return loss, (out.argmax(dim=-1) == y.long()).to(out.dtype).mean(dim=-1)

    @property
    def n_test(self) -> int:
        return 0 if self.X_test is None else int(self.X_test.shape[0])

    def held_out(self, theta: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.scores(theta, "test")

    def initial_point(self, seed: int = 0) -> Tensor | None:
        """The factory's own initialization under ``torch.manual_seed(seed)`` (the caller's global
        generator is left as it was); the module given to :func:`from_module` when there is no factory."""
        if self.make is None:
            return flatten(self.module).to(self.dtype)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return flatten(_checked_module(self.make(), "factory")).to(self.dtype)

    def describe(self) -> str:
        return f"module {type(self.module).__name__} ({self.loss_name}), {self.dim} parameters, {self.n_samples} training samples"


def flatten(module: nn.Module) -> Tensor:
    """The module's trainable parameters as one float64 vector, ``named_parameters`` order."""
    return torch.cat([p.detach().reshape(-1).double() for _, p in module.named_parameters() if p.requires_grad])


def _checked_module(obj: Any, path: str) -> nn.Module:
    if not isinstance(obj, nn.Module):
        raise LabError(f"the factory returned {type(obj).__name__}, not a torch.nn.Module", path)
    if not any(p.requires_grad for p in obj.parameters()):
        raise LabError("the module has no trainable parameters", path)
    return obj


def _targets(y: Tensor, loss: str, path: str) -> Tensor:
    if loss == "cross_entropy":
        if y.is_floating_point() and not bool((y == y.round()).all()):
            raise LabError("cross_entropy needs class indices (integers) as y", path)
        return y.long()
    y = y.double().reshape(-1)
    if loss == "bce" and not bool(((y == 0) | (y == 1)).all()):
        raise LabError("bce needs 0/1 labels as y", path)
    return y


def from_module(model: nn.Module, loss: str, X: Tensor, y: Tensor, X_test: Tensor | None = None,
                y_test: Tensor | None = None, *, make: Callable[[], nn.Module] | None = None,
                kind: str = "module") -> ModuleProblem:
    """The lab problem of ``model`` on ``(X, y)`` with the mean ``loss`` (``mse``, ``bce`` on one
    logit with 0/1 labels, ``cross_entropy`` with class indices); ``X_test, y_test`` a held-out set.
    ``model`` is used in ``eval()`` mode with its buffers frozen (see the module docstring)."""
    if loss not in MODULE_LOSSES:
        raise LabError(f"unknown loss {loss!r}{suggest(str(loss), MODULE_LOSSES)}; allowed: {', '.join(MODULE_LOSSES)}", "loss")
    model = _checked_module(model, "model").eval()
    X = torch.as_tensor(X).double()
    if X.dim() < 2 or X.shape[0] == 0:
        raise LabError(f"X needs one row per sample, got shape {tuple(X.shape)}", "data")
    y = _targets(torch.as_tensor(y), loss, "data")
    if y.shape[0] != X.shape[0]:
        raise LabError(f"X has {X.shape[0]} rows but y has {y.shape[0]}", "data")
    if (X_test is None) != (y_test is None):
        raise LabError("give both X_test and y_test, or neither", "data")
    if X_test is not None:
        X_test = torch.as_tensor(X_test).double()
        y_test = _targets(torch.as_tensor(y_test), loss, "data")
    shapes = [(n, tuple(p.shape)) for n, p in model.named_parameters() if p.requires_grad]
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    dim = sum(math.prod(s) for _, s in shapes)
    coords = [f"{n}[{i}]" for n, s in shapes for i in range(math.prod(s))] if dim <= 10_000 else []
    model = model.double()
    buffers = {n: (b.double() if b.is_floating_point() else b) for n, b in buffers.items()}
    problem = ModuleProblem(kind=kind, dim=dim, n_samples=int(X.shape[0]),
                            coord_names=coords, box=[(-1.0, 1.0)] * 2, module=model, loss_name=loss, X=X, y=y,
                            X_test=X_test, y_test=y_test, shapes=shapes, buffers=buffers, make=make)
    problem.loss(flatten(model)[None])  # one evaluation now: a model that does not fit the data fails here
    return problem


def _load_data(path: Path, target: str | None) -> dict[str, Tensor]:
    if not path.is_file():
        raise LabError(f"no data file {str(path)!r}", "data")
    if path.stat().st_size > MAX_DATA_BYTES:
        raise LabError(f"{str(path)!r} is larger than {MAX_DATA_BYTES / 2**30:g} GiB", "data")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as f:
                data = {k: torch.from_numpy(f[k]) for k in f.files}
        elif suffix == ".pt":
            data = torch.load(path, weights_only=True, map_location="cpu")
            if not isinstance(data, dict):
                raise LabError("a .pt data file holds a dict of tensors X, y (X_test, y_test)", "data")
        elif suffix == ".csv":
            import pandas as pd

            frame = pd.read_csv(path)
            if not target or target not in frame.columns:
                raise LabError(f"a .csv needs `target` naming its label column; columns: {', '.join(map(str, frame.columns))}", "target")
            data = {"X": torch.tensor(frame.drop(columns=[target]).to_numpy(dtype=float)),
                    "y": torch.tensor(frame[target].to_numpy())}
        else:
            raise LabError(f"data files are .npz, .pt or .csv, got {path.name!r}", "data")
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken file is the user's input: one line
        raise LabError(f"cannot read {path.name!r}: {exc}", "data") from None
    for key in ("X", "y"):
        if key not in data:
            raise LabError(f"{path.name!r} has no {key!r}; it needs X and y (optionally X_test, y_test)", "data")
    return data


def _load_factory(file: Path, factory: str) -> Callable[[], nn.Module]:
    if not file.is_file():
        raise LabError(f"no model file {str(file)!r}", "file")
    if not is_trusted(file):
        raise LabError(f"this scenario runs Python code from {str(file)!r}; run it only if you trust that file "
                       "(command line: --trust; the app asks)", "file")
    spec = importlib.util.spec_from_file_location(f"_lab_model_{abs(hash(str(file)))}", file)
    if spec is None or spec.loader is None:
        raise LabError(f"{str(file)!r} is not a Python file", "file")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:  # noqa: BLE001 - the user's code failing is reported in one line
        raise LabError(f"{file.name} failed to load: {type(exc).__name__}: {exc}", "file") from None
    make = getattr(mod, factory, None)
    if not callable(make):
        names = [n for n in dir(mod) if callable(getattr(mod, n)) and not n.startswith("_")]
        raise LabError(f"{file.name} defines no function {factory!r}{suggest(factory, names)}", "factory")

    def guarded() -> nn.Module:
        try:
            return make()
        except Exception as exc:  # noqa: BLE001
            raise LabError(f"{factory}() failed: {type(exc).__name__}: {exc}", "factory") from None

    return guarded


def module(file: Path, data: Path, loss: str = "mse", factory: str = "make_model", target: str = "",
           seed: int = 0) -> Problem:
    """The ``module`` problem kind: ``factory()`` from ``file`` (called after ``torch.manual_seed(seed)``)
    on the arrays of ``data`` (``.npz`` / ``.pt`` with ``X``, ``y``, optional ``X_test``, ``y_test``;
    ``.csv`` with the label column named by ``target``). Paths are relative to the scenario file.
    Running ``file`` needs trust (:func:`trusting`)."""
    file, data = Path(file), Path(data)
    if loss not in MODULE_LOSSES:
        raise LabError(f"unknown loss {loss!r}{suggest(str(loss), MODULE_LOSSES)}; allowed: {', '.join(MODULE_LOSSES)}", "loss")
    arrays = _load_data(data, target or None)
    make = _load_factory(file, factory)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = _checked_module(make(), "factory")
    try:
        return from_module(model, loss, arrays["X"], arrays["y"], arrays.get("X_test"), arrays.get("y_test"), make=make)
    except LabError as exc:
        raise exc.at("problem") if not exc.path.startswith("problem") else exc from None
    except Exception as exc:  # noqa: BLE001 - shapes that do not fit the model
        raise LabError(f"the model does not run on the data: {type(exc).__name__}: {exc}", "data") from None


__all__ = ["ModuleProblem", "allow", "code_file", "flatten", "from_module", "is_trusted", "module", "trusting"]
