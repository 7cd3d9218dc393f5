"""SSOR-CG with omega learned online (Tsallis-INF, ChebCB) on a 2-D heat Crank-Nicolson sequence.

Against plain CG and the best fixed omega in hindsight, side by side.

Usage: ``.venv/bin/python benchmarks/solvers_bandit.py [--quick] [--long] [--json PATH]``
(``--long``: 200^2 with 150 systems instead of 400^2 with 30).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.solver_common import laplacian, table  # noqa: E402
from cli.bench import run_interleaved  # noqa: E402
from solvers.linear import make_solver  # noqa: E402
from solvers.problems.base import LinearSystem  # noqa: E402


def part_bandit(quick: bool, n: int | None = None, steps: int | None = None) -> dict:
    if n is None:
        n, steps = (128, 40) if quick else (400, 30)
    N = n * n
    rng = np.random.default_rng(1)
    L = laplacian(n, 2)
    systems = []
    u = rng.standard_normal(N)
    kappas = np.exp(rng.uniform(np.log(0.1), np.log(10.0), steps))  # diffusivity per step
    dt = 1e-3
    for kap in kappas:
        A = (sp.identity(N) + 0.5 * dt * kap * L).tocsr()
        systems.append(LinearSystem(A, u, True, True, {"kappa": float(kap)}))
    omegas = (1.0, 1.2, 1.4, 1.6, 1.8, 1.9)
    grid = ",".join(map(str, omegas))
    solvers = {"cg": make_solver("cg")}
    solvers.update({f"ssor-cg omega={w}": make_solver("ssor-cg", omega=w) for w in omegas})
    solvers["ssor-cg bandit"] = make_solver("ssor-cg", omega="bandit", omegas=grid)
    solvers["ssor-cg chebcb(kappa)"] = make_solver("ssor-cg", omega="chebcb", omegas=grid,
                                                   context="kappa", context_range="0.1:10")
    rows = run_interleaved(solvers, systems)
    fixed = {w: rows[f"ssor-cg omega={w}"] for w in omegas}
    best = min(fixed, key=lambda w: fixed[w]["iterations"])
    return {"unknowns": N, "n_systems": steps, "rows": rows, "best_fixed_omega": best,
            "bandit_vs_best_fixed_iterations":
                rows["ssor-cg bandit"]["iterations"] / fixed[best]["iterations"],
            "bandit_vs_cg_seconds": rows["ssor-cg bandit"]["seconds"] / rows["cg"]["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--long", action="store_true", help="200^2 with 150 systems")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    c = part_bandit(args.quick, 200, 150) if args.long else part_bandit(args.quick)
    print(f"BANDIT heat CN n={c['unknowns']} systems={c['n_systems']}: bandit/best-fixed "
          f"iterations {c['bandit_vs_best_fixed_iterations']:.3f} (best omega "
          f"{c['best_fixed_omega']}), bandit/CG seconds {c['bandit_vs_cg_seconds']:.2f}")
    print(table(c["rows"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"quick": args.quick, "bandit": c}, indent=1,
                                              default=float))


if __name__ == "__main__":
    main()
