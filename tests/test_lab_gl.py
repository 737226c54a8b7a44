"""The 3-D surface view under a real X server with OpenGL (test.sh runs these with xvfb-run and
QT_QPA_PLATFORM=xcb); offscreen, the view must fall back to a visible note."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab.export import to_array
from tests.windows import main_window

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def window(qapp):
    with main_window(1300, 800, ROOT / "scenarios" / "zigzag_momentum.toml") as w:
        yield w


@pytest.mark.gl
def test_surface_view_draws_the_landscape_in_3d(window, qtbot):
    panel = window.panels.panel("landscape")
    panel.toggle3d.setChecked(True)
    qtbot.wait(200)
    view3d = panel.view3d
    assert view3d.available, view3d.text()
    assert view3d.surface is not None and len(view3d.lines) == window.session.view.size
    window.session.set_frame(10)
    qtbot.wait(100)
    pos = view3d.lines[0].pos
    assert pos.shape == (11, 3)
    np.testing.assert_allclose(pos[-1, :2] + np.asarray(view3d._offset), window.session.view.coords[10, 0], rtol=1e-5, atol=1e-6)  # GL keeps float32
    frame = to_array(view3d.view.grabFramebuffer())
    assert frame.reshape(-1, 3).std(axis=0).max() > 20  # something other than the background was drawn


def test_the_3d_toggle_shows_the_view_or_says_why_not(window):
    from lab.panels.surface3d import gl_unavailable_reason

    panel = window.panels.panel("landscape")
    panel.toggle3d.setChecked(True)
    reason = gl_unavailable_reason()  # offscreen (the normal test run): "the Qt platform 'offscreen' has no OpenGL"
    assert panel.view3d.available == (reason is None)
    if reason is not None:
        assert "3-D view unavailable" in panel.view3d.text() and reason in panel.view3d.text()
    panel.toggle3d.setChecked(False)
    assert panel.stack.currentWidget() is panel.plot
