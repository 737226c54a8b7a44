"""Landscape grids past one machine: a surface sharded over the ranks of a ``torch.distributed``
process group (launched by ``torchrun``), written chunk by chunk so that a killed job resumes.

The reference code of Li et al. 2018 (arXiv 1712.09913, ``plot_surface.py``) shards with MPI and
writes every point into one shared HDF5 file, so lost work and file locks are its users' lot. Here
each piece of work is a file of its own, written atomically, and the only runtime is PyTorch's:

- the grid's rows (``betas``) are cut into ``chunks`` row blocks (``numpy.array_split``: sizes
  differ by at most one);
- rank 0 builds the plane once (``theta0``, ``d1``, ``d2``, drawn from the seed), writes it with a
  manifest of the whole setup into the output folder and broadcasts it, so every rank evaluates the
  same plane; a restart reads the plane back from the folder instead of drawing it again;
- the missing chunks are dealt round-robin over the ranks; each finished chunk is written to a
  temporary name, fsync'ed and ``os.replace``'d, so a chunk file is either whole or absent;
- after a final barrier rank 0 merges the chunks into ``surface.npz``.

A restart with a different setup (problem, directions, grid, seed, dtype, chunking) is refused with
a :class:`LabError` naming the first difference. Without ``torchrun`` (no ``RANK``/``WORLD_SIZE`` in
the environment) the same code runs as one process. Qt-free.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from core.device import resolve_device, resolve_dtype
from core.errors import LabError
from core.problems import make_problem
from core.problems.base import Problem

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DIRECTIONS = "directions.npz"
SURFACE = "surface.npz"
CHUNK_DIR = "chunks"
DEFAULT_CHUNKS = 32
STOP_AFTER_ENV = "LANDSCAPE_LAB_STOP_AFTER"  # test hook: a rank exits after writing this many chunks
STOPPED_EXIT = 75
STALE_TMP_S = 60.0  # a temporary chunk file this old belongs to a writer that died


@dataclass(frozen=True)
class SurfaceJob:
    """Everything that decides the values of a surface grid; the manifest stores it and a restart
    must match it. ``span`` is ``[[a_min, a_max], [b_min, b_max]]`` (None: the landscape default),
    ``resolution`` one count for both axes or ``[na, nb]``, ``center`` the point ``theta0`` (None:
    the landscape default)."""

    problem: str
    params: dict[str, Any] = field(default_factory=dict)
    directions: str = "random"
    span: list[list[float]] | None = None
    resolution: int | list[int] = 101
    seed: int = 0
    dtype: str = "float64"
    filter_normalize: bool = True
    bias: str = "zero"
    orthogonalize: bool = False
    split: str = "train"
    center: list[float] | None = None

    def spec(self) -> dict[str, Any]:
        """The JSON form kept in the manifest (lists, not tuples, so it round-trips; a resolution
        always as ``[na, nb]``, so ``101`` and ``[101, 101]`` are the same job)."""
        spec = json.loads(json.dumps(asdict(self)))
        if isinstance(spec["resolution"], int):
            spec["resolution"] = [spec["resolution"]] * 2
        return spec


@dataclass
class Plane:
    """The slice ``theta0 + a d1 + b d2`` on the grid ``alphas x betas``."""

    theta0: Tensor
    d1: Tensor
    d2: Tensor
    alphas: Tensor
    betas: Tensor
    axis_labels: tuple[str, str] = ("alpha", "beta")

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k).detach().cpu().numpy() for k in ("theta0", "d1", "d2", "alphas", "betas")}

    def digest(self) -> str:
        """sha256 of the plane's float64 bytes: names one plane whatever the file it came from."""
        h = hashlib.sha256()
        for name, a in self.arrays().items():
            h.update(name.encode())
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()


# -- the process group --------------------------------------------------------------------------


@dataclass
class Ranks:
    """This process's place in the job: ``rank`` of ``world``, the device it evaluates on."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    distributed: bool = False

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (``broadcast_object_list``); identity in one process."""
        if not self.distributed:
            return obj
        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


@contextlib.contextmanager
def process_group(device: str = "auto", timeout_s: float = 3600.0) -> Iterator[Ranks]:
    """Joins the ``torch.distributed`` group that ``torchrun`` set up (NCCL when evaluating on
    CUDA, one GPU per local rank; gloo on the CPU), or stands alone when not launched by it."""
    if not launched_by_torchrun():
        yield Ranks(device=resolve_device(device))
        return
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size(), dev, True)
    finally:
        dist.destroy_process_group()


