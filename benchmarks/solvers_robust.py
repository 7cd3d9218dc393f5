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
time over the fastest strategy that converged on every system. With
``--repeats R`` every family is run R times with fresh solvers and each
strategy's median total time is used (the machine is shared: one run is noisy).
Writes ``benchmarks/results/solvers_robust.md`` (the command, with ``--quick`` or not,
is stated in it).

Usage: ``.venv/bin/python benchmarks/solvers_robust.py [--quick] [--repeats R] [--json PATH]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
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


Listed = Callable[[], dict[str, object]]


def families(quick: bool) -> list[tuple[str, list[LinearSystem], Listed]]:
    """(label, systems, a function returning fresh listed strategies) per family."""
    n2, res, count = (96, 48, 6) if quick else (256, 96, 10)
    out: list[tuple[str, list[LinearSystem], Listed]] = []
    out.append((f"SPD 9-point Q1 Laplacian {n2}^2", random_rhs(q1_laplacian(n2), count, True),
                lambda: {"ic-cg": make_strategy("ic-cg"), "amg-cg": make_strategy("amg-cg"),
                         "jacobi-cg": make_solver("cg", precond="jacobi")}))
    ad = make_problem("advection_diffusion", res)
    mus = ad.parameter_space.from_unit(np.random.default_rng(0).uniform(0.05, 0.95,
                                                                        (count, ad.parameter_space.dim)))

    def general() -> dict[str, object]:  # fresh strategy objects for every family
        return {name: make_strategy(name) for name in ("gmres-ilu", "gmres-ilu-reuse",
                                                       "gcrodr-ilu")}

    out.append((f"non-symmetric advection-diffusion {res}^2", [ad.assemble(m) for m in mus],
                general))
    hd = make_problem("helmholtz", res, k_min=20.0, k_max=20.0)
    A = hd.assemble(np.array([20.0, 0.3, 0.5, 0.5])).A
    out.append((f"indefinite Helmholtz {res}^2, one matrix", random_rhs(A, count, False),
                general))
    hi = make_problem("helmholtz", res, bc="impedance", k_min=20.0, k_max=40.0)
    out.append((f"complex Helmholtz {res}^2, k0 += 0.05",
                [hi.assemble_complex(np.array([30 + 0.05 * i, 0.3, 0.5, 0.5]))
                 for i in range(count)], general))
    big = max(res, 80)
    hm = make_problem("helmholtz", big, k_min=20.0, k_max=20.0)
    Am = hm.assemble(np.array([20.0, 0.3, 0.5, 0.5])).A
    out.append((f"indefinite Helmholtz {big}^2 labelled SPD", random_rhs(Am, count, True),
                lambda: {"splu": make_strategy("splu"), "gmres-ilu": make_strategy("gmres-ilu")}))
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


def run_family(label: str, systems: list[LinearSystem], listed: Listed, repeats: int
               ) -> dict[str, dict[str, object]]:
    """Rows of one family: the median-time run of each strategy over ``repeats`` runs."""
    runs: dict[str, list[dict[str, object]]] = {}
    for _ in range(repeats):
        auto = make_solver("auto") if "labelled SPD" in label else make_solver("auto", **LARGE)
        counting = {k: Counting(s) for k, s in {"auto": auto, **listed()}.items()}
        rows = run_interleaved(counting, systems)
        for name, row in rows.items():
            row["converged"] = counting[name].converged
            runs.setdefault(name, []).append(row)
    out = {}
    for name, rs in runs.items():
        rs = sorted(rs, key=lambda r: float(r["seconds"]))
        out[name] = {**rs[len(rs) // 2], "repeats": len(rs),
                     "seconds_all": [float(r["seconds"]) for r in rs]}
    return out


def write_markdown(path: Path, record: list[dict], args: argparse.Namespace, load: str) -> None:
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/solvers_robust.py" + (
        " --quick" if args.quick else "") + f" --repeats {args.repeats}"
    lines = ["# `auto` on every matrix family (`benchmarks/solvers_robust.py`)", "",
             f"Command: `{cmd}`; machine: {platform.machine()}, {os.cpu_count()} cores shared "
             f"with other jobs, one BLAS thread; load average {load} (start -> end). "
             "`auto` runs with `small_max = direct_max = 100` (the large-system branches) "
             "except on the mislabelled family (defaults). Median of the repeats per "
             "strategy; best = fastest strategy that converged on every system.", "",
             "| family | unknowns | systems | auto converged | auto / best | best | "
             "others converged |", "|---|---|---|---|---|---|---|"]
    for r in record:
        rows = r["rows"]
        best = min((k for k, v in rows.items() if k != "auto" and v["all_converged"]),
                   key=lambda k: rows[k]["seconds"], default="-")
        others = ", ".join(f"{k} {v['converged']}/{r['systems']}" for k, v in rows.items()
                           if k != "auto")
        lines.append(f"| {r['family']} | {r['unknowns']} | {r['systems']} | "
                     f"{rows['auto']['converged']}/{r['systems']} | {r['auto_vs_best']:.2f} | "
                     f"{best} | {others} |")
    lines += ["", "Per family (median run):", ""]
    for r in record:
        lines += [f"### {r['family']} (n = {r['unknowns']})", "", "```",
                  format_rows(r["rows"]), "```", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--out", default=None, help="results markdown (default: benchmarks/results/)")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    record = []
    for label, systems, listed in families(args.quick):
        rows = run_family(label, systems, listed, max(args.repeats, 1))
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
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / "solvers_robust.md"
    write_markdown(out, record, args, f"{load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
