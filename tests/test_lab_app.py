"""The desktop lab driven headless with pytest-qt: open, play, knobs, clicks, save/reopen, exports,
pixels, lecture mode, errors. Runs offscreen (QT_QPA_PLATFORM=offscreen, set by conftest)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt

from lab import export
from lab.export import to_array
from lab.window import MainWindow

from tests.toy_scenarios import PANELS_3, two_optimizers
from tests.windows import close, main_window

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
DEFAULT = ROOT / "scenarios" / "quartic_gd.toml"
BEATS = """\
[[beats]]
step = 0
caption = "first caption"
pause = true
[[beats]]
step = 6
caption = "second caption"
pause = true
[[beats]]
step = 10
caption = "third caption, with a faster GD"
pause = true
set = { "optimizers[0].lr" = 0.05 }
"""
TWO_D = two_optimizers(panels=PANELS_3, resolution=120, tail=BEATS)  # tests/toy_scenarios.py


@pytest.fixture
def window(qtbot):
    with main_window(1400, 850) as w:
        yield w


@pytest.fixture
def two_d(tmp_path):
    path = tmp_path / "two_d.toml"
    path.write_text(TWO_D)
    return path


def opened(window, path) -> MainWindow:
    assert window.open(path), window.banner.label.text()
    window.session.wait()
    return window


def heads(window) -> np.ndarray:
    return window.panels.panel("landscape").head_positions()  # [B, 2]: one scatter holds every head


def panel_image(widget) -> np.ndarray:
    return to_array(widget.grab().toImage())


def widget_pixel(plot_widget, target_widget, x: float, y: float) -> tuple[int, int]:
    """Pixel in ``target_widget`` of data point (x, y) of a pyqtgraph PlotWidget inside it."""
    vb = plot_widget.getPlotItem().vb
    scene = vb.mapViewToScene(QPointF(x, y))
    p = plot_widget.mapFromScene(scene)
    q = plot_widget.mapTo(target_widget, p)
    return q.x(), q.y()


# -- opening and playing -------------------------------------------------------------------------
def test_opens_on_the_default_scenario(window):
    opened(window, DEFAULT)
    s = window.session
    assert s.scenario.title.startswith("Gradient descent on the lecture's quartic")
    assert s.frame == 0 and s.steps == 40
    assert window.panels.panel("landscape").isVisible() and window.panels.panel("convergence").isVisible()
    # the iterate starts where the file says and the 1-D curve is drawn
    assert heads(window)[0, 0] == pytest.approx(2.5)
    assert len(window.panels.panel("landscape").curve.getData()[0]) == 301


def test_main_maps_no_arguments_to_open(monkeypatch):
    import main

    seen = {}
    monkeypatch.setattr("lab.app.run_gui", lambda path, lecture=False: seen.update(path=path, lecture=lecture) or 0)
    assert main.main([]) == 0
    assert seen == {"path": str(DEFAULT), "lecture": False}  # the shipped lesson, from any folder (scenarios.DEFAULT)


def test_play_advances_the_step_and_moves_the_heads(window, qtbot, two_d):
    opened(window, two_d)
    before = heads(window)
    window.player.play()
    qtbot.waitUntil(lambda: window.session.frame >= 5, timeout=5000)
    window.player.pause()
    step = window.session.frame
    after = heads(window)
    assert not np.allclose(before, after)
    thetas = window.session.result.run.thetas[step].numpy()
    np.testing.assert_allclose(after, thetas, rtol=1e-12)
    assert f"step {step} / 30" == window.player.step_label.text()


def test_keyboard_steps_and_ends(window, qtbot, two_d):
    opened(window, two_d)
    window.activateWindow()
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.session.frame == 2
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.session.frame == 30
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.session.frame == 29
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.session.frame == 0


def test_player_loops_and_stops(window, qtbot, two_d):
    opened(window, two_d)
    from lab.player import SPEEDS

    window.player.speed.setCurrentIndex(len(SPEEDS) - 1)
    window.player.play()
    qtbot.waitUntil(lambda: not window.player.playing, timeout=10000)
    assert window.session.frame == 30


# -- knobs -----------------------------------------------------------------------------------------
def test_a_slider_change_reruns(window, qtbot, two_d):
    opened(window, two_d)
    old = window.session.result
    slider = window.controls.sliders["optimizers[0].lr"]
    slider.slider.setValue(slider.to_slider(0.05))
    qtbot.waitUntil(lambda: window.session.result is not old, timeout=3000)
    lr = window.session.view.hyper[0]["lr"]
    assert lr == pytest.approx(slider.from_slider(slider.to_slider(0.05)))
    assert slider.entry.text() == f"{lr:.6g}"
    assert window.session.dirty
    # the new run is the engine's answer for that learning rate: GD on a quadratic, w_t from the closed form
    A = window.session.result.run.problem.A.numpy()
    w = np.array([2.0, 1.5])
    for _ in range(3):
        w = w - lr * A @ w
    np.testing.assert_allclose(window.session.result.run.thetas[3, 0].numpy(), w, rtol=1e-10)


def test_an_invalid_entry_is_refused_inline(window, two_d):
    opened(window, two_d)
    before = window.session.scenario
    entry = window.controls.sliders["optimizers[0].lr"].entry
    entry.setText("-0.5")
    entry.editingFinished.emit()
    err = window.controls.errors["optimizers[0].lr"]
    assert err.isVisible() and "lr must be in (0, inf)" in err.text() and "-0.5" in err.text()
    assert window.session.scenario is before
    entry.setText("0.1")
    entry.editingFinished.emit()
    assert not err.isVisible()
    assert window.session.view.hyper[0]["lr"] == 0.1


def test_optimizers_added_removed_relabelled(window, two_d):
    opened(window, two_d)
    assert window.session.add_optimizer("adam")
    assert window.session.view.labels[-1] == "adam 1" and window.session.view.kinds[-1] == "adam"
    assert window.session.set("optimizers[2].label", "Adam, fast")
    assert window.session.view.labels[-1] == "Adam, fast"
    assert window.session.remove_optimizer(0)
    assert window.session.view.labels == ["HB", "Adam, fast"]
    assert len(window.panels.panel("landscape").head_positions()) == 2


def test_a_click_sets_the_start_point(window, qtbot, two_d):
    opened(window, two_d)
    plot = window.panels.panel("landscape").plot
    x, y = widget_pixel(plot, plot, -1.0, 2.0)
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.waitUntil(lambda: [list(p) for p in window.session.scenario.start.points] != [[2.0, 1.5]], timeout=3000)
    start = window.session.result.run.thetas[0, 0].numpy()
    np.testing.assert_allclose(start, [-1.0, 2.0], atol=0.05)  # one pixel of the plot
    np.testing.assert_allclose(window.session.result.run.thetas[0, 1].numpy(), start)


def test_problem_change_rebuilds_the_controls(window, two_d):
    opened(window, two_d)
    assert window.session.set("problem.kind", "rosenbrock")
    assert window.session.view.dim == 2 and window.session.result.run.problem.kind == "rosenbrock"
    assert "problem.b" in window.controls.errors  # rosenbrock's parameters got editors
    assert window.panels.panel("landscape").image.image is not None


# -- states a user must see --------------------------------------------------------------------------
def test_a_long_busy_message_does_not_widen_the_window(window, qtbot, two_d):
    # the busy text goes to the status bar and to the landscape's note; the note's width hint once
    # grew the window past its size (an export of --size 1000x700 came out 1029 wide when the run
    # went to the worker on a loaded machine)
    opened(window, two_d)
    width = window.width()
    window.session.model.busy.emit("computing " + "a scenario with a very long title " * 12 + "(about 2 s) ...")
    qtbot.wait(20)
    assert window.busy_label.text().startswith("computing")
    assert window.width() == width and window.minimumSizeHint().width() <= width
    window.session.model.busy.emit("")


def test_a_malformed_file_shows_the_error_and_keeps_the_session(window, tmp_path, two_d):
    opened(window, two_d)
    before, result = window.session.scenario, window.session.result
    bad = tmp_path / "bad.toml"
    bad.write_text(TWO_D.replace("lr = 0.15", "lr = -1.0"))
    assert not window.open(bad)
    assert window.banner.isVisible()
    text = window.banner.label.text()
    assert "bad.toml" in text and "optimizers[0].lr" in text and "-1" in text
    assert window.session.scenario is before and window.session.result is result
    assert window.session.path == two_d
    garbage = tmp_path / "garbage.toml"
    garbage.write_text("format = 1\n[problem\n")
    assert not window.open(garbage)
    assert "TOML" in window.banner.label.text()


def test_diverged_at_step_is_shown(window):
    opened(window, ROOT / "scenarios" / "quartic_lr_sweep.toml")
    view = window.session.view
    i = int(np.flatnonzero(view.diverged)[0])
    window.session.set_frame(window.session.steps)
    assert f"diverged at step {view.last[i]}" in window.player.losses.text()
    legend_names = [label.text for _, label in window.panels.panel("landscape").legend.items]
    assert any(f"diverged at step {view.last[i]}" in n for n in legend_names)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_opens_and_plays(window, qtbot, path):
    opened(window, path)
    s = window.session
    assert s.result is not None and s.steps > 0
    for step in (1, s.steps // 2, s.steps):
        s.set_frame(step)
        assert window.player.step_label.text() == f"step {step} / {s.steps}"
    assert not window.banner.isVisible()


# -- save and reopen -----------------------------------------------------------------------------------
def test_save_and_reopen_is_identical(window, qtbot, tmp_path, two_d):
    opened(window, two_d)
    window.session.set("optimizers[1].momentum", 0.5)
    window.session.set_start([-1.5, 1.0])
    assert window.session.dirty
    out = tmp_path / "saved.toml"
    window.session.save(out)
    assert not window.session.dirty
    other = MainWindow()
    try:
        opened(other, out)
        assert other.session.scenario == window.session.scenario
        np.testing.assert_array_equal(other.session.result.run.loss.numpy(), window.session.result.run.loss.numpy())
        np.testing.assert_array_equal(other.session.result.run.thetas.numpy(), window.session.result.run.thetas.numpy())
    finally:
        close(other)


# -- pixels --------------------------------------------------------------------------------------------
def test_contours_are_drawn_and_not_blank(window, two_d):
    opened(window, two_d)
    panel = window.panels.panel("landscape")
    with_lines = panel_image(panel.plot)
    for iso in panel.isocurves:
        iso.setVisible(False)
    without = panel_image(panel.plot)
    for iso in panel.isocurves:
        iso.setVisible(True)
    assert len(panel.isocurves) >= 8
    changed = np.abs(with_lines.astype(int) - without.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 1500  # many pixels of line, spread over the picture
    rows, cols = np.nonzero(changed)
    assert rows.max() - rows.min() > with_lines.shape[0] / 3 and cols.max() - cols.min() > with_lines.shape[1] / 3
    # the heatmap is not one colour
    centre = with_lines[with_lines.shape[0] // 4: 3 * with_lines.shape[0] // 4, with_lines.shape[1] // 4: 3 * with_lines.shape[1] // 4]
    assert centre.reshape(-1, 3).std(axis=0).max() > 20


def test_a_trajectory_head_is_drawn_at_its_coordinates(window, two_d):
    opened(window, two_d)
    window.session.set_frame(4)
    panel = window.panels.panel("landscape")
    image = panel_image(panel.plot)
    view = window.session.view
    for i, colour in enumerate(("#1f77b4", "#d62728")):
        x, y = view.coords[4, i]
        px, py = widget_pixel(panel.plot, panel.plot, x, y)
        patch = image[py - 2: py + 3, px - 2: px + 3].reshape(-1, 3).astype(int)
        want = np.array([int(colour[k: k + 2], 16) for k in (1, 3, 5)])
        assert np.abs(patch - want).sum(axis=1).min() < 40, (i, patch, want)


# -- lecture mode --------------------------------------------------------------------------------------
def test_lecture_mode_steps_through_the_beats(window, qtbot, two_d):
    opened(window, two_d)
    lecture = window.lecture
    lecture.enter()
    assert lecture.active and not window.controls.isVisible() and window.isFullScreen()
    assert window.caption.text() == "first caption"
    lecture.next()
    qtbot.waitUntil(lambda: window.session.frame == 6 and not window.player.playing, timeout=10000)
    assert window.caption.text() == "second caption"
    lecture.next()
    qtbot.waitUntil(lambda: window.session.frame == 10 and not window.player.playing, timeout=10000)
    assert window.caption.text() == "third caption, with a faster GD"
    assert window.session.view.hyper[0]["lr"] == 0.05  # the beat's set was applied
    lecture.previous()
    assert window.session.frame == 6 and window.caption.text() == "second caption"
    assert window.session.view.hyper[0]["lr"] == 0.15  # and undone when going back
    lecture.next()
    qtbot.waitUntil(lambda: window.session.view.hyper[0]["lr"] == 0.05, timeout=10000)
    assert not window.session.dirty  # the beats are the file's, not unsaved edits
    lecture.leave()
    assert not lecture.active and window.controls.isVisible()
    assert window.session.view.hyper[0]["lr"] == 0.15  # leaving restores the scenario as written


# -- exports -------------------------------------------------------------------------------------------
def test_gif_export_has_the_expected_frame_count(window, tmp_path, two_d):
    import imageio.v3 as iio

    opened(window, two_d)
    window.session.set_frame(7)
    out = tmp_path / "run.gif"
    n = export.animation(window.session, window.panels, out, every=4)
    assert n == len(export.frame_steps(30, 4)) == 9  # 0, 4, ..., 28, and the last step 30
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == n
    assert not np.array_equal(frames[0], frames[-1])
    assert window.session.frame == 7  # restored


def test_mp4_export_has_the_expected_frame_count(window, tmp_path, two_d):
    import imageio.v3 as iio

    opened(window, two_d)
    out = tmp_path / "run.mp4"
    n = export.animation(window.session, window.panels, out, every=4)
    frames = np.stack(list(iio.imiter(out)))
    assert frames.shape[0] == n == 9
    assert frames.std() > 5  # a picture, not a blank frame


def test_csv_and_png_exports(window, tmp_path, two_d):
    import pandas as pd

    opened(window, two_d)
    table = pd.read_csv(export.csv(window.session, tmp_path / "run.csv"))
    assert set(table["optimizer"]) == {"GD", "HB"} and len(table) == 2 * 31
    assert table.loc[(table.optimizer == "GD") & (table.step == 0), ["x0", "x1"]].values.tolist() == [[2.0, 1.5]]
    png = export.png(window.panels.panel("landscape"), tmp_path / "panel.png")
    from PIL import Image

    assert Image.open(png).size == (window.panels.panel("landscape").width(), window.panels.panel("landscape").height())


def test_snapshot_renders_the_panels_of_a_result(tmp_path, qapp, two_d):
    from PIL import Image

    from core.scenario import execute, load
    from lab.snapshot import render_png

    out = render_png(execute(load(two_d)), tmp_path / "panels.png", size=(900, 500))
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (500, 900, 3)
    assert image.reshape(-1, 3).std(axis=0).max() > 30


def test_export_command_writes_a_screenshot(tmp_path, qapp, two_d):
    import main
    from PIL import Image

    out = tmp_path / "shot.png"
    assert main.main(["export", str(two_d), "--png", str(out), "--size", "1000x700"]) == 0
    assert Image.open(out).size == (1000, 700)


# -- worker --------------------------------------------------------------------------------------------
def test_worker_reports_results_and_a_cancelled_job_stays_silent(qtbot):
    from lab.worker import Worker

    def job(n, progress, cancelled):
        for k in range(n):
            if cancelled():
                return "stale"
            progress(k + 1, n)
            time.sleep(0.002)
        return n * 2

    ok = Worker(job, 20)
    with qtbot.waitSignal(ok.signals.result, timeout=5000) as got:
        ok.start()
    assert got.args == [40]
    stale = Worker(job, 10_000)
    results = []
    stale.signals.result.connect(results.append)
    with qtbot.waitSignal(stale.signals.finished, timeout=5000):
        stale.start()
        stale.cancel()
    assert results == []


def test_a_new_request_cancels_the_stale_one(window, qtbot, monkeypatch):
    # a run estimated longer than SYNC_SECONDS runs in the worker (here every run, by a zero
    # threshold): two quick edits, only the second one's run is shown
    import lab.session

    monkeypatch.setattr(lab.session, "SYNC_SECONDS", 0.0)
    opened(window, ROOT / "scenarios" / "linear_heart.toml")
    s = window.session
    assert not s._worker
    taken = []
    s.result_changed.connect(lambda: taken.append(s.view.hyper[0]["lr"]))
    lr = s.view.hyper[0]["lr"]
    assert s.set("optimizers[0].lr", lr / 2)
    first = s._worker
    assert first is not None and window.busy_label.text().startswith("computing")  # the loading state
    assert s.set("optimizers[0].lr", lr / 4)
    assert first.cancelled and s._worker is not first
    s.wait()
    qtbot.wait(50)
    assert taken == [lr / 4]


def test_unsaved_changes_prompt_before_closing(window, monkeypatch, two_d):
    from PyQt6.QtWidgets import QMessageBox

    opened(window, two_d)
    window.session.set("optimizers[0].lr", 0.1)
    # the title bar marks it modified (Qt's [*] placeholder: the platform's title shows "title*")
    assert window.session.dirty and window.isWindowModified()
    assert window.windowHandle().title().startswith("two optimizers on a rotated quadratic* - ")
    asked = []

    def answer(button):
        return lambda *a, **k: asked.append(a[2]) or button

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not window.close() and window.isVisible()
    assert "unsaved changes" in asked[-1]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    assert window.close()


def test_panels_can_be_hidden_and_shown_from_the_view_menu(window, two_d):
    opened(window, two_d)
    acts = window.panel_actions
    assert acts["eigen"].isChecked() and not acts["model"].isChecked()  # as the scenario's view.panels says
    acts["eigen"].setChecked(False)
    assert not window.panels.panel("eigen").isVisible()
    acts["eigen"].setChecked(True)
    eigen = window.panels.panel("eigen")
    assert eigen.isVisible() and len(eigen.points) == 2
