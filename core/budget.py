"""What a scenario will cost, estimated before it runs, and the budget a run must stay under.

:func:`estimate` takes a scenario after :func:`core.scenario.build.build` (so every trajectory,
the dimension and the dtype are known) and returns an :class:`Estimate`: the peak memory, part by
part, and a rough wall time. Memory is counted from what the engine and the analyses allocate:

- ``records``: the per-step loss and gradient-norm tensors, ``2 (steps + 1) B`` floats of the
  run's dtype (B trajectories), kept for the whole run;
- ``parameters``: the recorded iterates, ``(steps + 1) B d`` floats, when they are recorded (at
  most ``core.scenario.build.RECORD_LIMIT`` floats; past it the engine keeps none);
- ``evaluation``: one step's loss and gradient of all B rows at once (autograd's saved
  activations: per row about ``8 n w`` floats for a net with ``n`` training samples and ``w``
  hidden units in all, ``3 n + 4 d`` for least squares, ``32 d`` for an analytic toy);
- ``state``: the iterate, its update, the gradient and the optimizer's buffers, about ``12 B d``;
- ``bookkeeping``: labels, hyperparameter rows and summary entries, about 1 kB per trajectory;
- ``landscape``: the slice's grid (``resolution^2`` points, four float64 arrays) plus its chunks;
- ``sharpness``: the Lanczos basis and the cached Hessian-vector constants (small);
- ``scoring``: for nets with recorded parameters, the training accuracy and held-out loss and
  accuracy records (``3 (steps + 1) B`` floats) and the chunk of forward passes that scores them
  after the run (``core.problems.neural.HELD_OUT_BYTES``, about three activation buffers of it).

The time is measured, not guessed: a probe runs the engine for a few steps on a subset of the
trajectories (two sizes, fitted as ``a + b B`` per step), the theory numbers on the probe's run,
one loss evaluation over a block of landscape points and, when tracked, one sharpness; the
estimate extrapolates those to the whole scenario. It is rough (a loaded machine, warm caches and
early divergence all move it) and meant for decisions an order of magnitude wide: refuse or ask
before an hour-long run, keep a 50 ms run on the GUI thread.

The budget (:class:`Budget`): memory at most ``min(4 GB, half the machine's RAM)``, time at most
an hour, overridden by ``LAB_MEMORY_BUDGET`` (bytes, or a number with ``k``/``M``/``G``/``T``:
``LAB_MEMORY_BUDGET=16G``) and ``LAB_TIME_BUDGET`` (seconds; ``0`` or ``none`` for no limit).
:func:`enforce` raises :class:`BudgetExceeded`, a :class:`LabError` whose one line names the key
that drives the cost (``steps``, ``start.random.n``, ``optimizers[0].lr``, ``view.resolution``) and
the estimate; ``main.py run/check --allow-large`` and the app's dialog proceed anyway.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from core.errors import LabError

GB = 10**9
DEFAULT_MEMORY = 4 * GB
DEFAULT_SECONDS = 3600.0
MEMORY_ENV = "LAB_MEMORY_BUDGET"
TIME_ENV = "LAB_TIME_BUDGET"
#: Python objects per trajectory (two label strings, two hyperparameter dicts, its summary row):
#: about 700 bytes measured (50,000 trajectories of a 2-D toy, ru_maxrss), rounded up
PER_TRAJECTORY_BYTES = 1000
STATE_FLOATS = 12  # per row and parameter: theta, its update, the gradient, optimizer buffers, torch.where temporaries
#: the probe: at most this many rows and this much evaluation memory, a warm-up step then PROBE_STEPS timed
PROBE_ROWS = 128
PROBE_SMALL = 8
PROBE_BYTES = 16 << 20
PROBE_STEPS = 3
LANDSCAPE_PROBE = 1024  # landscape points evaluated in one timed call
SHARPNESS_POINTS = 33  # core.scenario.build.sharpness_every: about 32 points along a run, and the last
HOST_FLOATS_PER_POINT = 4  # landscape: values, accuracy, the two coordinate axes' grid (float64)

PARTS = {
    "records": "the per-step loss and gradient-norm records",
    "parameters": "the recorded parameters",
    "evaluation": "one step's evaluation of every trajectory at once",
    "state": "the iterates and optimizer state",
    "bookkeeping": "labels and per-trajectory summaries",
    "landscape": "the landscape grid",
    "sharpness": "the sharpness tracking",
    "scoring": "the training and held-out scores after the run",
}
TIME_PARTS = {"run": "the run", "theory": "the theory numbers", "landscape": "the landscape",
              "sharpness": "the sharpness tracking"}


def physical_memory() -> int | None:
    """The machine's RAM in bytes, or None when the system does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([kKMGT]?)(i?)B?\s*")


