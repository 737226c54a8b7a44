"""The landscape panel on the real window (issue 12, defects 8, 9, 10, 12, 16 and "many
trajectories stay fast"). Checks read the plot's own graphics items (whatever the panel calls
them) or pixel scales, so each fails on the panel before this issue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtWidgets import QLabel

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "scenarios"


def opened(window, name: str):
    assert window.open(LESSONS / f"{name}.toml"), window.banner.label.text()
    window.session.wait()
    return window.panels.panel("landscape")


def plotted(panel) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) of every line and scatter in the landscape's plot (all the panel draws on its axes)."""
    out = []
    for it in panel.plot.getPlotItem().items:
        if isinstance(it, pg.PlotDataItem | pg.PlotCurveItem | pg.ScatterPlotItem) and it.isVisible():
            x, y = it.getData()
            if x is not None and len(x):
                out.append((np.asarray(x, dtype=float), np.asarray(y, dtype=float)))
    return out


def test_diverged_paths_stop_at_the_picture_and_are_marked(window, qtbot):
    # defect 8: linear_momentum_stable_lr's diverging runs (GD lr 1.05, low-pass lr 20) were drawn out
    # to |w| ~ 1e6, a hairball across the landscape
    panel = opened(window, "linear_momentum_stable_lr")
    view = window.session.view
    assert view.diverged.sum() >= 2
    window.activateWindow()
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_End)  # the last step, as the presenter would
    qtbot.waitUntil(lambda: window.session.frame == window.session.steps, timeout=3000)
    (a0, a1), (b0, b1) = window.session.scenario.view.span
    # a converging run may swing out of the picture and back (PyTorch momentum reaches w ~ 6.6):
    # that stays drawn; a diverged one ends at the picture, nowhere near the 1e6 it reaches
    pad = 5 * (a1 - a0)
    for x, y in plotted(panel):
        ok = np.isfinite(x) & np.isfinite(y)
        assert (x[ok] >= a0 - pad).all() and (x[ok] <= a1 + pad).all(), x[ok].max()
        assert (y[ok] >= b0 - pad).all() and (y[ok] <= b1 + pad).all(), y[ok].max()
    # an x where each diverged path leaves the picture, labelled with the engine's divergence step
    crosses = [it for it in panel.plot.getPlotItem().items if isinstance(it, pg.ScatterPlotItem)
               and it.opts["symbol"] == "x" and it.isVisible()]
    assert sum(len(c.getData()[0]) for c in crosses) == int(view.diverged.sum())
    texts = [it.toPlainText() for it in panel.plot.getPlotItem().items if isinstance(it, pg.TextItem) and it.isVisible()]
    for i in np.flatnonzero(view.diverged):
        assert f"diverged at step {view.last[i]}" in texts, texts


def test_the_bowl_is_drawn_at_equal_scale_with_a_toggle(window, qtbot):
    # defect 9: the circular bowl showed as ellipses (x and y had different data per pixel)
    panel = opened(window, "bowl_learning_rates")
    window.resize(1280, 720)
    qtbot.wait(50)
    vb = panel.plot.getPlotItem().vb
    sx, sy = vb.viewPixelSize()
    assert abs(sx / sy - 1) < 0.01, (sx, sy)
    assert panel.aspect.isChecked() and panel.aspect.isEnabled()
    qtbot.mouseClick(panel.aspect, Qt.MouseButton.LeftButton)  # off: each axis fills the panel
    qtbot.wait(50)
    sx, sy = vb.viewPixelSize()
    assert abs(sx / sy - 1) > 0.05, (sx, sy)
    qtbot.mouseClick(panel.aspect, Qt.MouseButton.LeftButton)
    qtbot.wait(50)
    sx, sy = vb.viewPixelSize()
    assert abs(sx / sy - 1) < 0.01


def test_the_one_d_curve_is_not_locked_to_equal_scale(window):
    panel = opened(window, "quartic_gd")
    assert not panel.plot.getPlotItem().vb.state["aspectLocked"]


def test_the_legend_is_beside_the_plot_and_seeds_are_one_family(window, qtbot):
    # defect 10: sgd_escapes_local_min's legend covered the shallow minimum; eight SGD seeds were
    # eight entries in one colour
    panel = opened(window, "sgd_escapes_local_min")
    window.resize(1280, 720)
    qtbot.wait(50)
    item = panel.plot.getPlotItem()
    legend = panel.legend
    assert not legend.sceneBoundingRect().intersects(item.vb.sceneBoundingRect())
    texts = [label.text for _, label in legend.items]
    assert len([t for t in texts if t.startswith("SGD")]) == 1, texts
    assert any(t.startswith("SGD: 8 trajectories") for t in texts), texts
    # the family is a colour ramp: its heads have distinct colours
    view = window.session.view
    sgd = [i for i in range(view.size) if view.entry[i] == "SGD"]
    brushes = [b.color().name() for b in panel.heads.data["brush"][sgd]]
    assert len(set(brushes)) >= 4, brushes


