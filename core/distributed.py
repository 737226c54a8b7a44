"""Landscape grids past one machine: a surface sharded over the ranks of a ``torch.distributed``
process group (launched by ``torchrun``), written chunk by chunk so that a killed job resumes.

The reference code of Li et al. 2018 (arXiv 1712.09913, ``plot_surface.py``) shards with MPI and
writes every point into one shared HDF5 file, so lost work and file locks are its users' lot. Here
each piece of work is a file of its own, written atomically, and the only runtime is PyTorch's:

- rank 0 takes a lock inside the output folder (:class:`core.files.FolderLock`), so a second job
  started into the same folder is refused, however long the plane takes to build;
- the whole setup (problem kind and parameters, a sha256 of the data's content, directions, span,
  resolution, dtype, seed, centre, split, filter normalization, bias) is one canonical JSON text
  and its sha256, the *setup hash*; every rank builds the problem and the ranks compare their
  hashes, so nodes that see different data files are refused;
- the grid's rows (``betas``) are cut into ``chunks`` row blocks (``numpy.array_split``: sizes
  differ by at most one); rank 0 builds the plane once (``theta0``, ``d1``, ``d2``, drawn from the
  seed), writes it with a manifest of the setup and broadcasts it;
- each chunk file carries the setup (its JSON and hash), the plane's sha256, its rows, and a sha256
  of all of it with its values; a chunk is reused only when all of that verifies. A damaged chunk
  (empty, truncated, a flipped byte) is reported on stderr and computed again; an intact chunk of
  another setup (a manifest deleted, then a changed ``--param``) makes the job refuse with the
  difference named: the folder is never silently mixed, nor another job's results overwritten;
- the missing chunks are dealt round-robin over the ranks and written atomically
  (:func:`core.files.atomic_file`); rank 0 verifies every chunk again while merging them into
  ``surface.npz`` (damaged ones it recomputes);
- the ranks wait for each other through the rendezvous store with liveness checks (a heartbeat
  per rank, and the pid of ranks on the same machine), never blindly at a barrier: a rank that
  dies or hangs stops the others within :data:`DEAD_AFTER_S` seconds with a message saying to run
  the same command again, which resumes.

Without ``torchrun`` (no ``RANK``/``WORLD_SIZE`` in the environment) the same code runs as one
process. Qt-free.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from core.device import resolve_device, resolve_dtype
from core.errors import LabError, printable
from core.files import (FolderLock, atomic_file, atomic_write, check_writable_folder, process_alive, read_text_bounded,
                        remove_stale_temporaries)
from core.landscape import Plane  # the one plane type (directions, centre, grid axes, axis labels)
from core.problems import make_problem
from core.problems.base import Problem
from core.values import MAX_RESOLUTION, MAX_SEED, boolean, choice, finite, integer, number

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
DIRECTIONS = "directions.npz"
SURFACE = "surface.npz"
CHUNK_DIR = "chunks"
DEFAULT_CHUNKS = 32
SURFACE_DIRECTIONS = ("axes", "random", "hessian")
SPLITS = ("train", "test")
HEARTBEAT_S = 1.0  # each rank bumps its heartbeat counter in the store this often
DEAD_AFTER_S = 10.0  # a rank whose heartbeat has not moved for this long is taken for dead
POLL_S = 0.2  # how often a waiting rank looks at the store


def resume_hint(out: Path | str) -> str:
    return f"the finished chunks are kept in {out}: run the same command again to resume"


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


def check_job(job: SurfaceJob, names: dict[str, str] | None = None) -> None:
    """Every field of ``job`` through the readers of :mod:`core.values`, with the bounds of the
    scenario keys (``MAX_RESOLUTION``, ``MAX_SEED``); ``names`` maps a field to the name shown in
    errors (the CLI passes its option names)."""
    name = (names or {}).get
    choice()(job.problem, name("problem", "problem"))
    if not isinstance(job.params, dict):
        raise LabError(f"expected a table of parameters, got {job.params!r:.60}", name("params", "params"))
    _finite_params(job.params, name("params", "params"))
    choice(SURFACE_DIRECTIONS)(job.directions, name("directions", "directions"))
    res = job.resolution if isinstance(job.resolution, list) else [job.resolution]
    if len(res) not in (1, 2):
        raise LabError(f"expected N or NA NB, got {job.resolution!r:.60}", name("resolution", "resolution"))
    for r in res:
        integer(2, MAX_RESOLUTION)(r, name("resolution", "resolution"))
    integer(0, MAX_SEED)(job.seed, name("seed", "seed"))
    choice(("float32", "float64"))(job.dtype, name("dtype", "dtype"))
    boolean(job.filter_normalize, name("filter_normalize", "filter_normalize"))
    choice(("zero", "weights"))(job.bias, name("bias", "bias"))
    boolean(job.orthogonalize, name("orthogonalize", "orthogonalize"))
    choice(SPLITS)(job.split, name("split", "split"))
    if job.span is not None:
        where = name("span", "span")
        if not isinstance(job.span, list) or len(job.span) != 2 or any(not isinstance(s, list) or len(s) != 2 for s in job.span):
            raise LabError(f"expected [[a0, a1], [b0, b1]], got {job.span!r:.60}", where)
        for axis, (lo, hi) in zip("ab", job.span):
            number()(lo, where)
            number()(hi, where)
            if not lo < hi:
                raise LabError(f"expected {axis}0 < {axis}1, got {lo:g} and {hi:g}", where)
    if job.center is not None:
        if not isinstance(job.center, list) or not job.center:
            raise LabError(f"expected a point (numbers), got {job.center!r:.60}", name("center", "center"))
        for x in job.center:
            number()(x, name("center", "center"))


def _finite_params(value: Any, path: str) -> None:
    """NaN and infinity are never a meaningful problem parameter (JSON's ``NaN`` parses to one)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_params(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite_params(v, f"{path}[{i}]")
    elif isinstance(value, float) and not finite(value):
        raise LabError(f"expected a finite number, got {value!r}", path)


def check_grid_problem(problem: Problem) -> None:
    """The job computes 2-D grids: a problem of one parameter has a line for a slice (two random
    directions in one dimension are the same line twice, a degenerate grid). One message for the
    ``--problem`` and the scenario paths."""
    if problem.dim < 2:
        raise LabError(f"the surface job computes 2-D grids; {problem.kind!r} has {problem.dim} parameter(s), "
                       "so its slice is a line (use a problem of 2 or more parameters)", "problem")


def data_digest(problem: Problem) -> str:
    """sha256 of every tensor the problem holds (its data, targets, minima, network template),
    by name, dtype, shape and bytes: two problems of equal parameters but other data differ."""
    items: list[tuple[str, Tensor]] = []
    for name, v in sorted(vars(problem).items()):
        if isinstance(v, Tensor):
            items.append((name, v))
        elif isinstance(v, torch.nn.Module):
            items += [(f"{name}.{k}", t) for k, t in sorted(v.state_dict().items())]
    h = hashlib.sha256()
    for name, t in items:
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.device.type != "meta":  # a network template on the meta device has a layout, no values
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def setup_text(job: SurfaceJob, data_sha256: str) -> str:
    """The setup as one canonical JSON text (its sha256 is the setup hash a chunk is keyed by)."""
    return json.dumps({"format": FORMAT_VERSION, "job": job.spec(), "data_sha256": data_sha256},
                      sort_keys=True, separators=(",", ":"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the process group --------------------------------------------------------------------------


class _Terminated(BaseException):
    """SIGTERM (torchrun stops every rank this way when one of them fails)."""


@dataclass
class Ranks:
    """This process's place in the job: ``rank`` of ``world``, the device it evaluates on, and
    (distributed) the rendezvous store through which the ranks wait for each other with liveness
    checks: a heartbeat counter per rank, the host and pid of each rank, a key a failing rank sets."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    distributed: bool = False
    store: Any = None
    hint: str = "run the same command again to resume"
    _stop: threading.Event = field(default_factory=threading.Event)
    _seen: dict[int, tuple[int, float]] = field(default_factory=dict)
    _who: dict[int, tuple[str, str]] = field(default_factory=dict)
    _lost: bool = False

    # liveness
    def start(self) -> None:
        if self.store is None:
            return
        self._set(f"who/{self.rank}", f"{socket.gethostname()} {os.getpid()}", "the job began")
        threading.Thread(target=self._beat, name="surface-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                self.store.add(f"hb/{self.rank}", 1)
            except Exception:  # the store is gone: the waiting side reports it
                return
            self._stop.wait(HEARTBEAT_S)

    def close(self) -> None:
        self._stop.set()

    def fail(self, message: str) -> None:
        """Tells the other ranks that this one stops (they stop at once, not after a timeout)."""
        if self.store is not None and not self._lost:
            with contextlib.suppress(Exception):
                self.store.set(f"failed/{self.rank}", printable(message, 300))

    def _check_process(self, r: int, what: str) -> None:
        """A rank on this machine whose process is gone is dead now (no store needed: it may have
        hosted the store)."""
        if r in self._who:
            host, pid = self._who[r]
            if host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid)):
                self._lost = True
                raise LabError(f"rank {r} of {self.world} died (process {pid} is gone) before {what}; {self.hint}")

    def _check(self, r: int, what: str) -> None:
        store = self.store
        self._check_process(r, what)
        if store.check([f"failed/{r}"]):
            message = store.get(f"failed/{r}").decode("utf-8", "replace")
            self._lost = True
            raise LabError(f"rank {r} of {self.world} stopped before {what} ({message}); {self.hint}")
        if r not in self._who and store.check([f"who/{r}"]):
            host, _, pid = store.get(f"who/{r}").decode().partition(" ")
            self._who[r] = (host, pid)
            self._check_process(r, what)
        beats = store.add(f"hb/{r}", 0)
        now = time.monotonic()
        last = self._seen.get(r)
        if last is None or last[0] != beats:
            self._seen[r] = (beats, now)
        elif now - last[1] > DEAD_AFTER_S:
            self._lost = True
            raise LabError(f"rank {r} of {self.world} stopped responding (no heartbeat for {DEAD_AFTER_S:g} s) "
                           f"before {what}; {self.hint}")

    def _wait(self, keys: dict[int, str], what: str, timeout_s: float, tolerate_dead: bool = False) -> None:
        """Until every ``keys[r]`` is set, checking that each rank still waited for is alive
        (``tolerate_dead``: a dead rank is no longer waited for)."""
        deadline = time.monotonic() + timeout_s
        pending = dict(keys)

        def alive(r: int, check: Callable[[int, str], None]) -> bool:
            try:
                check(r, what)
            except LabError:
                if not tolerate_dead:
                    raise
                return False
            return True

        try:
            while pending:
                pending = {r: k for r, k in pending.items() if alive(r, self._check_process)}
                pending = {r: k for r, k in pending.items() if not self.store.check([k])}
                pending = {r: k for r, k in pending.items() if alive(r, self._check)}
                if pending and time.monotonic() > deadline:
                    raise LabError(f"waited {timeout_s:g} s for rank(s) {', '.join(map(str, pending))} of {self.world} "
                                   f"before {what} (alive but not done; see --timeout); {self.hint}")
                if pending:
                    time.sleep(POLL_S)
        except (RuntimeError, OSError) as exc:  # DistStoreError / DistNetworkError: the store's host is gone
            if tolerate_dead:
                self._lost = True
                return
            raise self._lost_store(what, exc) from None

    def _lost_store(self, what: str, exc: BaseException) -> LabError:
        self._lost = True
        return LabError(f"lost contact with the job's rendezvous store before {what} (rank 0 of {self.world}, which holds the store, or the torchrun of "
                        f"the first node is gone: {printable(str(exc), 100)}); {self.hint}")

    def _set(self, key: str, value: str, what: str) -> None:
        try:
            self.store.set(key, value)
        except (RuntimeError, OSError) as exc:
            raise self._lost_store(what, exc) from None

    # the steps of the job
    def share(self, obj: Any, timeout_s: float) -> Any:
        """Rank 0's ``obj`` on every rank (``broadcast_object_list`` once rank 0 says it is ready,
        so the others wait for it with liveness checks); identity in one process."""
        if not self.distributed:
            return obj
        if self.rank == 0:
            self._set("shared", "1", "the plane was shared")
        else:
            self._wait({0: "shared"}, "the plane was shared", timeout_s)
        box = [obj if self.rank == 0 else None]
        try:
            dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        except RuntimeError as exc:  # a peer vanished between its ready mark and the broadcast
            self._lost = True
            raise LabError(f"a rank was lost while the plane was shared ({printable(str(exc), 100)}); {self.hint}") from None
        return box[0]

    def publish(self, key: str, value: str) -> None:
        if self.store is not None:
            self._set(f"{key}/{self.rank}", value, "every rank built its problem")

    def collect(self, key: str, what: str, timeout_s: float) -> dict[int, str]:
        """Every rank's published ``key`` (rank 0 calls it)."""
        if self.store is None:
            return {}
        self._wait({r: f"{key}/{r}" for r in range(self.world)}, what, timeout_s)
        try:
            return {r: self.store.get(f"{key}/{r}").decode() for r in range(self.world)}
        except (RuntimeError, OSError) as exc:
            raise self._lost_store(what, exc) from None

    def barrier(self, tag: str, what: str, timeout_s: float) -> None:
        """All ranks here (a store barrier with liveness checks)."""
        if self.distributed:
            self._set(f"{tag}/{self.rank}", "1", what)
            self._wait({r: f"{tag}/{r}" for r in range(self.world)}, what, timeout_s)

    def finish(self, timeout_s: float) -> None:
        """Rank 0 says the surface is written, then waits for the others to have seen it (it may
        host the store, so it leaves last); a rank that died meanwhile no longer matters."""
        if not self.distributed:
            return
        if self.rank == 0:
            try:
                self.store.set("merged", "1")
            except (RuntimeError, OSError):  # the surface is written; nobody is left to tell
                self._lost = True
                return
            self._wait({r: f"left/{r}" for r in range(1, self.world)}, "the end", timeout_s, tolerate_dead=True)
        else:
            self._wait({0: "merged"}, "rank 0 merged the chunks", timeout_s)
            with contextlib.suppress(RuntimeError, OSError):  # rank 0 may be gone by now: the surface is written
                self.store.set(f"left/{self.rank}", "1")


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _job_store() -> Any:
    """The rendezvous store of the default process group, under a prefix of this job's attempt."""
    from torch.distributed.distributed_c10d import _get_default_store

    prefix = f"landscape_lab/{os.environ.get('TORCHELASTIC_RUN_ID', 'run')}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
    return dist.PrefixStore(prefix, _get_default_store())


@contextlib.contextmanager
def process_group(device: str = "auto", timeout_s: float = 3600.0, hint: str = "") -> Iterator[Ranks]:
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
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), dev, True, _job_store(), hint or resume_hint("the folder"))
    ranks.start()
    try:
        yield ranks
    finally:
        ranks.close()
        if not ranks._lost:  # with a peer gone, tearing the group down can block on it: the exit does it
            dist.destroy_process_group()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`_Terminated` here, so a stopped rank says how to resume."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the bridge to the landscape code (core.landscape owns directions, grids and the npz layout) ----


