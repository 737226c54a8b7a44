"""Every lesson readable at 1280 x 720, in normal and in lecture mode (issue 12): the real window at
1280 x 720, lecture mode entered with F5 (the key a lecturer presses), then geometry facts that a
reader's eye checks on a screenshot: every plot has room, the caption shows its whole text, the
convergence legend covers (almost) no curve, the loss line fits its row, every text grows in
lecture mode and comes back after Esc, and nothing moves while the lesson plays.

The offscreen platform's only screen is 800 x 800, so lecture mode's full screen is that; the window
is then resized to 1280 x 720 (a 720-line projector) with the lecture still running. Its fonts are
the ones chosen for the 800-line screen, a little larger than a real 720-line projector gets: the
layout facts hold with room to spare there.

Geometry is in pixels of Qt's layout (integers from font metrics and layout arithmetic): the same
on any x86 CPU; the bounds below hold with wide margins (tens of pixels, a few per cent)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QRect, Qt
from PyQt6.QtGui import QFontMetrics

from scenarios import FOLDER as LESSONS
from tests.windows import main_window

W, H = 1280, 720
#: the least a plot's view box may have: below this a curve is a strip (the old edge-of-stability
#: sharpness plot had a height of 0 in lecture mode)
MIN_VIEW = 120
#: the share of a convergence plot's curve (sampled every 4 px along it) a legend may cover
MAX_COVERED = 0.02

# the edge-of-stability lesson's panels and captions on a net small enough for a test (the lesson
# itself computes its sharpness for about 80 s)
EDGE = """
format = 1
title = "Edge of stability, small"
seed = 0
device = "cpu"
dtype = "float64"
steps = 40
[problem]
kind = "mlp"
dataset = "regression1d"
hidden = [8]
activation = "tanh"
n = 40
noise = 0.1
[start]
init = true
[[optimizers]]
kind = "gd"
label = "GD, lr = 0.2"
lr = 0.2
[[optimizers]]
kind = "gd"
label = "GD, lr = 0.05"
lr = 0.05
[view]
panels = ["convergence", "eigen", "model"]
convergence = "loss"
[[beats]]
step = 0
caption = "Same net, same start, two step sizes. The sharpness starts at 6.1, below both stability lines (2 / 0.2 = 10 and 2 / 0.05 = 40)."
[[beats]]
step = 10
caption = "Progressive sharpening: with lr = 0.2 the sharpness has overshot its line (about 17 > 10) and the loss jumped from 0.07 to 2.2. GD catapults out of the sharp region into a flatter one."
panel = "eigen"
pause = true
[[beats]]
step = 20
caption = "Edge of stability: the sharpness hovers at 2 / lr = 10 while the loss keeps falling, with small bumps. With lr = 0.05 it settled near 16, far below its line at 40."
panel = "eigen"
pause = true
"""


@pytest.fixture
def edge(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(EDGE)
    return path


def settle(qtbot, ms: int = 30) -> None:
    qtbot.wait(ms)


def lecture(window, qtbot) -> None:
    """F5 (a real key press; shortcuts fire in the active window, as on a desktop), then the window
    at 1280 x 720 with the lecture still on."""
    window.activateWindow()
    window.raise_()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.lecture.active
    window.showNormal()  # out of the 800 x 800 full screen, into a 1280 x 720 "projector"
    window.resize(W, H)
    settle(qtbot, 60)
    assert (window.width(), window.height()) == (W, H)


def plots(window) -> dict[str, object]:
    """Every visible plot's view box, by name."""
    out = {}
    area = window.panels
    for name in ("landscape", "convergence", "model"):
        p = area.panel(name)
        if p.isVisible():
            out[name] = p.item.vb
    eig = area.panel("eigen")
    if eig.isVisible():
        for key, plot in (("eigen/circle", eig.circle_plot), ("eigen/spectrum", eig.spec_plot)):
            if plot.isVisible():
                out[key] = plot.vb
    return out


def caption_complete(caption) -> None:
    """The caption bar shows its whole text, wrapped inside its height (no "…")."""
    text = caption.text()
    assert text
    assert caption.shown() == text, caption.shown()
    assert caption.wordWrap()
    fm = QFontMetrics(caption.font())
    room = caption.contentsRect()
    need = fm.boundingRect(QRect(0, 0, room.width() - 2 * caption._pad, 100000), int(Qt.TextFlag.TextWordWrap.value), text)
    assert need.height() <= room.height(), (need.height(), room.height(), text)


