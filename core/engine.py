"""The trajectory engine: many optimizer runs on one problem, advanced together.

All trajectories (every optimizer entry x learning rate x start point) live in one ``theta[B, d]``.
Each step evaluates the loss and gradient of all rows in one batched call, then each optimizer
group advances its rows with its batched transformation (:mod:`core.optimizers`: ``update`` then
``apply_updates``; its state is tensors only, so the loop never waits on the device). A row that diverges (non-finite loss, ``|theta|``
or ``|loss|`` past a bound) is frozen and its step recorded; the others go on.

Gradients are exact (autograd) unless a trajectory asks for a stochastic one:

- data problems (``problem.n_samples`` set) with ``batch_size = m``: minibatch gradients from
  shuffled epochs: every epoch a fresh permutation of the samples cut into ``n // m`` batches
  (the remainder is dropped, as ``DataLoader(drop_last=True)`` does);
- analytic toys with ``noise = sigma``: the **noise model** ``g + sigma * xi``, ``xi ~ N(0, I)``,
  independent per step and per trajectory (an unbiased gradient with isotropic variance sigma^2).

Every trajectory's randomness is keyed by its seed ``seed * 1_000_003 + index``: noise and
minibatch permutations are counter-based draws of ``(seed, step, index)`` (:mod:`core.randomness`,
Philox4x32-10), made for all rows of a group in one tensor operation, so a run is reproducible bit
for bit and a batched run equals the same trajectories run one by one. For minibatch rows the
recorded full-batch loss shares the forward pass of the gradient where the problem offers it
(``loss_and_batch_grad``: least squares gathers the minibatch residuals from the full ones).

Recorded per step ``t = 0..steps`` (state *before* update ``t+1``): ``theta_t``, the true
(full-batch) loss at ``theta_t`` and the norm of the gradient the optimizer used at ``theta_t``;
for problems with a held-out split (:class:`~core.problems.protocols.HeldOut`: the nets' seeded
``test_fraction``) the loss and accuracy on it (``test_loss``, ``test_accuracy``; never trained
on); for layered models (nets) the norm of the used gradient per layer (``layer_grad_norm``, weight
and bias together: vanishing and exploding gradients). ``Run.samples_seen`` counts the training
samples the gradients used (``t m`` for minibatch size ``m``, ``t n`` for full batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from core.device import resolve_device
from core.errors import LabError
from core.optimizers import Rule, apply_updates, get_rule, make_hyper
from core.problems.base import Problem
from core.problems.protocols import Dropout, HeldOut, ModelView
from core.randomness import RowStreams

SEED_STRIDE = 1_000_003
MAX_COORD_COLUMNS = 10


@dataclass
class Group:
    """One optimizer entry: a rule, and one hyperparameter row and start point per trajectory."""

    label: str
    kind: str
    hyper_rows: list[dict[str, float]]
    starts: Tensor  # [n, d]
    traj_labels: list[str] | None = None
    batch_size: int | None = None
    noise: float = 0.0
    color: str | None = None
    schedule: Any = None  # a core.optimizers.schedules.ScheduleSpec: lr becomes lr_at(schedule, lr, t)

    @property
    def rule(self) -> Rule:
        return get_rule(self.kind)

    def transform(self, hyper: dict[str, Tensor], steps: int) -> Any:
        """The rule's transformation for ``hyper``, its lr scheduled when ``schedule`` is set."""
        from core.optimizers.schedules import scheduled  # noqa: PLC0415 (keeps the engine's imports as they are)
        return scheduled(self.rule, hyper, self.schedule, steps)

    def __post_init__(self) -> None:
        self.starts = torch.as_tensor(self.starts, dtype=torch.float64)
        if self.starts.ndim == 1:
            self.starts = self.starts[None]
        if len(self.hyper_rows) == 1 and self.starts.shape[0] > 1:
            self.hyper_rows = self.hyper_rows * self.starts.shape[0]
        if self.starts.shape[0] == 1 and len(self.hyper_rows) > 1:
            self.starts = self.starts.expand(len(self.hyper_rows), -1).clone()
        if self.starts.shape[0] != len(self.hyper_rows):
            raise LabError(f"{len(self.hyper_rows)} hyperparameter rows but {self.starts.shape[0]} start points", self.label)
        if self.traj_labels is None:
            self.traj_labels = default_labels(self.label, self.hyper_rows, self.starts)

    @property
    def size(self) -> int:
        return self.starts.shape[0]


