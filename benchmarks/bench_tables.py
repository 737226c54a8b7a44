"""Tables and theory curves without Python loops (issue 15 item 3): ``Run.table`` on 2,000
trajectories x 201 steps, and the predicted heavy-ball / Nesterov error curves over 100,000 steps,
each against the implementation it replaced (tests/reference.py keeps those, also the tests' references).

    .venv/bin/python benchmarks/bench_tables.py [--repeats 5] [--json PATH]

Target: ``Run.table`` on 2,000 x 201 in under 0.2 s. The curves have no stated target (``target``
null); their ratio is what the log-depth matrix powers gain over stepping. ``--json PATH`` writes
the records of benchmarks/_common.py (``baseline`` names the old implementation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from core import theory  # noqa: E402
from core.engine import Group, run  # noqa: E402
from core.problems import make_problem  # noqa: E402
from tests.reference import error_curves_stepped, table_one_frame_per_trajectory  # noqa: E402

TABLE_TARGET_S = 0.2


def table_run(n: int = 2000, steps: int = 200):
    """GD on a 2-D quadratic (L = 10) at n learning rates, about a fifth above 2 / L (they diverge early)."""
    p = make_problem("quadratic", {"eigenvalues": [1.0, 10.0]})
    lrs = [{"lr": float(v)} for v in np.linspace(0.01, 0.25, n)]
    return run(p, [Group("GD", "gd", lrs, torch.tensor([[1.0, 1.0]], dtype=torch.float64))], steps)


def main() -> None:
    from _common import add_json_option, best, check_json_target, record, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="best of N for ours (the baseline: best of 1-2)")
    parser.add_argument("--steps", type=int, default=100_000, help="theory curve length")
    add_json_option(parser)
    args = parser.parse_args()
    check_json_target(args.json)
    records = []

    r = table_run()
    ours_s, table = best(r.table, args.repeats)
    base_s, old = best(lambda: table_one_frame_per_trajectory(r), 2)
    pd.testing.assert_frame_equal(table, old, check_exact=True)
    print(f"Run.table, {r.size} trajectories x {r.steps + 1} steps ({len(table)} rows): ours {ours_s:.4f} s, "
          f"baseline {base_s:.4f} s, ratio {base_s / ours_s:.1f}x (target {TABLE_TARGET_S} s, "
          f"{'met' if ours_s <= TABLE_TARGET_S else 'NOT met'})")
    records.append(record("run_table_2000x201", ours_s, baseline="per-trajectory DataFrames + concat",
                          baseline_s=base_s, target=TABLE_TARGET_S, target_is="seconds"))

    h = torch.tensor([1.0, 100.0], dtype=torch.float64)
    e0 = torch.tensor([1.0, 1.0], dtype=torch.float64)
    for kind in ("momentum", "nesterov"):
        hyper = theory.optimal(kind, 1.0, 100.0)[0]
        ours_s, curve = best(lambda: theory.error_curves(kind, hyper, h, e0, args.steps), args.repeats)
        base_s, ref = best(lambda: error_curves_stepped(kind, hyper, h, e0, args.steps), 1)
        scale = float(ref.abs().max())
        err = float((curve - ref).abs().max()) / scale
        print(f"theory.error_curves {kind}, {args.steps} steps: ours {ours_s:.4f} s, baseline {base_s:.3f} s, "
              f"ratio {base_s / ours_s:.0f}x (max difference {err:.1e} of the curve's scale)")
        records.append(record(f"theory_curve_{kind}_{args.steps}", ours_s, baseline="stepped in Python",
                              baseline_s=base_s))
    write_json(args.json, records)


if __name__ == "__main__":
    main()
