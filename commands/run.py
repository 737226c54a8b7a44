"""``main.py run FILE`` (a scenario headless, its results into a folder) and ``main.py check
FILE_OR_DIR...`` (every scenario's expectations, one line each; exit 1 if any fails).

``run`` writes ``DIR/metrics.csv`` (``optimizer, step, loss, grad_norm`` and ``x0, x1, ...`` when
the problem has at most 10 parameters), ``DIR/summary.json`` (per trajectory: final loss,
divergence, predicted next to measured rate, and the expectations), ``DIR/scenario.toml`` (the
scenario as run, saved beside its results), ``DIR/landscape.npz`` when the view has a landscape and
``DIR/panels.png`` (the panels rendered offscreen) when the app's snapshot module is installed.

The folder is written as one set (docs/outputs.md): checked writable before anything is computed,
locked against a second ``run`` into it (:class:`core.files.FolderLock`), assembled in a temporary
sibling and renamed into place (:func:`core.files.atomic_dir`), so it holds the previous complete
results or the new ones, never a mix, a truncated file or a file of an earlier run. A folder that
holds anything but a run's results (or the scenario being run) is refused, never replaced.
``metrics.csv`` is estimated before the run; over :data:`MAX_CSV_BYTES` it needs ``--allow-large``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

RUN_HELP = """Runs a scenario without the app and writes metrics.csv, summary.json, scenario.toml, and
landscape.npz / panels.png when the scenario's view has them, into DIR (default runs/<file name>)."""
CHECK_HELP = """Runs every scenario (directories: every *.toml below them) and checks its expectations:
one line per scenario (PASS/FAIL, title, what failed with measured vs required, seconds); exit 1
if any scenario fails or cannot be loaded."""


