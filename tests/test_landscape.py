"""Landscapes: filter normalization as Li et al. 2018, exact grids, PCA, honest projections."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from core.engine import Group, run
from core.errors import LabError
from core.landscape import (Cancelled, Surface, compute_surface, evaluate_grid, evaluate_plane, filter_normalize,
                            honest_projection, pca_directions, plane, random_directions)
from core.problems import make_problem


@pytest.fixture(scope="module")
def heart():
    return make_problem("heart_net", {"hidden": 8})


@pytest.fixture(scope="module")
def heart_run(heart):
    r = run(heart, [Group("adam", "adam", [{"lr": 0.02}], heart.initial_point(0)[None])], 40)
    return r.thetas[:, 0]


def test_every_filter_has_its_weight_filters_norm_and_1d_tensors_are_zero(heart):
    theta = heart.initial_point(1)
    d1, d2 = random_directions(heart, theta, seed=3)
    w = heart.unflatten(theta)
    for d in (d1, d2):
        parts = heart.unflatten(d)
        for name, t in parts.items():
            if t.ndim == 1:
                assert torch.equal(t, torch.zeros_like(t)), name
            else:
                torch.testing.assert_close(t.norm(dim=1), w[name].norm(dim=1), rtol=1e-9, atol=0)
    assert not torch.allclose(d1, d2)
    # biases copied from the weights on request; a different seed gives different directions
    e1, _ = random_directions(heart, theta, seed=3, bias="weights")
    for name, t in heart.unflatten(e1).items():
        if t.ndim == 1:
            assert torch.equal(t, w[name])
    assert not torch.equal(random_directions(heart, theta, seed=4)[0], d1)
    with pytest.raises(LabError, match="bias"):
        random_directions(heart, theta, bias="keep")


def test_filter_normalize_matches_li_et_al_reference_loop():
    """The reference code's loop (net_plotter.normalize_direction), written out per filter."""
    g = torch.Generator().manual_seed(0)
    shapes = [("w", (4, 3)), ("b", (4,)), ("c", (2, 2, 3))]
    d = torch.randn(12 + 4 + 12, generator=g, dtype=torch.float64)
    w = torch.randn(28, generator=g, dtype=torch.float64)
    out = filter_normalize(d, w, shapes)
    ref, offset = [], 0
    for _, shape in shapes:
        n = math.prod(shape)
        dp, wp = d[offset:offset + n].view(shape).clone(), w[offset:offset + n].view(shape)
        if dp.dim() <= 1:
            dp.fill_(0)
        else:
            for di, wi in zip(dp, wp):
                di.mul_(wi.norm() / (di.norm() + 1e-10))
        ref.append(dp.reshape(-1))
        offset += n
    torch.testing.assert_close(out, torch.cat(ref), rtol=1e-15, atol=0)


def test_orthogonalized_directions_are_orthogonal_and_keep_their_norm(heart):
    theta = heart.initial_point(0)
    d1, d2 = random_directions(heart, theta, seed=1)
    o1, o2 = random_directions(heart, theta, seed=1, orthogonalize=True)
    assert torch.equal(o1, d1) and abs(float(o1 @ o2)) < 1e-10 * float(o1.norm() * o2.norm())
    torch.testing.assert_close(o2.norm(), d2.norm())


def test_grid_value_equals_direct_evaluation_in_float32(heart):
    p = make_problem("heart_net", {"hidden": 8}).to("cpu", torch.float32)
    theta0 = p.initial_point(2)
    d1, d2 = random_directions(p, theta0, seed=0)
    alphas = torch.linspace(-1, 1, 5, dtype=torch.float64)
    betas = torch.linspace(-0.5, 1.5, 4, dtype=torch.float64)
    values = evaluate_plane(p, theta0, d1, d2, alphas, betas)
    assert values.shape == (4, 5) and values.dtype == torch.float32
    t0, e1, e2 = (v.float() for v in (theta0, d1, d2))
    for j, b in enumerate(betas.float()):
        for i, a in enumerate(alphas.float()):
            direct = p.loss((t0 + a * e1 + b * e2)[None])[0]
            # two float32 paths with different sums (the grid forms X theta0 + a X d1 + b X d2;
            # the direct one X theta, each GEMM blocked as MKL likes on that CPU): the worst-case
            # bound gamma_30 sum|x w| is ~1e-5, but rounding errors of sums of n terms grow like
            # sqrt(n) eps (Higham & Mary 2019), ~3e-7 per logit here, and the mean over 242 rows
            # averages them: 1e-6 (16 ulps of the loss) holds with margin; measured 1 ulp under
            # every ATEN/MKL instruction set.
            assert abs(float(values[j, i]) - float(direct)) <= 1e-6 * max(1.0, abs(float(direct)))