def distinguishing_digits(values: list[float] | list[tuple[float, ...]], fewest: int = 6) -> int:
    """The fewest significant digits (at least ``fewest``, %g's default, so plain values read as
    before) at which distinct ``values`` (numbers, or tuples of numbers) print distinctly; 17 always
    does (every float64 round-trips at 17 digits)."""
    distinct = set(values)
    for digits in range(fewest, 17):
        shown = {tuple(f"{x:.{digits}g}" for x in v) if isinstance(v, tuple) else f"{v:.{digits}g}" for v in distinct}
        if len(shown) == len(distinct):
            return digits
    return 17


def default_labels(label: str, rows: list[dict[str, float]], starts: Tensor,
                   start_names: list[str] | None = None) -> list[str]:
    """Unique, readable trajectory labels: the entry's label, plus what varies across its rows
    (a start shows as ``start_names[i]`` when given, e.g. ``init 4``, else by its coordinates)."""
    n = len(rows)
    if n == 1:
        return [label]
    varying = [k for k in rows[0] if len({r.get(k) for r in rows}) > 1]
    several_starts = bool((starts != starts[:1]).any())
    digits = {k: distinguishing_digits([float(r[k]) for r in rows]) for k in varying}
    points = [tuple(p) for p in starts.tolist()] if several_starts else []
    start_digits = distinguishing_digits(points) if several_starts else 6
    out = []
    for i, r in enumerate(rows):
        parts = [f"{k}={float(r[k]):.{digits[k]}g}" for k in varying]
        if several_starts and start_names is not None:
            parts.append(start_names[i])
        elif several_starts:
            parts.append("start=(" + ", ".join(f"{v:.{start_digits}g}" for v in points[i]) + ")")
        out.append(f"{label} " + " ".join(parts) if parts else f"{label} #{i + 1}")
    if len(set(out)) < n:
        out = [f"{o} #{i + 1}" for i, o in enumerate(out)]
    return out


#: per-step ``[steps + 1, B]`` tensors a Run may carry besides loss and grad_norm; each one present
#: (not None) becomes a table column of that name, after grad_norm (:meth:`Run.step_columns`)
OPTIONAL_STEP_COLUMNS = ("accuracy", "test_loss", "test_accuracy", "samples_seen")


