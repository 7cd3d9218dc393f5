"""``auto`` against what a user would pick, on 2-D and 3-D diffusion sequences.

Baselines: sparse LU (splu), pyamg SA-CG with the setup reused, IC(0)-CG;
sequences with changing coefficients (Darcy-like) and with a fixed matrix
(heat / Crank-Nicolson-like).

Usage: ``.venv/bin/python benchmarks/solvers_auto.py [--quick] [--json PATH]``
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

from benchmarks.solver_common import diffusion_matrix, laplacian, smooth_field, table  # noqa: E402
from cli.bench import make_strategy, run_interleaved  # noqa: E402
from solvers.problems.base import LinearSystem  # noqa: E402


def user_sequences(quick: bool) -> list[tuple[str, list[LinearSystem]]]:
    rng = np.random.default_rng(0)
    n2, n3, count = (128, 24, 3) if quick else (512, 64, 3)
    out = []
    for dim, n in ((2, n2), (3, n3)):
        N = n ** dim
        b = np.ones(N)
        darcy = [LinearSystem(diffusion_matrix(n, dim, smooth_field(n, dim, rng)), b, True, True)
                 for _ in range(count)]
        out.append((f"{dim}-D darcy-like {n}^{dim}, {count} coefficients", darcy))
        L = laplacian(n, dim)
        dt = 1e-3 if dim == 2 else 2e-3
        Aheat = (sp.identity(N) + 0.5 * dt * L).tocsr()
        Bheat = (sp.identity(N) - 0.5 * dt * L).tocsr()
        u = rng.standard_normal(N)
        heat = []
        for _ in range(2 * count):
            heat.append(LinearSystem(Aheat, Bheat @ u, True, True))
            u = Aheat @ u  # any right-hand sides; the matrix is what matters
        out.append((f"{dim}-D heat CN {n}^{dim}, {2 * count} steps", heat))
    return out


def part_user(quick: bool) -> list[dict]:
    out = []
    for label, systems in user_sequences(quick):
        names = ["splu", "pyamg-cg", "pyamg-cg-fresh", "ic-cg", "auto"]
        skip = "3-D" in label and not quick
        if skip:
            names.remove("splu")
        rows = run_interleaved({name: make_strategy(name) for name in names}, systems)
        if skip:
            rows["splu"] = {"skipped": "3-D LU fill (minutes, GBs); see text"}
        base = [r["seconds"] for k, r in rows.items() if k != "auto" and "seconds" in r]
        out.append({"sequence": label, "unknowns": int(systems[0].A.shape[0]), "rows": rows,
                    "auto_vs_best_baseline": rows["auto"]["seconds"] / min(base)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    record = {"quick": args.quick, "user": part_user(args.quick)}
    for c in record["user"]:
        print(f"USER {c['sequence']} (n={c['unknowns']}): auto / best baseline = "
              f"{c['auto_vs_best_baseline']:.2f}")
        print(table(c["rows"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
