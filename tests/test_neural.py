"""Neural problems: the flattened-theta batched path equals plain torch modules, in float64."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.engine import Group, run
from core.errors import LabError
import core.problems.neural  # noqa: F401  (registers mlp, net13, heart_net)
from core.problems import PROBLEMS, make_problem


def module_from_theta(problem, theta):
    """An ordinary nn.Sequential holding ``theta``'s weights (the independent reference)."""
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh}
    sizes = problem.sizes
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if k:
            layers.append(acts[problem.net.activations[k - 1]]())
        layers.append(nn.Linear(a, b).double())
    model = nn.Sequential(*layers)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(theta, model.parameters())
    return model


def test_registered_kinds_and_parameter_counts():
    assert {"mlp", "net13", "heart_net"} <= set(PROBLEMS)
    assert make_problem("net13").dim == 13  # 3 x 2 + 3 + 3 + 1
    heart = make_problem("heart_net")
    assert heart.dim == 30 * 16 + 16 + 16 + 1 == 513 and heart.n_samples == 242
    assert make_problem("net13").coord_names[:2] == ["W1[0,0]", "W1[0,1]"]


@pytest.mark.parametrize("kind,params", [("net13", {}), ("heart_net", {}),
                                         ("mlp", {"dataset": "spirals", "hidden": [5, 4], "activation": "tanh"})])
def test_batched_loss_equals_plain_module(kind, params):
    p = make_problem(kind, params)
    thetas = torch.stack([p.initial_point(s) for s in range(3)])
    losses = p.loss(thetas)
    for i in range(3):
        model = module_from_theta(p, thetas[i])
        prob = torch.sigmoid(model(p.X)[:, 0])
        ref = F.binary_cross_entropy(prob, p.y)
        torch.testing.assert_close(losses[i], ref, rtol=1e-12, atol=1e-12)
        test_loss, test_acc = p.evaluate(thetas[i:i + 1], "test")
        out = model(p.X_test)[:, 0]
        torch.testing.assert_close(test_loss[0], F.binary_cross_entropy(torch.sigmoid(out), p.y_test))
        torch.testing.assert_close(test_acc[0], ((out > 0).double() == p.y_test).double().mean())


def test_minibatch_rows_use_their_own_samples():
    p = make_problem("net13")
    thetas = torch.stack([p.initial_point(s) for s in range(2)])
    idx = torch.tensor([[0, 5, 7], [1, 2, 3]])
    got = p.loss(thetas, idx)
    for i in range(2):
        model = module_from_theta(p, thetas[i])
        ref = F.binary_cross_entropy(torch.sigmoid(model(p.X[idx[i]])[:, 0]), p.y[idx[i]])
        torch.testing.assert_close(got[i], ref)


def test_hessian_of_net13_equals_autograd_functional_hessian():
    p = make_problem("net13")
    theta = p.initial_point(4)

    def plain_loss(t):  # written out by hand: W1 [3,2], b1 [3], W2 [1,3], b2 [1]
        W1, b1, W2, b2 = t[:6].view(3, 2), t[6:9], t[9:12].view(1, 3), t[12:]
        logit = (torch.relu(p.X @ W1.T + b1) @ W2.T + b2)[:, 0]
        return F.binary_cross_entropy_with_logits(logit, p.y)

    ref = torch.autograd.functional.hessian(plain_loss, theta)
    H = p.hessian(theta)
    torch.testing.assert_close(H, ref, rtol=1e-10, atol=1e-12)
    v = torch.randn(13, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(p.hvp(theta, v), ref @ v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind,params", [
    ("heart_net", {"hidden": 6}),
    ("mlp", {"dataset": "blobs", "hidden": [5, 4, 3], "activation": ["tanh", "relu", "gelu"], "n": 40}),
    ("mlp", {"dataset": "regression1d", "hidden": [4, 3, 3], "activation": ["sigmoid", "softplus", "elu"], "n": 30}),
    ("mlp", {"dataset": "moons", "hidden": [4, 3], "activation": ["leaky_relu", "identity"], "loss": "mse", "n": 30}),
])
def test_closed_form_hvp_equals_the_dense_hessian_for_every_activation_and_loss(kind, params):
    p = make_problem(kind, params)
    g = torch.Generator().manual_seed(1)
    theta = p.initial_point(2) + 0.3 * torch.randn(p.dim, generator=g, dtype=torch.float64)
    H = torch.func.hessian(lambda t: p.loss(t[None])[0])(theta)
    V = torch.randn(3, p.dim, generator=g, dtype=torch.float64)
    for v in V:  # the cached constants serve every product at the same point
        torch.testing.assert_close(p.hvp(theta, v), H @ v, rtol=1e-10, atol=1e-12)
    moved = theta + 0.1 * V[0]  # a new point rebuilds them
    torch.testing.assert_close(p.hvp(moved, V[1]), torch.func.hessian(lambda t: p.loss(t[None])[0])(moved) @ V[1],
                               rtol=1e-10, atol=1e-12)