TRUST_HELP = ("run the Python code a scenario names ([problem] kind = \"module\", its file); without it such a "
              "scenario is refused. Only for files you trust: the code runs with your permissions")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a scenario headless and write its results", description=RUN_HELP)
    p.add_argument("file", help="scenario file (.toml)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/<file name without .toml>)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="overrides the scenario's device")
    p.add_argument("--allow-large", action="store_true", dest="allow_large",
                   help="run even when the estimate is over a budget (metrics.csv over 1 GB, ...)")
    p.add_argument("--trust", action="store_true", help=TRUST_HELP)
    p.set_defaults(handler=_trusted(run_command))
    c = sub.add_parser("check", help="run scenarios and check their expectations (exit 1 on a failure)", description=CHECK_HELP)
    c.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    c.add_argument("--device", choices=("auto", "cpu", "cuda"), help="overrides each scenario's device")
    c.add_argument("--allow-large", action="store_true", dest="allow_large",
                   help="run scenarios even when their estimated memory or time is over the budget (docs/budgets.md)")
    c.add_argument("--trust", action="store_true", help=TRUST_HELP)
    c.set_defaults(handler=_trusted(check_command))


def _trusted(handler: Any) -> Any:
    """``handler`` run with the scenario's code trusted when ``--trust`` was given (see
    :func:`core.problems.module.trusting`), refused otherwise."""
    def run(args: argparse.Namespace) -> int:
        if not getattr(args, "trust", False):
            return handler(args)
        from core.problems.module import trusting

        with trusting(everything=True):
            return handler(args)
    return run


class _Progress:
    """Progress on stderr, only once a run has taken more than a couple of seconds, at most once a second."""

    def __init__(self, label: str, quiet_for: float = 2.0) -> None:
        self.label, self.start, self.last, self.quiet_for = label, time.perf_counter(), 0.0, quiet_for
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.start < self.quiet_for or now - self.last < 1.0:
            return
        self.last, self.shown = now, True
        what = {"run": "step", "landscape": "grid points", "sharpness": "eigenvalues"}.get(stage, "")
        print(f"{self.label}: {stage} {what} {done}/{total} ({now - self.start:.0f} s)", file=sys.stderr, flush=True)


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


#: what ``run`` writes into its folder: a folder holding only these (and nothing else) is a
#: previous run's results, which a new run replaces as a whole
RUN_FILES = ("metrics.csv", "summary.json", "scenario.toml", "landscape.npz", "panels.png")
#: the largest metrics.csv ``run`` writes without ``--allow-large`` (estimated before the run)
MAX_CSV_BYTES = 10**9
#: bytes a float column takes in metrics.csv, comma included: pandas writes the shortest repr,
#: 17-20 characters for a computed float64 (measured: 60-77 bytes a row for the shipped scenarios)
CSV_FLOAT_BYTES = 20


def output_folder(out: Path, scenario_file: Path) -> Path:
    """Refuses, before anything is computed, a ``--out`` folder ``run`` may not replace: one that
    cannot be written or created (read-only, a file, under a file), one that holds the scenario
    file being run (replacing the folder would delete it: the input is never overwritten), the
    current folder or one above it, and a folder holding anything but a previous run's results
    (:data:`RUN_FILES`: a user's own files are never deleted by a run)."""
    from core.errors import LabError
    from core.files import check_writable_folder

    check_writable_folder(out)
    target = out.absolute()
    if not target.name or target.name in (".", ".."):
        raise LabError("is not a folder a run can write its results into; name a new folder", "--out", str(out))
    if target.is_symlink():  # the run would replace the link itself with a folder
        raise LabError("is a symbolic link; give the folder it points to, or a new folder", "--out", str(out))
    resolved = target.resolve()
    named = scenario_file.absolute()
    # the file as named (a link in the folder would be deleted) and the file it is (a link to it)
    sources = (named.parent.resolve() / named.name, named.resolve())
    if any(source.is_relative_to(resolved) for source in sources):
        raise LabError(f"holds the scenario being run ({scenario_file}); a run replaces its output folder as a "
                       "whole, which would delete it: choose another --out (e.g. runs/NAME)", "--out", str(out))
    if Path.cwd().resolve().is_relative_to(resolved):
        raise LabError("is the current folder (or holds it); a run replaces its output folder as a whole: "
                       "choose a new folder such as runs/NAME", "--out", str(out))
    check_writable_folder(target.parent, "folder that holds the output folder")  # the renames happen there
    if target.is_dir():
        foreign = sorted(p.name for p in target.iterdir() if p.name not in RUN_FILES or not p.is_file())
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise LabError(f"holds files that are not a run's results ({shown}); a run replaces its output folder "
                           "as a whole: choose an empty or new folder, or a previous run's folder", "--out", str(out))
    return out


def csv_estimate(scenario: Any, built: Any) -> tuple[int, int, int]:
    """``(rows, columns, bytes)`` of the ``metrics.csv`` a run of ``scenario`` writes, before it
    runs (from its :class:`core.scenario.build.Built`): a row per trajectory and step (fewer
    when a trajectory diverges), ``optimizer, step, loss, grad_norm``, the problem's extra columns
    (held-out loss, samples seen, per-layer gradient norms) and ``x0 ...`` when recorded."""
    from core.engine import MAX_COORD_COLUMNS, extra_step_columns

    problem, groups, steps = built.problem, built.groups, built.steps
    labels = [lab for g in groups for lab in (g.traj_labels or [g.label] * g.size)]
    recorded = built.run_kwargs.get("record_params", True)
    floats = 2 + len(extra_step_columns(problem, recorded)) + (problem.dim if recorded and problem.dim <= MAX_COORD_COLUMNS else 0)
    rows = len(labels) * (steps + 1)
    per_row = len(str(steps)) + 1 + CSV_FLOAT_BYTES * floats
    size = (steps + 1) * sum(len(lab.encode("utf-8")) + 3 for lab in labels) + rows * per_row
    return rows, 2 + floats, size


def check_csv_budget(scenario: Any, built: Any, allow_large: bool) -> None:
    """Refuses (one line naming the estimate and ``--allow-large``) a run whose metrics.csv would
    be over :data:`MAX_CSV_BYTES`; ``built`` is its :class:`core.scenario.build.Built`."""
    from core.errors import LabError

    if allow_large:
        return
    rows, cols, size = csv_estimate(scenario, built)
    if size > MAX_CSV_BYTES:
        raise LabError(f"metrics.csv would be about {size / 1e9:,.1f} GB ({rows:,} rows = trajectories x (steps + 1), "
                       f"{cols} columns), over the {MAX_CSV_BYTES / 1e9:g} GB budget for one run's table; pass "
                       "--allow-large to write it anyway, or run fewer steps or trajectories", "steps", scenario.source)


def run_command(args: argparse.Namespace) -> int:
    from core.files import FolderLock, atomic_dir, remove_stale_temporaries
    from core.scenario import build, check, execute, loads, save
    from core.scenario.io import read_text

    out = Path(args.out) if args.out else Path("runs") / Path(args.file).stem
    text = read_text(args.file)
    scenario = loads(text, args.file)
    built = build(scenario, args.device)  # once: every check that needs the problem; the CSV estimate and the run share it
    output_folder(out, Path(args.file))
    check_csv_budget(scenario, built, getattr(args, "allow_large", False))
    with FolderLock(out, "run"):
        remove_stale_temporaries(out.absolute().parent)  # what a killed run left beside the folder
        output_folder(out, Path(args.file))  # again, now that no other run can change it
        result = execute(scenario, progress=_Progress(Path(args.file).name), device=args.device,
                         allow_large=getattr(args, "allow_large", False), built=built)
        outcomes = check(result)
        written = []
        status = 0
        with atomic_dir(out) as tmp:
            table = result.run.table()
            table.to_csv(tmp / "metrics.csv", index=False)
            written.append(f"metrics.csv ({len(table)} rows)")
            summary = result.summary()
            summary["expectations"] = [dict(check=o.check, optimizer=o.optimizer, passed=o.passed, measured=o.measured,
                                            required=o.required) for o in outcomes]
            (tmp / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2, default=str) + "\n", encoding="utf-8")
            written.append("summary.json")
            # the scenario as it ran (the device actually asked for), with the file's comments and layout
            as_run = scenario.model_copy(update={"device": args.device or scenario.device})
            save(as_run, tmp / "scenario.toml", like=text)
            written.append("scenario.toml")
            if result.surface is not None:
                result.surface.to_npz(tmp / "landscape.npz")
                written.append("landscape.npz")
            png = _render(result, tmp / "panels.png")
            if png is True:
                written.append("panels.png")
            elif png:
                print(f"warning: panels.png not written: {png}", file=sys.stderr)
                status = 1
    passed = sum(o.passed for o in outcomes)
    tail = f"; expectations {passed}/{len(outcomes)} hold" if outcomes else ""
    print(f"wrote {out}: {', '.join(written)} ({result.seconds:.2f} s){tail}")
    return status