def covered_share(panel) -> float:
    """The share of the convergence curves' points (sampled along each segment, in scene pixels)
    under the legend's scene rectangle; 0 when the legend is not drawn over the plot."""
    legend = panel.legend
    if not legend.isVisible():
        return 0.0
    rect = legend.sceneBoundingRect()
    vb = panel.item.vb
    inside = total = 0
    for c in panel.curves:
        x, y = c.getData()
        if x is None or not len(x):
            continue
        ok = np.isfinite(x) & np.isfinite(y)
        pts = [vb.mapViewToScene(pg_point(a, b)) for a, b in zip(np.asarray(x)[ok], np.asarray(y)[ok])]
        px, py = along([p.x() for p in pts], [p.y() for p in pts])
        inside += int(np.count_nonzero((px >= rect.left()) & (px <= rect.right()) & (py >= rect.top()) & (py <= rect.bottom())))
        total += px.size
    return inside / max(total, 1)


def along(px, py, spacing: float = 4.0):
    """The polyline sampled every ``spacing`` pixels (the test's own, not the panel's helper)."""
    px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
    xs, ys = [px[:1]], [py[:1]]
    for k in range(len(px) - 1):
        n = max(int(np.ceil(np.hypot(px[k + 1] - px[k], py[k + 1] - py[k]) / spacing)), 1)
        t = np.arange(1, n + 1) / n
        xs.append(px[k] + t * (px[k + 1] - px[k]))
        ys.append(py[k] + t * (py[k + 1] - py[k]))
    return np.concatenate(xs), np.concatenate(ys)


def pg_point(a: float, b: float):
    from PyQt6.QtCore import QPointF

    return QPointF(float(a), float(b))


def test_lecture_at_1280x720_gives_every_plot_room(edge, qtbot):
    """Three stacked panels (convergence, eigen, model) without a landscape: the old layout left the
    sharpness plot 0 px tall at lecture fonts. Each view box is now at least MIN_VIEW px both ways,
    and lies inside its widget (a long title no longer pushes the axis past the panel's edge)."""
    with main_window(W, H, lesson=edge) as window:
        window.session.wait(timeout_ms=120_000, extras=True)
        lecture(window, qtbot)
        boxes = plots(window)
        assert {"convergence", "eigen/spectrum", "model"} <= set(boxes), set(boxes)
        for name, vb in boxes.items():
            assert vb.height() >= MIN_VIEW and vb.width() >= MIN_VIEW, (name, vb.width(), vb.height())
        from PyQt6.QtGui import QFontMetricsF

        conv = window.panels.panel("convergence")
        label = conv.item.getAxis("left").label  # the y label fits along its axis (it was cut at both ends)
        assert QFontMetricsF(label.font()).horizontalAdvance(label.toPlainText()) <= conv.item.vb.height()
        eig = window.panels.panel("eigen")
        right = eig.spec_plot.sceneBoundingRect().right()
        assert right <= eig.canvas.width() + 1, (right, eig.canvas.width())


def test_lecture_captions_wrap_in_full_at_1280x720(edge, qtbot):
    """Every beat's caption (up to 184 characters at lecture size) is shown whole, wrapped; before,
    the bar had two lines and cut it with "…". The bar's height is fixed for the lesson, so it does
    not change from beat to beat."""
    with main_window(W, H, lesson=edge) as window:
        window.session.wait(timeout_ms=120_000, extras=True)
        lecture(window, qtbot)
        height = window.caption.height()
        for k in range(3):
            if k:
                qtbot.keyClick(window, Qt.Key.Key_PageDown)
                qtbot.waitUntil(lambda: window.lecture.index == k, timeout=20_000)
                window.session.wait(timeout_ms=120_000, extras=True)
                settle(qtbot)
            caption_complete(window.caption)
            assert window.caption.height() == height


@pytest.mark.parametrize("lesson", ["bowl_learning_rates", "linear_sgd_minibatch", "sgd_escapes_local_min"])
def test_the_convergence_legend_covers_almost_no_curve(lesson, qtbot):
    """Normal mode, then lecture mode, at 1280 x 720: the legend sits where it covers at most 2 % of
    the curves' length (the old top-right legend lay over the lr = 1 and lr = 0.1 curves of the
    bowl, over the SGD noise band of the minibatch lesson), or under the plot when no place inside is
    free; every entry is then still listed there."""
    with main_window(W, H, lesson=LESSONS / f"{lesson}.toml") as window:
        settle(qtbot, 60)
        panel = window.panels.panel("convergence")
        for mode in ("normal", "lecture"):
            if mode == "lecture":
                lecture(window, qtbot)
            share = covered_share(panel)
            assert share <= MAX_COVERED, (mode, share)
            if not panel.legend.isVisible():
                assert panel.key.isVisible()
                key = panel.key.text().replace("&nbsp;", " ").replace("&amp;", "&")
                for _, label in panel.legend.items:  # the predictions listed as one entry, "theory" and each rate
                    name = label.text.removeprefix("theory ")
                    assert name in key and (name == label.text or "theory" in key), label.text
            else:  # inside the plot, whole
                vb = panel.item.vb.sceneBoundingRect()
                assert vb.contains(panel.legend.sceneBoundingRect()), mode