@dataclass
class Run:
    """The result of :func:`run`: per-step tensors (on the CPU) and what is needed to read them."""

    problem: Problem
    labels: list[str]
    entry: list[str]  # optimizer entry label per trajectory
    kinds: list[str]
    hyper: list[dict[str, float]]
    colors: list[str | None]
    seeds: list[int]
    steps: int
    loss: Tensor  # [steps + 1, B]
    grad_norm: Tensor  # [steps + 1, B]
    thetas: Tensor | None  # [steps + 1, B, d], or None when not recorded
    diverged_step: Tensor  # [B], -1 when the trajectory did not diverge
    final_theta: Tensor  # [B, d]
    stochastic: list[bool] = field(default_factory=list)  # minibatch or noisy gradients, per trajectory
    meta: dict[str, Any] = field(default_factory=dict)
    batch_sizes: list[int | None] = field(default_factory=list)  # minibatch size per trajectory (None: full batch)
    accuracy: Tensor | None = None  # [steps + 1, B] training accuracy of classifiers (recorded runs): 1 - the 0/1 error
    test_loss: Tensor | None = None  # [steps + 1, B] loss on the held-out split, when the problem has one
    test_accuracy: Tensor | None = None  # [steps + 1, B], classifiers with a held-out split
    layer_grad_norm: Tensor | None = None  # [steps + 1, B, L] norm of the used gradient per layer (nets)
    layer_names: list[str] = field(default_factory=list)  # the L layers of layer_grad_norm

    @property
    def samples_seen(self) -> Tensor | None:
        """Training samples the gradients used up to each step, ``[steps + 1, B]`` float64 (``t m``
        for minibatch size ``m``, ``t n`` for full batch); ``None`` for problems without data."""
        n = getattr(self.problem, "n_samples", None)
        if n is None:
            return None
        per_step = torch.tensor([float(m or n) for m in (self.batch_sizes or [None] * self.size)], dtype=torch.float64)
        return torch.arange(self.steps + 1, dtype=torch.float64)[:, None] * per_step[None, :]

    @property
    def size(self) -> int:
        return len(self.labels)

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise LabError(f"no trajectory labelled {label!r}; labels: {', '.join(self.labels)}") from None

    def last_step(self, i: int) -> int:
        """The last recorded step of trajectory i (its divergence step, or ``steps``)."""
        d = int(self.diverged_step[i])
        return self.steps if d < 0 else d

    def diverged(self, i: int) -> bool:
        return int(self.diverged_step[i]) >= 0

    def step_columns(self) -> dict[str, Tensor]:
        """The per-step ``[steps + 1, B]`` tensors the table carries, by column name, in column
        order: ``loss``, ``grad_norm``, then each of :data:`OPTIONAL_STEP_COLUMNS` this run has
        (an attribute that is absent or None is left out)."""
        cols = {"loss": self.loss, "grad_norm": self.grad_norm}
        for name in OPTIONAL_STEP_COLUMNS:
            t = getattr(self, name, None)
            if t is not None:
                cols[name] = t
        if self.layer_grad_norm is not None:
            for k, name in enumerate(self.layer_names):
                cols[f"grad_norm_{name}"] = self.layer_grad_norm[:, :, k]
        return cols

    def table(self) -> pd.DataFrame:
        """Tidy table, one row per trajectory and recorded step (trajectory by trajectory, steps in
        order): ``optimizer, step, loss, grad_norm``, the optional per-step columns this run has
        (:meth:`step_columns`) and ``x0, x1, ...`` when the problem has at most 10 parameters. Built
        in one go from the mask ``step <= last_step(i)`` (no loop over trajectories)."""
        T1, B = self.loss.shape
        last = torch.where(self.diverged_step < 0, torch.full_like(self.diverged_step, self.steps), self.diverged_step)
        keep = (np.arange(T1)[None, :] <= last.numpy()[:, None]).ravel()  # [B * T1], trajectory-major
        counts = np.minimum(last.numpy(), T1 - 1) + 1
        cols: dict[str, Any] = {
            "optimizer": np.repeat(np.array(self.labels, dtype=object), counts),
            "step": np.tile(np.arange(T1), B)[keep],
        }
        for name, t in self.step_columns().items():
            cols[name] = t.T.numpy().ravel()[keep]
        if self.thetas is not None and self.problem.dim <= MAX_COORD_COLUMNS:
            flat = self.thetas.permute(1, 0, 2).numpy().reshape(B * T1, -1)[keep]
            for j in range(self.problem.dim):
                cols[f"x{j}"] = flat[:, j]
        return pd.DataFrame(cols)

    def summary(self) -> dict[str, Any]:
        """Per-trajectory facts for ``summary.json``: final loss, divergence, distance to minimum."""
        out = []
        dist = self.problem.distance_to_minimum(self.final_theta) if self.problem.minima is not None else None
        for i, label in enumerate(self.labels):
            last = self.last_step(i)
            entry: dict[str, Any] = {
                "label": label, "optimizer": self.entry[i], "kind": self.kinds[i], "hyper": self.hyper[i],
                "seed": self.seeds[i], "steps": last, "diverged": self.diverged(i),
                "diverged_at": None if not self.diverged(i) else last,
                "final_loss": _num(self.loss[last, i]), "final_grad_norm": _num(self.grad_norm[last, i]),
            }
            if self.problem.dim <= MAX_COORD_COLUMNS:
                entry["final_theta"] = [_num(v) for v in self.final_theta[i]]
            if dist is not None:
                entry["distance_to_minimum"] = _num(dist[i])
            if self.test_loss is not None:
                tl = self.test_loss[: last + 1, i]
                best = int(torch.argmin(torch.nan_to_num(tl, nan=math.inf)))
                entry.update(final_test_loss=_num(tl[-1]), best_test_step=best, best_test_loss=_num(tl[best]))
                if self.test_accuracy is not None:
                    entry.update(final_test_accuracy=_num(self.test_accuracy[last, i]),
                                 test_accuracy_at_best=_num(self.test_accuracy[best, i]))
            out.append(entry)
        return {"problem": self.problem.kind, "dim": self.problem.dim, "steps": self.steps,
                "loss_star": self.problem.loss_star, "trajectories": out, **self.meta}