def build_plane(problem: Problem, job: SurfaceJob) -> Plane:
    """The plane :func:`core.landscape.compute_surface` would slice for ``job`` (seeded, so rank 0
    alone builds it), from :func:`core.landscape.plane`, so the direction logic stays in one place."""
    from core.landscape import evaluate_grid, plane

    check_grid_problem(problem)
    center = None if job.center is None else torch.tensor(job.center, dtype=torch.float64)
    pl = plane(problem, directions=job.directions, center=center, span=job.span, resolution=job.resolution,
               seed=job.seed, filter_normalize=job.filter_normalize, bias=job.bias, orthogonalize=job.orthogonalize)
    if pl.is_line:
        raise LabError(f"the surface job computes 2-D grids; {problem.kind!r} has {problem.dim} parameter(s), "
                       "so its slice is a line", "directions")
    # one loss evaluation checks the split here, on rank 0, rather than in every rank's first block
    evaluate_grid(problem, pl.theta0, pl.d1, pl.d2, pl.alphas[:1], pl.betas[:1], split=job.split, accuracy=False)
    return replace(pl, theta0=pl.theta0.double().cpu(), d1=pl.d1.double().cpu(), d2=pl.d2.double().cpu())


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


# -- chunk files ----------------------------------------------------------------------------------


