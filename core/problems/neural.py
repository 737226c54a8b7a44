"""Neural-net problems: an MLP on a data set, its parameters flattened into one vector ``theta``.

The net is an ``nn.Module`` that holds no weights of its own (it lives on the ``meta`` device);
``theta[B, d]`` is cut into an unflattened view (``{name: [B, *shape]}``, no copy) and the module
is run on it with ``torch.func.functional_call``. Its layers use the stacked weights directly,
one GEMM or ``baddbmm`` (batched matmul, bias fused in) per layer for all ``B`` parameter vectors
at once, so there is no Python loop and no per-vector dispatch. That one batched path serves the
engine (losses and gradients of many trajectories), the landscapes (many grid points) and the
spectra (Hessian-vector products), so every optimizer and analysis of the lab sees a net exactly
as it sees a toy.

Problem factories here (listed in the registry, :data:`core.problems.PROBLEMS`):

- ``net13``: the lecture's 2-input, 3-ReLU, sigmoid-output net (13 parameters) on a 2-D set;
- ``heart_net``: the lecture's heart-disease net (30 one-hot/standardized inputs, 16 ReLU, sigmoid
  output, binary cross-entropy; 513 parameters);
- ``mlp``: any widths, activations and loss (``bce``, ``mse``, ``cross_entropy``) on any data set
  of :mod:`core.datasets`.

Losses are means over the samples (sums with ``reduction = "sum"``); ``hinge`` is the SVM's margin
loss on the raw output. A sigmoid output with binary cross-entropy is computed from the
logit (``binary_cross_entropy_with_logits``), which is the same function without the overflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from core.datasets import DATASETS, Dataset, heart_disease, load_dataset
from core.errors import LabError, suggest
from core.problems.activations import ACTIVATIONS, INPLACE, LEAKY_SLOPE, derivatives
from core.problems.base import Problem
from core.problems.init import InitSpec, init_point, parse_init

LOSSES = ("bce", "mse", "cross_entropy", "hinge", "sigmoid_mse")
REDUCTIONS = ("mean", "sum")


class MLP(nn.Module):
    """``Linear -> act -> Linear -> ... -> Linear``; the last layer emits logits (or values).

    Called through ``functional_call`` with *stacked* parameters (``weight [B, out, in]``,
    ``bias [B, out]``), it evaluates ``B`` nets at once: ``x`` is shared ``[n, p]`` or per net
    ``[B, n, p]``, the output ``[B, n, out]``. Inside, activations are feature-major
    (``[B, features, n]``), so a layer is ``W h + b``: one GEMM for all nets on shared inputs, one
    ``baddbmm`` (bias fused) otherwise. ``forward(z, first_preact=True)`` starts from the first
    layer's pre-activations ``z [B, h1, n]``: the landscape code computes those itself, because they
    are affine in the plane coordinates."""

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], leaky_slope: float = LEAKY_SLOPE) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b, device="meta") for a, b in zip(sizes[:-1], sizes[1:]))
        self.activations = list(activations)
        self.leaky_slope = float(leaky_slope)

    @staticmethod
    def _first(W: Tensor, b: Tensor, x: Tensor) -> Tensor:
        B, h, p = W.shape  # W [B, h, p], b [B, h]
        if x.ndim == 2:  # inputs shared by all nets: one [B h, p] x [p, n] product
            return torch.addmm(b.reshape(B * h, 1), W.reshape(B * h, p), x.T).view(B, h, -1)
        return torch.baddbmm(b.unsqueeze(2), W, x.transpose(1, 2))

    @staticmethod
    def _linear(W: Tensor, b: Tensor, h: Tensor) -> Tensor:
        # W [B, out, in], b [B, out]; h [B, in, n]
        if W.shape[0] == 1:  # one net (Hessians, single runs): a plain addmm has the cheaper graph
            return torch.addmm(b[0].unsqueeze(1), W[0], h[0]).unsqueeze(0)
        return torch.baddbmm(b.unsqueeze(2), W, h)

    def forward(self, x: Tensor, first_preact: bool = False, consume: bool = False,
                keep: Sequence[Tensor] | None = None) -> Tensor:
        first = self.layers[0]
        h = x if first_preact else self._first(first.weight, first.bias, x)
        rest = [(layer.weight, layer.bias) for layer in self.layers[1:]]
        return self.from_preact(h, rest, consume=consume or not first_preact, keep=keep)

    def from_preact(self, z: Tensor, layers: Sequence[tuple[Tensor, Tensor]], consume: bool = False,
                    keep: Sequence[Tensor] | None = None) -> Tensor:
        """Outputs ``[B, n, out]`` from the first layer's pre-activations ``z [B, h1, n]`` and the
        later layers' stacked ``(weight, bias)``: the grid path calls this directly (no
        ``functional_call`` per chunk). ``consume`` lets the first activation overwrite ``z``.
        ``keep`` (dropout, training only): per hidden layer a ``[B, h_k, n]`` factor, 0 for a
        dropped unit and ``1 / (1 - p)`` for a kept one, multiplied into its activations."""
        h, inplace = z, not torch.is_grad_enabled()
        for k, (act, (W, b)) in enumerate(zip(self.activations, layers)):
            mine = k > 0 or consume  # overwrite the caller's z only when allowed
            a = INPLACE[act](h) if inplace and mine and act in INPLACE else ACTIVATIONS[act].phi(h, self.leaky_slope)
            h = self._linear(W, b, a if keep is None else a * keep[k])
        return h.transpose(1, 2)


@dataclass(frozen=True, eq=False)
class NeuralProblem(Problem):
    """An MLP and its data. ``X, y`` are the training split (``n_samples`` rows), ``X_test, y_test``
    the test split; ``shapes`` lists ``(name, shape)`` of every parameter tensor in ``theta``
    order (the layout the landscape code filter-normalizes). It offers every capability of
    :mod:`core.problems.protocols` but the constant Hessian: a data problem, a model view and a
    plane evaluator."""

    net: MLP | None = field(default=None, repr=False)
    shapes: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    loss_name: str = "bce"
    #: ``mean`` over the samples (or the minibatch), or their ``sum`` (the CMU slides' convention:
    #: the gradient then grows with the batch size, and so does the effective learning rate)
    reduction: str = "mean"
    task: str = "binary"
    X: Tensor | None = field(default=None, repr=False)
    y: Tensor | None = field(default=None, repr=False)
    X_test: Tensor | None = field(default=None, repr=False)
    y_test: Tensor | None = field(default=None, repr=False)
    dataset: Dataset | None = field(default=None, repr=False)
    #: how :meth:`initial_point` draws a start (:mod:`core.problems.init`)
    init: InitSpec = field(default_factory=InitSpec)
    #: dropout probability of every hidden unit while training (inverted dropout, Srivastava et al.
    #: 2014: kept units scaled by 1 / (1 - p), so each activation's expectation is unchanged); off
    #: for every evaluation (the recorded loss, held-out scores, landscapes, Hessians)
    dropout: float = 0.0
    #: the R-operator's constants at the last point, keyed on a copy of that point (see :meth:`hvp`)
    _hvp_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- layout ------------------------------------------------------------------------------
    @property
    def sizes(self) -> list[int]:
        return [self.net.layers[0].in_features] + [layer.out_features for layer in self.net.layers]

    @property
    def activations(self) -> list[str]:
        """One activation name per hidden layer."""
        return list(self.net.activations)

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """``theta[..., d]`` as ``{name: [..., *shape]}`` views (no copy)."""
        lead = theta.shape[:-1]
        parts = torch.split(theta, [math.prod(s) for _, s in self.shapes], dim=-1)
        return {name: p.reshape(*lead, *shape) for (name, shape), p in zip(self.shapes, parts)}

    def flatten(self, params: dict[str, Tensor]) -> Tensor:
        """Inverse of :meth:`unflatten` for unbatched tensors (e.g. a module's ``named_parameters``)."""
        return torch.cat([params[name].reshape(-1) for name, _ in self.shapes])

    # -- evaluation --------------------------------------------------------------------------
    def forward(self, theta: Tensor, X: Tensor, keep: Sequence[Tensor] | None = None) -> Tensor:
        """Net outputs ``[B, n, out]`` for ``theta[B, d]`` on shared ``X[n, p]`` or per-row
        ``X[B, n, p]``; ``keep``: dropout factors (:meth:`dropout_keep`), training only."""
        if keep is None:
            return functional_call(self.net, self.unflatten(theta), (X,))
        return functional_call(self.net, self.unflatten(theta), (X,), {"keep": keep})

    def dropout_units(self, samples: int) -> int:
        """How many uniforms one step of dropout needs per row: every hidden unit on every sample."""
        return sum(self.sizes[1:-1]) * samples

    def dropout_keep(self, u: Tensor, samples: int) -> list[Tensor]:
        """Per hidden layer the ``[B, h_k, samples]`` dropout factor from uniforms ``u [B, units]``
        (:meth:`dropout_units`): ``1 / (1 - p)`` where ``u >= p`` (kept), else 0."""
        p = self.dropout
        parts = torch.split(u, [h * samples for h in self.sizes[1:-1]], dim=1)
        return [(part >= p).to(u.dtype).div_(1 - p).view(u.shape[0], h, samples)
                for part, h in zip(parts, self.sizes[1:-1])]

    def criterion(self, out: Tensor, y: Tensor) -> Tensor:
        """Loss per row ``[B]`` (mean or sum over samples, :attr:`reduction`) of outputs
        ``out[B, n, o]`` against targets ``y[n]`` or ``[B, n]``. ``hinge`` is the SVM's
        ``max(0, 1 - s f(x))`` with ``s = 2 y - 1`` on the raw output; ``sigmoid_mse`` the squared error
        of the sigmoid's probability, ``(sigmoid(f) - y)^2`` (whose gradient vanishes when a sigmoid
        is confidently wrong, where the cross-entropy's stays ``p - y``)."""
        y = y.expand(out.shape[:2])
        if self.loss_name == "bce":
            per = F.binary_cross_entropy_with_logits(out[..., 0], y.to(out.dtype), reduction="none")
        elif self.loss_name == "mse":
            per = (out[..., 0] - y.to(out.dtype)) ** 2
        elif self.loss_name == "hinge":
            per = torch.relu(1 - (2 * y.to(out.dtype) - 1) * out[..., 0])
        elif self.loss_name == "sigmoid_mse":
            per = (torch.sigmoid(out[..., 0]) - y.to(out.dtype)) ** 2
        else:
            per = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1).long(), reduction="none").reshape(out.shape[:2])
        return per.sum(dim=-1) if self.reduction == "sum" else per.mean(dim=-1)

    def accuracy_of(self, out: Tensor, y: Tensor) -> Tensor | None:
        """Fraction classified right per row ``[B]``; ``None`` for regression."""
        if self.task == "regression":
            return None
        if out.shape[-1] == 1:  # y is [n] or [B, n]; compare before broadcasting it
            pred = (out[..., 0] > 0) if self.loss_name in ("bce", "hinge", "sigmoid_mse") else (out[..., 0] > 0.5)
            return (pred == (y > 0.5)).to(out.dtype).mean(dim=-1)
        return (out.argmax(dim=-1) == y.long()).to(out.dtype).mean(dim=-1)

    def split_data(self, split: str = "train") -> tuple[Tensor, Tensor]:
        if split == "train":
            return self.X, self.y
        if split == "test":
            if self.X_test is None or self.X_test.shape[0] == 0:
                raise LabError("this problem has no test split (test_fraction = 0)", "split")
            return self.X_test, self.y_test
        raise LabError(f"unknown split {split!r}; allowed: train, test", "split")

    @property
    def n_test(self) -> int:
        """Rows of the held-out split (0 when ``test_fraction = 0``)."""
        return 0 if self.X_test is None else int(self.X_test.shape[0])

    def held_out(self, theta: Tensor) -> tuple[Tensor, Tensor | None]:
        """Loss and accuracy ``[B]`` on the test split (:class:`~core.problems.protocols.HeldOut`)."""
        return self.scores(theta, "test")

    def scores(self, theta: Tensor, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """:meth:`evaluate` without gradients for any number of rows, in chunks whose activations fit
        :data:`HELD_OUT_BYTES` (the engine scores a whole run's recorded parameters in one call)."""
        rows = max(1, HELD_OUT_BYTES // (theta.element_size() * max(1, self.plane_point_size(split))))
        losses, accs = [], []
        with torch.no_grad():
            for part in torch.split(theta, int(rows)):
                loss, acc = self.evaluate(part, split)
                losses.append(loss)
                accs.append(acc)
        return torch.cat(losses), None if accs[0] is None else torch.cat(accs)

    def layer_slices(self) -> list[tuple[str, slice]]:
        """``(name, slice of theta)`` per layer (its weight and bias together): ``layer1``, ..."""
        out, offset = [], 0
        for k in range(0, len(self.shapes), 2):
            size = sum(math.prod(s) for _, s in self.shapes[k:k + 2])
            out.append((f"layer{k // 2 + 1}", slice(offset, offset + size)))
            offset += size
        return out

    def loss(self, theta: Tensor, batch: Tensor | None = None, dropout_u: Tensor | None = None) -> Tensor:
        """Training loss ``[B]``: full batch, or per-row minibatches ``batch[B, m]`` of sample
        indices; with ``dropout_u [B, dropout_units(m)]`` uniforms, the loss of the dropped-out net
        (the engine passes them for the gradient only; evaluation never drops)."""
        X, y = (self.X, self.y) if batch is None else (self.X[batch], self.y[batch])
        keep = None if dropout_u is None else self.dropout_keep(dropout_u, X.shape[-2])
        return self.criterion(self.forward(theta, X, keep), y)

    def evaluate(self, theta: Tensor, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """Loss ``[B]`` and accuracy ``[B]`` (``None`` for regression) on the train or test split."""
        X, y = self.split_data(split)
        out = self.forward(theta, X)
        return self.criterion(out, y), self.accuracy_of(out, y)

    def predict(self, theta: Tensor, X: Tensor) -> Tensor:
        """What the net says at inputs ``X[n, p]`` for one ``theta[d]``: probabilities of class 1
        (bce), class probabilities ``[n, k]`` (cross-entropy), values (mse), or for hinge the margin
        mapped to ``[0, 1]`` as ``(1 + clamp(f, -1, 1)) / 2`` (0.5 on the decision boundary; not a probability)."""
        out = self.forward(theta[None], X.to(theta))[0]
        if self.loss_name in ("bce", "sigmoid_mse"):
            return torch.sigmoid(out[:, 0])
        if self.loss_name == "hinge":
            return (1 + out[:, 0].clamp(-1, 1)) / 2
        if self.loss_name == "cross_entropy":
            return torch.softmax(out, dim=-1)
        return out[:, 0]

    def loss_on_plane(self, theta0: Tensor, d1: Tensor, d2: Tensor | None, coords: Tensor,
                      split: str = "train", workspace: dict | None = None,
                      accuracy: bool = True) -> tuple[Tensor, Tensor | None]:
        """Loss and accuracy ``[G]`` at ``theta0 + a d1 + b d2`` for ``coords[G, 2]`` (or ``[G, 1]``).

        The first layer is affine in ``(a, b)``: ``W1(a, b) x + b1(a, b) = z0 + a z1 + b z2`` with
        ``z0 = W1_0 x + b1_0``, ``z1 = D1 x + e1``, ``z2 = D2 x + e2``. These three ``[h1, n]``
        products are computed once per grid instead of once per grid point, which removes the
        (usually largest, ``p x h1``) input layer from the per-point cost. Exact up to rounding.

        Per chunk the pre-activations are one ``[G, 3] x [3, h1 n]`` product with rows ``(1, a, b)``
        (written once), the later layers run through :meth:`MLP.from_preact` directly. With 0/1
        labels the BCE is ``softplus(-(2 y - 1) x)`` (one pass, no cancellation) and the accuracy a
        count. ``workspace`` (a dict the caller keeps for one grid) holds ``z0, z1, z2``, the later
        layers' rows and the ``Z`` buffer between chunks, so none is recomputed or reallocated."""
        X, y = self.split_data(split)
        ws = workspace if workspace is not None else {}
        if "z" not in ws:
            d2 = d2 if d2 is not None else torch.zeros_like(d1)
            (w_name, _), (b_name, _) = self.shapes[0], self.shapes[1]
            z = []
            for v in (theta0, d1, d2):
                p = self.unflatten(v)
                z.append(torch.addmm(p[b_name].unsqueeze(1), p[w_name], X.T).reshape(-1))  # [h1, n]
            off = sum(math.prod(s) for _, s in self.shapes[:2])
            ws["z"] = torch.stack(z)  # [3, h1 n]
            ws["tail"] = torch.stack([theta0[off:], d1[off:], d2[off:]])  # the later layers, [3, rest]
            # binary labels: BCE(x, y) = softplus(-(2y - 1) x), one pass (no log-sigmoid buffers)
            binary = self.loss_name == "bce" and self.reduction == "mean" and bool(((y == 0) | (y == 1)).all())
            ws["sign"] = (1 - 2 * y).to(ws["z"]) if binary else None
            # accuracy as a count: sum_n [x_n > 0] (2 y_n - 1) + #negatives, one compare and one product
            ws["count"] = ((2 * y - 1).to(ws["z"]), float((y == 0).sum())) if binary else None
        G = coords.shape[0]
        C = torch.ones(G, 3, device=coords.device, dtype=coords.dtype)  # rows (1, a, b)
        C[:, 1:coords.shape[1] + 1] = coords[:, :2]
        if coords.shape[1] < 2 or d2 is None:
            C[:, 2] = 0
        buf = ws.get("Z")
        if buf is None or buf.shape[0] < G:
            buf = ws["Z"] = torch.empty(G, ws["z"].shape[1], device=C.device, dtype=C.dtype)
        # one [G, 3] x [3, n h1] product writes every pre-activation once (long contiguous rows)
        Z = torch.mm(C, ws["z"], out=buf[:G]).view(G, -1, X.shape[0])
        tail = C @ ws["tail"]  # the later layers' parameters at each point
        parts = torch.split(tail, [math.prod(s) for _, s in self.shapes[2:]], dim=1)
        params = [p.reshape(G, *shape) for (_, shape), p in zip(self.shapes[2:], parts)]
        out = self.net.from_preact(Z, list(zip(params[0::2], params[1::2])), consume=True)
        if ws["sign"] is None:
            return self.criterion(out, y), self.accuracy_of(out, y) if accuracy else None
        x = out[..., 0]
        loss = F.softplus(x * ws["sign"], threshold=40.0).mean(dim=-1)
        if not accuracy:
            return loss, None
        s, negatives = ws["count"]
        return loss, torch.mv((x > 0).to(x.dtype), s).add_(negatives).div_(x.shape[1])

    def plane_point_size(self, split: str = "train") -> int:
        """Elements one point of :meth:`loss_on_plane` holds at its peak: the widest hidden layer's
        pre-activations over the split's samples."""
        X, _ = self.split_data(split)
        return X.shape[0] * max(self.sizes[1:-1], default=self.sizes[-1])

    def hvp(self, theta: Tensor, v: Tensor) -> Tensor:
        """Hessian-vector product ``[d]`` of the full-batch training loss, in closed form:
        Pearlmutter's R-operator (Pearlmutter 1994, "Fast exact multiplication by the Hessian";
        Schraudolph 2002): a forward pass of the directional derivatives ``R z_k`` and a backward
        pass of ``R delta_k``, with the second derivatives of the activations and of the loss.

        Lanczos and power iteration call this many times at the *same* point, so everything that
        does not depend on ``v`` (activations, their first and second derivatives, the backward
        deltas) is computed once per point and each product is then a handful of matrix products:
        measured 38 us vs 137 us for autograd's double backward on the heart net, and no gradient
        graph to build. The cache is keyed on the point's *value*: a copy this problem owns,
        compared with ``torch.equal`` (O(d), against the product's O(n d)), so a caller that
        changes its ``theta`` in place or passes an equal tensor gets the right constants. Checked
        against ``torch.func.hessian`` for every activation and loss (tests/test_neural.py)."""
        theta = theta.detach()
        point, constants = self._hvp_cache.get("at", (None, None))
        if (point is None or point.shape != theta.shape or point.dtype != theta.dtype
                or point.device != theta.device or not torch.equal(point, theta)):
            point, constants = theta.clone(), self._hvp_constants(theta)
            self._hvp_cache["at"] = (point, constants)  # one assignment: a second thread sees a pair
        return self._r_op(constants, v.detach().to(theta))

    def _hvp_constants(self, theta: Tensor) -> dict:
        """What the R-operator needs at ``theta``, feature-major: inputs ``h[k]`` of each layer,
        ``phi'`` and ``phi'' * dL/dh`` of each activation, the deltas ``dL/dz_k`` and the loss's
        curvature on the output."""
        with torch.no_grad():
            p = self.unflatten(theta)
            Ws = [p[name] for name, _ in self.shapes[0::2]]
            hs, d1s, qs, z = [self.X.T], [], [], None
            for k, (W, (b_name, _)) in enumerate(zip(Ws, self.shapes[1::2])):
                z = torch.addmm(p[b_name].unsqueeze(1), W, hs[-1])
                if k < len(Ws) - 1:
                    h, d1, d2 = derivatives(self.net.activations[k], z, self.net.leaky_slope)
                    hs.append(h)
                    d1s.append(d1)
                    qs.append(d2)
            n = z.shape[1] if self.reduction == "mean" else 1  # the divisor of the reduction
            if self.loss_name == "bce":
                s = torch.sigmoid(z)
                delta, curv = (s - self.y.to(z)) / n, s * (1 - s) / n
            elif self.loss_name == "mse":
                delta, curv = 2 * (z - self.y.to(z)) / n, None
            elif self.loss_name == "sigmoid_mse":  # (s - y)^2: d/dz = 2 (s - y) s', d2/dz2 = 2 (s'^2 + (s - y) s'')
                s = torch.sigmoid(z)
                s1 = s * (1 - s)
                r = s - self.y.to(z)
                delta, curv = 2 * r * s1 / n, 2 * (s1 * s1 + r * s1 * (1 - 2 * s)) / n
            elif self.loss_name == "hinge":  # piecewise linear in the output: no curvature of its own
                sign = 2 * self.y.to(z) - 1
                delta, curv = -sign * (sign * z < 1).to(z) / n, None
            else:
                s = torch.softmax(z, dim=0)
                delta = s.clone()
                delta[self.y.long(), torch.arange(z.shape[1], device=z.device)] -= 1
                delta, curv = delta / n, s
            deltas = [delta]
            for k in range(len(Ws) - 1, 0, -1):
                g = Ws[k].T @ deltas[0]  # dL/dh_k
                if qs[k - 1] is not None:
                    qs[k - 1] = qs[k - 1] * g
                deltas.insert(0, d1s[k - 1] * g)
        return {"W": Ws, "h": hs, "d1": d1s, "q": qs, "delta": deltas, "curv": curv, "n": n}

    def _r_op(self, c: dict, v: Tensor) -> Tensor:
        """``H v`` from the constants of :meth:`_hvp_constants` (Pearlmutter's R-operator)."""
        Ws, hs, L = c["W"], c["h"], len(c["W"])
        pv = self.unflatten(v)
        Vs = [pv[name] for name, _ in self.shapes[0::2]]
        cs = [pv[name] for name, _ in self.shapes[1::2]]
        Rh, Rhs, Rzs = None, [None], []
        for k in range(L):  # forward: R z_k = V_k h_k + W_k R h_k + c_k
            Rz = torch.addmm(cs[k].unsqueeze(1), Vs[k], hs[k])
            if Rh is not None:
                Rz.addmm_(Ws[k], Rh)
            Rzs.append(Rz)
            if k < L - 1:
                Rh = c["d1"][k] * Rz
                Rhs.append(Rh)
        Ro, curv = Rzs[-1], c["curv"]
        if self.loss_name in ("bce", "sigmoid_mse"):
            Rd = Ro * curv
        elif self.loss_name == "mse":
            Rd = Ro * (2.0 / c["n"])
        elif self.loss_name == "hinge":
            Rd = torch.zeros_like(Ro)
        else:  # softmax cross-entropy: (diag(p) - p p^T) Ro / n
            pR = curv * Ro
            Rd = (pR - curv * pR.sum(dim=0, keepdim=True)) / c["n"]
        out: list[Tensor] = [None] * (2 * L)  # type: ignore[list-item]
        for k in range(L - 1, -1, -1):  # backward: R dL/dW_k, R dL/db_k, then R delta_{k-1}
            gW = Rd @ hs[k].T
            if k > 0:
                gW.addmm_(c["delta"][k], Rhs[k].T)
            out[2 * k], out[2 * k + 1] = gW, Rd.sum(dim=1)
            if k > 0:
                Rg = torch.mm(Vs[k].T, c["delta"][k]).addmm_(Ws[k].T, Rd)
                Rd = c["d1"][k - 1] * Rg
                if c["q"][k - 1] is not None:
                    Rd.addcmul_(c["q"][k - 1], Rzs[k - 1])
        return torch.cat([t.reshape(-1) for t in out])

    def initial_point(self, seed: int = 0) -> Tensor:
        """The seeded start of :attr:`init` (:func:`core.problems.init.init_point`): by default
        PyTorch's ``nn.Linear`` initialization, per layer weight then bias, each
        ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, in float64 from ``torch.Generator().manual_seed(seed)``."""
        return init_point([(layer.in_features, layer.out_features) for layer in self.net.layers], self.init, seed)

    def describe(self) -> str:
        arch = " -> ".join(str(s) for s in self.sizes)
        acts = ", ".join(dict.fromkeys(self.net.activations)) or "none"
        return f"{self.kind}: MLP {arch} ({acts}; {self.loss_name}), {self.dim} parameters, {self.n_samples} training samples"


#: the activations one chunk of :meth:`NeuralProblem.held_out` may hold (bytes)
HELD_OUT_BYTES = 16 * 2**20
#: the largest net the lab builds (its Hessian-vector products and grids are sized for far fewer)
MAX_PARAMETERS = 10_000_000


def _names(sizes: Sequence[int]) -> tuple[list[tuple[str, tuple[int, ...]]], list[str]]:
    """Parameter layout in ``named_parameters`` order and readable coordinate names (W1[i,j], b1[i])."""
    shapes, coords = [], []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes += [(f"layers.{k}.weight", (b, a)), (f"layers.{k}.bias", (b,))]
        coords += [f"W{k + 1}[{i},{j}]" for i in range(b) for j in range(a)] + [f"b{k + 1}[{i}]" for i in range(b)]
    return shapes, coords


def build_mlp(data: Dataset, hidden: Sequence[int], activation: str | Sequence[str], loss: str = "auto",
              init: dict | str | None = None, leaky_slope: float = LEAKY_SLOPE, reduction: str = "mean",
              dropout: float = 0.0) -> NeuralProblem:
    """An MLP problem on ``data`` with hidden widths ``hidden``, the given activation(s) (names of
    :data:`core.problems.activations.ACTIVATIONS`; ``leaky_slope`` is leaky ReLU's slope below 0)
    and the ``init`` scheme of :func:`core.problems.init.parse_init` for its seeded starts."""
    spec = parse_init(init)
    if isinstance(leaky_slope, bool) or not isinstance(leaky_slope, int | float) or not math.isfinite(leaky_slope):
        raise LabError(f"expected a finite number, got {leaky_slope!r}", "leaky_slope")
    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    for i, h in enumerate(hidden):
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise LabError(f"hidden widths must be positive integers, got {h!r}", f"hidden[{i}]")
    if not hidden:
        raise LabError("needs at least one hidden layer (the first layer's pre-activations are what the landscape exploits)", "hidden")
    acts = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
    if len(acts) != len(hidden):
        raise LabError(f"{len(acts)} activations for {len(hidden)} hidden layers", "activation")
    for i, a in enumerate(acts):
        if a not in ACTIVATIONS:
            raise LabError(f"unknown activation {a!r}{suggest(a, list(ACTIVATIONS))}; allowed: {', '.join(ACTIVATIONS)}", "activation")
    if loss == "auto":
        loss = {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}[data.task]
    if loss not in LOSSES:
        raise LabError(f"unknown loss {loss!r}{suggest(loss, LOSSES)}; allowed: auto, {', '.join(LOSSES)}", "loss")
    if loss in ("bce", "hinge", "sigmoid_mse") and data.task != "binary":
        raise LabError(f"loss {loss!r} needs a binary data set; {data.name!r} is {data.task}", "loss")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise LabError(f"dropout is a probability in [0, 1), got {dropout!r}", "dropout")
    if reduction not in REDUCTIONS:
        raise LabError(f"unknown reduction {reduction!r}{suggest(str(reduction), REDUCTIONS)}; allowed: {', '.join(REDUCTIONS)}", "reduction")
    if loss == "cross_entropy" and data.task == "regression":
        raise LabError(f"loss 'cross_entropy' needs class labels; {data.name!r} is a regression set", "loss")
    out = data.n_classes if loss == "cross_entropy" else 1
    if loss == "mse" and data.task == "multiclass":
        raise LabError("loss 'mse' needs a binary or regression data set", "loss")
    sizes = [data.n_features, *hidden, out]
    count = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    if count > MAX_PARAMETERS:
        raise LabError(f"{count:,} parameters is more than {MAX_PARAMETERS:,}; use narrower or fewer hidden layers", "hidden")
    shapes, coords = _names(sizes)
    y_dtype = torch.long if loss == "cross_entropy" else torch.float64
    return NeuralProblem(
        kind="mlp", dim=sum(math.prod(s) for _, s in shapes), coord_names=coords, box=[(-1.0, 1.0)] * 2,
        n_samples=data.n_train, net=MLP(sizes, acts, leaky_slope), shapes=shapes, init=spec, loss_name=loss, reduction=reduction, dropout=float(dropout), task=data.task,
        X=data.X_train, y=data.y_train.to(y_dtype), X_test=data.X_test, y_test=data.y_test.to(y_dtype), dataset=data,
    )


def _data(dataset: str, n: int, noise: float, data_seed: int, test_fraction: float) -> Dataset:
    if dataset not in DATASETS:
        raise LabError(f"unknown data set {dataset!r}{suggest(dataset, DATASETS)}; allowed: {', '.join(DATASETS)}", "dataset")
    return load_dataset(dataset, n=n, noise=noise, seed=data_seed, test_fraction=test_fraction)


def mlp(dataset: str = "moons", hidden: int | Sequence[int] = (16,), activation: str | Sequence[str] = "relu",
        loss: str = "auto", n: int = 200, noise: float = 0.1, data_seed: int = 0, test_fraction: float = 0.2,
        init: dict | str | None = None, leaky_slope: float = LEAKY_SLOPE, reduction: str = "mean",
        dropout: float = 0.0) -> Problem:
    """A configurable MLP: ``hidden`` widths, ``activation`` (one name or one per hidden layer), ``loss``
    (``auto`` picks bce / cross_entropy / mse from the data set's task) on a data set of
    :mod:`core.datasets` (``n`` samples with ``noise`` for the synthetic ones). ``init`` is a scheme
    name or a table ``{ scheme, sigma, bias, scale }`` (:mod:`core.problems.init`); ``leaky_slope``
    is leaky ReLU's slope for ``z < 0`` (the lecture slide's 0.1; PyTorch's default is 0.01).
    ``loss`` may also be ``hinge`` (binary sets); ``reduction`` is ``mean`` (default) or ``sum``;
    ``dropout`` the training-time dropout probability of every hidden unit."""
    return build_mlp(_data(dataset, n, noise, data_seed, test_fraction), hidden, activation, loss, init, leaky_slope,
                     reduction, dropout)


def net13(dataset: str = "moons", n: int = 200, noise: float = 0.1, data_seed: int = 0,
          test_fraction: float = 0.2, init: dict | str | None = None, reduction: str = "mean") -> Problem:
    """The lecture's small net: 2 inputs, 3 ReLU units, one sigmoid output, binary cross-entropy:
    ``3 x 2 + 3 + 3 + 1 = 13`` parameters, on a seeded 2-D set."""
    data = _data(dataset, n, noise, data_seed, test_fraction)
    if data.n_features != 2 or data.task != "binary":
        raise LabError(f"net13 needs a binary 2-D data set (moons, circles, spirals, xor); got {dataset!r}", "dataset")
    return build_mlp(data, [3], "relu", "bce", init, reduction=reduction)


def heart_net(hidden: int = 16, activation: str = "relu", data_seed: int = 0, test_fraction: float = 0.2,
              init: dict | str | None = None, leaky_slope: float = LEAKY_SLOPE, reduction: str = "mean",
              dropout: float = 0.0) -> Problem:
    """The lecture's heart-disease net: 30 inputs (one-hot categoricals, standardized numerics; see
    :func:`core.datasets.heart_disease`), ``hidden`` ReLU units, a sigmoid output and binary
    cross-entropy (513 parameters with 16 hidden units)."""
    return build_mlp(heart_disease(test_fraction=test_fraction, seed=data_seed), [hidden], activation, "bce", init, leaky_slope, reduction, dropout)
