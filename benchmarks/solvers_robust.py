"""``auto`` on every matrix family, against the strategies it could have listed.

Families (issue 15, item 4): SPD with a 9-point stencil (Q1 Laplacian, where the
old "more than 5.5 non-zeros per row -> Jacobi" rule picked Jacobi),
non-symmetric (advection-diffusion), real symmetric indefinite with one matrix
and changing right-hand sides (Helmholtz, Dirichlet), complex symmetric and
slowly varying (Helmholtz with impedance, ``k0`` stepping by 0.05), and an
indefinite matrix mislabelled SPD. ``auto`` runs with its size thresholds
lowered (``small_max = direct_max = 100``) so that these sizes take the
large-system iterative branches; the mislabelled family uses the defaults.

Per family: systems converged, seconds and iterations of every strategy
(interleaved, :func:`solvers.benchmarking.run_interleaved`) and ``auto``'s
time over the fastest strategy that converged on every system.

Usage: ``.venv/bin/python benchmarks/solvers_robust.py [--quick] [--json PATH]``
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

from solvers.benchmarking import format_rows, make_strategy, run_interleaved  # noqa: E402
from solvers.linear import make_solver  # noqa: E402
from solvers.linear.base import SolveStats  # noqa: E402
from solvers.linear.system import LinearSystem  # noqa: E402
from solvers.problems import make_problem  # noqa: E402

LARGE = {"small_max": 100, "direct_max": 100}


def q1_laplacian(n: int) -> sp.csr_matrix:
    K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    M = sp.diags([1.0, 4.0, 1.0], [-1, 0, 1], shape=(n, n)) / 6
    return ((sp.kron(K, M) + sp.kron(M, K)) * (n + 1) ** 2).tocsr()


def random_rhs(A: sp.csr_matrix, count: int, spd: bool, symmetric: bool = True
               ) -> list[LinearSystem]:
    rng = np.random.default_rng(0)
    return [LinearSystem(A, rng.standard_normal(A.shape[0]), symmetric, spd)
            for _ in range(count)]


def families(quick: bool) -> list[tuple[str, list[LinearSystem], dict[str, object]]]:
    n2, res, count = (96, 48, 6) if quick else (256, 96, 10)
    out: list[tuple[str, list[LinearSystem], dict[str, object]]] = []
    out.append((f"SPD 9-point Q1 Laplacian {n2}^2", random_rhs(q1_laplacian(n2), count, True),
                {"ic-cg": make_strategy("ic-cg"), "amg-cg": make_strategy("amg-cg"),
                 "jacobi-cg": make_solver("cg", precond="jacobi")}))
    ad = make_problem("advection_diffusion", res)
    mus = ad.parameter_space.from_unit(np.random.default_rng(0).uniform(0.05, 0.95,
                                                                        (count, ad.parameter_space.dim)))

    def general() -> dict[str, object]:  # fresh strategy objects for every family
        return {name: make_strategy(name) for name in ("gmres-ilu", "gmres-ilu-reuse",
                                                       "gcrodr-ilu")}

    out.append((f"non-symmetric advection-diffusion {res}^2", [ad.assemble(m) for m in mus],
                general()))
    hd = make_problem("helmholtz", res, k_min=20.0, k_max=20.0)
    A = hd.assemble(np.array([20.0, 0.3, 0.5, 0.5])).A
    out.append((f"indefinite Helmholtz {res}^2, one matrix", random_rhs(A, count, False),
                general()))
    hi = make_problem("helmholtz", res, bc="impedance", k_min=20.0, k_max=40.0)
    out.append((f"complex Helmholtz {res}^2, k0 += 0.05",
                [hi.assemble_complex(np.array([30 + 0.05 * i, 0.3, 0.5, 0.5]))
                 for i in range(count)], general()))
    big = max(res, 80)
    hm = make_problem("helmholtz", big, k_min=20.0, k_max=20.0)
    Am = hm.assemble(np.array([20.0, 0.3, 0.5, 0.5])).A
    out.append((f"indefinite Helmholtz {big}^2 labelled SPD", random_rhs(Am, count, True),
                {"splu": make_strategy("splu"), "gmres-ilu": make_strategy("gmres-ilu")}))
    return out


class Counting:
    """A strategy that counts its converged systems."""

    def __init__(self, solver: object):
        self.solver, self.converged = solver, 0

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None):
        try:
            x, st = self.solver.solve(system, x0)
        except ValueError as exc:  # e.g. an ILU that cannot be built: not converged
            x = np.zeros_like(system.b)
            st = SolveStats("failed", residual=1.0, status="error", info={"error": str(exc)})
        self.converged += bool(st.converged)
        return x, st


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    record = []
    for label, systems, listed in families(args.quick):
        auto = make_solver("auto") if "labelled SPD" in label else make_solver("auto", **LARGE)
        solvers = {"auto": auto, **listed}
        counting = {k: Counting(s) for k, s in solvers.items()}
        rows = run_interleaved(counting, systems)
        for name, row in rows.items():
            row["converged"] = counting[name].converged
        done = [r["seconds"] for k, r in rows.items() if k != "auto" and r["all_converged"]]
        ratio = rows["auto"]["seconds"] / min(done) if done else float("nan")
        record.append({"family": label, "unknowns": int(systems[0].A.shape[0]),
                       "systems": len(systems), "rows": rows, "auto_vs_best": ratio})
        conv = ", ".join(f"{k} {r['converged']}/{len(systems)}" for k, r in rows.items())
        print(f"FAMILY {label} (n={systems[0].A.shape[0]}): auto / best converging = "
              f"{ratio:.2f}; converged: {conv}")
        print(format_rows(rows), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
