"""The panels draw the arrays core.analysis computed in the job, and nothing else: what a panel's
items hold equals the RunView's arrays at the player's step (the real main window, offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def opened(window, path):
    assert window.open(path), window.banner.label.text()
    window.session.wait()
    return window


def at(window, step: int, selected: int = 0):
    window.session.select(selected)
    window.session.set_frame(step)
    window.panels.flush()


def test_the_eigen_panel_draws_the_spectra_of_the_view(window):
    opened(window, ROOT / "scenarios" / "momentum_spirals.toml")
    window.panels.show_panel("eigen", True)
    eigen, view = window.panels.panel("eigen"), window.session.view
    sp = view.spectra
    assert sp.mode == "exact"
    at(window, 40, selected=0)
    for i, item in enumerate(eigen.points):
        x, y = item.getData()
        z = sp.iteration[0, i][np.isfinite(sp.iteration[0, i])]
        np.testing.assert_array_equal(x, z.real)
        np.testing.assert_array_equal(y, z.imag)
    heights = eigen.bars.opts["height"]
    np.testing.assert_array_equal(heights, sp.hessian[0, 0][: len(heights)])
    # heavy ball's line is its own limit 2 (1 + beta) / lr, not GD's 2 / lr (the followed
    # trajectory's line is the one its owners include; every optimizer has its own line now)
    def followed():
        return next(line for line in eigen.limits if window.session.selected in line.owners)

    assert followed().value() == pytest.approx(2 * 1.9 / 0.05) and followed().isVisible()
    gd = view.kinds.index("gd")
    at(window, 40, selected=gd)
    assert followed().value() == pytest.approx(2 / 0.05)
    assert "ρ = 0.949" in eigen.note.text()


def test_the_eigen_panel_follows_the_local_spectra_along_the_run(window, tmp_path):
    text = (ROOT / "scenarios" / "edge_of_stability.toml").read_text()
    text = text.replace('hidden = [16, 16]', 'hidden = [6]').replace('activation = "tanh"', 'activation = "relu"')
    path = tmp_path / "relu1d.toml"
    path.write_text(text)
    opened(window, path)
    window.panels.show_panel("eigen", True)
    window.panels.show_panel("model", True)
    view = window.session.view
    sp, model = view.spectra, view.model
    assert sp.mode == "local" and model is not None and model.elbows is not None
    eigen, panel = window.panels.panel("eigen"), window.panels.panel("model")
    for step in (0, 150, 600):
        at(window, step, selected=1)
        row = sp.row(step)
        heights = eigen.bars.opts["height"]
        np.testing.assert_array_equal(heights, sp.hessian[row, 1][: len(heights)])
        x, y = panel.curve.getData()
        np.testing.assert_array_equal(x, model.grid[:, 0])
        np.testing.assert_array_equal(y, model.predictions[model.row(step), 1])
        lo, hi = model.grid[0, 0], model.grid[-1, 0]
        e = model.elbows[min(step, view.last[1]), 1]
        want = sorted(float(v) for v in e if np.isfinite(v) and lo <= v <= hi)
        assert sorted(line.value() for line in panel.elbows) == pytest.approx(want, rel=0, abs=0)
        assert f"at step {step}" in panel.title.text()


def test_the_landscape_draws_the_known_minima_of_the_view(window):
    opened(window, ROOT / "scenarios" / "momentum_spirals.toml")
    landscape, view = window.panels.panel("landscape"), window.session.view
    x, y = landscape.minima.getData()
    np.testing.assert_array_equal(np.column_stack([x, y]), view.minima)


def test_the_panel_names_are_one_qt_free_list_registered_with_the_schema():
    """lab/panels/names.py is THE list: importing it needs no Qt (the CLI and the Qt-free session
    register the names without PyQt6), and the schema's registry then holds exactly those names."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PyQt6', 'pyqtgraph', 'PySide6'):\n"
        "            raise ImportError('no Qt here: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from lab.panels.names import PANEL_NAMES, RIGHT\n"
        "from core.scenario.registry import panel_names\n"
        "assert panel_names() == PANEL_NAMES == ('landscape', 'convergence', 'eigen', 'model', 'phase'), panel_names()\n"
        "assert set(RIGHT) < set(PANEL_NAMES) and 'landscape' not in RIGHT\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_window_lists_every_panel_in_the_view_menu(window):
    from lab.panels.names import PANEL_NAMES

    assert tuple(window.panels.panels) == PANEL_NAMES
    assert tuple(window.panel_actions) == PANEL_NAMES


def test_the_model_panel_draws_phi_and_its_derivative_from_the_activation_table(window, tmp_path):
    """Below the model: each hidden activation and its derivative, the closed forms of
    core.problems.activations (exact equality: the panel draws the arrays core computed)."""
    from core.problems.activations import derivatives

    text = (ROOT / "scenarios" / "edge_of_stability.toml").read_text()
    path = tmp_path / "tanh.toml"
    path.write_text(text)
    opened(window, path)
    window.panels.show_panel("model", True)
    panel, model = window.panels.panel("model"), window.session.view.model
    assert [a[0] for a in model.activations] == ["tanh"]
    name, z, phi, d1 = model.activations[0]
    want_phi, want_d1, _ = derivatives("tanh", __import__("torch").from_numpy(z))
    np.testing.assert_array_equal(phi, want_phi.numpy())
    np.testing.assert_array_equal(d1, want_d1.numpy())
    assert panel.act_plot.isVisible() and len(panel.act_curves) == 2
    (x0, y0), (x1, y1) = (c.getData() for c in panel.act_curves)
    np.testing.assert_array_equal(y0, phi) and np.testing.assert_array_equal(y1, d1)
    assert z[0] == -4.0 and z[-1] == 4.0 and d1.max() == 1.0  # tanh'(0) = 1, the curve passes z = 0