def test_initial_point_is_seeded_pytorch_default_init():
    p = make_problem("heart_net")
    a, b, c = p.initial_point(1), p.initial_point(1), p.initial_point(2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    parts = p.unflatten(a)
    for name, t in parts.items():
        fan_in = 30 if name.startswith("layers.0") else 16
        bound = fan_in**-0.5
        assert t.abs().max() <= bound, name  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = parts["layers.0.weight"]  # 480 draws: the uniform's standard deviation bound / sqrt(3)
    assert abs(w.std().item() / (30**-0.5 / 3**0.5) - 1) < 0.1 and abs(w.mean().item()) < 0.02


def test_other_losses_and_predictions():
    ce = make_problem("mlp", {"dataset": "blobs", "hidden": [6], "n": 90})
    assert ce.loss_name == "cross_entropy" and ce.sizes == [2, 6, 3]
    t = ce.initial_point(0)
    model = module_from_theta(ce, t)
    torch.testing.assert_close(ce.loss(t[None])[0], F.cross_entropy(model(ce.X), ce.y))
    torch.testing.assert_close(ce.predict(t, ce.X), torch.softmax(model(ce.X), dim=1))
    reg = make_problem("mlp", {"dataset": "regression1d", "hidden": [8, 8], "activation": "tanh"})
    assert reg.loss_name == "mse" and reg.evaluate(reg.initial_point(0)[None])[1] is None
    model = module_from_theta(reg, reg.initial_point(0))
    torch.testing.assert_close(reg.loss(reg.initial_point(0)[None])[0], F.mse_loss(model(reg.X)[:, 0], reg.y))


@pytest.mark.parametrize("params,match", [
    ({"activation": "rellu"}, "did you mean 'relu'"),
    ({"loss": "bce", "dataset": "regression1d"}, "needs a binary"),
    ({"hidden": [0]}, "positive integers"),
    ({"dataset": "mnist"}, "unknown data set"),
])
def test_bad_mlp_parameters_are_lab_errors(params, match):
    with pytest.raises(LabError, match=match):
        make_problem("mlp", params)


def test_engine_trains_the_heart_net_full_batch_and_minibatch():
    p = make_problem("heart_net")
    start = p.initial_point(0)[None]
    r = run(p, [Group("adam", "adam", [{"lr": 0.01}], start),
                Group("sgd", "sgd", [{"lr": 0.1}], start, batch_size=32)], 60)
    assert (r.loss[-1] < 0.6 * r.loss[0]).all()
    assert not torch.equal(r.thetas[5, 0], r.thetas[5, 1])


def test_hvp_cache_is_keyed_on_the_points_value_not_on_the_tensor_object():
    """The R-operator's constants are cached per point. The old key (the tensor object and its
    private ``_version``) missed a change through ``.data`` (which bumps no version) and rebuilt
    them for an equal copy; the key is now the value: a copy the problem owns."""
    from core.problems.neural import NeuralProblem

    p = make_problem("net13", {"n": 40})
    g = torch.Generator().manual_seed(3)
    theta = p.initial_point(0) + 0.2 * torch.randn(p.dim, generator=g, dtype=torch.float64)
    v = torch.randn(p.dim, generator=g, dtype=torch.float64)

    def dense(t):
        return torch.func.hessian(lambda s: p.loss(s[None])[0])(t) @ v

    first = p.hvp(theta, v)
    theta.data[0] += 0.5  # in place, behind autograd's back: theta._version does not change
    torch.testing.assert_close(p.hvp(theta, v), dense(theta), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(p.hvp(theta, v), first)
    builds = []
    original = NeuralProblem._hvp_constants

    def counted(self, t):
        builds.append(1)
        return original(self, t)

    NeuralProblem._hvp_constants = counted
    try:
        p.hvp(theta.clone(), v)  # an equal point in another tensor: the cached constants serve
        assert builds == []
        p.to(dtype=torch.float32).hvp(theta.float(), v.float())  # a moved copy has its own cache
        assert builds == [1]
        p.hvp(theta, v)  # ... and did not disturb this one's
        assert builds == [1]
    finally:
        NeuralProblem._hvp_constants = original