# -- the bridge to the landscape code (core.landscape owns directions, grids and the npz layout) ----


def build_plane(problem: Problem, job: SurfaceJob) -> Plane:
    """The plane :func:`core.landscape.compute_surface` would slice for ``job`` (seeded, so rank 0
    alone builds it), from :func:`core.landscape.plane`, so the direction logic stays in one place."""
    from core.landscape import evaluate_grid, plane

    center = None if job.center is None else torch.tensor(job.center, dtype=torch.float64)
    pl = plane(problem, directions=job.directions, center=center, span=job.span, resolution=job.resolution,
               seed=job.seed, filter_normalize=job.filter_normalize, bias=job.bias, orthogonalize=job.orthogonalize)
    if pl.is_line:
        raise LabError(f"the surface job computes 2-D grids; {problem.kind!r} has {problem.dim} parameter(s), "
                       "so its slice is a line", "directions")
    # one loss evaluation checks the split here, on rank 0, rather than in every rank's first block
    evaluate_grid(problem, pl.theta0, pl.d1, pl.d2, pl.alphas[:1], pl.betas[:1], split=job.split, accuracy=False)
    return Plane(pl.theta0.double().cpu(), pl.d1.double().cpu(), pl.d2.double().cpu(), pl.alphas, pl.betas,
                 tuple(pl.labels))