def extra_step_columns(problem: Problem, recorded: bool = True) -> list[str]:
    """The per-step columns past ``loss, grad_norm`` that a run on ``problem`` records (with its
    parameters ``recorded`` or not), in table order (what :meth:`Run.step_columns` will hold; the
    CSV budget estimates from it)."""
    cols = []
    classifier = getattr(problem, "task", "regression") != "regression"
    if isinstance(problem, HeldOut) and recorded and classifier:
        cols.append("accuracy")
    if isinstance(problem, HeldOut) and problem.n_test > 0:
        cols.append("test_loss")
        if classifier:
            cols.append("test_accuracy")
    if getattr(problem, "n_samples", None) is not None:
        cols.append("samples_seen")
    if isinstance(problem, ModelView):
        cols += [f"grad_norm_{name}" for name, _ in problem.layer_slices()]
    return cols


def _num(x: Tensor | float) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


_Randomness = RowStreams  # the run's random draws (core.randomness)


def iterate(problem: Problem, groups: Sequence[Group], steps: int, *, device: str | torch.device = "cpu",
            dtype: torch.dtype = torch.float64, seed: int = 0, seeds: Sequence[int] | None = None,
            record_params: bool = True, diverge_bound: float = 1e6, loss_bound: float = 1e12,
            progress_every: int = 50) -> Generator[int, None, Run]:
    """Runs ``steps`` updates of every trajectory; yields the step count every ``progress_every``
    steps (a caller cancels by closing the generator or simply not resuming it) and returns the
    :class:`Run`. Use :func:`run` when progress does not matter."""
    if not isinstance(steps, int) or steps < 1:
        raise LabError(f"steps must be a positive integer, got {steps!r}", "steps")
    if not groups:
        raise LabError("no optimizer to run", "optimizers")
    dev = resolve_device(device) if isinstance(device, str) else device
    problem = problem.to(dev, dtype)  # a new problem on the device (problems are immutable values)
    starts = torch.cat([g.starts for g in groups]).to(dev, dtype)
    B, d = starts.shape
    if d != problem.dim:
        raise LabError(f"start points have {d} coordinates but problem {problem.kind!r} has {problem.dim} parameters", "start")
    seeds = list(seeds) if seeds is not None else [seed * SEED_STRIDE + i for i in range(B)]
    rng = _Randomness(seeds)

    # which rows each group owns, and how each row gets its gradient
    slices, offset = [], 0
    for g in groups:
        slices.append(slice(offset, offset + g.size))
        offset += g.size
    # each group's transformation, configured once from its [n, 1] hyperparameter tensors
    opts = [g.transform(make_hyper(g.rule, g.hyper_rows, dev, dtype, path=g.label), steps) for g in groups]
    noisy = [(s, g.noise) for s, g in zip(slices, groups) if g.noise > 0]
    minibatch: dict[int, list[int]] = {}
    for s, g in zip(slices, groups):
        if g.batch_size:
            if problem.n_samples is None:
                raise LabError(f"batch_size needs a data problem; {problem.kind!r} is analytic (use noise = sigma for stochastic gradients)", f"{g.label}.batch_size")
            if not 1 <= g.batch_size <= problem.n_samples:
                raise LabError(f"batch_size must be in [1, {problem.n_samples}], got {g.batch_size}", f"{g.label}.batch_size")
            minibatch.setdefault(g.batch_size, []).extend(range(s.start, s.stop))
    full_rows = torch.ones(B, dtype=torch.bool)
    for rows in minibatch.values():
        full_rows[rows] = False
    full_idx = torch.nonzero(full_rows).flatten().to(dev)
    all_full = bool(full_rows.all())

    loss_rec = torch.full((steps + 1, B), math.nan, dtype=dtype, device=dev)
    gnorm_rec = torch.full((steps + 1, B), math.nan, dtype=dtype, device=dev)
    theta_rec = torch.full((steps + 1, B, d), math.nan, dtype=dtype, device=dev) if record_params else None
    diverged_at = torch.full((B,), -1, dtype=torch.long, device=dev)
    active = torch.ones(B, dtype=torch.bool, device=dev)
    # the held-out split, never trained on: scored after the run from the recorded parameters in a
    # few large batched calls (a per-step call would add its dispatch cost to every step), or every
    # step when parameters are not recorded; per-layer gradient norms (nets)
    held = isinstance(problem, HeldOut) and problem.n_test > 0
    held_each_step = held and theta_rec is None
    test_rec = torch.full((steps + 1, B), math.nan, dtype=dtype, device=dev) if held_each_step else None
    acc_rec = None
    layers = problem.layer_slices() if isinstance(problem, ModelView) else []
    layer_rec = torch.full((steps + 1, B, len(layers)), math.nan, dtype=dtype, device=dev) if layers else None

    theta = starts.clone()
    states = [tx.init(theta[s]) for s, tx in zip(slices, opts)]
    for t in range(steps + 1):
        loss, grad = _evaluate(problem, theta, t, rng, noisy, minibatch, full_idx, all_full)
        # rows that diverged at an earlier step are frozen: nothing more is recorded for them
        loss_rec[t] = torch.where(active, loss, math.nan)
        gnorm_rec[t] = torch.where(active, grad.norm(dim=1), math.nan)
        if theta_rec is not None:
            theta_rec[t] = torch.where(active[:, None], theta, math.nan)
        if test_rec is not None:
            test_loss, test_acc = problem.held_out(theta)
            test_rec[t] = torch.where(active, test_loss, math.nan)
            if test_acc is not None:
                if acc_rec is None:
                    acc_rec = torch.full((steps + 1, B), math.nan, dtype=dtype, device=dev)
                acc_rec[t] = torch.where(active, test_acc, math.nan)
        if layer_rec is not None:
            layer_rec[t] = torch.where(active[:, None], torch.stack([grad[:, s].norm(dim=1) for _, s in layers], dim=1), math.nan)
        bad = active & ~(torch.isfinite(loss) & (loss.abs() <= loss_bound)
                         & torch.isfinite(theta).all(dim=1) & (theta.abs().amax(dim=1) <= diverge_bound))
        diverged_at = torch.where(bad, torch.full_like(diverged_at, t), diverged_at)
        active = active & ~bad
        if t == steps:
            break
        new = torch.empty_like(theta)
        for k, (s, tx) in enumerate(zip(slices, opts)):
            updates, states[k] = tx.update(grad[s], states[k], theta[s])
            new[s] = apply_updates(theta[s], updates)
        theta = torch.where(active[:, None], new, theta)
        if progress_every and (t + 1) % progress_every == 0:
            yield t + 1
    if held and theta_rec is not None:
        test_rec, acc_rec = _scores(problem, theta_rec, "test")
    # the training accuracy (1 - the 0/1 error beside the surrogate loss), from the recorded points
    train_acc = _scores(problem, theta_rec, "train")[1] if isinstance(problem, HeldOut) and theta_rec is not None else None
    rows = [(g, i) for g in groups for i in range(g.size)]
    return Run(
        problem=problem, labels=[lab for g in groups for lab in g.traj_labels], entry=[g.label for g, _ in rows],
        kinds=[g.kind for g, _ in rows], hyper=[dict(g.hyper_rows[i]) for g, i in rows],
        colors=[g.color for g, _ in rows], seeds=seeds, steps=steps,
        loss=loss_rec.cpu(), grad_norm=gnorm_rec.cpu(), thetas=None if theta_rec is None else theta_rec.cpu(),
        diverged_step=diverged_at.cpu(), final_theta=theta.cpu(),
        stochastic=[bool(g.batch_size) or g.noise > 0 for g, _ in rows],
        batch_sizes=[g.batch_size or None for g, _ in rows],
        test_loss=None if test_rec is None else test_rec.cpu(), test_accuracy=None if acc_rec is None else acc_rec.cpu(),
        accuracy=None if train_acc is None else train_acc.cpu(),
        layer_grad_norm=None if layer_rec is None else layer_rec.cpu(), layer_names=[name for name, _ in layers],
    )


