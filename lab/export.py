"""Exports: PNG of a widget, GIF/MP4 of the animation, CSV of the run.

Frames are rendered on the GUI thread (Qt paints only there) by stepping the session through the
run and grabbing the widget; ``imageio`` writes them. MP4 needs the optional ``imageio-ffmpeg``
package; without it the export says so instead of failing half-way.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import QCoreApplication
from PyQt6.QtGui import QImage

from core.errors import LabError

DEFAULT_FPS = 15


def _flush(widget: Any) -> None:
    """Throttled panels (the eigen view) draw the current step before a grab."""
    from lab.panels import PanelArea

    areas = [widget] if isinstance(widget, PanelArea) else widget.findChildren(PanelArea)
    for area in areas:
        area.flush()
    QCoreApplication.processEvents()


def png(widget: Any, path: str | Path) -> Path:
    path = Path(path)
    _flush(widget)
    if not widget.grab().save(str(path)):
        raise LabError("could not write the image", "", str(path))
    return path


def csv(session: Any, path: str | Path) -> Path:
    if session.result is None:
        raise LabError("nothing to export: no run yet")
    path = Path(path)
    session.result.run.table().to_csv(path, index=False)
    return path


def to_array(image: QImage) -> np.ndarray:
    """An RGB ``uint8 [h, w, 3]`` copy of a QImage."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits().asstring(stride * h), dtype=np.uint8).reshape(h, stride)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def frame_steps(steps: int, every: int = 1) -> list[int]:
    """The steps an animation shows: 0, every, 2 every, ..., always ending on the last step."""
    out = list(range(0, steps + 1, max(1, every)))
    if out[-1] != steps:
        out.append(steps)
    return out


def mp4_available() -> bool:
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def animation(session: Any, widget: Any, path: str | Path, *, fps: int = DEFAULT_FPS, every: int = 1,
              progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None) -> int:
    """Writes the animation of ``widget`` over the run as GIF or MP4 (by the file's suffix);
    returns the number of frames. The session's frame is restored afterwards."""
    import imageio.v2 as imageio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise LabError(f"animations are .gif or .mp4, got {path.suffix or 'no suffix'!r}", "", str(path))
    if suffix == ".mp4" and not mp4_available():
        raise LabError("MP4 export needs the imageio-ffmpeg package (pip install imageio-ffmpeg); GIF export works without it", "", str(path))
    if session.result is None:
        raise LabError("nothing to export: no run yet")
    steps = frame_steps(session.steps, every)
    keep = session.frame
    if suffix == ".gif":
        writer = imageio.get_writer(path, mode="I", duration=1000 / fps, loop=0)
    else:
        writer = imageio.get_writer(path, fps=fps, codec="libx264", quality=8, macro_block_size=2)
    size = None
    try:
        for k, step in enumerate(steps):
            if cancel is not None and cancel():
                raise LabError("export cancelled", "", str(path))
            session.set_frame(step)
            _flush(widget)
            frame = to_array(widget.grab().toImage())
            if size is None:
                size = frame.shape
            elif frame.shape != size:  # a resize mid-export: keep every frame the first frame's size
                frame = np.asarray(frame[: size[0], : size[1]])
            writer.append_data(frame)
            if progress is not None:
                progress(k + 1, len(steps))
    finally:
        writer.close()
        session.set_frame(keep)
    return len(steps)
