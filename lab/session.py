"""The session: the one model every panel reads and writes (napari's layer/view split).

A :class:`Session` holds the scenario being explored as its TOML-shaped dictionary (``spec``), the
validated :class:`core.scenario.Scenario`, the latest :class:`core.scenario.Result` (run, surface,
theory) and the player's frame. Panels never call each other: they call ``session.set(path, value)``
or ``session.set_frame(i)`` and redraw when the session signals. Every edit is validated by
``core.scenario`` and re-run; a :class:`LabError` is reported through ``error`` and the previous
state is kept, so a bad entry can never break what is on screen.

Before anything runs its cost is estimated (:func:`core.budget.estimate`: memory, and a time
measured by a few-millisecond probe). A run over the budget (:class:`core.budget.Budget`) runs only
if ``confirm_large(question)`` says yes (the window asks with a dialog; without one it is refused),
and a refusal keeps the previous state. A run estimated under :data:`SYNC_SECONDS` executes here so
a knob feels instant; anything longer, whatever the problem, goes to a worker thread with progress
and cancel, and a new request cancels the stale one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal

from core.errors import LabError
from core import analysis
from lab.jobs import execute_job, sharpness_job
from lab.worker import Worker

KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    """``optimizers[1].lr`` -> ``["optimizers", 1, "lr"]``."""
    out: list[str | int] = []
    for name, index in KEY.findall(path):
        out.append(int(index) if index else name)
    return out


def get_in(spec: dict, path: str, default: Any = None) -> Any:
    node: Any = spec
    for key in split_path(path):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return default
    return node


def set_in(spec: dict, path: str, value: Any) -> None:
    """Sets ``value`` at a dotted key path, creating tables on the way; ``None`` deletes the key."""
    keys = split_path(path)
    node: Any = spec
    for key in keys[:-1]:
        if isinstance(key, str) and key not in node:
            node[key] = {}
        node = node[key]
    if value is None:
        if isinstance(node, dict):
            node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value


def scenario_api():
    """``core.scenario`` (load/loads/dump/execute); imported lazily because it imports torch."""
    import core.scenario as sc

    return sc


class Session(QObject):
    """State of one exploration. Signals: ``result_changed`` (a new run and maybe a new surface),
    ``frame_changed(step)``, ``error(path, message)`` (an edit or a file was refused),
    ``busy(message)`` (empty when idle), ``progress(done, total)``, ``dirty_changed(bool)``,
    ``scenario_changed`` (a new file or problem: controls rebuild their editors)."""

    result_changed = pyqtSignal()
    scenario_changed = pyqtSignal()
    frame_changed = pyqtSignal(int)
    error = pyqtSignal(str, str)
    busy = pyqtSignal(str)
    progress = pyqtSignal(int, int)
    dirty_changed = pyqtSignal(bool)
    extras_changed = pyqtSignal()  # slow extras of the current result arrived (sharpness along the run)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec: dict[str, Any] = {}
        self.scenario = None
        self.result = None
        self.view: analysis.RunView | None = None
        self.frame = 0
        self.path: Path | None = None
        self.dirty = False
        self.selected = 0  # the trajectory the eigen view follows
        self._worker: Worker | None = None
        self._extra: Worker | None = None
        self._pending: tuple[dict, bool] | None = None
        #: asks before over-budget work (``question -> yes``); None refuses such work
        self.confirm_large: Callable[[str], bool] | None = None
        self.last_estimate: Any = None  # the cost estimate of the latest accepted run

    # -- files -----------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        """Loads a scenario file; on a :class:`LabError` reports it and keeps the current session."""
        path = Path(path)
        try:
            scenario = scenario_api().load(path)
            spec = _to_dict(scenario)
        except LabError as exc:
            self.error.emit("", str(exc))
            return False
        except OSError as exc:
            self.error.emit("", f"{path}: cannot read ({exc.strerror or exc})")
            return False
        ok = self.apply(spec, reset_frame=True, structural=True, sync=None)
        if ok:
            self.path = path
            self._set_dirty(False)
        return ok

    def save(self, path: str | Path) -> None:
        """Writes the current state as a scenario file (what ``open`` reads back identically)."""
        if self.scenario is None:
            raise LabError("nothing to save")
        path = Path(path)
        scenario_api().save(self.scenario, path)
        self.path = path
        self._set_dirty(False)

    def dump(self) -> str:
        return scenario_api().dump(self.scenario)

    # -- edits -----------------------------------------------------------------------------
    def set(self, path: str, value: Any) -> bool:
        """One edit (``optimizers[0].lr``, ``problem.kind``, ``start.points``, ``steps`` ...):
        validated and re-run; on a LabError, ``error(path, message)`` and nothing changes."""
        spec = copy.deepcopy(self.spec)
        structural = path.startswith(("problem", "view", "device", "dtype")) or path.endswith(".kind")
        if path == "problem.kind" and value != get_in(spec, "problem.kind"):
            spec["problem"] = {"kind": value}
            spec.pop("start", None)
            for key in ("span", "directions", "center", "trajectory"):  # the new problem's own defaults
                spec.setdefault("view", {}).pop(key, None)
        set_in(spec, path, value)
        if "start" not in spec:
            spec["start"] = self._default_start(spec)
        return self.apply(spec, structural=structural, path=path)

    def set_many(self, values: dict[str, Any]) -> bool:
        """Several edits at once (a lecture beat's ``set``), validated together."""
        spec = copy.deepcopy(self.spec)
        for path, value in values.items():
            set_in(spec, path, value)
        return self.apply(spec, structural=any(p.startswith(("problem", "view")) for p in values))

    def set_start(self, point: list[float]) -> bool:
        """A click on the landscape: every optimizer starts from ``point``."""
        return self.set("start", {"points": [[float(v) for v in point]]})

    def add_optimizer(self, kind: str = "gd") -> bool:
        spec = copy.deepcopy(self.spec)
        opts = spec.setdefault("optimizers", [])
        labels = {o.get("label") for o in opts}
        n = 1
        while f"{kind} {n}" in labels:
            n += 1
        opts.append({"kind": kind, "label": f"{kind} {n}"})
        return self.apply(spec, path=f"optimizers[{len(opts) - 1}]", structural=True)

    def remove_optimizer(self, index: int) -> bool:
        spec = copy.deepcopy(self.spec)
        if len(spec.get("optimizers", [])) <= 1:
            self.error.emit(f"optimizers[{index}]", "a scenario needs at least one optimizer")
            return False
        del spec["optimizers"][index]
        return self.apply(spec, path="optimizers", structural=True)

    def _default_start(self, spec: dict) -> dict:
        """For a new problem kind: its own initial point (nets) or 70 % of the way up its box."""
        try:
            from core.problems import make_problem

            prob = make_problem(spec["problem"]["kind"], {k: v for k, v in spec["problem"].items() if k != "kind"})
        except LabError:
            return {"points": [[1.0]]}
        if prob.initial_point(0) is not None:
            return {"init": True}
        box = prob.box or [(-3.0, 3.0)] * prob.dim
        return {"points": [[round(lo + 0.8 * (hi - lo), 3) for lo, hi in box[: prob.dim]] + [1.0] * max(0, prob.dim - len(box))]}

    # -- running -----------------------------------------------------------------------------
    def apply(self, spec: dict, *, reset_frame: bool = False, structural: bool = False, path: str = "",
              sync: bool | None = None) -> bool:
        """Validates ``spec``, estimates its cost and re-runs. Returns False (and emits ``error``)
        when refused: a bad value, or over-budget work that ``confirm_large`` declined (the previous
        state stays either way). ``sync`` forces the run here (True) or into the worker (False);
        by default the estimated time decides (:data:`SYNC_SECONDS`)."""
        from core import budget
        from core.scenario.runner import build

        sc = scenario_api()
        try:
            scenario = _from_dict(spec, str(self.path) if self.path else "")
        except LabError as exc:
            self.error.emit(exc.path or path, exc.message if exc.path else str(exc))
            return False
        old_scenario = self.scenario
        # a knob that leaves the problem and the view alone keeps the landscape (axes slices of
        # toys depend on nothing else), so only the trajectories are recomputed
        reuse = (self.result is not None and old_scenario is not None and self.result.surface is not None
                 and scenario.problem == old_scenario.problem and scenario.view == old_scenario.view
                 and scenario.view.directions in ("axes", "auto") and getattr(self.result.surface, "kind", "") == "axes")
        landscape = False if reuse else None
        try:
            built = build(scenario)
            cost = budget.estimate(scenario, built, landscape=landscape, sharpness=False)
        except LabError as exc:
            self.error.emit(exc.path or path, exc.message if exc.path else str(exc))
            return False
        over = cost.over(budget.Budget.default())
        if over is not None:
            what = over[1]
            if self.confirm_large is None or not self.confirm_large(f"{what}.\n\nRun it anyway?"):
                self.error.emit("", f"not run: {what}")
                return False
        self.scenario, self.spec, self.last_estimate = scenario, spec, cost
        self.error.emit(path, "")  # clears an inline message left by an earlier refused edit
        if old_scenario is not None and scenario != old_scenario:
            self._set_dirty(True)
        if structural or old_scenario is None:
            self.scenario_changed.emit()
        here = sync if sync is not None else cost.total_seconds <= SYNC_SECONDS
        self._cancel_workers()
        surface = self.result.surface if reuse else None
        if here:
            try:
                result, view = execute_job(scenario, built, landscape, surface, lambda done, total: None,
                                           lambda: False)
            except LabError as exc:
                self.error.emit(exc.path or path, exc.message if exc.path else str(exc))
                return False
            self._take(result, reset_frame, view=view)
        else:
            self.busy.emit("computing " + (scenario.title or "scenario")
                           + f" (about {budget.human_seconds(cost.total_seconds)}) ...")
            worker = Worker(execute_job, scenario, built, landscape, surface)
            worker.signals.progress.connect(self.progress)
            worker.signals.result.connect(lambda res, w=worker, r=reset_frame: self._worker_done(w, res, r))
            worker.signals.error.connect(lambda msg, w=worker: self._worker_failed(w, msg))
            self._worker = worker
            worker.start()
        return True

    def cancel(self) -> None:
        """Cancels the computation in flight (the current state stays)."""
        if self._cancel_workers():
            self.busy.emit("")

    def _cancel_workers(self) -> bool:
        busy = False
        for name in ("_worker", "_extra"):
            worker = getattr(self, name)
            if worker is not None:
                worker.cancel()
                setattr(self, name, None)
                busy = True
        return busy

    def _start_extras(self) -> None:
        """Sharpness along the run (nets), in the worker after the run is on screen: the same
        choice ``core.scenario.execute`` makes, done in a second phase so the window never waits."""
        from core.scenario.runner import sharpness_every, wants_sharpness

        result, scenario = self.result, self.scenario
        run = result.run
        if result.sharpness is not None or run.thetas is None or not wants_sharpness(scenario, run.problem):
            return
        worker = Worker(sharpness_job, run, sharpness_every(run.steps), scenario.seed)
        worker.signals.progress.connect(self.progress)
        worker.signals.result.connect(lambda value, w=worker, r=result: self._extras_done(w, r, value))
        worker.signals.error.connect(lambda msg, w=worker: self._worker_failed(w, msg))
        self._extra = worker
        self.busy.emit("tracking the sharpness along the run ...")
        worker.start()

    def _extras_done(self, worker: Worker, result: Any, sharpness: dict) -> None:
        if worker is not self._extra or result is not self.result:
            return
        self._extra = None
        self.busy.emit("")
        result.sharpness = sharpness
        self.extras_changed.emit()

    def show_result(self, result: Any) -> None:
        """Shows an already computed :class:`Result` as it is (headless snapshots of ``main.py
        run``): nothing is computed in the background."""
        self.scenario = result.scenario
        self.spec = _to_dict(result.scenario)
        self.scenario_changed.emit()
        self._take(result, reset_frame=True, extras=False)

    def _worker_done(self, worker: Worker, answer: Any, reset_frame: bool) -> None:
        if worker is not self._worker:
            return  # a stale answer: a newer request replaced it
        self._worker = None
        self.busy.emit("")
        result, view = answer
        self._take(result, reset_frame, view=view)

    def _worker_failed(self, worker: Worker, message: str) -> None:
        if worker is self._extra:
            self._extra = None
        elif worker is self._worker:
            self._worker = None
        else:
            return
        self.busy.emit("")
        self.error.emit("", message)

    def wait(self, timeout_ms: int = 120_000, extras: bool = False, check: Callable[[], None] | None = None) -> None:
        """Blocks (processing events) until the run (and with ``extras`` the sharpness tracking)
        is done: for tests and headless export. ``check()`` is called between waits (headless
        export: :func:`lab.export.interruptible` raises there on Ctrl-C, and the work is cancelled)."""
        from PyQt6.QtCore import QCoreApplication, QElapsedTimer

        clock = QElapsedTimer()
        clock.start()
        while (self._worker is not None or (extras and self._extra is not None)) and clock.elapsed() < timeout_ms:
            QCoreApplication.processEvents()
            self._worker_wait(10)
            if check is not None:
                try:
                    check()
                except BaseException:
                    self.cancel()
                    raise

    @staticmethod
    def _worker_wait(ms: int) -> None:
        from PyQt6.QtCore import QThread

        QThread.msleep(ms)

    def _take(self, result: Any, reset_frame: bool, extras: bool = True, view: Any = None) -> None:
        self.result = result
        self.view = view if view is not None else analysis.run_view(result, result.scenario)
        self.selected = min(self.selected, self.view.size - 1)
        last = self.view.steps
        self.frame = 0 if reset_frame else min(self.frame, last)
        self.result_changed.emit()
        self.frame_changed.emit(self.frame)
        if extras:
            self._start_extras()

    @property
    def steps(self) -> int:
        return 0 if self.view is None else self.view.steps

    def set_frame(self, step: int) -> None:
        step = max(0, min(int(step), self.steps))
        if step != self.frame:
            self.frame = step
            self.frame_changed.emit(step)

    def select(self, index: int) -> None:
        if self.view is not None and 0 <= index < self.view.size and index != self.selected:
            self.selected = index
            self.frame_changed.emit(self.frame)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)


def _to_dict(scenario: Any) -> dict:
    return scenario_api().to_dict(scenario)


def _from_dict(spec: dict, file: str) -> Any:
    return scenario_api().from_dict(spec, file)


#: runs estimated to take at most this long execute on the GUI thread (a knob feels instant);
#: longer ones go to the worker, with progress and cancel
SYNC_SECONDS = 0.25
