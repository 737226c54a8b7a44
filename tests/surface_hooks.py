"""``main.py`` with failures injected into the surface job, for tests only (production code has no
kill switch): ``python tests/surface_hooks.py surface ...`` (or as torchrun's script) reads the JSON
in ``LANDSCAPE_LAB_TEST_HOOKS`` and patches :mod:`core.distributed` before handing over to
``main.main``:

- ``"stop_after": K``: the rank exits (status :data:`STOPPED_EXIT`, ``os._exit``: no barrier,
  merge or clean-up, as abrupt as a kill) right after writing its K-th chunk;
- ``"freeze_after": K``: the rank stops itself with SIGSTOP after its K-th chunk (alive, but
  silent: its heartbeat stops, as when its machine hangs or drops off the network);
- ``"slow_plane_s": S``: building the plane takes S seconds longer (and says so on stdout);
- ``"ranks": [r, ...]``: only these ranks (``RANK``; 0 without torchrun) are affected.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

HOOKS_ENV = "LANDSCAPE_LAB_TEST_HOOKS"
STOPPED_EXIT = 75
PLANE_MARK = "test hook: building the plane slowly"


def install(spec: dict) -> None:
    import core.distributed as d

    rank = int(os.environ.get("RANK", "0"))
    if spec.get("ranks") is not None and rank not in spec["ranks"]:
        return
    written = [0]
    original_write = d._write_chunk

    def write(*args, **kwargs):
        original_write(*args, **kwargs)
        written[0] += 1
        if spec.get("stop_after") and written[0] >= spec["stop_after"]:
            print(f"[rank {rank}] stopping after {written[0]} chunk(s) (test hook)", flush=True)
            os._exit(STOPPED_EXIT)
        if spec.get("freeze_after") and written[0] >= spec["freeze_after"]:
            print(f"[rank {rank}] freezing after {written[0]} chunk(s) (test hook)", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)

    d._write_chunk = write
    if spec.get("slow_plane_s"):
        original_plane = d.build_plane

        def slow_plane(*args, **kwargs):
            print(PLANE_MARK, flush=True)
            time.sleep(float(spec["slow_plane_s"]))
            return original_plane(*args, **kwargs)

        d.build_plane = slow_plane


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # as commands/surface.py does, before torch loads
    install(json.loads(os.environ.get(HOOKS_ENV) or "{}"))
    import main

    sys.exit(main.main(sys.argv[1:]))