@pytest.mark.parametrize("kind,params", [("heart_net", {"hidden": 8}), ("net13", {}), ("quadratic", {"eigenvalues": [1.0, 3.0, 9.0]}),
                                         ("mlp", {"dataset": "blobs", "hidden": [5, 4, 3], "activation": ["tanh", "relu", "gelu"], "n": 60})])
def test_batched_grid_equals_a_plain_loop(kind, params):
    p = make_problem(kind, params)
    g = torch.Generator().manual_seed(7)
    theta0 = torch.randn(p.dim, generator=g, dtype=torch.float64)
    d1, d2 = torch.randn(2, p.dim, generator=g, dtype=torch.float64)
    alphas, betas = torch.linspace(-1, 1, 6, dtype=torch.float64), torch.linspace(-2, 1, 5, dtype=torch.float64)
    loop = torch.tensor([[float(p.loss((theta0 + a * d1 + b * d2)[None])[0]) for a in alphas] for b in betas],
                        dtype=torch.float64)
    for chunk in (1, 7, None):
        torch.testing.assert_close(evaluate_plane(p, theta0, d1, d2, alphas, betas, chunk=chunk), loop, rtol=1e-12, atol=1e-12)
    line = evaluate_plane(p, theta0, d1, None, alphas, None)
    torch.testing.assert_close(line, torch.stack([p.loss((theta0 + a * d1)[None])[0] for a in alphas]), rtol=1e-12, atol=1e-12)


def test_grid_loss_matches_direct_bce_where_logits_are_huge_or_tiny():
    # the grid's BCE is softplus(-(2y - 1) x) for 0/1 labels: equal to the direct loss, also where
    # the logits reach the hundreds (softplus' linear branch) and near a perfect fit (loss ~ 1e-40)
    p = make_problem("heart_net", {"hidden": 8})
    g = torch.Generator().manual_seed(3)
    theta0 = 30 * torch.randn(p.dim, generator=g, dtype=torch.float64)
    d1, d2 = torch.randn(2, p.dim, generator=g, dtype=torch.float64)
    alphas, betas = torch.linspace(-3, 3, 4, dtype=torch.float64), torch.linspace(-3, 3, 3, dtype=torch.float64)
    loop = torch.stack([torch.stack([p.loss((theta0 + a * d1 + b * d2)[None])[0] for a in alphas]) for b in betas])
    assert loop.max() > 20  # the linear branch of softplus is exercised
    torch.testing.assert_close(evaluate_plane(p, theta0, d1, d2, alphas, betas), loop, rtol=1e-12, atol=0)
    _, acc = evaluate_grid(p, theta0, d1, d2, alphas, betas, accuracy=True)  # counted, not averaged
    want = torch.stack([torch.stack([p.evaluate((theta0 + a * d1 + b * d2)[None])[1][0] for a in alphas]) for b in betas])
    torch.testing.assert_close(acc, want, rtol=0, atol=1e-15)
    sure = make_problem("heart_net", {"hidden": 8})
    logits = sure.forward(theta0[None], sure.X)[0, :, 0]
    sure = sure.replace(y=(logits > 0).to(sure.y))  # labels the net fits perfectly: every term is log(1 + e^-|x|)
    tiny = evaluate_plane(sure, theta0, d1, d2, alphas[:1] * 0, betas[:1] * 0)[0, 0]
    exact = torch.log1p(torch.exp(-logits.abs())).mean()
    assert 0 < exact < 1e-8
    torch.testing.assert_close(tiny, exact, rtol=1e-12, atol=0)
    # (torch's binary_cross_entropy_with_logits loses digits here: x - log_sigmoid(x) cancels)
    torch.testing.assert_close(tiny, sure.loss(theta0[None])[0], rtol=1e-4, atol=0)


