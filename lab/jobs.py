"""The work the app sends to a worker thread (or runs here when it is cheap): data in, data out.

Each job is a plain function ``(args..., progress(done, total), cancelled()) -> value`` that
:class:`lab.worker.Worker` runs off the GUI thread; it computes everything a frame needs
(:func:`core.analysis.run_view`) so that the panels only index arrays.
"""

from __future__ import annotations

from typing import Any


def execute_job(scenario: Any, built: Any, landscape: bool | None, surface: Any, progress, cancelled):
    """Runs ``scenario`` (already built; the budget was settled before) and unpacks what the
    panels draw. ``surface``: a landscape kept from the previous run (a knob that leaves the
    problem and the view alone). Returns ``(Result, RunView)``."""
    import core.scenario as sc
    from core.analysis import run_view

    result = sc.execute(scenario, progress=lambda stage, done, total: progress(done, total), cancel=cancelled,
                        sharpness=False, landscape=landscape, allow_large=True, built=built)
    if surface is not None:
        result.surface = surface
    # the analyses (spectra along the run, model predictions) count as a second stage of progress
    return result, run_view(result, scenario, progress=progress, cancel=cancelled)


def sharpness_job(run: Any, every: int, seed: int, progress, cancelled):
    """The sharpness (top Hessian eigenvalue) along ``run``, every ``every`` steps."""
    from core.sharpness import as_result_dict, track_sharpness

    traces = track_sharpness(run, every=every, seed=seed, progress=progress, cancel=cancelled)
    return None if cancelled() else as_result_dict(traces)
