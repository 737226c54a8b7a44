"""Your own model: the `module` problem kind and core.problems.module.from_module (issue 14 item 1).

Known answers in float64: losses, gradients and Hessian-vector products against the module
evaluated directly (autograd on its own parameters), and a run against a torch.optim loop on the
module. The batched path (vmap over functional_call) and the direct one do the same operations in
the same order per row, so they agree to ~1e-15 relative on any x86 CPU (rtol 1e-12 here).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.engine import Group, run
from core.errors import LabError
from core.problems import make_problem
from core.problems.module import flatten, from_module, is_trusted, trusting
from core.scenario import build, loads

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_model"


def _blobs(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    X = torch.randn(n, 2, generator=g, dtype=torch.float64) + torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)[y]
    return X, y


def _model():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def test_losses_and_gradients_equal_the_module_evaluated_directly():
    X, y = _blobs()
    model = _model()
    p = from_module(model, "cross_entropy", X, y)
    assert p.dim == sum(q.numel() for q in model.parameters()) == 2 * 5 + 5 + 5 * 3 + 3
    g = torch.Generator().manual_seed(1)
    theta = flatten(model)[None] + 0.1 * torch.randn(4, p.dim, generator=g, dtype=torch.float64)
    loss, grad = p.loss_and_grad(theta)
    for i in range(4):
        m = _model()
        torch.nn.utils.vector_to_parameters(theta[i], m.parameters())
        ref = nn.functional.cross_entropy(m(X), y)
        ref.backward()
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-12, atol=0)
        torch.testing.assert_close(grad[i], torch.cat([q.grad.reshape(-1) for q in m.parameters()]), rtol=1e-12, atol=1e-15)
    v = torch.randn(p.dim, generator=g, dtype=torch.float64)
    H = torch.autograd.functional.hessian(lambda t: p.loss(t[None])[0], theta[0])
    torch.testing.assert_close(p.hvp(theta[0], v), H @ v, rtol=1e-10, atol=1e-12)


def test_a_run_equals_torch_optim_on_the_module():
    X, y = _blobs()
    p = from_module(_model(), "cross_entropy", X, y)
    r = run(p, [Group("adam", "adam", [{"lr": 0.05}], flatten(_model())[None])], 25)
    m = _model()
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(25):
        opt.zero_grad()
        nn.functional.cross_entropy(m(X), y).backward()
        opt.step()
    torch.testing.assert_close(r.final_theta[0], flatten(m), rtol=1e-10, atol=1e-12)


def test_minibatches_and_held_out_scores():
    X, y = _blobs(80)
    p = from_module(_model(), "cross_entropy", X[:60], y[:60], X[60:], y[60:])
    theta = flatten(_model())[None].expand(2, -1)
    batch = torch.tensor([[0, 1, 2, 3], [10, 11, 12, 13]])
    got = p.loss(theta, batch)
    m = _model()
    for i in range(2):
        torch.testing.assert_close(got[i], nn.functional.cross_entropy(m(X[batch[i]]), y[batch[i]]), rtol=1e-12, atol=0)
    loss, acc = p.held_out(theta[:1])
    out = m(X[60:])
    torch.testing.assert_close(loss[0], nn.functional.cross_entropy(out, y[60:]), rtol=1e-12, atol=0)
    assert acc[0].item() == (out.argmax(1) == y[60:]).double().mean().item()
    assert p.n_test == 20


def test_a_scenario_naming_code_is_refused_without_trust_and_runs_with_it():
    s = loads((EXAMPLE / "own_model.toml").read_text(), str(EXAMPLE / "own_model.toml"))
    with pytest.raises(LabError, match="runs Python code from .*model.py.*--trust") as err:
        build(s)
    assert "problem.file" in str(err.value) and "\n" not in str(err.value)
    assert not is_trusted(EXAMPLE / "model.py")
    with trusting(EXAMPLE / "model.py"):
        built = build(s)
        assert is_trusted(EXAMPLE / "model.py") and not is_trusted(ROOT / "main.py")
    assert not is_trusted(EXAMPLE / "model.py")  # the trust ends with the block
    p = built.problem
    assert p.kind == "module" and p.n_samples == 240 and p.n_test == 60 and p.params["file"] == "model.py"
    assert "running_mean" in " ".join(p.buffers)  # BatchNorm's statistics are kept frozen
    before = torch.random.get_rng_state()
    a, b = p.initial_point(0), p.initial_point(0)
    assert torch.equal(a, b) and not torch.equal(a, p.initial_point(1))
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's generator is untouched
    torch.manual_seed(0)
    want = flatten(__import__("runpy").run_path(str(EXAMPLE / "model.py"))["make_model"]())
    assert torch.equal(a, want)


def test_the_command_line_refuses_without_trust_and_runs_with_it():
    cmd = [sys.executable, str(ROOT / "main.py"), "check", str(EXAMPLE / "own_model.toml")]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert refused.returncode == 1 and "FAIL" in refused.stdout and "--trust" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
    trusted = subprocess.run(cmd + ["--trust"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert trusted.returncode == 0 and "PASS" in trusted.stdout, trusted.stdout + trusted.stderr


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "model.py").write_text("from torch import nn\n\ndef make_model():\n    return nn.Linear(2, 1)\n\n"
                                       "def broken():\n    raise RuntimeError('boom')\n\ndef not_a_module():\n    return 3\n")
    X = np.random.default_rng(0).normal(size=(20, 2))
    np.savez(tmp_path / "data.npz", X=X, y=(X[:, 0] > 0).astype(float))
    np.savez(tmp_path / "wide.npz", X=np.zeros((20, 5)), y=np.zeros(20))
    (tmp_path / "data.csv").write_text("a,b,label\n0.1,0.2,1\n0.3,-0.1,0\n")
    return tmp_path


@pytest.mark.parametrize("params,where,match", [
    ({"data": "missing.npz"}, "problem.data", "no data file"),
    ({"data": "data.csv"}, "problem.target", "needs `target`"),
    ({"data": "wide.npz"}, "problem.data", "does not run on the data"),
    ({"factory": "make_modle"}, "problem.factory", "did you mean 'make_model'"),
    ({"factory": "broken"}, "problem.factory", "broken\\(\\) failed: RuntimeError: boom"),
    ({"factory": "not_a_module"}, "problem.factory", "not a torch.nn.Module"),
    ({"loss": "hinge"}, "problem.loss", "unknown loss 'hinge'"),
    ({"file": "nothere.py"}, "problem.file", "no model file"),
])
def test_bad_model_and_data_are_one_line_errors(folder, params, where, match):
    base = {"file": str(folder / "model.py"), "data": str(folder / "data.npz"), "loss": "bce"}
    for key in ("file", "data"):
        if key in params:
            params = dict(params, **{key: str(folder / params[key])})
    with trusting(everything=True), pytest.raises(LabError, match=match) as err:
        make_problem("module", {**base, **params})
    assert err.value.path == where and "\n" not in str(err.value)


def test_a_csv_with_its_target_column(folder):
    with trusting(everything=True):
        p = make_problem("module", {"file": str(folder / "model.py"), "data": str(folder / "data.csv"),
                                    "target": "label", "loss": "bce"})
    assert p.n_samples == 2 and p.X.shape == (2, 2) and p.y.tolist() == [1.0, 0.0]


def test_filter_normalization_slices_every_layer_type_along_its_first_dimension():
    """Li et al.'s filters for any module: each output channel of a Conv1d, each row of a Linear and
    of an Embedding gets the norm of the same slice of the weights; 1-D tensors (biases, norm
    layers) are zeroed by default."""
    from core.landscape import random_directions

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.conv = nn.Conv1d(3, 4, kernel_size=2)
            self.norm = nn.LayerNorm(4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):  # x: [n, L] token ids (as floats)
            h = self.conv(self.emb(x.long()).transpose(1, 2)).mean(dim=2)
            return self.out(self.norm(h))

    torch.manual_seed(0)
    X = torch.randint(0, 5, (12, 6)).double()
    y = torch.randint(0, 2, (12,))
    p = from_module(Net(), "cross_entropy", X, y)
    theta = flatten(p.module)
    (d,) = random_directions(p, theta, seed=1, count=1)
    D, W = p.unflatten(d), p.unflatten(theta)
    for name, shape in p.shapes:
        if len(shape) >= 2:
            torch.testing.assert_close(D[name].reshape(shape[0], -1).norm(dim=1), W[name].reshape(shape[0], -1).norm(dim=1),
                                       rtol=1e-8, atol=1e-12)
        else:
            assert torch.count_nonzero(D[name]) == 0, name
    assert [n for n, s in p.shapes if len(s) >= 2] == ["emb.weight", "conv.weight", "out.weight"]


def test_a_module_s_landscape_equals_the_module_evaluated_point_by_point():
    """The grid path (vmap over functional_call, chunked) against plain torch at every point of
    a small plane: the same operations per point, so 1e-12 relative holds on any x86 CPU."""
    from core.landscape import compute_surface

    X, y = _blobs(40)
    p = from_module(_model(), "cross_entropy", X, y)
    theta = flatten(_model())
    s = compute_surface(p, directions="random", center=theta, resolution=7, seed=2, chunk=5)
    d1, d2, theta = s.d1, s.d2, s.theta0
    for i, a in enumerate(s.alphas):
        for j, b in enumerate(s.betas):
            m = _model()
            torch.nn.utils.vector_to_parameters(theta + float(a) * d1 + float(b) * d2, m.parameters())
            with torch.no_grad():
                want = nn.functional.cross_entropy(m(X), y)
            assert abs(float(s.values[j, i]) - float(want)) <= 1e-12 * float(want), (i, j)