def parse_bytes(text: str, path: str = MEMORY_ENV) -> float:
    """``"4G"``, ``"512M"``, ``"1.5GiB"``, ``"3e9"`` -> bytes (k, M, G, T are powers of 1000; with
    ``i`` of 1024); ``none``/``0`` -> infinity (no limit)."""
    if text.strip().lower() in ("none", "inf", "0"):
        return math.inf
    m = _SIZE.fullmatch(text)
    if not m:
        raise LabError(f"expected a size such as 4G, 512M or 3e9 (bytes), got {text[:40]!r}", path)
    power = {"": 0, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4}[m.group(2)]
    value = float(m.group(1)) * (1024 if m.group(3) else 1000) ** power
    if not value > 0 or not math.isfinite(value):
        raise LabError(f"expected a positive size, got {text[:40]!r}", path)
    return value


def parse_seconds(text: str, path: str = TIME_ENV) -> float:
    if text.strip().lower() in ("none", "inf", "0"):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise LabError(f"expected a number of seconds, got {text[:40]!r}", path) from None
    if not value > 0 or not math.isfinite(value):
        raise LabError(f"expected a positive number of seconds, got {text[:40]!r}", path)
    return value


@dataclass(frozen=True)
class Budget:
    """Limits on a run: ``memory`` in bytes, ``seconds`` of wall time (``math.inf``: no limit).
    ``source`` says where they come from (for messages)."""

    memory: float = DEFAULT_MEMORY
    seconds: float = DEFAULT_SECONDS
    memory_source: str = ""
    seconds_source: str = ""

    @classmethod
    def default(cls) -> "Budget":
        """``min(4 GB, RAM / 2)`` and an hour, or ``LAB_MEMORY_BUDGET`` / ``LAB_TIME_BUDGET``."""
        env_memory, env_time = os.environ.get(MEMORY_ENV), os.environ.get(TIME_ENV)
        if env_memory:
            memory, msource = parse_bytes(env_memory), f"{MEMORY_ENV}={env_memory.strip()}"
        else:
            ram = physical_memory()
            memory = min(DEFAULT_MEMORY, ram / 2) if ram else DEFAULT_MEMORY
            msource = f"the smaller of 4 GB and half the RAM; {MEMORY_ENV} sets it"
        seconds = parse_seconds(env_time) if env_time else DEFAULT_SECONDS
        tsource = f"{TIME_ENV}={env_time.strip()}" if env_time else f"an hour; {TIME_ENV} sets it"
        return cls(memory, seconds, msource, tsource)


