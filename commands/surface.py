"""``main.py surface``: a landscape grid computed into a resumable output folder, sharded over the
ranks of a ``torch.distributed`` group when launched by ``torchrun`` (see docs/distributed.md)."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

HELP = """Computes a loss-landscape grid into DIR (manifest.json, directions.npz, chunks/, surface.npz).
Launched by torchrun, the grid's row chunks are shared over the ranks (gloo on CPU, NCCL on GPU);
run again with the same settings, a killed job computes only its missing chunks."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("surface", help="compute a landscape grid, resumable, sharded over torchrun ranks",
                       description=HELP)
    p.add_argument("scenario", nargs="?", help="scenario file (its [problem] and [view] set the job); options below override")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; an existing one is resumed)")
    p.add_argument("--problem", metavar="KIND", help="problem kind (when no scenario is given)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a problem parameter (VALUE read as JSON when it parses, else as text); repeatable")
    p.add_argument("--directions", help="axes | random | hessian (default: the scenario's, else random)")
    p.add_argument("--span", type=float, nargs=4, metavar=("A0", "A1", "B0", "B1"), help="grid range of alpha and beta")
    p.add_argument("--resolution", type=int, nargs="+", metavar="N", help="points per axis (N, or NA NB; 2 to 4001)")
    p.add_argument("--seed", type=int, help="seed of the directions, 0 to 2^31-1 (default: the scenario's, else 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), help="default: the scenario's, else float64")
    p.add_argument("--device", default=None, help="auto | cpu | cuda (under torchrun: one GPU per local rank)")
    p.add_argument("--center", type=float, nargs="+", metavar="X", help="centre point theta0 (default: the landscape default)")
    p.add_argument("--no-filter-normalize", action="store_true", help="plain Gaussian directions (no Li et al. filter normalization)")
    p.add_argument("--bias", choices=("zero", "weights"), help="direction of 1-D tensors: zeroed or copied from the weights")
    p.add_argument("--orthogonalize", action="store_true", help="make d2 orthogonal to d1")
    p.add_argument("--split", default="train", help="data split the loss is evaluated on (nets)")
    p.add_argument("--chunks", type=int, help="number of row chunks, 1 to the grid's rows (default 32, or the folder's on resume)")
    p.add_argument("--points-per-call", type=int, metavar="N",
                   help="grid points per batched loss call (bounds memory; default: automatic)")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                   help="seconds a rank waits for the others at a collective before giving up (default 3600)")
    p.set_defaults(handler=handle)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


#: the option that sets each field of the job, named in its errors
OPTION_NAMES = {"problem": "--problem", "params": "--param", "directions": "--directions", "span": "--span",
                "resolution": "--resolution", "seed": "--seed", "dtype": "--dtype", "bias": "--bias",
                "center": "--center", "split": "--split", "filter_normalize": "--no-filter-normalize",
                "orthogonalize": "--orthogonalize"}


def _check_options(args: argparse.Namespace) -> None:
    """The options through the readers of core.values, with the scenario keys' bounds (an option
    that is not given is not checked: the scenario's value was checked when it was loaded)."""
    from core.distributed import SPLITS, SURFACE_DIRECTIONS
    from core.errors import LabError
    from core.values import MAX_RESOLUTION, MAX_SEED, choice, integer, number

    if args.resolution is not None:
        if len(args.resolution) > 2:
            raise LabError(f"expected N or NA NB, got {len(args.resolution)} numbers", "--resolution")
        for n in args.resolution:
            integer(2, MAX_RESOLUTION)(n, "--resolution")
    if args.seed is not None:
        integer(0, MAX_SEED)(args.seed, "--seed")
    if args.chunks is not None:
        integer(1)(args.chunks, "--chunks")
    if args.points_per_call is not None:
        integer(1)(args.points_per_call, "--points-per-call")
    number(0.0, low_open=True)(args.timeout, "--timeout")
    if args.directions is not None:
        choice(SURFACE_DIRECTIONS)(args.directions, "--directions")
    choice(SPLITS)(args.split, "--split")
    for x in args.span or []:
        number()(x, "--span")
    if args.span and not (args.span[0] < args.span[1] and args.span[2] < args.span[3]):
        raise LabError(f"expected A0 < A1 and B0 < B1, got {' '.join(f'{x:g}' for x in args.span)}", "--span")
    for x in args.center or []:
        number()(x, "--center")