def evaluate_rows(problem: Problem, plane: Plane, rows: slice, split: str,
                  points: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Loss (and accuracy, for classifiers) on the grid rows ``betas[rows]``, ``[len(rows), na]``,
    ``points`` grid points per batched call (None: the landscape's automatic choice)."""
    from core.landscape import evaluate_grid

    values, acc = evaluate_grid(problem, plane.theta0, plane.d1, plane.d2, plane.alphas, plane.betas[rows],
                                chunk=points, split=split)
    return values.cpu().numpy(), None if acc is None else acc.cpu().numpy()


def write_surface(file: Any, plane: Plane, values: np.ndarray, accuracy: np.ndarray | None, job: SurfaceJob) -> None:
    """The merged result in :class:`core.landscape.Surface`'s npz layout (``Surface.from_npz`` reads it)."""
    from core.landscape import Surface

    Surface(alphas=plane.alphas, betas=plane.betas, values=torch.from_numpy(values),
            accuracy=None if accuracy is None else torch.from_numpy(accuracy), axis_labels=plane.axis_labels,
            d1=plane.d1, d2=plane.d2, theta0=plane.theta0, kind=job.directions, split=job.split).to_npz(file)


# -- the job --------------------------------------------------------------------------------------


def chunk_rows(n_rows: int, chunks: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each row block; ``chunks`` blocks whose sizes differ by at most one."""
    if not isinstance(chunks, int) or not 1 <= chunks <= n_rows:
        raise LabError(f"expected 1..{n_rows} (one chunk holds at least one grid row), got {chunks!r}", "chunks")
    edges = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n_rows), chunks)])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Writes ``path`` whole or not at all: a temporary name in the same folder, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible on every OS)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def chunk_path(out: Path, index: int) -> Path:
    return out / CHUNK_DIR / f"chunk_{index:05d}.npz"


def _manifest(job: SurfaceJob, plane: Plane, rows: list[tuple[int, int]], world: int,
              device: torch.device, scenario: dict[str, str] | None) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "job": job.spec(),
        "grid": {"alphas": [float(plane.alphas[0]), float(plane.alphas[-1]), len(plane.alphas)],
                 "betas": [float(plane.betas[0]), float(plane.betas[-1]), len(plane.betas)],
                 "axis_labels": list(plane.axis_labels)},
        "chunks": {"count": len(rows), "rows": [list(r) for r in rows], "file": f"{CHUNK_DIR}/chunk_NNNNN.npz"},
        "directions": {"file": DIRECTIONS, "sha256": plane.digest(), "dim": int(plane.theta0.numel())},
        "scenario": scenario,
        "created": {"time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "world_size": world, "device": str(device), "torch": torch.__version__},
    }


def _first_difference(there: Any, here: Any, path: str) -> str | None:
    if isinstance(there, dict) and isinstance(here, dict):
        for key in list(there) + [k for k in here if k not in there]:
            diff = _first_difference(there.get(key), here.get(key), f"{path}.{key}" if path else key)
            if diff:
                return diff
        return None
    return None if there == here else f"{path} is {json.dumps(there)} there, {json.dumps(here)} here"


def _check_manifest(out: Path, found: dict[str, Any], job: SurfaceJob, chunks: int | None) -> None:
    def refuse(what: str) -> None:
        raise LabError(f"this folder holds another surface job ({what}); resume with the same settings "
                       "or choose a new --out folder", file=str(out / MANIFEST))

    if found.get("format") != FORMAT_VERSION:
        refuse(f"format is {found.get('format')!r} there, {FORMAT_VERSION} here")
    diff = _first_difference(found.get("job"), job.spec(), "")
    if diff:
        refuse(diff)
    count = found.get("chunks", {}).get("count")
    if chunks is not None and chunks != count:
        refuse(f"chunks is {count} there, {chunks} here")


def _prepare(out: Path, job: SurfaceJob, problem: Problem, chunks: int | None, ranks: Ranks,
             scenario: dict[str, str] | None) -> dict[str, Any]:
    """Rank 0: the manifest and plane of the folder (created, or read back and checked), the
    missing chunks. Returns what every rank needs."""
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        try:
            found = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LabError(f"unreadable manifest ({exc}); remove the folder or choose another --out", file=str(manifest_path)) from None
        _check_manifest(out, found, job, chunks)
        try:
            with np.load(out / DIRECTIONS) as z:
                arrays = {k: torch.from_numpy(z[k]) for k in ("theta0", "d1", "d2", "alphas", "betas")}
        except (OSError, KeyError, ValueError) as exc:
            raise LabError(f"cannot read the stored directions ({exc})", file=str(out / DIRECTIONS)) from None
        plane = Plane(**arrays, axis_labels=tuple(found["grid"]["axis_labels"]))
        if plane.digest() != found["directions"]["sha256"]:
            raise LabError("the stored directions do not match the manifest's sha256 (file changed since the job began)",
                           file=str(out / DIRECTIONS))
        rows = [tuple(r) for r in found["chunks"]["rows"]]
        manifest = found
    else:
        plane = build_plane(problem, job)
        rows = chunk_rows(len(plane.betas), chunks or min(DEFAULT_CHUNKS, len(plane.betas)))
        (out / CHUNK_DIR).mkdir(parents=True, exist_ok=True)
        _atomic_write(out / DIRECTIONS, lambda f: np.savez(f, **plane.arrays()))
        manifest = _manifest(job, plane, rows, ranks.world, ranks.device, scenario)
        _atomic_write(manifest_path, lambda f: f.write(json.dumps(manifest, indent=2).encode()))
    (out / CHUNK_DIR).mkdir(parents=True, exist_ok=True)
    for stale in (out / CHUNK_DIR).glob(".*.tmp"):  # left by a killed writer (a live one holds its tmp for
        with contextlib.suppress(OSError):          # milliseconds, so only old ones go): never a finished chunk
            if time.time() - stale.stat().st_mtime > STALE_TMP_S:
                stale.unlink()
    missing = [i for i, r in enumerate(rows) if not _chunk_ok(chunk_path(out, i), r, manifest["directions"]["sha256"])]
    return {"plane": plane.arrays(), "axis_labels": plane.axis_labels, "rows": rows, "missing": missing,
            "sha256": manifest["directions"]["sha256"]}


def _chunk_ok(path: Path, rows: tuple[int, int], sha: str) -> bool:
    if not path.exists():
        return False
    try:
        with np.load(path) as z:
            return tuple(int(x) for x in z["rows"]) == tuple(rows) and str(z["directions_sha256"]) == sha
    except (OSError, KeyError, ValueError):
        return False


def _merge(out: Path, rows: list[tuple[int, int]], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """The chunks as one grid; all ranks wrote theirs into ``out``, which across nodes must be a
    folder every node sees (a shared file system)."""
    absent = [i for i in range(len(rows)) if not chunk_path(out, i).exists()]
    if absent:
        raise LabError(f"{len(absent)} chunk file(s) that other ranks reported written are not in {out / CHUNK_DIR} "
                       f"(first: {chunk_path(out, absent[0]).name}); across nodes --out must be on a file system "
                       "shared by every node; run again to compute them here", "--out")
    values: np.ndarray | None = None
    accuracy: np.ndarray | None = None
    for index, (a, b) in enumerate(rows):
        with np.load(chunk_path(out, index)) as z:
            if values is None:
                values = np.empty(shape, dtype=z["values"].dtype)
                accuracy = np.empty(shape, dtype=z["values"].dtype) if "accuracy" in z.files else None
            values[a:b] = z["values"]
            if accuracy is not None:
                accuracy[a:b] = z["accuracy"]
    assert values is not None
    return values, accuracy


@dataclass
class JobReport:
    """What one rank did: the chunks it computed, how many were already there, where the result is."""

    rank: int
    world: int
    computed: list[int]
    reused: int
    total: int
    surface: Path | None
    seconds: float


def _print_flushed(message: str) -> None:
    print(message, flush=True)  # flushed line by line: a killed rank keeps its log


def run_job(job: SurfaceJob, out: str | Path, *, chunks: int | None = None, device: str = "auto",
            scenario: dict[str, str] | None = None, log: Callable[[str], None] | None = _print_flushed,
            timeout_s: float = 3600.0, points_per_call: int | None = None) -> JobReport:
    """Computes (or completes) the surface of ``job`` in the folder ``out``, sharded over the
    ranks of the ``torchrun`` process group if there is one. Returns this rank's report; rank 0's
    has ``surface`` (``out/surface.npz``) set. ``points_per_call`` bounds the grid points of one
    batched loss call (memory; not part of the setup)."""
    out = Path(out)
    start = time.perf_counter()
    say = log or (lambda _msg: None)
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
    with process_group(device, timeout_s) as ranks:
        problem = make_problem(job.problem, job.params).to(ranks.device, resolve_dtype(job.dtype))
        shared: dict[str, Any] | str
        if ranks.rank == 0:
            try:
                out.mkdir(parents=True, exist_ok=True)
                shared = _prepare(out, job, problem, chunks, ranks, scenario)
            except LabError as exc:
                shared = str(exc)
            except OSError as exc:
                shared = str(LabError(f"cannot use the output folder: {exc}", "--out"))
            shared = ranks.share(shared)
        else:
            shared = ranks.share(None)
        if isinstance(shared, str):  # rank 0 refused: every rank stops with the same message
            raise LabError(shared)
        arrays = {k: torch.from_numpy(np.asarray(v)) for k, v in shared["plane"].items()}
        plane = Plane(**arrays, axis_labels=tuple(shared["axis_labels"]))
        rows, missing = shared["rows"], shared["missing"]
        (out / CHUNK_DIR).mkdir(parents=True, exist_ok=True)  # ranks on other nodes: see _merge on shared folders
        mine = missing[ranks.rank::ranks.world]
        if ranks.rank == 0:
            say(f"surface: {len(rows)} chunks of a {len(plane.betas)}x{len(plane.alphas)} grid, "
                f"{len(rows) - len(missing)} already done, {len(missing)} to compute on {ranks.world} rank(s)")
        done: list[int] = []
        for index in mine:
            a, b = rows[index]
            t = time.perf_counter()
            values, acc = evaluate_rows(problem, plane, slice(a, b), job.split, points_per_call)
            extra = {} if acc is None else {"accuracy": acc}
            _atomic_write(chunk_path(out, index), lambda f: np.savez(
                f, values=values, rows=np.array([a, b]), directions_sha256=np.array(shared["sha256"]), **extra))
            done.append(index)
            say(f"[rank {ranks.rank}/{ranks.world}] computed chunk {index} (rows {a}..{b - 1}) in {time.perf_counter() - t:.2f} s")
            if stop_after and len(done) >= stop_after:
                say(f"[rank {ranks.rank}] stopping after {len(done)} chunk(s) ({STOP_AFTER_ENV})")
                os._exit(STOPPED_EXIT)  # as abrupt as a kill: no barrier, no merge, no clean-up
        ranks.barrier()
        surface = None
        if ranks.rank == 0:
            values, accuracy = _merge(out, rows, (len(plane.betas), len(plane.alphas)))
            surface = out / SURFACE
            _atomic_write(surface, lambda f: write_surface(f, plane, values, accuracy, job))
            say(f"surface: wrote {surface} in {time.perf_counter() - start:.1f} s")
        ranks.barrier()
        return JobReport(ranks.rank, ranks.world, done, len(rows) - len(missing), len(rows), surface,
                         time.perf_counter() - start)
