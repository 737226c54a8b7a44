"""Animation exports (issue 12, defect 15): drawn by an offscreen copy of the panels (the live
window never moves), one global GIF palette (no flicker), the step counter and the beat's caption
burned into every frame, progress and cancel in the app (a cancel leaves no file and no temporary
file), progress on the CLI, MP4 still written."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import Qt

import main as lab_main
from lab import export

from tests.toy_scenarios import two_optimizers

BEATS = """\
[[beats]]
step = 0
caption = "The start."
[[beats]]
step = 12
caption = "Momentum overtakes GD here, a long caption that the band shows in full at this width."
"""
SCENARIO = two_optimizers(resolution=40, tail=BEATS)  # tests/toy_scenarios.py


@pytest.fixture
def lesson(tmp_path) -> Path:
    path = tmp_path / "lesson.toml"
    path.write_text(SCENARIO)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def gif_blocks(data: bytes) -> tuple[bool, list[bool]]:
    """Parses a GIF: (has a global colour table, [has a local colour table] per image)."""
    assert data[:6] == b"GIF89a"
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    local: list[bool] = []
    while data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: label, then sub-blocks
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        elif data[pos] == 0x2C:  # image descriptor
            packed = data[pos + 9]
            local.append(bool(packed & 0x80))
            pos += 10 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
            pos += 1  # LZW minimum code size
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        else:
            raise AssertionError(f"bad block {data[pos]:#x} at {pos}")
    return bool(flags & 0x80), local


@pytest.fixture
def shown(qtbot, lesson):
    from tests.windows import main_window

    with main_window(900, 600, lesson) as w:
        yield w


def test_gif_frames_share_one_global_palette_and_carry_the_step_and_caption(shown, tmp_path):
    import imageio.v3 as iio
    from PIL import Image

    out = tmp_path / "a.gif"
    n = export.animation(shown.session, shown.panels, out, every=3)
    assert n == len(export.frame_steps(30, 3)) == 11
    has_global, local = gif_blocks(out.read_bytes())
    assert has_global and len(local) == n and not any(local)  # one palette: no frame brings its own
    with Image.open(out) as im:  # the global table (later frames PIL hands back as RGB)
        table = np.frombuffer(bytes(im.getpalette()), dtype=np.uint8).reshape(-1, 3)
    frames = iio.imread(out, index=None)[..., :3]
    assert frames.shape[0] == n
    allowed = {tuple(c) for c in table}
    for frame in frames[:: 5]:  # every pixel of a frame is a colour of the one global table
        assert {tuple(c) for c in np.unique(frame.reshape(-1, 3), axis=0)} <= allowed
    band = frames[:, -export.BAND_HEIGHT:, :]
    counter = band[:, :, :120]  # "step k / 30"
    assert all(not np.array_equal(counter[i], counter[i + 1]) for i in range(n - 1))
    caption = band[:, :, 160:]
    assert np.array_equal(caption[0], caption[3])  # steps 0 and 9: the first beat's caption
    assert not np.array_equal(caption[3], caption[4])  # step 12: the second beat begins
    Image.fromarray(frames[4]).save(tmp_path / "frame4.png")  # (looked at by hand while writing)


def test_captions_follow_the_beats():
    class Beat:
        def __init__(self, step, caption):
            self.step, self.caption = step, caption

    class Scenario:
        title = "t"
        beats = (Beat(0, "first"), Beat(5, "second  line\nwrapped"))

    assert export.caption_at(Scenario, 4) == "first" and export.caption_at(Scenario, 5) == "second line wrapped"
    assert export.budget_every(200) == 1 and len(export.frame_steps(2000, export.budget_every(2000))) <= export.MAX_FRAMES


def test_the_cli_prints_progress(lesson, tmp_path, capsys):
    out = tmp_path / "cli.gif"
    assert lab_main.main(["export", str(lesson), "--gif", str(out), "--size", "600x400", "--every", "2"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()  # progress on stderr; stdout says only what was written
    progress = [line for line in lines if line.startswith(f"exporting {out}: frame ")]
    assert progress[0].startswith(f"exporting {out}: frame 1/16") and f"frame 16/16" in progress[-1], lines
    assert 3 <= len(progress) <= 12 and captured.out.splitlines() == [f"wrote {out} (16 frames)"]
    assert leftovers(tmp_path) == []


def test_mp4_export_still_works(shown, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "a.mp4"
    assert export.animation(shown.session, shown.panels, out, every=5) == 7
    frames = np.stack(list(iio.imiter(out)))
    assert frames.shape[0] == 7 and frames.std() > 5  # pictures, not blank frames
    assert not np.array_equal(frames[0][-export.BAND_HEIGHT:], frames[1][-export.BAND_HEIGHT:])  # the counter


def _choose(monkeypatch, path: Path) -> None:
    from PyQt6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def test_exporting_from_the_window_never_moves_the_live_window(shown, qtbot, tmp_path, monkeypatch):
    """Ctrl+Shift+E (File > Export animation GIF) with the dialog answering a path: the file is
    written in the background while the live window stays on its frame (the old export stepped
    the live session through every frame)."""
    out = tmp_path / "live.gif"
    _choose(monkeypatch, out)
    shown.session.set_frame(7)
    qtbot.wait(50)
    before = export.to_array(shown.panels.grab().toImage())
    moves: list[int] = []
    shown.session.frame_changed.connect(moves.append)
    qtbot.keyClick(shown, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert getattr(shown, "_export", None) is not None  # started, in the background
    qtbot.waitUntil(lambda: shown._export is None, timeout=120_000)
    assert out.exists() and leftovers(tmp_path) == [] and not shown.banner.isVisible()
    assert moves == [] and shown.session.frame == 7
    assert np.array_equal(export.to_array(shown.panels.grab().toImage()), before)
    assert len(gif_blocks(out.read_bytes())[1]) == 31  # every step, 0 to 30


def test_cancel_in_the_progress_dialog_leaves_no_file(shown, qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QPushButton

    long = tmp_path / "long.toml"  # 201 frames: far from done when Cancel is clicked, on any machine
    long.write_text(SCENARIO.replace("steps = 30", "steps = 200"))
    assert shown.open(long), shown.banner.label.text()
    shown.session.wait()
    out = tmp_path / "cancelled.gif"
    _choose(monkeypatch, out)
    qtbot.keyClick(shown, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    job = shown._export
    assert job is not None
    qtbot.waitUntil(lambda: job.encoded >= 3, timeout=60_000)
    assert list(tmp_path.glob(".cancelled.tmp-*"))  # the temporary file is being written
    button = job.dialog.findChild(QPushButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shown._export is None, timeout=30_000)
    assert job.next < len(job.job)  # stopped midway, not finished
    assert not out.exists() and leftovers(tmp_path) == []
    assert shown.banner.isVisible() and "cancelled" in shown.banner.label.text()


def test_a_cancelled_export_keeps_the_users_earlier_file(shown, tmp_path):
    out = tmp_path / "mine.gif"
    out.write_bytes(b"GIF89a mine")
    with pytest.raises(Exception, match="cancelled"):
        export.animation(shown.session, shown.panels, out, cancel=lambda: True)
    assert out.read_bytes() == b"GIF89a mine" and leftovers(tmp_path) == []