def human_bytes(n: float) -> str:
    """``8e11`` -> ``"800 GB"`` (powers of 1000, two or three significant digits)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            v = n / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:,.0f} {unit}"
    return f"{n:.0f} bytes"


def human_seconds(s: float) -> str:
    if s < 1:
        return f"{s * 1000:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    if s < 2 * 86400:
        return f"{s / 3600:.3g} h"
    return f"{s / 86400:,.3g} days"


@dataclass
class Estimate:
    """The cost of one scenario's run: ``memory`` (part -> bytes, see the module docstring) and
    ``seconds`` (part -> seconds; empty when not timed). ``sources`` says where the trajectories come
    from (``"start.random.n = 100,000"``), ``source_key`` is the key with the largest count."""

    steps: int
    trajectories: int
    dim: int
    itemsize: int
    resolution: int | None
    memory: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    sources: str = ""
    source_key: str = "optimizers"

    @property
    def total_memory(self) -> float:
        return float(sum(self.memory.values()))

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    def dominant(self) -> str:
        return max(self.memory, key=self.memory.get)

    def key(self) -> str:
        """The scenario key that drives the memory: ``steps`` for the records, the source of the
        trajectories for what is per step, ``view.resolution`` for the landscape."""
        part = self.dominant()
        if part in ("records", "parameters"):
            return "steps"
        if part == "landscape":
            return "view.resolution"
        if part == "sharpness":
            return "view.panels"
        return self.source_key

    def _what(self, part: str) -> str:
        src = f" ({self.sources})" if self.sources else ""
        if part == "parameters":
            return f"steps x trajectories x parameters = {self.steps:,} x {self.trajectories:,} x {self.dim:,}{src}"
        if part == "records":
            return f"steps x trajectories = {self.steps:,} x {self.trajectories:,}{src}"
        if part == "landscape":
            return f"a {self.resolution:,} x {self.resolution:,} landscape grid"
        if part == "sharpness":
            return "tracking the sharpness"
        return f"{self.trajectories:,} trajectories evaluated together{src}"

    def describe_memory(self) -> str:
        """``steps x trajectories = ... would need about 16 GB of memory (16 GB for the records)``."""
        part = self.dominant()
        return (f"{self._what(part)} would need about {human_bytes(self.total_memory)} of memory "
                f"({human_bytes(self.memory[part])} for {PARTS[part]})")

    def describe_time(self) -> str:
        """``steps x trajectories = ... would take about 27 min (27 min for the run)``."""
        part = max(self.seconds, key=self.seconds.get)
        src = f" ({self.sources})" if self.sources else ""
        return (f"steps x trajectories = {self.steps:,} x {self.trajectories:,}{src} would take about "
                f"{human_seconds(self.total_seconds)} ({human_seconds(self.seconds[part])} for {TIME_PARTS[part]})")

    def over(self, budget: Budget) -> tuple[str, str] | None:
        """``(key, what)`` when over ``budget`` (memory first), else None; ``what`` is one sentence
        with the estimate and the budget."""
        if self.total_memory > budget.memory:
            src = f" ({budget.memory_source})" if budget.memory_source else ""
            return self.key(), f"{self.describe_memory()}, over the {human_bytes(budget.memory)} budget{src}"
        if self.seconds and self.total_seconds > budget.seconds:
            src = f" ({budget.seconds_source})" if budget.seconds_source else ""
            return "steps", f"{self.describe_time()}, over the {human_seconds(budget.seconds)} budget{src}"
        return None


class BudgetExceeded(LabError):
    """A run over its budget, refused before it started; ``estimate`` says what it would cost."""

    def __init__(self, message: str, path: str = "", estimate: Estimate | None = None) -> None:
        super().__init__(message, path)
        self.estimate = estimate


#: what a refusal tells the user to do (the CLI's flag; the app asks instead)
PROCEED_HINT = "pass --allow-large to run anyway"


def enforce(est: Estimate, budget: Budget | None = None, hint: str = PROCEED_HINT) -> None:
    """Raises :class:`BudgetExceeded` (one line: the key, the estimate, the budget, ``hint``) when
    ``est`` is over ``budget`` (default :meth:`Budget.default`)."""
    budget = budget or Budget.default()
    over = est.over(budget)
    if over is not None:
        key, what = over
        raise BudgetExceeded(f"{what}; {hint}", key, est)


# -- the estimate -----------------------------------------------------------------------------------

def evaluation_bytes(problem: Any, itemsize: int) -> float:
    """Bytes one row's loss-and-gradient evaluation holds at its peak (see the module docstring)."""
    from core.problems.protocols import DataProblem, ModelView

    d = problem.dim
    if isinstance(problem, ModelView) and isinstance(problem, DataProblem):  # a net: activations per sample
        n = problem.X.shape[0]
        sizes = problem.sizes
        return itemsize * (n * (8 * sum(sizes[1:-1]) + 4 * sizes[-1]) + 4 * d)
    if isinstance(problem, DataProblem):  # least squares: residuals [n] and the gradient [d]
        return itemsize * (3 * problem.X.shape[0] + 4 * d)
    return itemsize * 32 * d


