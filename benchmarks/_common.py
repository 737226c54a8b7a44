"""Helpers shared by the benchmarks: best-of-N timing, a net as the plain nn.Sequential a peer
library is handed, and the ``--json PATH`` records every script can write (issue 15).

A record is ``{"name", "ours_s", "baseline", "baseline_s", "ratio", "target", "met"}``: our time in
seconds; the peer's name and time in the same run (``null`` where there is no peer, as for the
app's frame and knob figures); ``ratio`` = baseline time / our time (higher is better; ``null``
without a baseline); ``target`` is a ratio to reach (``met`` = ratio >= target) or, with
``target_is="seconds"``, a time not to exceed (``met`` = ours_s <= target); ``met`` is ``null``
without a target.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from torch import nn


def best(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def record(name: str, ours_s: float, *, baseline: str | None = None, baseline_s: float | None = None,
           target: float | None = None, target_is: str = "ratio") -> dict:
    """One benchmark figure as a ``--json`` record (see the module's doc)."""
    if target_is not in ("ratio", "seconds"):
        raise ValueError(f"target_is must be 'ratio' or 'seconds', got {target_is!r}")

    def clean(x: float | None) -> float | None:  # JSON has no NaN or infinity
        return float(x) if x is not None and math.isfinite(x) else None

    ours, base = clean(ours_s), clean(baseline_s)
    ratio = base / ours if base is not None and ours else None
    if target is None:
        met = None
    elif target_is == "seconds":
        met = ours is not None and ours <= target
    else:
        met = ratio is not None and ratio >= target
    return {"name": name, "ours_s": ours, "baseline": baseline, "baseline_s": base, "ratio": ratio,
            "target": clean(target), "met": met}


def add_json_option(parser) -> None:
    """``--json PATH`` on a benchmark's argparse parser."""
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the figures as a JSON list of records (name, ours_s, baseline, "
                             "baseline_s, ratio, target, met)")


def check_json_target(path: str | Path | None) -> None:
    """Fails before the benchmark runs (minutes) when ``--json PATH`` could not be written."""
    if path is None:
        return
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from core.files import check_writable_folder

    p = Path(path)
    if p.is_dir():
        raise SystemExit(f"error: --json {path}: is a folder; give a file name")
    check_writable_folder(p.parent if str(p.parent) else Path("."), "folder")


def write_json(path: str | Path | None, records: list[dict]) -> None:
    """Writes ``records`` to ``path`` atomically (nothing when ``path`` is None)."""
    if path is None:
        return
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from core.files import atomic_write

    atomic_write(path, json.dumps(records, indent=2) + "\n")
    print(f"wrote {path} ({len(records)} records)")


def module_of(problem, theta: torch.Tensor) -> nn.Module:
    """The same net as an ordinary nn.Sequential holding ``theta`` (what a peer is handed)."""
    sizes, layers = problem.sizes, []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if k:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    model = nn.Sequential(*layers).to(theta.dtype)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(theta, model.parameters())
    return model