def _scores(problem: Problem, thetas: Tensor, split: str) -> tuple[Tensor, Tensor | None]:
    """Loss and accuracy ``[T+1, B]`` on ``split`` at every recorded point ``thetas [T+1, B, d]``
    (NaN where nothing was recorded: after a divergence), in one batched call of the problem."""
    flat = thetas.reshape(-1, thetas.shape[-1])
    ok = torch.isfinite(flat).all(dim=1)
    loss = torch.full((flat.shape[0],), math.nan, dtype=flat.dtype, device=flat.device)
    acc = None
    if bool(ok.any()):
        got, got_acc = problem.scores(flat[ok], split)
        loss[ok] = got
        if got_acc is not None:
            acc = torch.full_like(loss, math.nan)
            acc[ok] = got_acc
    shape = thetas.shape[:2]
    return loss.reshape(shape), None if acc is None else acc.reshape(shape)


def _evaluate(problem: Problem, theta: Tensor, t: int, rng: _Randomness, noisy: list[tuple[slice, float]],
              minibatch: dict[int, list[int]], full_idx: Tensor, all_full: bool) -> tuple[Tensor, Tensor]:
    """True losses ``[B]`` at ``theta`` and the gradients ``[B, d]`` each trajectory is to use."""
    if isinstance(problem, Dropout) and problem.dropout > 0:
        return _evaluate_dropout(problem, theta, t, rng, noisy, minibatch, full_idx)
    if all_full:
        loss, grad = problem.loss_and_grad(theta)
    else:
        loss = torch.empty(theta.shape[0], dtype=theta.dtype, device=theta.device)
        grad = torch.empty_like(theta)
        if full_idx.numel():
            loss[full_idx], grad[full_idx] = problem.loss_and_grad(theta[full_idx])
        shared = getattr(problem, "loss_and_batch_grad", None)
        for m, rows in minibatch.items():
            idx = rng.minibatch(rows, problem.n_samples, m, t, theta.device)
            at = rng.index(rows, theta.device) if len(rows) != theta.shape[0] else None
            th = theta if at is None else theta[at]
            if shared is not None:  # the full loss from the gradient's own forward pass
                lo, g = shared(th, idx)
            else:
                _, g = problem.loss_and_grad(th, idx)
                with torch.no_grad():  # the true (full-batch) loss is what gets recorded
                    lo = problem.loss(th)
            if at is None:
                loss, grad = lo, g
            else:
                loss[at], grad[at] = lo, g
    for s, sigma in noisy:
        xi = rng.noise(range(s.start, s.stop), t, theta.shape[1], theta.device).to(theta)
        grad[s] = grad[s] + sigma * xi
    return loss, grad