def job_from_args(args: argparse.Namespace):
    """The :class:`SurfaceJob` of a scenario file and/or the options; returns ``(job, device, scenario)``."""
    from core.distributed import SurfaceJob, check_job
    from core.errors import LabError

    _check_options(args)

    base: dict[str, Any] = {}
    device, scenario = "auto", None
    if args.scenario:
        from core.scenario import load
        from core.scenario.build import build, directions

        sc = load(args.scenario)
        built = build(sc)  # the whole scenario checked, as `run` and `check` do
        v = sc.view
        if v.directions == "auto":  # the scenario default: the parameter plane for <= 2 parameters, else random
            v = v.model_copy(update={"directions": directions(v.directions, built.problem)})
        if v.directions not in ("axes", "random", "hessian"):
            raise LabError(f"directions {v.directions!r} need a trajectory, which the surface job does not run; "
                           "allowed here: axes, random, hessian", "view.directions", args.scenario)
        if v.center is not None and isinstance(v.center, str):
            raise LabError(f"center {v.center!r} needs a trajectory, which the surface job does not run; "
                           "give a point (or --center)", "view.center", args.scenario)
        base = {"problem": sc.problem.kind, "params": dict(sc.problem.params), "directions": v.directions,
                "span": [list(s) for s in v.span] if v.span else None, "resolution": v.resolution,
                "seed": sc.seed if v.seed is None else v.seed, "dtype": sc.dtype,
                "filter_normalize": v.filter_normalize, "bias": v.bias,
                "center": list(v.center) if v.center is not None else None}
        device = sc.device
        from core.files import read_bounded

        text = read_bounded(args.scenario, what="scenario file")
        scenario = {"file": str(args.scenario), "sha256": hashlib.sha256(text).hexdigest()}
    elif not args.problem:
        raise LabError("give a scenario file or --problem KIND", "surface")
    if args.problem:  # parameters belong to a kind: a new kind starts from its defaults
        base["problem"], base["params"] = args.problem, {}
    for item in args.param:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise LabError(f"expected KEY=VALUE, got {item!r}", "--param")
        base.setdefault("params", {})[key] = _value(value)
    if args.directions:
        base["directions"] = args.directions
    if args.span:
        base["span"] = [args.span[:2], args.span[2:]]
    if args.resolution:
        base["resolution"] = args.resolution[0] if len(args.resolution) == 1 else list(args.resolution)
    for name in ("seed", "dtype", "bias", "center"):
        if getattr(args, name) is not None:
            base[name] = getattr(args, name)
    if args.no_filter_normalize:
        base["filter_normalize"] = False
    if args.orthogonalize:
        base["orthogonalize"] = True
    base["split"] = args.split
    base["params"] = json.loads(json.dumps(base.get("params", {})))  # tuples of a scenario -> lists, as stored
    if args.device:
        device = args.device
    job = SurfaceJob(**base)
    check_job(job, OPTION_NAMES)
    return job, device, scenario


def handle(args: argparse.Namespace) -> int:
    import os

    # before torch loads: c10d's warnings (a C++ stack per failed store call once a peer is gone)
    # would bury the one-line message that says what happened; TORCH_CPP_LOG_LEVEL=INFO shows them
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    from core.distributed import CHUNK_DIR, run_job
    from core.files import check_writable_folder

    job, device, scenario = job_from_args(args)
    # before any work: an output folder that cannot be written is one line now, not a traceback later
    check_writable_folder(args.out)
    check_writable_folder(Path(args.out) / CHUNK_DIR, "chunks folder")
    report = run_job(job, args.out, chunks=args.chunks, device=device, scenario=scenario, timeout_s=args.timeout,
                     points_per_call=args.points_per_call)
    if report.surface is not None:
        print(f"surface: {report.total} chunks ({report.reused} reused) -> {report.surface}")
    return 0
