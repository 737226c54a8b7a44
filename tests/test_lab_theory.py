"""Theory you can see (issue 12, defects 5, 6 and 12 for the theory panels), on the real window.

Each test opens a shipped lesson (or a small variant of one) in the ``window`` fixture of
tests/conftest.py, drives it with real key presses and mouse clicks, and reads what the convergence
and eigen panels drew. The numbers they compare to are closed forms of the lessons (their
descriptions derive them); tolerances are a few ulps of float64 values of order 1, or the 3
significant digits the labels print.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "scenarios"


def opened(window, path: Path, extras: bool = False):
    assert window.open(path), window.banner.label.text()
    window.session.wait(extras=extras)
    return window


def variant(name: str, tmp_path: Path, old: str, new: str) -> Path:
    """A shipped lesson with ``old`` replaced by ``new`` and without its checks and beats (they name
    the shipped values)."""
    text = (LESSONS / f"{name}.toml").read_text()
    assert old in text
    text = re.sub(r"(?ms)^\[\[(expect|beats)\]\].*?(?=^\[|\Z)", "", text.replace(old, new))
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def to_end(window, qtbot) -> None:
    window.player.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.session.frame == window.session.steps


def legend_texts(item) -> list[str]:
    return [label.text for _, label in item.legend.items]


def theory_dashes(panel) -> list:
    return [c for c in panel.curves if c.opts["pen"].style() in (Qt.PenStyle.DashLine, Qt.PenStyle.CustomDashLine)]


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(8, widget.height() // 2))


# -- defect 5: the theory overlay -------------------------------------------------------------------
def test_predictions_are_drawn_on_top_in_a_contrasting_style(window):
    opened(window, LESSONS / "linear_order_changes.toml")
    panel = window.panels.panel("convergence")
    measured = [c for c in panel.curves if c.opts["pen"].style() == Qt.PenStyle.SolidLine and c.name()]
    dashes = theory_dashes(panel)
    assert len(measured) == 4 and len(dashes) == 4
    for m, d in zip(measured, dashes):
        mp, dp = m.opts["pen"], d.opts["pen"]
        assert d.zValue() > m.zValue()  # on top, not under the measured line
        assert dp.color().name() != mp.color().name()  # not the measured line's colour
        assert dp.widthF() > mp.widthF()
        # contrast: the dashes are much darker than the curve they sit on
        assert dp.color().lightnessF() < 0.6 * mp.color().lightnessF()


def test_each_prediction_is_labelled_with_its_own_rate(window):
    # factors |1 - lr 2 sigma^2|: 0.6 and 0.856 (lr 0.2), 0.8 and 0.352 (lr 0.9); the old legend
    # said "theory, rate 0.856" for the sigma = 1 curve (the worst case over both directions)
    opened(window, LESSONS / "linear_order_changes.toml")
    panel = window.panels.panel("convergence")
    names = legend_texts(panel)
    theory = [n for n in names if n.startswith("theory")]
    assert theory == ["theory 0.6/step", "theory 0.856/step", "theory 0.8/step", "theory 0.352/step"], names
    on_plot = sorted(t.textItem.toPlainText() for t in panel.labels)
    assert on_plot == sorted(["0.6/step", "0.856/step", "0.8/step", "0.352/step"])


def test_the_bowl_has_a_predicted_curve_per_learning_rate(window):
    opened(window, LESSONS / "bowl_learning_rates.toml")
    panel = window.panels.panel("convergence")
    names = [n for n in legend_texts(panel) if n.startswith("theory")]
    # |1 - 2 lr| for lr = 0.1, 0.3, 0.5, 0.75, 1
    assert names == ["theory 0.8/step", "theory 0.4/step", "theory 0/step", "theory 0.5/step", "theory 1/step"]
    # the prediction lies on the measured distance (2.5 |1 - 2 lr|^k): drawn, not just named
    y = theory_dashes(panel)[0].yData  # the data (getData gives the log-axis coordinates)
    np.testing.assert_allclose(y[:10], 2.5 * 0.8 ** np.arange(10), rtol=1e-12)


def test_per_mode_view_shows_the_error_along_each_eigenvector(window, qtbot):
    opened(window, LESSONS / "zigzag_momentum.toml")
    panel = window.panels.panel("convergence")
    assert panel.per_mode.isVisible()
    click(qtbot, panel.per_mode)
    assert panel.per_mode.isChecked()
    view = window.session.view
    m = view.modes[window.session.selected]
    solid = [c for c in panel.curves if c.opts["pen"].style() == Qt.PenStyle.SolidLine and c.name()]
    assert [c.name().split(":")[0] for c in solid] == [f"h = {h:.3g}" for h in m.h]
    for c, j in zip(solid, range(len(m.h))):
        np.testing.assert_allclose(c.yData, np.maximum(np.abs(m.measured[:, j]), 1e-16), rtol=1e-12)
    assert len(theory_dashes(panel)) == len(m.h)
    assert "per eigenvector of" in panel.title.text()
    click(qtbot, panel.per_mode)  # back to the series
    assert not panel.per_mode.isChecked() and len(theory_dashes(panel)) == 3


# -- defect 6: the eigen panel ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["stability_edge", "linear_sigma_max_limits_lr"])
def test_a_diverged_trajectory_keeps_its_eigenvalues(window, qtbot, name):
    opened(window, LESSONS / f"{name}.toml")
    view = window.session.view
    assert view.diverged.any()
    to_end(window, qtbot)  # past the divergence
    eigen = window.panels.panel("eigen")
    for i in np.flatnonzero(view.diverged):
        x, y = eigen.points[i].getData()
        assert len(x) and np.max(np.hypot(x, y)) > 1.0  # outside the unit circle: why it diverged


def test_the_plane_autoranges_past_the_unit_circle(window, qtbot, tmp_path):
    # GD with lr = 0.5 on h = 10: z = 1 - 5 = -4, beyond the old +-3 clamp
    opened(window, variant("stability_edge", tmp_path, "lr = [0.15, 0.19, 0.21]", "lr = [0.15, 0.5]"))
    to_end(window, qtbot)
    eigen = window.panels.panel("eigen")
    (x0, x1), (y0, y1) = eigen.circle_plot.getViewBox().viewRange()
    assert x0 <= -4.0 and x1 >= 4.0


def test_each_optimizer_has_its_own_stability_line(window, qtbot):
    from core.stability import curvature_limit

    opened(window, LESSONS / "zigzag_momentum.toml")
    eigen = window.panels.panel("eigen")
    view = window.session.view
    want = {round(curvature_limit(k, h), 9) for k, h in zip(view.kinds, view.hyper) if curvature_limit(k, h) is not None}
    assert len(want) >= 3  # GD's 2/lr and the momentum methods' own limits
    assert {round(line.limit, 9) for line in eigen.limits} == want
    for line in eigen.limits:  # each in its optimizer's colour, at its value (linear bars here)
        assert line.pen.color().name() == view.colors[line.owners[0]].lower()
        assert line.value() == pytest.approx(line.limit)
    # following another trajectory makes its line the thick, labelled one
    combo = window.player.follow
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    sel = window.session.selected
    assert sel == 1
    thick = max(eigen.limits, key=lambda ln: ln.pen.widthF())
    assert sel in thick.owners and "=" in thick.label.toPlainText()


def test_the_sqrt_beta_circle_is_drawn_for_momentum(window):
    opened(window, LESSONS / "momentum_spirals.toml")
    eigen = window.panels.panel("eigen")
    circles = [c for c in eigen.circles if hasattr(c, "getData")]
    radii = sorted(round(float(np.max(np.hypot(*c.getData()))), 9) for c in circles)
    assert radii == [round(np.sqrt(0.5), 9), round(np.sqrt(0.9), 9)]  # beta = 0.5 and 0.9 (two share 0.9)
    texts = sorted(c.textItem.toPlainText() for c in eigen.circles if hasattr(c, "textItem"))
    assert texts == ["√β = 0.707", "√β = 0.949"]


def test_a_wide_spectrum_is_drawn_on_a_log_axis(window):
    opened(window, LESSONS / "linear_wide_spectrum.toml")
    eigen = window.panels.panel("eigen")
    h = window.session.view.spectra.hessian[0, 0]
    assert h.max() / h.min() > 100
    assert eigen.log_bars and eigen.spec_plot.getAxis("left").logMode
    # the smallest bar is visible: its top is a decade-scale height above the axis' bottom
    tops = np.asarray(eigen.bars.opts["y0"]) + np.asarray(eigen.bars.opts["height"])
    np.testing.assert_allclose(tops, np.log10(h[: len(tops)]), rtol=1e-12)
    (_, _), (y0, y1) = eigen.spec_plot.getViewBox().viewRange()
    assert y0 < np.log10(h.min()) < y1


# -- defect 12: the sharpness panel while the tracker runs --------------------------------------------
def test_the_sharpness_panel_shows_progress_until_the_sharpness_arrives(window, qtbot, tmp_path):
    opened(window, variant("edge_of_stability", tmp_path, "steps = 600", "steps = 40"))
    eigen = window.panels.panel("eigen")
    assert eigen._mode == "sharpness"
    assert "extras" in window.session.jobs  # the tracker is still running
    assert eigen.waiting.isVisible() and eigen.waiting.textItem.toPlainText().startswith("tracking the sharpness")
    qtbot.waitUntil(lambda: "%" in eigen.waiting.textItem.toPlainText() or "extras" not in window.session.jobs, timeout=60_000)
    window.session.wait(extras=True)
    assert window.session.result.sharpness
    assert not eigen.waiting.isVisible()
    assert any(hasattr(it, "getData") and len(it.getData()[0]) for it in eigen.sharp_items)


def test_opening_a_smaller_run_never_indexes_the_previous_runs_points(window, qtbot):
    """Opening a lesson with fewer trajectories while the eigen panel is shown: another panel's
    result slot may move the frame before the eigen panel has rebuilt its items for the new run, and
    it then indexed its old per-trajectory items into the new spectra (IndexError in a slot, the
    panel frozen). Each open is followed by real End key presses that move the frame."""
    for name in ("linear_momentum_stable_lr", "stability_edge", "zigzag_momentum"):
        opened(window, LESSONS / f"{name}.toml")
        window.panels.show_panel("eigen", True)
        to_end(window, qtbot)
        eigen, view = window.panels.panel("eigen"), window.session.view
        assert len(eigen.points) == view.size == view.spectra.iteration.shape[1]
