"""Implementations the lab replaced, kept as references: the tests compare the new code with them
and benchmarks/bench_tables.py times them as its baselines (one copy, here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from core import theory
from core.engine import MAX_COORD_COLUMNS, Run
from core.stability import defaults


def table_one_frame_per_trajectory(r: Run) -> pd.DataFrame:
    """The table as it was built before issue 15: one DataFrame per trajectory, concatenated."""
    T1, B = r.loss.shape
    steps = np.arange(T1)
    frames = []
    coords = r.thetas is not None and r.problem.dim <= MAX_COORD_COLUMNS
    for i in range(B):
        n = r.last_step(i) + 1
        cols: dict[str, Any] = {"optimizer": [r.labels[i]] * n, "step": steps[:n],
                                "loss": r.loss[:n, i].numpy(), "grad_norm": r.grad_norm[:n, i].numpy()}
        for name, t in r.step_columns().items():
            if name not in cols:
                cols[name] = t[:n, i].numpy()
        if coords:
            for j in range(r.problem.dim):
                cols[f"x{j}"] = r.thetas[:n, i, j].numpy()
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


def error_curves_stepped(kind, hyper, h, e0, steps):
    """core.theory.error_curves as it was before issue 15: the iteration matrix applied step by step."""
    p = defaults(kind, hyper)
    h = torch.as_tensor(h, dtype=torch.float64)
    e = torch.as_tensor(e0, dtype=h.dtype).clone()
    M = theory.iteration_matrix(kind, hyper, h)
    out = [e.clone()]
    heff = h + float(p["weight_decay"])
    state = torch.stack([e, torch.zeros_like(e)], dim=-1)
    if kind in ("momentum", "nesterov") and steps >= 1:
        v = heff * e
        beta = float(p["momentum"])
        step = v if kind == "momentum" else heff * e + beta * v
        state = torch.stack([e - float(p["lr"]) * step, v], dim=-1)
        out.append(state[:, 0].clone())
        steps -= 1
    for _ in range(steps):
        state = (M @ state[..., None])[..., 0]
        out.append(state[:, 0].clone())
    return torch.stack(out)
