"""The session: the app's state as one Qt-free model that the views subscribe to (napari's layer
model and its events).

A :class:`Session` holds the scenario being explored as one typed :class:`core.scenario.Scenario`,
the text of the file it was loaded from (saving keeps that file's comments and layout), the
latest :class:`core.scenario.Result` with its :class:`core.analysis.RunView`, the player's frame
and the trajectory the eigen view follows. Panels never call each other: they call
``session.set(path, value)`` or ``session.set_frame(i)`` and redraw on its events. Every edit goes
through :func:`core.scenario.io.set_path` / :func:`~core.scenario.io.set_paths`, the one key-path
implementation, which validates it; a :class:`LabError` is reported through ``error`` and the
previous state is kept, so a bad entry can never break what is on screen.

Before anything runs its cost is estimated (:func:`core.budget.estimate`: memory, and a time
measured by a few-millisecond probe). A run over the budget (:class:`core.budget.Budget`) runs only
if ``confirm_large(question)`` says yes (the window asks with a dialog; without one it is refused),
and a refusal keeps the previous state. A run estimated under :data:`SYNC_SECONDS` executes here so
a knob feels instant; anything longer, whatever the problem kind, becomes a :class:`Job` that the
session asks for with its ``job_requested`` event. The Qt adapter (:mod:`lab.qt_session`) runs it on
a worker thread and hands the answer back through :meth:`Session.job_done`; a new request cancels
the stale one (``job_cancelled``) and a stale answer is dropped. A session made without
``background=True`` has no one to hand jobs to and runs them here (tests, headless rendering).

This module imports no Qt: ``tests/test_session.py`` runs it with PyQt6 and pyqtgraph unimportable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psygnal import Signal

import lab.panels.names  # noqa: F401  (the app's panel names, which core's schema checks view.panels against)
from core.errors import Cancelled, LabError
from lab.jobs import execute_job, sharpness_job

#: runs estimated to take at most this long execute on the calling (GUI) thread, so a knob feels
#: instant; longer ones are jobs for a worker, with progress and cancel
SYNC_SECONDS = 0.25

#: view keys that belong to the problem: a new problem kind takes its own defaults for them
PROBLEM_VIEW_KEYS = ("span", "directions", "center", "trajectory")

#: edits under these keys change which editors the controls show (or what they offer)
STRUCTURAL = ("problem", "view", "device", "dtype", "start")


@dataclass(eq=False)
class Job:
    """Work the session wants done off the GUI thread: ``fn(*args, progress, cancelled)`` (one of
    :mod:`lab.jobs`), data in and data out. ``kind``: ``"run"`` (the trajectories and the landscape)
    or ``"extras"`` (the sharpness along the run, after the run is on screen); one job of each kind
    is current at a time. ``message`` is the busy text; ``after(value)`` is what the session does
    with the answer; ``cancelled`` is set when a newer request replaces it."""

    kind: str
    fn: Callable[..., Any]
    args: tuple
    message: str
    after: Callable[[Any], None]
    cancelled: bool = False

    def run(self, progress: Callable[[int, int], None] = lambda done, total: None) -> Any:
        """Runs the job here (what a worker thread does with it)."""
        return self.fn(*self.args, progress, lambda: self.cancelled)


class Session:
    """State of one exploration.

    Events (psygnal): ``scenario_changed()`` (a new file or structure: controls rebuild their
    editors), ``result_changed()`` (a new run, maybe a new surface), ``extras_changed()`` (the
    sharpness along the run arrived), ``frame_changed(step)`` (also when the followed trajectory
    changes), ``error(path, message)`` (an edit or a file was refused; an empty message clears the
    inline note at ``path``), ``busy(message)`` (empty when idle), ``progress(done, total)``,
    ``dirty_changed(dirty)``, ``job_requested(job)`` and ``job_cancelled(job)`` (for whoever runs
    the jobs: :class:`lab.qt_session.QtSession`)."""

    scenario_changed = Signal()
    result_changed = Signal()
    extras_changed = Signal()
    frame_changed = Signal(int)
    error = Signal(str, str)
    busy = Signal(str)
    progress = Signal(int, int)
    dirty_changed = Signal(bool)
    job_requested = Signal(object)
    job_cancelled = Signal(object)

    def __init__(self, *, background: bool = False) -> None:
        self.scenario: Any = None  # core.scenario.Scenario
        self.text: str | None = None  # what the file held when it was opened or last saved
        self.path: Path | None = None
        self.dirty = False
        self.result: Any = None  # core.scenario.Result
        self.view: Any = None  # core.analysis.RunView of ``result``
        self.frame = 0
        self.selected = 0  # the trajectory the eigen and model views follow
        self.last_estimate: Any = None  # core.budget.Estimate of the latest accepted run
        #: asks before over-budget work (``question -> yes``); None refuses such work
        self.confirm_large: Callable[[str], bool] | None = None
        #: True: jobs go out through ``job_requested``; False: they run here
        self.background = background
        self.jobs: dict[str, Job] = {}  # the current job of each kind

    # -- files -----------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        """Loads a scenario file; on a :class:`LabError` reports it (``error("", message)``) and
        keeps the current session."""
        from core.files import read_text_bounded
        from core.scenario.io import MAX_SCENARIO_BYTES, loads

        path = Path(path)
        try:
            text = read_text_bounded(path, MAX_SCENARIO_BYTES, "scenario file")
            scenario = loads(text, str(path))
        except LabError as exc:
            self.error.emit("", str(exc))
            return False
        except OSError as exc:
            self.error.emit("", f"{path}: cannot read ({exc.strerror or exc})")
            return False

        def opened() -> None:
            self.path, self.text = path, text
            self._set_dirty(False)

        return self.apply(scenario, reset_frame=True, structural=True, edit=False, accepted=opened)

    def save(self, path: str | Path) -> None:
        """Writes the current scenario to ``path`` atomically, keeping the comments, key order and
        layout of the file it came from (:func:`core.scenario.io.save` with ``like=``): only the
        edited values change. Raises :class:`LabError` (the window shows it)."""
        from core.files import read_text_bounded
        from core.scenario.io import MAX_SCENARIO_BYTES, save

        if self.scenario is None:
            raise LabError("nothing to save")
        path = Path(path)
        save(self.scenario, path, like=self.text)
        try:  # the saved text is what the next save keeps the layout of
            self.text = read_text_bounded(path, MAX_SCENARIO_BYTES, "scenario file")
        except LabError:
            pass  # written but unreadable now (permissions changed under us): keep the loaded text
        self.path = path
        self._set_dirty(False)

    # -- edits -----------------------------------------------------------------------------
    def set(self, path: str, value: Any) -> bool:
        """One edit (``optimizers[0].lr``, ``problem.kind``, ``start``, ``steps`` ...) through
        :func:`core.scenario.io.set_path`, validated and re-run; on a LabError ``error(path,
        message)`` and nothing changes. A new ``problem.kind`` starts from that problem's own
        parameters, default start (:func:`core.problems.default_start`) and view range."""
        if self.scenario is None:
            self.error.emit(path, "no scenario is open")
            return False
        try:
            if path == "problem.kind" and value != self.scenario.problem.kind:
                scenario = self._with_problem(str(value))
            else:
                from core.scenario.io import set_path

                scenario = set_path(self.scenario, path, value)
        except LabError as exc:
            self._refuse(exc, path)
            return False
        structural = path.startswith(STRUCTURAL) or path.endswith(".kind") or isinstance(value, dict | list)
        return self.apply(scenario, structural=structural, path=path)

    def set_many(self, values: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, base: Any = None,
                 sync: bool | None = None, edit: bool = True) -> bool:
        """Several edits: one mapping of key paths validated together
        (:func:`core.scenario.io.set_paths`: a beat's ``set``), or a sequence of such mappings
        applied in order, each validated together (the sets of a lecture's beats so far, as the
        loader checked them). They apply to ``base`` (default: the current scenario); a result
        equal to the current scenario runs nothing. ``sync`` and ``edit`` as for :meth:`apply`."""
        from core.scenario.io import set_paths

        scenario = self.scenario if base is None else base
        if scenario is None:
            self.error.emit("", "no scenario is open")
            return False
        steps = [values] if isinstance(values, Mapping) else list(values)
        try:
            for step in steps:
                if step:
                    scenario = set_paths(scenario, dict(step))
        except LabError as exc:
            self._refuse(exc, "")
            return False
        if scenario == self.scenario:
            return True
        structural = any(p.startswith(STRUCTURAL) or isinstance(v, dict | list | tuple)
                         for step in steps for p, v in step.items())
        return self.apply(scenario, structural=structural, sync=sync, edit=edit)

    def set_start(self, point: list[float]) -> bool:
        """A click on the landscape: every optimizer starts from ``point``."""
        return self.set("start", {"points": [[float(v) for v in point]]})

    def add_optimizer(self, kind: str = "gd") -> bool:
        """Appends an optimizer of ``kind`` with its default hyperparameters, labelled
        ``"<kind> <n>"`` with the first free ``n``."""
        if self.scenario is None:
            return False
        labels = {o.label for o in self.scenario.optimizers}
        n = 1
        while f"{kind} {n}" in labels:
            n += 1
        opts = self._table("optimizers") + [{"kind": kind, "label": f"{kind} {n}"}]
        return self.set("optimizers", opts)

    def remove_optimizer(self, index: int) -> bool:
        """Removes optimizer ``index``; the last one is refused (a scenario needs one)."""
        if self.scenario is None:
            return False
        opts = self._table("optimizers")
        if len(opts) <= 1:
            self.error.emit(f"optimizers[{index}]", "a scenario needs at least one optimizer")
            return False
        if not 0 <= index < len(opts):
            self.error.emit(f"optimizers[{index}]", f"there is no optimizer {index}")
            return False
        del opts[index]
        return self.set("optimizers", opts)

    def _table(self, path: str) -> Any:
        """The value at ``path`` as the scenario file holds it (tables as dicts, arrays as lists)."""
        from core.scenario.io import get_path, plain

        value = get_path(self.scenario, path)
        return plain(value) if isinstance(value, dict | list | tuple) else value

    def _with_problem(self, kind: str) -> Any:
        from core.problems import default_start
        from core.scenario.io import set_paths

        view = {k: v for k, v in self._table("view").items() if k not in PROBLEM_VIEW_KEYS}
        return set_paths(self.scenario, {"problem": {"kind": kind}, "start": default_start(kind, {}), "view": view})

    # -- running -----------------------------------------------------------------------------
    def apply(self, scenario: Any, *, reset_frame: bool = False, structural: bool = False, path: str = "",
              sync: bool | None = None, edit: bool = True, accepted: Callable[[], None] | None = None) -> bool:
        """Makes ``scenario`` (already validated) the session's state and runs it: builds it once,
        estimates its cost and runs it here or as a job. Returns False (and emits ``error``) when
        refused: it cannot be built or run, or it is over the budget and ``confirm_large``
        declined; the previous state stays either way. ``sync`` forces the run here (True) or into
        a job (False); by default the estimated time decides (:data:`SYNC_SECONDS`). ``edit``:
        a user's change (marks the session dirty when the scenario differs); False for what the
        file itself says (opening it, a lecture beat). ``accepted()`` runs once the scenario is
        accepted, before any event about it."""
        from core import budget
        from core.scenario.runner import build

        old = self.scenario
        # a knob that leaves the problem and the view alone keeps the landscape (axes slices of
        # toys depend on nothing else), so only the trajectories are recomputed
        reuse = (self.result is not None and old is not None and self.result.surface is not None
                 and scenario.problem == old.problem and scenario.view == old.view
                 and scenario.view.directions in ("axes", "auto") and getattr(self.result.surface, "kind", "") == "axes")
        landscape = False if reuse else None
        surface = self.result.surface if reuse else None
        try:
            built = build(scenario)
            cost = budget.estimate(scenario, built, landscape=landscape, sharpness=False)
        except LabError as exc:
            self._refuse(exc, path)
            return False
        over = cost.over(budget.Budget.default())
        if over is not None:
            what = over[1]
            if self.confirm_large is None or not self.confirm_large(f"{what}.\n\nRun it anyway?"):
                self.error.emit("", f"not run: {what}")
                return False
        here = sync if sync is not None else cost.total_seconds <= SYNC_SECONDS
        answer = None
        if here:
            try:
                answer = execute_job(scenario, built, landscape, surface, lambda done, total: None, lambda: False)
            except LabError as exc:
                self._refuse(exc, path)
                return False
        # accepted: the new state, then its events
        self.cancel()  # a stale job's answer must not land on top of this run
        self.scenario, self.last_estimate = scenario, cost
        if accepted is not None:
            accepted()
        self.error.emit(path, "")  # clears an inline message left by an earlier refused edit
        if edit and old is not None and scenario != old:
            self._set_dirty(True)
        if structural or old is None:
            self.scenario_changed.emit()
        if answer is not None:
            self._take(*answer, reset_frame=reset_frame)
        else:
            self._submit(Job("run", execute_job, (scenario, built, landscape, surface),
                             "computing " + (scenario.title or "scenario")
                             + f" (about {budget.human_seconds(cost.total_seconds)}) ...",
                             after=lambda value, r=reset_frame: self._take(*value, reset_frame=r)))
        return True

    def show_result(self, result: Any) -> None:
        """Shows an already computed :class:`Result` as it is (headless snapshots of ``main.py
        run``): nothing else is computed."""
        self.cancel()
        self.scenario, self.text = result.scenario, None
        self.scenario_changed.emit()
        self._take(result, None, reset_frame=True, extras=False)

    def cancel(self) -> bool:
        """Cancels the jobs in flight (the state on screen stays). True when there were any."""
        if self._cancel_jobs():
            self.busy.emit("")
            return True
        return False

    def _refuse(self, exc: LabError, path: str) -> None:
        self.error.emit(exc.path or path, exc.message if exc.path else str(exc))

    def _take(self, result: Any, view: Any, *, reset_frame: bool, extras: bool = True) -> None:
        from core.analysis import run_view

        self.result = result
        self.view = view if view is not None else run_view(result, result.scenario)
        self.selected = max(0, min(self.selected, self.view.size - 1))
        self.frame = 0 if reset_frame else min(self.frame, self.view.steps)
        self.result_changed.emit()
        self.frame_changed.emit(self.frame)
        if extras:
            self._start_extras()

    def _start_extras(self) -> None:
        """Sharpness along the run (nets), as a job after the run is on screen: the same choice
        ``core.scenario.execute`` makes, done in a second phase so the window never waits."""
        from core.scenario.runner import sharpness_every, wants_sharpness

        result, scenario = self.result, self.scenario
        run = result.run
        if result.sharpness is not None or run.thetas is None or not wants_sharpness(scenario, run.problem):
            return
        self._submit(Job("extras", sharpness_job, (run, sharpness_every(run.steps), scenario.seed),
                         "tracking the sharpness along the run ...",
                         after=lambda value, r=result: self._extras_done(r, value)))

    def _extras_done(self, result: Any, sharpness: dict | None) -> None:
        if result is not self.result or sharpness is None:
            return
        result.sharpness = sharpness
        self.extras_changed.emit()

    # -- jobs ---------------------------------------------------------------------------------
    def _submit(self, job: Job) -> None:
        self.jobs[job.kind] = job
        self.busy.emit(job.message)
        if self.background:
            self.job_requested.emit(job)
            return
        try:
            value = job.run(lambda done, total: self.job_progress(job, done, total))
        except Cancelled:
            return
        except LabError as exc:
            self.job_failed(job, str(exc))
            return
        self.job_done(job, value)

    def _cancel_jobs(self) -> bool:
        jobs = list(self.jobs.values())
        self.jobs.clear()
        for job in jobs:
            job.cancelled = True
            self.job_cancelled.emit(job)
        return bool(jobs)

    def _current(self, job: Job) -> bool:
        return self.jobs.get(job.kind) is job and not job.cancelled

    def job_progress(self, job: Job, done: int, total: int) -> None:
        """A running job's progress (dropped for a stale job)."""
        if self._current(job):
            self.progress.emit(int(done), int(total))

    def job_done(self, job: Job, value: Any) -> None:
        """A job's answer; a stale one (a newer request replaced it) is dropped."""
        if not self._current(job):
            return
        del self.jobs[job.kind]
        self.busy.emit("")
        job.after(value)

    def job_failed(self, job: Job, message: str) -> None:
        """A job ended with an error: shown as ``error("", message)``; the state on screen stays."""
        if not self._current(job):
            return
        del self.jobs[job.kind]
        self.busy.emit("")
        self.error.emit("", message)

    # -- the player ---------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        return 0 if self.view is None else self.view.steps

    def set_frame(self, step: int) -> None:
        step = max(0, min(int(step), self.steps))
        if step != self.frame:
            self.frame = step
            self.frame_changed.emit(step)

    def select(self, index: int) -> None:
        """Follows trajectory ``index`` in the eigen and model views."""
        if self.view is not None and 0 <= index < self.view.size and index != self.selected:
            self.selected = index
            self.frame_changed.emit(self.frame)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)