def _evaluate_dropout(problem: Problem, theta: Tensor, t: int, rng: _Randomness, noisy: list[tuple[slice, float]],
                      minibatch: dict[int, list[int]], full_idx: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`_evaluate` for a net with dropout: every gradient is the dropped-out net's (masks
    from the dropout stream of each row, keyed by its seed, the step and the unit-sample index),
    every recorded loss the whole net's (one forward pass without dropout)."""
    with torch.no_grad():
        loss = problem.loss(theta)
    grad = torch.empty_like(theta)
    parts = [(full_idx.tolist(), None)] if full_idx.numel() else []
    parts += [(rows, m) for m, rows in minibatch.items()]
    for rows, m in parts:
        idx = None if m is None else rng.minibatch(rows, problem.n_samples, m, t, theta.device)
        u = rng.uniforms(rows, t, problem.dropout_units(problem.n_samples if m is None else m), theta.device).to(theta)
        at = rng.index(rows, theta.device)
        grad[at] = problem.loss_and_grad(theta[at], idx, dropout_u=u)[1]
    for s, sigma in noisy:
        xi = rng.noise(range(s.start, s.stop), t, theta.shape[1], theta.device).to(theta)
        grad[s] = grad[s] + sigma * xi
    return loss, grad


def run(problem: Problem, groups: Sequence[Group], steps: int, *,
        progress: Callable[[int, int], None] | None = None, **kw: Any) -> Run:
    """:func:`iterate` to the end; ``progress(step, steps)`` is called as it goes."""
    gen = iterate(problem, groups, steps, **kw)
    try:
        while True:
            t = next(gen)
            if progress:
                progress(t, steps)
    except StopIteration as stop:
        return stop.value