def test_the_phase_panel_draws_the_rate_heatmap_and_its_points_follow_a_typed_lr(window, qtbot):
    """zigzag_momentum: heavy ball's rate over (lr, momentum) from core.theory, the optimum
    (Polyak: lr 1/9, momentum 4/9 on eigenvalues 1 and 25) and the run's point, which moves when
    a new lr is typed into the real window's field (Enter re-runs)."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtTest import QTest

    import torch
    from core import theory

    opened(window, ROOT / "scenarios" / "zigzag_momentum.toml")
    panel, ph = window.panels.panel("phase"), window.session.view.phase
    assert panel.isVisible() and ph.kind == "momentum" and ph.beta_name == "momentum"
    want = theory.phase_diagram("momentum", torch.from_numpy(ph.lrs), torch.from_numpy(ph.betas), torch.tensor([1.0, 25.0], dtype=torch.float64))
    np.testing.assert_allclose(ph.rate, want.numpy(), rtol=1e-12, atol=0)
    assert ph.optimum == pytest.approx((1 / 9, 4 / 9, 2 / 3), rel=1e-12)
    x, y = panel.points.getData()
    np.testing.assert_allclose(x, np.log10([0.111]), rtol=1e-12) and np.testing.assert_allclose(y, [0.45])
    assert "rate 0.667" in panel.note.text()
    i = window.session.view.kinds.index("momentum")
    entry = window.controls.sliders[f"optimizers[{i}].lr"].entry
    window.activateWindow()
    QTest.qWaitForWindowExposed(window)
    qtbot.mouseClick(entry, Qt.MouseButton.LeftButton)
    qtbot.keyClick(entry, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(entry, "0.05")
    qtbot.keyClick(entry, Qt.Key.Key_Return)
    window.session.wait()
    x, y = window.panels.panel("phase").points.getData()
    np.testing.assert_allclose(x, np.log10([0.05]), rtol=1e-12)


def test_the_convergence_panel_plots_per_sample_seen_after_a_click(window, qtbot):
    """full_vs_minibatch: a real click on "per sample" puts every curve on the samples-seen axis
    (step x batch size, step x n for full batch: Run.samples_seen), and the dots follow."""
    from PyQt6.QtCore import Qt

    opened(window, ROOT / "scenarios" / "full_vs_minibatch.toml")
    panel, view = window.panels.panel("convergence"), window.session.view
    per_step = view.samples_per_step
    assert per_step is not None and per_step.tolist() == [320.0, 64.0, 16.0]  # full batch (320 training rows), batches 64 and 16
    assert panel.per_sample.isVisible() and not panel.per_sample.isChecked()
    x0, _ = panel.curves[0].getData()
    np.testing.assert_array_equal(x0, np.arange(len(x0)))
    qtbot.mouseClick(panel.per_sample, Qt.MouseButton.LeftButton)
    assert panel.per_sample.isChecked() and panel.item.getAxis("bottom").labelText == "samples seen"
    for c, i in zip(panel.curves, panel.owner):
        x, _ = c.getData()
        np.testing.assert_array_equal(x, np.arange(len(x)) * per_step[i])
    at(window, 40, selected=0)
    xs, _ = panel.dots.getData()
    assert sorted(xs.tolist()) == sorted((40 * per_step[: len(xs)]).tolist())
    assert panel.cursor.value() == 40 * per_step[0]


def test_the_convergence_panel_shows_the_gradient_per_layer_after_a_click(window, qtbot):
    """vanishing_gradients: a real click on "per layer" draws the followed trajectory's gradient
    norm of each of its 7 layers (Run.layer_grad_norm), the input layer's far below the output's."""
    from PyQt6.QtCore import Qt

    opened(window, ROOT / "scenarios" / "vanishing_gradients.toml")
    panel, view = window.panels.panel("convergence"), window.session.view
    assert panel.per_layer.isVisible() and view.layer_names == [f"layer{k}" for k in range(1, 8)]
    qtbot.mouseClick(panel.per_layer, Qt.MouseButton.LeftButton)
    assert len(panel.curves) == 7 and "gradient per layer" in panel.title.text()
    for k, c in enumerate(panel.curves):
        _, y = c.getData()  # the plot is log-scaled: getData gives log10 of what was set
        np.testing.assert_allclose(y, np.log10(view.layer_grad_norm[: len(y), 0, k]), rtol=1e-12)
    first, last = view.layer_grad_norm[0, 0, 0], view.layer_grad_norm[0, 0, -1]
    assert first < 1e-3 * last
    qtbot.mouseClick(panel.per_layer, Qt.MouseButton.LeftButton)  # back to the loss
    assert len(panel.curves) >= 1 and "gradient per layer" not in panel.title.text()