def _render(result: Any, path: Path) -> bool | str:
    """Renders the panels with the app's snapshot module: True when written, the reason when it
    failed (the results already written are kept either way)."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from core.errors import LabError

    try:
        from lab.snapshot import render_png

        render_png(result, path)
    except LabError as exc:
        return str(exc)
    except Exception as exc:  # a rendering bug must not lose the results already written
        return f"{type(exc).__name__}: {exc}"
    return True


def scenario_files(paths: list[str]) -> list[Path]:
    """Files named, and every ``*.toml`` below the directories named (sorted, each once)."""
    from core.errors import LabError

    files: list[Path] = []
    for name in paths:
        p = Path(name)
        try:
            is_dir, exists = p.is_dir(), p.exists()
        except OSError as exc:  # a name longer than the system allows, ...
            raise LabError(f"cannot look this up: {exc.strerror or type(exc).__name__}", "", name) from None
        if is_dir:
            # every *.toml below, FIFOs and devices included: the bounded loader refuses each of
            # those at once as a FAIL line of its own (nothing here opens them)
            found = sorted(p.rglob("*.toml"))
            if not found:
                raise LabError("no .toml scenario files in this directory", "", name)
            files.extend(found)
        elif exists:
            files.append(p)  # a FIFO or device named directly: refused by the loader, not opened
        else:
            raise LabError("no such file or directory", "", name)
    return list(dict.fromkeys(files))


def check_file(path: Path, device: str | None = None, allow_large: bool = False) -> tuple[bool, str]:
    """``(passed, line)`` for one scenario file; a file that does not load or run is a failure."""
    from core.captions import check_scenario
    from core.errors import LabError
    from core.scenario import check, execute, load

    start = time.perf_counter()
    title = ""
    try:
        scenario = load(path)
        title = scenario.title
        needs_surface = any(e.check == "landscape_min_near_center" for e in scenario.expect)
        # only what the expectations need: a slice for landscape checks; sharpness is computed on demand
        result = execute(scenario, progress=_Progress(path.name), device=device, landscape=needs_surface, sharpness=False,
                         allow_large=allow_large)
        check_scenario(scenario, result.run)  # every caption's {...} fields filled from this run, or a LabError
        outcomes = check(result)
    except LabError as exc:
        return False, f"FAIL  {path}  {title}  error: {exc}  ({time.perf_counter() - start:.2f} s)"
    except Exception as exc:  # a bug must fail this scenario, not hide the verdicts on the others
        import traceback

        traceback.print_exc(file=sys.stderr)
        return False, f"FAIL  {path}  {title}  internal error: {type(exc).__name__}: {exc}  ({time.perf_counter() - start:.2f} s)"
    failed = [o for o in outcomes if not o.passed]
    seconds = time.perf_counter() - start
    if failed:
        return False, f"FAIL  {path}  {title}  " + "; ".join(o.describe() for o in failed) + f"  ({seconds:.2f} s)"
    note = f"{len(outcomes)} expectation{'s' if len(outcomes) != 1 else ''}" if outcomes else "no expectations"
    return True, f"PASS  {path}  {title}  ({note}, {seconds:.2f} s)"


def check_command(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    files = scenario_files(args.paths)
    failures = 0
    for f in files:
        ok, line = check_file(f, args.device, getattr(args, "allow_large", False))
        failures += not ok
        print(line, flush=True)
    if len(files) > 1:
        print(f"{len(files)} scenarios: {len(files) - failures} passed, {failures} failed ({time.perf_counter() - start:.1f} s)")
    return 1 if failures else 0