def chunk_rows(n_rows: int, chunks: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each row block; ``chunks`` blocks whose sizes differ by at most one."""
    if isinstance(chunks, bool) or not isinstance(chunks, int) or not 1 <= chunks <= n_rows:
        raise LabError(f"expected 1..{n_rows} (one chunk holds at least one grid row), got {chunks!r}", "chunks")
    edges = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n_rows), chunks)])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def chunk_path(out: Path, index: int) -> Path:
    return out / CHUNK_DIR / f"chunk_{index:05d}.npz"


@dataclass(frozen=True)
class ChunkKey:
    """What a chunk of this job must say about itself: the setup (JSON text and sha256), the
    plane's sha256, its rows and the chunk count."""

    setup: str
    setup_sha256: str
    directions_sha256: str
    count: int


class _Damaged(Exception):
    """A chunk file that cannot be read or whose content does not match its own sha256."""


class _Foreign(Exception):
    """An intact chunk file of another setup, plane or chunking."""


def _content_sha256(rows: tuple[int, int], count: int, setup: str, directions: str, values: np.ndarray,
                    accuracy: np.ndarray | None) -> str:
    h = hashlib.sha256()
    h.update(f"rows {rows[0]} {rows[1]} of {count}|{setup}|{directions}|".encode())
    for name, a in (("values", values), ("accuracy", accuracy)):
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _write_chunk(out: Path, index: int, rows: tuple[int, int], values: np.ndarray, accuracy: np.ndarray | None,
                 key: ChunkKey) -> None:
    """One chunk file, whole or not at all, carrying its setup and a sha256 of everything in it."""
    digest = _content_sha256(rows, key.count, key.setup, key.directions_sha256, values, accuracy)
    extra = {} if accuracy is None else {"accuracy": accuracy}
    with atomic_file(chunk_path(out, index)) as tmp:
        np.savez(tmp, values=values, rows=np.array(rows, dtype=np.int64), count=np.array(key.count),
                 setup=np.array(key.setup), setup_sha256=np.array(key.setup_sha256),
                 directions_sha256=np.array(key.directions_sha256), content_sha256=np.array(digest), **extra)


def _setup_difference(there: str, here: str) -> str:
    """The first difference between two setups' JSON texts, in words."""
    try:
        a, b = json.loads(there), json.loads(here)
    except (json.JSONDecodeError, TypeError):
        return "its setup is unreadable"
    if a.get("format") != b.get("format"):
        return f"format is {a.get('format')!r} there, {b.get('format')!r} here"
    diff = _first_difference(a.get("job"), b.get("job"), "")
    if diff:
        return diff
    if a.get("data_sha256") != b.get("data_sha256"):
        return (f"the data's content differs: sha256 {str(a.get('data_sha256'))[:12]}... there, "
                f"{str(b.get('data_sha256'))[:12]}... here")
    return "another setup"


def read_chunk(path: Path, rows: tuple[int, int], key: ChunkKey, na: int) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The values (and accuracy) of a verified chunk file; None when it is absent. Raises
    :class:`_Damaged` (unreadable, empty, truncated, content not matching its sha256) or
    :class:`_Foreign` (intact, but of another setup, plane or chunking)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Damaged(f"cannot be inspected: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _Foreign("it is not a regular file (a folder, link, FIFO or device is in the way; remove it)")
    if st.st_size == 0:
        raise _Damaged("it is empty")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ValueError, OSError...: not a whole npz
        raise _Damaged(f"unreadable: {type(exc).__name__}: {printable(str(exc), 80)}") from None
    needed = ("values", "rows", "count", "setup", "setup_sha256", "directions_sha256", "content_sha256")
    if "values" in data and "setup" not in data:
        raise _Foreign("it was written by an older version of the lab (no setup in it)")
    if any(k not in data for k in needed):
        raise _Damaged(f"it lacks {', '.join(k for k in needed if k not in data)}")
    try:
        got_rows = tuple(int(x) for x in data["rows"])
        count, setup = int(data["count"]), str(data["setup"])
        setup_sha, dirs_sha, content = str(data["setup_sha256"]), str(data["directions_sha256"]), str(data["content_sha256"])
    except (TypeError, ValueError):
        raise _Damaged("its header fields are malformed") from None
    values, accuracy = data["values"], data.get("accuracy")
    if len(got_rows) != 2 or _content_sha256(got_rows, count, setup, dirs_sha, values, accuracy) != content \
            or _sha(setup) != setup_sha:
        raise _Damaged("its content does not match its sha256")
    if setup_sha != key.setup_sha256:
        raise _Foreign(f"it was computed for another setup: {_setup_difference(setup, key.setup)}")
    if dirs_sha != key.directions_sha256:
        raise _Foreign(f"it was computed on another plane (directions sha256 {dirs_sha[:12]}... there, "
                       f"{key.directions_sha256[:12]}... here)")
    if got_rows != tuple(rows) or count != key.count:
        raise _Foreign(f"that job cut the grid into {count} chunks, this one into {key.count}: its rows "
                       f"{got_rows[0]}..{got_rows[1] - 1}, here {rows[0]}..{rows[1] - 1}; give --chunks {count} to resume it")
    if values.shape != (rows[1] - rows[0], na) or (accuracy is not None and accuracy.shape != values.shape):
        raise _Damaged(f"its values are {values.shape}, expected {(rows[1] - rows[0], na)}")
    return values, accuracy


def _chunk_count_of(out: Path, setup_sha256: str) -> int | None:
    """The chunk count a chunk file of this setup records (the first that says so), else None."""
    for path in sorted((out / CHUNK_DIR).glob("chunk_*.npz")):
        with contextlib.suppress(Exception):
            if path.is_file() and not path.is_symlink():
                with np.load(path, allow_pickle=False) as z:
                    if str(z["setup_sha256"]) == setup_sha256:
                        return int(z["count"])
    return None


def _refuse_foreign(out: Path, path: Path, why: str) -> LabError:
    return LabError(f"this folder holds another surface job's chunk ({why}); resume with the same settings, choose a "
                    f"new --out folder, or remove {out / CHUNK_DIR} to start over", file=str(path))


def _warn_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the manifest -----------------------------------------------------------------------------------


def _manifest(job: SurfaceJob, plane: Plane, rows: list[tuple[int, int]], world: int, device: torch.device,
              scenario: dict[str, str] | None, setup: str) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "job": job.spec(),
        "setup": {"sha256": _sha(setup), "data_sha256": json.loads(setup)["data_sha256"]},
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


def _read_manifest(out: Path, warn: Callable[[str], None]) -> dict[str, Any] | None:
    """The folder's manifest, None when absent or damaged (then the chunks, which carry their own
    setup, are what is checked). Something that is not a regular file there is refused."""
    path = out / MANIFEST
    if not os.path.lexists(path):
        return None
    text = read_text_bounded(path, what="manifest")
    try:
        found = json.loads(text)
        if not isinstance(found, dict):
            raise ValueError("not a JSON object")
        if found.get("format") != FORMAT_VERSION:
            return found  # refused by the caller, naming the format
        rows = [tuple(int(x) for x in r) for r in found["chunks"]["rows"]]
        if len(rows) != int(found["chunks"]["count"]) or any(len(r) != 2 for r in rows):
            raise ValueError("its chunk rows do not match its count")
        str(found["directions"]["sha256"]), str(found["setup"]["sha256"]), list(found["grid"]["axis_labels"])
        dict(found["job"])
    except (ValueError, KeyError, TypeError) as exc:
        warn(f"surface: {path}: damaged ({printable(str(exc), 80)}); its chunks are checked against this job instead")
        return None
    return found


def _check_manifest(out: Path, found: dict[str, Any], job: SurfaceJob, chunks: int | None, setup: str) -> None:
    def refuse(what: str) -> None:
        raise LabError(f"this folder holds another surface job ({what}); resume with the same settings "
                       "or choose a new --out folder", file=str(out / MANIFEST))

    if found.get("format") != FORMAT_VERSION:
        refuse(f"format is {found.get('format')!r} there, {FORMAT_VERSION} here")
    diff = _first_difference(found.get("job"), job.spec(), "")
    if diff:
        refuse(diff)
    count = found["chunks"]["count"]
    if chunks is not None and chunks != count:
        refuse(f"chunks is {count} there, {chunks} here")
    if found["setup"]["sha256"] != _sha(setup):
        refuse(_setup_difference(json.dumps({"format": FORMAT_VERSION, "job": found["job"],
                                             "data_sha256": found["setup"].get("data_sha256")}), setup))


def _read_directions(out: Path) -> tuple[Plane, str] | None:
    """The stored plane and the setup it was drawn for; None when absent or unreadable."""
    try:
        with np.load(out / DIRECTIONS, allow_pickle=False) as z:
            arrays = {k: torch.from_numpy(z[k]) for k in ("theta0", "d1", "d2", "alphas", "betas")}
            labels = tuple(str(s) for s in z["axis_labels"])
            setup = str(z["setup"])
    except Exception:  # absent, truncated, another layout: drawn again
        return None
    return Plane(**arrays, axis_labels=labels), setup  # type: ignore[arg-type]


def _write_directions(out: Path, plane: Plane, setup: str) -> None:
    with atomic_file(out / DIRECTIONS) as tmp:
        np.savez(tmp, axis_labels=np.array(plane.axis_labels), setup=np.array(setup), **plane.arrays())


def _prepare(out: Path, job: SurfaceJob, problem: Problem, chunks: int | None, ranks: Ranks,
             scenario: dict[str, str] | None, setup: str, warn: Callable[[str], None]) -> dict[str, Any]:
    """Rank 0, holding the folder's lock: the manifest and plane of the folder (created, or read
    back and checked), every existing chunk verified, the missing or damaged ones listed. Nothing is
    written before the folder is known to hold this job (or nothing)."""
    found = _read_manifest(out, warn)
    stored = _read_directions(out)
    if found is not None:
        _check_manifest(out, found, job, chunks, setup)
        rows = [tuple(int(x) for x in r) for r in found["chunks"]["rows"]]
        if stored is not None:
            plane = stored[0]
            if plane.digest() != found["directions"]["sha256"]:
                raise LabError("the stored directions do not match the manifest's sha256 (file changed since the job "
                               "began)", file=str(out / DIRECTIONS))
        else:  # absent or unreadable: drawn again from the seed, used only if it is the manifest's plane
            plane = build_plane(problem, job)
            if plane.digest() != found["directions"]["sha256"]:
                raise LabError("the stored directions are missing or damaged, and drawing them again gives another "
                               "plane than the manifest's sha256", file=str(out / DIRECTIONS))
            warn(f"surface: {out / DIRECTIONS}: missing or damaged; drawn again from the seed (the manifest's sha256)")
            _write_directions(out, plane, setup)
        manifest = found
    else:
        if stored is not None and _sha(stored[1]) != _sha(setup):
            raise LabError(f"this folder holds another surface job's directions ({_setup_difference(stored[1], setup)}); "
                           "resume with the same settings, or choose a new --out folder", file=str(out / DIRECTIONS))
        plane = stored[0] if stored is not None else build_plane(problem, job)
        rows = None  # after the chunks: their count decides when --chunks is not given
        manifest = None
    if rows is None and chunks is None:  # the manifest is gone: the chunks of this job say how many there are
        chunks = _chunk_count_of(out, _sha(setup))
    key_rows = rows if rows is not None else chunk_rows(len(plane.betas), chunks or min(DEFAULT_CHUNKS, len(plane.betas)))
    key = ChunkKey(setup, _sha(setup), plane.digest(), len(key_rows))
    remove_stale_temporaries(out / CHUNK_DIR)
    remove_stale_temporaries(out)
    missing = []
    for i, r in enumerate(key_rows):
        path = chunk_path(out, i)
        try:
            if read_chunk(path, r, key, len(plane.alphas)) is None:
                missing.append(i)
        except _Damaged as exc:
            warn(f"surface: {path}: damaged ({exc}); it is computed again")
            missing.append(i)
        except _Foreign as exc:
            raise _refuse_foreign(out, path, str(exc)) from None
    extra = sorted(p.name for p in (out / CHUNK_DIR).glob("chunk_*.npz")
                   if p.name[6:11].isdigit() and int(p.name[6:11]) >= len(key_rows))
    if extra:
        raise _refuse_foreign(out, out / CHUNK_DIR / extra[0], f"this job has {len(key_rows)} chunks, the folder "
                                                                f"holds {len(extra)} more")
    if manifest is None:  # the folder holds this job or nothing: now it may be written
        rows = key_rows
        if stored is None:
            _write_directions(out, plane, setup)
        manifest = _manifest(job, plane, rows, ranks.world, ranks.device, scenario, setup)
        atomic_write(out / MANIFEST, json.dumps(manifest, indent=2))
    return {"plane": plane.arrays(), "axis_labels": plane.axis_labels, "rows": key_rows, "missing": missing,
            "sha256": key.directions_sha256}


def _merge(out: Path, rows: list[tuple[int, int]], shape: tuple[int, int], key: ChunkKey,
           recompute: Callable[[int], tuple[np.ndarray, np.ndarray | None]],
           warn: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray | None]:
    """The chunks as one grid, each verified again (a damaged one is computed here once more); all
    ranks wrote theirs into ``out``, which across nodes must be a folder every node sees."""
    absent = [i for i in range(len(rows)) if not os.path.lexists(chunk_path(out, i))]
    if absent:
        raise LabError(f"{len(absent)} chunk file(s) that other ranks reported written are not in {out / CHUNK_DIR} "
                       f"(first: {chunk_path(out, absent[0]).name}); across nodes --out must be on a file system "
                       "shared by every node; run again to compute them here", "--out")
    values: np.ndarray | None = None
    accuracy: np.ndarray | None = None
    for index, (a, b) in enumerate(rows):
        path = chunk_path(out, index)
        try:
            got = read_chunk(path, (a, b), key, shape[1])
        except _Damaged as exc:
            warn(f"surface: {path}: damaged ({exc}); it is computed again")
            got = None
        except _Foreign as exc:
            raise LabError(f"was replaced while this job ran ({exc}); another job writes into this folder "
                           "without its lock (another node?)", file=str(path)) from None
        if got is None:
            got = recompute(index)
        v, acc = got
        if values is None:
            values = np.empty(shape, dtype=v.dtype)
            accuracy = np.empty(shape, dtype=v.dtype) if acc is not None else None
        values[a:b] = v
        if accuracy is not None and acc is not None:
            accuracy[a:b] = acc
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
            timeout_s: float = 3600.0, points_per_call: int | None = None,
            warn: Callable[[str], None] = _warn_stderr) -> JobReport:
    """Computes (or completes) the surface of ``job`` in the folder ``out``, sharded over the
    ranks of the ``torchrun`` process group if there is one. Returns this rank's report; rank 0's
    has ``surface`` (``out/surface.npz``) set. ``points_per_call`` bounds the grid points of one
    batched loss call (memory; not part of the setup). Reports (a damaged chunk) go to ``warn``."""
    out = Path(out)
    check_job(job)
    if chunks is not None:
        integer(1)(chunks, "chunks")
    if points_per_call is not None:
        integer(1)(points_per_call, "points_per_call")
    number(0.0, low_open=True)(timeout_s, "timeout")
    hint = resume_hint(out)
    with _sigterm_raises():
        try:
            with process_group(device, timeout_s, hint) as ranks:
                try:
                    return _run(ranks, job, out, chunks, scenario, log or (lambda _msg: None), timeout_s,
                                points_per_call, warn)
                except _Terminated:
                    ranks.fail("stopped by SIGTERM")
                    raise
                except BaseException as exc:
                    ranks.fail(str(exc) if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}")
                    if isinstance(exc, KeyboardInterrupt):
                        warn(f"surface: interrupted; {hint}")
                    raise
        except _Terminated:
            raise LabError(f"stopped by SIGTERM (torchrun stops every rank this way when one fails); {hint}") from None


def _run(ranks: Ranks, job: SurfaceJob, out: Path, chunks: int | None, scenario: dict[str, str] | None,
         say: Callable[[str], None], timeout_s: float, points_per_call: int | None,
         warn: Callable[[str], None]) -> JobReport:
    start = time.perf_counter()
    problem = make_problem(job.problem, job.params)
    check_grid_problem(problem)
    setup = setup_text(job, data_digest(problem))
    problem = problem.to(ranks.device, resolve_dtype(job.dtype))
    ranks.publish("setup", _sha(setup))
    with contextlib.ExitStack() as held:
        shared: dict[str, Any] | str
        if ranks.rank == 0:
            try:
                check_writable_folder(out)
                out.mkdir(parents=True, exist_ok=True)
                check_writable_folder(out / CHUNK_DIR, "chunks folder")
                held.enter_context(FolderLock(out / CHUNK_DIR, "surface job"))  # its file: DIR/.chunks.lock
                (out / CHUNK_DIR).mkdir(exist_ok=True)
                for r, sha in ranks.collect("setup", "every rank built its problem", timeout_s).items():
                    if sha != _sha(setup):
                        raise LabError(f"rank {r} built another setup than rank 0 (sha256 {sha[:12]}... there, "
                                       f"{_sha(setup)[:12]}... here): every node must see the same data files "
                                       "and the same code", "surface")
                shared = _prepare(out, job, problem, chunks, ranks, scenario, setup, warn)
            except LabError as exc:
                if ranks._lost:  # a peer is gone: nobody to share the refusal with
                    raise
                shared = str(exc)
            except OSError as exc:
                shared = str(LabError(f"cannot use the output folder: {exc.strerror or exc}", "--out", str(out)))
            shared = ranks.share(shared, timeout_s)
        else:
            shared = ranks.share(None, timeout_s)
        if isinstance(shared, str):  # rank 0 refused: every rank stops with the same message
            raise LabError(shared)
        arrays = {k: torch.from_numpy(np.asarray(v)) for k, v in shared["plane"].items()}
        plane = Plane(**arrays, axis_labels=tuple(shared["axis_labels"]))
        rows, missing = shared["rows"], shared["missing"]
        key = ChunkKey(setup, _sha(setup), shared["sha256"], len(rows))
        (out / CHUNK_DIR).mkdir(parents=True, exist_ok=True)  # ranks on other nodes: see _merge on shared folders
        mine = missing[ranks.rank::ranks.world]
        if ranks.rank == 0:
            say(f"surface: {len(rows)} chunks of a {len(plane.betas)}x{len(plane.alphas)} grid, "
                f"{len(rows) - len(missing)} already done, {len(missing)} to compute on {ranks.world} rank(s)")

        def compute(index: int) -> tuple[np.ndarray, np.ndarray | None]:
            a, b = rows[index]
            t = time.perf_counter()
            values, acc = evaluate_rows(problem, plane, slice(a, b), job.split, points_per_call)
            _write_chunk(out, index, (a, b), values, acc, key)
            say(f"[rank {ranks.rank}/{ranks.world}] computed chunk {index} (rows {a}..{b - 1}) in "
                f"{time.perf_counter() - t:.2f} s")
            return values, acc

        done: list[int] = []
        for index in mine:
            compute(index)
            done.append(index)
        ranks.barrier("written", "every rank wrote its chunks", timeout_s)
        surface = None
        if ranks.rank == 0:
            values, accuracy = _merge(out, rows, (len(plane.betas), len(plane.alphas)), key, compute, warn)
            surface = out / SURFACE
            with atomic_file(surface) as tmp:
                write_surface(tmp, plane, values, accuracy, job)
            say(f"surface: wrote {surface} in {time.perf_counter() - start:.1f} s")
        ranks.finish(timeout_s)
        return JobReport(ranks.rank, ranks.world, done, len(rows) - len(missing), len(rows), surface,
                         time.perf_counter() - start)