def test_no_picture_yet_says_computing_or_why_not(window, qtbot):
    # defect 12: while the first run computes (or after it failed) the panel showed empty axes
    panel = window.panels.panel("landscape")
    window.session.model.busy.emit("computing a long scenario (about 20 s) ...")
    qtbot.wait(20)
    assert not panel.plot.isVisible()
    shown = [w for w in panel.findChildren(QLabel) if w.isVisible() and "computing the landscape" in w.text()]
    assert shown
    window.session.model.busy.emit("")
    window.session.model.error.emit("", "the landscape job failed: out of memory")
    qtbot.wait(20)
    assert not panel.plot.isVisible()
    assert any("out of memory" in w.text() for w in panel.findChildren(QLabel) if w.isVisible())
    opened(window, "bowl_learning_rates")
    assert panel.plot.isVisible()


def test_the_derivative_has_its_own_axis(window):
    # defect 16: g'(w) was plotted on the axis labelled "loss"
    panel = opened(window, "quartic_gd")
    item = panel.plot.getPlotItem()
    assert item.getAxis("right").isVisible()
    assert "derivative" in item.getAxis("right").labelText
    assert "loss" in item.getAxis("left").labelText and "derivative" not in item.getAxis("left").labelText
    dashed = [it for it in panel.plot.scene().items() if isinstance(it, pg.PlotDataItem)
              and it.opts["pen"] is not None and pg.mkPen(it.opts["pen"]).style() == Qt.PenStyle.DashLine]
    assert dashed and all(it.getViewBox() is not item.vb for it in dashed)


def test_axes_use_the_problems_coordinate_names(window):
    panel = opened(window, "linear_slow_directions")  # the lesson speaks of w1 (steep) and w2 (shallow)
    item = panel.plot.getPlotItem()
    assert (item.getAxis("bottom").labelText, item.getAxis("left").labelText) == ("w1", "w2")


def test_local_minima_and_saddles_are_marked(window):
    panel = opened(window, "sgd_escapes_local_min")
    points = np.concatenate([np.column_stack(xy) for xy in plotted(panel) if len(xy[0]) <= 4] or [np.zeros((0, 2))])
    assert np.isclose(points[:, 0], 1.30097599, atol=1e-6).any()  # the shallow well the lesson is about
    assert np.isclose(points[:, 0], -1.50523714, atol=1e-6).any()  # the deep (global) one
    panel = opened(window, "saddle")
    saddles = [it for it in panel.plot.getPlotItem().items if isinstance(it, pg.ScatterPlotItem) and it.opts["symbol"] == "+"]
    assert saddles and np.allclose(np.column_stack(saddles[0].getData()), [[0.0, 0.0]])


GRID = """format = 1
title = "grid"
seed = 0
dtype = "float64"
steps = 60
[problem]
kind = "quadratic"
eigenvalues = [1.0, 4.0]
[start]
grid = {{ n = [{n}, {n}], box = [[-2.5, 2.5], [-2.5, 2.5]] }}
[[optimizers]]
kind = "gd"
label = "GD"
lr = 0.2
[view]
panels = ["landscape"]
resolution = 41
"""


def test_many_trajectories_are_a_few_items(window, tmp_path):
    # "many trajectories stay fast": one item per trajectory cost ~1.2 ms per trajectory per frame;
    # the item count must not grow with the trajectories
    counts = {}
    for n in (2, 20):
        path = tmp_path / f"grid{n}.toml"
        path.write_text(GRID.format(n=n))
        assert window.open(path), window.banner.label.text()
        window.session.wait()
        window.session.set_frame(30)
        counts[n * n] = len(window.panels.panel("landscape").plot.getPlotItem().items)
    assert counts[400] - counts[4] <= 10, counts
    heads = window.panels.panel("landscape").heads
    assert len(heads.getData()[0]) == 400


def test_a_click_still_sets_the_start_on_the_equal_scale_plot(window, qtbot):
    panel = opened(window, "bowl_learning_rates")
    plot = panel.plot
    vb = plot.getPlotItem().vb
    from PyQt6.QtCore import QPointF

    p = plot.mapFromScene(vb.mapViewToScene(QPointF(-1.0, 1.5)))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(p.x(), p.y()))
    window.session.wait()
    qtbot.waitUntil(lambda: np.allclose(window.session.result.run.thetas[0, 0].numpy(), [-1.0, 1.5], atol=0.05), timeout=5000)