def _sources(scenario: Any, groups: list) -> tuple[str, str]:
    """Where the trajectories come from, for messages: ``("start.random.n = 100,000", "start.random.n")``."""
    specs = {o.label: (i, o) for i, o in enumerate(scenario.optimizers)}
    if not groups:
        return "", "optimizers"
    g = max(groups, key=lambda g: g.size)
    i, o = specs.get(g.label, (0, None))
    if o is None:
        return "", "optimizers"
    factors: list[tuple[str, int]] = []
    n_rows = 1
    for k, v in o.hyper.items():
        if isinstance(v, tuple | list) and len(v) > 1:
            factors.append((f"optimizers[{i}].{k}", len(v)))
            n_rows *= len(v)
    start = o.start if o.start is not None else scenario.start
    prefix = f"optimizers[{i}].start" if o.start is not None else "start"
    n_starts = max(1, g.size // max(n_rows, 1))
    if n_starts > 1:
        sub = ".grid.n" if start.grid is not None else ".random.n" if start.random is not None else ".points"
        factors.append((prefix + sub, n_starts))
    if not factors:
        return "", "optimizers"
    text = " x ".join(f"{k} = {n:,}" if len(factors) == 1 else f"{k}: {n:,}" for k, n in factors)
    if len(groups) > 1:
        text += f", the largest of {len(groups)} optimizers"
    return text, max(factors, key=lambda f: f[1])[0]


def estimate(scenario: Any, built: Any = None, *, landscape: bool | None = None,
             sharpness: bool | None = None, timing: bool = True) -> Estimate:
    """The cost of ``execute(scenario, landscape=..., sharpness=...)`` (same defaults), from the
    :class:`core.scenario.build.Built` of ``scenario`` (built here when not given). ``timing`` runs the probe (a few
    engine steps on a subset, milliseconds for toys); without it ``seconds`` stays empty."""
    from core.device import resolve_device
    from core.scenario.build import build, wants_sharpness

    built = built if built is not None else build(scenario)
    problem, groups, steps, kw = built.problem, list(built.groups), built.steps, built.run_kwargs
    B = sum(g.size for g in groups)
    d = problem.dim
    itemsize = torch.empty((), dtype=kw["dtype"]).element_size()
    if landscape is None:
        landscape = "landscape" in scenario.view.panels
    if sharpness is None:
        sharpness = wants_sharpness(scenario, problem)
    sharpness = bool(sharpness) and kw["record_params"]
    res = int(scenario.view.resolution)
    points = (res if d == 1 else res * res) if landscape else 0
    per_row = evaluation_bytes(problem, itemsize)
    est = Estimate(steps=steps, trajectories=B, dim=d, itemsize=itemsize, resolution=res if landscape else None)
    est.sources, est.source_key = _sources(scenario, groups)
    est.memory = {
        "records": 2.0 * (steps + 1) * B * itemsize,
        "parameters": float((steps + 1) * B * d * itemsize) if kw["record_params"] else 0.0,
        "evaluation": B * per_row,
        "state": float(STATE_FLOATS * B * d * itemsize + 2 * B * d * 8),
        "bookkeeping": float(B * PER_TRAJECTORY_BYTES),
    }
    from core.problems.protocols import HeldOut

    if isinstance(problem, HeldOut) and kw["record_params"]:
        from core.problems.neural import HELD_OUT_BYTES

        rows = (steps + 1) * B
        widest = problem.plane_point_size("train") if hasattr(problem, "plane_point_size") else d
        est.memory["scoring"] = float(3 * rows * itemsize + 3 * min(HELD_OUT_BYTES, rows * widest * itemsize))
    if landscape:
        from core.landscape import CHUNK_BYTES, GPU_CHUNK_BYTES

        est.memory["landscape"] = float(points * 8 * HOST_FLOATS_PER_POINT + 4 * max(CHUNK_BYTES, GPU_CHUNK_BYTES
                                                                                      if str(kw["device"]).startswith("cuda") else 0))
    if sharpness:
        est.memory["sharpness"] = float(3 * 64 * d * 8 + 3 * per_row)
    if timing:
        device = resolve_device(kw["device"]) if isinstance(kw["device"], str) else kw["device"]
        est.seconds = _timing(problem, groups, steps, kw, device, per_row, points, sharpness)
    return est


def _subset(groups: list, rows: int, total: int) -> list:
    """About ``rows`` of the trajectories, taken from every group in proportion."""
    from core.engine import Group

    out = []
    for g in groups:
        k = max(1, min(g.size, round(g.size * rows / total)))
        out.append(Group(g.label, g.kind, g.hyper_rows[:k], g.starts[:k], traj_labels=g.traj_labels[:k],
                         batch_size=g.batch_size, noise=g.noise, color=g.color))
    return out


def _probe_steps(problem: Any, groups: list, kw: dict, device: torch.device) -> tuple[float, Any]:
    """Seconds per engine step for these groups (after one warm-up step), and the probe's run."""
    from core.engine import iterate

    args = dict(kw, record_params=True)
    gen = iterate(problem, groups, PROBE_STEPS + 1, progress_every=1, **args)
    next(gen)  # the warm-up step: first calls, CUDA start-up
    _sync(device)
    times = []
    for _ in range(PROBE_STEPS):  # each step timed alone, the fastest kept: another job's burst on a
        t0 = time.perf_counter()  # shared machine must not multiply the estimate (its slope below
        next(gen)                 # extrapolates a slow probe step to every trajectory)
        _sync(device)
        times.append(time.perf_counter() - t0)
    per_step = min(times)
    try:
        next(gen)
    except StopIteration as stop:
        return per_step, stop.value
    raise AssertionError("the probe ran past its steps")  # pragma: no cover - iterate yields PROBE_STEPS + 1 times


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timing(problem: Any, groups: list, steps: int, kw: dict, device: torch.device, per_row: float,
            points: int, sharpness: bool) -> dict[str, float]:
    from core.scenario.build import theory_numbers

    B = sum(g.size for g in groups)
    big = max(1, min(B, PROBE_ROWS, int(PROBE_BYTES // max(per_row, 1))))
    small = min(big, PROBE_SMALL)
    t_big, run = _probe_steps(problem, _subset(groups, big, B) if big < B else groups, kw, device)
    problem = run.problem  # on the run's device and dtype (to() returns a new problem)
    big_rows = run.size
    if big_rows >= B:
        per_step = t_big
    else:
        t_small, small_run = _probe_steps(problem, _subset(groups, small, B), kw, device)
        small_rows = small_run.size
        slope = (t_big - t_small) / (big_rows - small_rows) if big_rows > 2 * small_rows else t_big / big_rows
        slope = max(slope, t_big / big_rows / 8)  # noise must not make the rows free
        per_step = max(t_small, t_big + slope * (B - big_rows))
    out = {"run": (steps + 1) * per_step}
    t0 = time.perf_counter()
    theory_numbers(run)
    out["theory"] = (time.perf_counter() - t0) / run.size * B
    theta = run.final_theta.to(device, kw["dtype"])
    theta = theta[torch.isfinite(theta).all(dim=1)][:1]
    if theta.shape[0] == 0:
        theta = groups[0].starts[:1].to(device, kw["dtype"])
    if points:
        k = max(1, min(points, LANDSCAPE_PROBE, int(PROBE_BYTES // max(per_row / 2, 1))))
        block = theta.expand(k, -1).contiguous()
        with torch.no_grad():
            problem.loss(block)  # warm-up
            _sync(device)
            t0 = time.perf_counter()
            problem.loss(block)
            _sync(device)
        out["landscape"] = (time.perf_counter() - t0) / k * points
    if sharpness:
        from core.spectra import sharpness as top_eigenvalue

        t0 = time.perf_counter()
        top_eigenvalue(problem, theta[0])
        _sync(device)
        out["sharpness"] = (time.perf_counter() - t0) * min(SHARPNESS_POINTS, steps + 1) * B
    return out