def test_the_loss_line_fits_its_row(qtbot):
    """Thirteen trajectories (GD and three families of four SGD seeds): the loss row lists a family
    as one entry with its range of losses, and the whole text fits the row's fixed height (before,
    it ran to a third line that was cut)."""
    with main_window(W, H, lesson=LESSONS / "linear_sgd_minibatch.toml") as window:
        window.session.set_frame(window.session.steps)
        settle(qtbot)
        label = window.player.losses
        text = label.text()
        assert "(x4)" in text and " to " in text
        doc_height = label.heightForWidth(label.width())
        assert 0 < doc_height <= label.height(), (doc_height, label.height())


def test_equal_scale_is_kept_where_it_does_not_squash_the_picture(qtbot):
    """The bowl (a square box) keeps 1:1; the heart net's PCA plane (87.8 % of the variance on PC1,
    a box about 3 times wider than tall) fills the panel instead (it was a thin strip); the button
    still switches it."""
    with main_window(W, H, lesson=LESSONS / "bowl_learning_rates.toml") as window:
        land = window.panels.panel("landscape")
        assert land.aspect.isChecked() and land.item.vb.state["aspectLocked"]
        assert window.open(LESSONS / "heart_adam_pca.toml")
        window.session.wait(timeout_ms=120_000)
        settle(qtbot)
        assert not land.aspect.isChecked() and not land.item.vb.state["aspectLocked"]
        assert land.item.vb.height() >= 0.6 * land.plot.height()
        qtbot.mouseClick(land.aspect, Qt.MouseButton.LeftButton)
        assert land.item.vb.state["aspectLocked"]


def test_every_text_grows_in_lecture_mode_and_comes_back(qtbot):
    """Ticks and axis labels of every plot, legends, the eigen panel's titles and its sqrt(beta)
    labels, the player and the caption are larger in lecture mode and back to their sizes after Esc
    (the sqrt(beta) labels and the eigen titles after a refresh stayed at 9 pt before)."""
    with main_window(W, H, lesson=LESSONS / "zigzag_momentum.toml") as window:
        settle(qtbot)
        area = window.panels
        eig = area.panel("eigen")
        conv = area.panel("convergence")
        land = area.panel("landscape")

        def sizes():
            ticks = []
            for item in (land.item, conv.item, eig.circle_plot, eig.spec_plot):
                for side in ("left", "bottom"):
                    axis = item.getAxis(side)
                    f = axis.style["tickFont"]
                    ticks.append(f.pointSize() if f is not None else 0)
                    ticks.append(axis.label.font().pointSize())
            roots = [it.textItem.font().pointSize() for it in eig.circles if hasattr(it, "textItem")]
            titles = [p.titleLabel.opts.get("size") for p in (eig.circle_plot, eig.spec_plot)]
            legend = [label.opts.get("size") for _, label in conv.legend.items]
            return ticks, roots, titles, legend, window.player.step_label.font().pointSize(), window.caption.font().pointSize()

        before = sizes()
        assert before[1], "the heavy-ball trajectory's sqrt(beta) circle is labelled"
        lecture(window, qtbot)
        eig.refresh()  # a beat's re-run redraws the panel: its texts keep the lecture's size
        during = sizes()
        points = getattr(window.lecture, "points", 20)
        # tick labels at the lecture size; axis labels larger too, unless fitted to a short axis
        # (lab.style.fit_axis_label: a long y label on a short plot, down to 7 pt rather than cut)
        assert all(t >= points for t in during[0][0::2]), during[0]
        assert all(t >= 7 for t in during[0][1::2]), (before[0], during[0])
        assert sum(t > b for t, b in zip(during[0][1::2], before[0][1::2])) >= 6, (before[0], during[0])
        assert all(d > b for d, b in zip(during[1], before[1])), (before[1], during[1])
        assert all(t is not None and int(t.rstrip("pt")) >= points - 2 for t in during[2]), during[2]
        assert set(during[3]) == {f"{points}pt"}
        assert during[4] > before[4] and during[5] > before[5]
        qtbot.keyClick(window, Qt.Key.Key_Escape)
        settle(qtbot)
        assert not window.lecture.active
        assert sizes() == before


def test_nothing_moves_while_a_lecture_plays(qtbot):
    """Stepping through the bowl lesson in lecture mode at 1280 x 720 (beats change the caption):
    the panels, the plots' view boxes, the legend, the player and the caption keep their geometry."""
    with main_window(W, H, lesson=LESSONS / "bowl_learning_rates.toml") as window:
        lecture(window, qtbot)
        conv = window.panels.panel("convergence")

        def layout():
            return (window.panels.geometry(), window.caption.geometry(), window.player.geometry(),
                    conv.item.vb.sceneBoundingRect(), conv.legend.pos(), conv.legend.isVisible(),
                    window.panels.panel("landscape").item.vb.sceneBoundingRect())

        first = layout()
        for _ in range(window.session.steps):
            qtbot.keyClick(window, Qt.Key.Key_Right)
            qtbot.wait(2)
            assert layout() == first, window.session.frame