def test_plane_is_what_compute_surface_slices(heart, heart_run):
    pl = plane(heart, directions="pca", thetas=heart_run, resolution=[5, 4])
    s = compute_surface(heart, directions="pca", thetas=heart_run, resolution=[5, 4], accuracy=False)
    # compute_surface calls plane() with these arguments: the same code on the same inputs, so bit for bit
    for a, b in ((pl.theta0, s.theta0), (pl.d1, s.d1), (pl.d2, s.d2), (pl.alphas, s.alphas), (pl.betas, s.betas)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert pl.axis_labels == tuple(s.axis_labels) and not pl.is_line and pl.explained is not None
    assert pl.kind == s.kind == "pca" and pl.meta == s.meta
    assert plane(heart, directions="segment", thetas=heart_run).is_line


def test_accuracy_and_test_split_surfaces(heart):
    theta0 = heart.initial_point(0)
    s_train = compute_surface(heart, directions="random", center=theta0, resolution=5, seed=1)
    s_test = compute_surface(heart, directions="random", center=theta0, resolution=5, seed=1, split="test")
    c = s_train.values.shape[0] // 2
    loss, acc = heart.evaluate(theta0[None], "train")
    torch.testing.assert_close(s_train.values[c, c], loss[0])
    torch.testing.assert_close(s_train.accuracy[c, c], acc[0])
    torch.testing.assert_close(s_test.values[c, c], heart.evaluate(theta0[None], "test")[0][0])
    assert s_test.split == "test" and s_train.axis_labels[0].startswith("filter-normalized")


def test_pca_directions_orthonormal_and_explained_variance_matches(heart_run):
    d1, d2, explained = pca_directions(heart_run)
    torch.testing.assert_close(torch.stack([d1 @ d1, d2 @ d2, d1 @ d2]), torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    M = heart_run - heart_run[-1]
    M = M - M.mean(dim=0)
    total = (M**2).sum()
    torch.testing.assert_close(explained, torch.stack([((M @ d1) ** 2).sum(), ((M @ d2) ** 2).sum()]) / total)
    assert explained[0] >= explained[1] > 0 and explained.sum() <= 1
    assert float((heart_run[0] - heart_run[-1]) @ d1) >= 0  # the start sits on the positive side


def test_honest_projection_of_a_trajectory(heart, heart_run):
    s = compute_surface(heart, directions="pca", thetas=heart_run, resolution=9)
    assert torch.equal(s.theta0, heart_run[-1]) and "% of variance" in s.axis_labels[0]
    proj = honest_projection(heart, s, heart_run)
    assert proj.coords.shape == (41, 2) and float(proj.off_plane[-1]) == 0.0
    # the plane holds theta0 + c1 d1 + c2 d2; the off-plane distance is what is left of theta
    recon = s.point(proj.coords)
    torch.testing.assert_close((heart_run - recon).norm(dim=1), proj.off_plane)
    torch.testing.assert_close(proj.true_loss, heart.loss(heart_run))
    torch.testing.assert_close(proj.plane_loss, heart.loss(recon))
    # the default PCA span holds the whole trajectory, so the interpolated surface exists at every step
    assert torch.isfinite(proj.surface_value).all()
    assert float((proj.surface_value - proj.plane_loss).abs().max()) < 0.05
    table = proj.table()
    assert list(table.columns) == ["step", "a", "b", "off_plane", "true_loss", "plane_loss", "surface_value"]


def test_project_recovers_plane_coordinates_and_distance():
    g = torch.Generator().manual_seed(0)
    theta0, d1, d2, n = torch.randn(4, 6, generator=g, dtype=torch.float64)
    n = n - torch.linalg.lstsq(torch.stack([d1, d2], 1), n[:, None]).solution[:, 0] @ torch.stack([d1, d2])
    s = Surface(theta0=theta0, d1=d1, d2=d2, alphas=torch.zeros(2), betas=torch.zeros(2), values=torch.zeros(2, 2))
    pts = theta0 + 0.3 * d1 - 1.2 * d2 + 2.0 * n / n.norm()
    c, off = s.project(pts)
    torch.testing.assert_close(c, torch.tensor([0.3, -1.2], dtype=torch.float64))
    torch.testing.assert_close(off, torch.tensor(2.0, dtype=torch.float64))


def test_toy_axes_plane_is_the_parameter_plane_and_interpolation_is_exact_on_bilinear():
    bowl = make_problem("bowl")
    s = compute_surface(bowl, resolution=(7, 5))
    assert torch.equal(s.theta0, torch.zeros(2, dtype=torch.float64)) and s.axis_labels == ("w1", "w2")
    assert s.values.shape == (5, 7) and float(s.alphas[0]) == bowl.box[0][0] and float(s.betas[-1]) == bowl.box[1][1]
    A, B = torch.meshgrid(s.betas, s.alphas, indexing="ij")
    torch.testing.assert_close(s.values, A**2 + B**2 + 2)
    # on the axes plane D = I: D^T D = I, (theta - 0) D picks coordinates (products by 1 and 0) and
    # solving with I divides by 1: exact arithmetic, so equal on any CPU
    c, off = s.project(torch.tensor([[0.5, -0.25]], dtype=torch.float64))
    assert float(off[0]) == 0 and torch.equal(c[0], torch.tensor([0.5, -0.25], dtype=torch.float64))
    # bilinear interpolation reproduces a bilinear function exactly; NaN outside the grid
    s = dataclasses.replace(s, values=1 + 2 * B + 3 * A + A * B)  # a Surface is a frozen value
    pts = torch.tensor([[0.4, -1.7], [2.9, 2.2], [5.0, 0.0]], dtype=torch.float64)
    want = 1 + 2 * pts[:, 0] + 3 * pts[:, 1] + pts[:, 0] * pts[:, 1]
    got = s.value_at(pts)
    torch.testing.assert_close(got[:2], want[:2])
    assert math.isnan(float(got[2]))
    quartic = compute_surface(make_problem("quartic"), resolution=11)
    assert quartic.is_line and quartic.values.shape == (11,) and quartic.betas.numel() == 0
    with pytest.raises(LabError, match="at most 2 parameters"):
        compute_surface(make_problem("net13"), directions="axes")


def test_segment_line_runs_from_start_to_end(heart, heart_run):
    s = compute_surface(heart, directions="segment", thetas=heart_run, resolution=9)
    assert s.is_line and s.values.shape == (9,)
    i0, i1 = int((s.alphas == 0).nonzero()), int((s.alphas == 1).nonzero())
    torch.testing.assert_close(s.values[[i0, i1]], heart.loss(heart_run[[0, -1]]))


def test_progress_cancel_and_npz_round_trip(heart, tmp_path):
    seen = []
    s = compute_surface(heart, directions="random", resolution=6, chunk=10, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (36, 36) and len(seen) == 4
    with pytest.raises(Cancelled) as stopped:
        compute_surface(heart, directions="random", resolution=6, chunk=10, cancel=lambda: len(seen) > 5,
                        progress=lambda d, t: seen.append((d, t)))
    from core import errors

    assert stopped.type is errors.Cancelled  # the tree's one cancellation type, a LabError (one line in the CLI)
    s.to_npz(tmp_path / "s.npz")
    back = Surface.from_npz(tmp_path / "s.npz")
    assert torch.equal(back.values, s.values) and back.axis_labels == s.axis_labels and back.kind == "random"
    assert torch.equal(back.d2, s.d2) and np.array_equal(back.accuracy.numpy(), s.accuracy.numpy())


def test_hessian_directions_are_top_eigenvectors():
    p = make_problem("net13")
    theta0 = p.initial_point(0)
    s = compute_surface(p, directions="hessian", center=theta0, resolution=3)
    H = p.hessian(theta0)
    vals, vecs = torch.linalg.eigh(H)
    torch.testing.assert_close(torch.tensor(s.meta["eigenvalues"], dtype=torch.float64), vals.flip(0)[:2])
    assert abs(float(s.d1 @ vecs[:, -1])) == pytest.approx(1.0, abs=1e-8)


def test_bad_requests_are_lab_errors(heart):
    with pytest.raises(LabError, match="did you mean 'random'"):
        compute_surface(heart, directions="randm")
    with pytest.raises(LabError, match="needs a trajectory"):
        compute_surface(heart, directions="pca")
    with pytest.raises(LabError, match="span"):
        compute_surface(heart, directions="random", span=[[1.0, -1.0]], resolution=3)
    with pytest.raises(LabError, match="split"):
        compute_surface(heart, directions="random", resolution=3, split="valid")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_grid_equals_cpu_grid():
    cpu = make_problem("heart_net")
    gpu = make_problem("heart_net").to("cuda", torch.float64)
    theta0 = cpu.initial_point(0)
    a = compute_surface(cpu, directions="random", center=theta0, resolution=11)
    b = compute_surface(gpu, directions="random", center=theta0, resolution=11)
    assert b.values.device.type == "cpu"
    torch.testing.assert_close(a.values, b.values, rtol=1e-10, atol=1e-12)


def test_problems_without_filters_get_unit_random_directions():
    bowl = make_problem("bowl")  # its minimum is the default centre: filter normalization would vanish there
    s = compute_surface(bowl, directions="random", resolution=5, seed=2)
    torch.testing.assert_close(torch.stack([s.d1.norm(), s.d2.norm()]), torch.ones(2, dtype=torch.float64))
    assert s.axis_labels[0].startswith("unit") and s.meta["filter_normalize"] is False
    torch.testing.assert_close(s.values[2, 2], torch.tensor(2.0, dtype=torch.float64))  # the bowl's minimum, 2
