"""Linear-solver benchmarks, side by side in one run (ratios, not absolute times).

1. ``skr``: SKR reproduction (Wang et al., ICLR 2024): a sequence of Darcy
   (conservative / nonconservative) or Helmholtz systems, SKR-sorted GCRO-DR(40, 20)
   vs independent GMRES(40), same preconditioner, tol 1e-8: matvec and wall-clock ratios.
2. ``user``: ``auto`` against what a user would pick (sparse LU, pyamg SA-CG with the
   setup reused, IC(0)-CG) on 2-D and 3-D diffusion sequences (changing coefficients:
   Darcy-like; fixed matrix: heat/Crank-Nicolson-like).
3. ``bandit``: SSOR-CG with omega learned online (Tsallis-INF) vs plain CG and the best
   fixed omega in hindsight on a 2-D heat Crank-Nicolson sequence.

Usage: ``.venv/bin/python benchmarks/linear_solvers.py [--quick] [--only skr,user,bandit]``
(``--only bandit-long``: the bandit part on 200^2 with 150 systems).
Prints a table per part and writes JSON with ``--json PATH``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.bench import make_strategy, run_interleaved  # noqa: E402
from solvers.linear import make_solver  # noqa: E402
from solvers.ordering import order_systems  # noqa: E402
from solvers.problems import make_problem  # noqa: E402
from solvers.problems.base import LinearSystem  # noqa: E402


# ----------------------------------------------------------------- 1. SKR
def skr_case(problem: str, resolution: int, n: int, options: dict, precond: str,
             complex_: bool = False, seed: int = 0, precond_options: dict | None = None) -> dict:
    prob = make_problem(problem, resolution, **options)
    space = prob.parameter_space
    mus = space.from_unit(np.random.default_rng(seed).uniform(1e-6, 1 - 1e-6, (n, space.dim)))
    t0 = time.perf_counter()
    order = order_systems(prob, mus)
    t_order = time.perf_counter() - t0
    assemble = prob.assemble_complex if complex_ else prob.assemble
    systems = [assemble(mu) for mu in mus]
    sorted_systems = [systems[i] for i in order]
    popts = {"precond": precond, "precond_options": precond_options or {},
             "reuse_precond": False}  # one preconditioner per system on both sides
    rows = run_interleaved(
        {"gmres(40) independent": make_solver("gmres", strategy="independent", restart=40,
                                              **popts),
         "gcrodr(40,20) sorted": make_solver("gcrodr", m=40, k=20, **popts),
         "gcrodr(40,20) unsorted": make_solver("gcrodr", m=40, k=20, **popts)},
        {"gmres(40) independent": systems, "gcrodr(40,20) sorted": sorted_systems,
         "gcrodr(40,20) unsorted": systems})
    g, r = rows["gmres(40) independent"], rows["gcrodr(40,20) sorted"]
    return {"problem": problem, "options": options, "unknowns": int(systems[0].A.shape[0]),
            "n_systems": n, "precond": precond, "precond_options": precond_options, "order_seconds": t_order, "rows": rows,
            "matvec_ratio": g["matvecs"] / max(r["matvecs"], 1),
            "time_ratio": g["seconds"] / (r["seconds"] + t_order)}


def part_skr(quick: bool) -> list[dict]:
    """Resolution 102 -> 100^2 = 10^4 unknowns, 254 -> 252^2 = 6.35e4 (Dirichlet interior)."""
    sizes = [(102, 16)] if quick else [(102, 60), (254, 10)]
    ilu = {"drop_tol": 1e-2, "fill_factor": 2}
    out = []
    for res, count in sizes:
        out.append(skr_case("darcy", res, count, {"scheme": "conservative"}, "ilu",
                            precond_options=ilu))
        out.append(skr_case("darcy", res, count, {"scheme": "nonconservative"}, "ilu",
                            precond_options=ilu))
        out.append(skr_case("helmholtz", res, count, {"bc": "impedance", "k_max": 10.0}, "ilu",
                            complex_=True, precond_options=ilu))
    return out


# ----------------------------------------------------------------- 2. user baselines
def laplacian(n: int, dim: int) -> sp.csr_matrix:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * (n + 1) ** 2
    I = sp.identity(n)
    if dim == 2:
        return (sp.kron(T, I) + sp.kron(I, T)).tocsr()
    return (sp.kron(sp.kron(T, I), I) + sp.kron(sp.kron(I, T), I)
            + sp.kron(sp.kron(I, I), T)).tocsr()


def diffusion_matrix(n: int, dim: int, a: np.ndarray) -> sp.csr_matrix:
    """``-div(a grad u)`` (cell-centred coefficient ``a`` on nodes, arithmetic face means)."""
    h2 = (n + 1) ** 2
    N = n ** dim
    a = a.reshape((n,) * dim)
    rows, cols, vals = [], [], []
    idx = np.arange(N).reshape((n,) * dim)
    diag = np.zeros((n,) * dim)
    for ax in range(dim):
        sl_lo = [slice(None)] * dim
        sl_hi = [slice(None)] * dim
        sl_lo[ax], sl_hi[ax] = slice(0, n - 1), slice(1, n)
        af = 0.5 * (a[tuple(sl_lo)] + a[tuple(sl_hi)]) * h2
        i, j = idx[tuple(sl_lo)].ravel(), idx[tuple(sl_hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-af.ravel(), -af.ravel()]
        diag[tuple(sl_lo)] += af
        diag[tuple(sl_hi)] += af
        # Dirichlet faces at the two ends of the axis
        e_lo = [slice(None)] * dim
        e_hi = [slice(None)] * dim
        e_lo[ax], e_hi[ax] = 0, n - 1
        diag[tuple(e_lo)] += a[tuple(e_lo)] * h2
        diag[tuple(e_hi)] += a[tuple(e_hi)] * h2
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(N, N))


def smooth_field(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """A log-normal coefficient from a few low Fourier modes (contrast about 10)."""
    x = np.linspace(0, 1, n)
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    g = np.zeros((n,) * dim)
    for _ in range(6):
        k = rng.integers(1, 4, size=dim)
        phase = rng.uniform(0, 2 * np.pi)
        g += rng.standard_normal() * np.cos(sum(np.pi * k[d] * grids[d] for d in range(dim)) + phase)
    return np.exp(0.6 * g).ravel()


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


# ----------------------------------------------------------------- 3. bandit SSOR-CG
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


# ----------------------------------------------------------------- output
def table(rows: dict) -> str:
    lines = [f"  {'strategy':<26}{'s/system':>10}{'iters/sys':>11}{'matvecs':>10}{'max res':>11}"]
    for name, r in rows.items():
        if "skipped" in r:
            lines.append(f"  {name:<26} skipped: {r['skipped']}")
            continue
        lines.append(f"  {name:<26}{r['seconds_per_system']:>10.4f}"
                     f"{r['iterations_per_system']:>11.1f}{r['matvecs']:>10d}"
                     f"{r['max_residual']:>11.2e}{'' if r['all_converged'] else '  NOT CONVERGED'}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="skr,user,bandit")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    parts = args.only.split(",")
    record: dict = {"quick": args.quick}
    if "skr" in parts:
        record["skr"] = part_skr(args.quick)
        for c in record["skr"]:
            print(f"SKR {c['problem']} {c['options']} n={c['unknowns']} systems={c['n_systems']} "
                  f"precond={c['precond']}: matvec ratio {c['matvec_ratio']:.2f}x, "
                  f"wall-clock ratio {c['time_ratio']:.2f}x (ordering {c['order_seconds']:.2f}s)")
            print(table(c["rows"]), flush=True)
    if "user" in parts:
        record["user"] = part_user(args.quick)
        for c in record["user"]:
            print(f"USER {c['sequence']} (n={c['unknowns']}): auto / best baseline = "
                  f"{c['auto_vs_best_baseline']:.2f}")
            print(table(c["rows"]), flush=True)
    if "bandit" in parts or "bandit-long" in parts:
        if "bandit-long" in parts:  # a longer horizon on a smaller grid
            c = record["bandit"] = part_bandit(args.quick, 200, 150)
        else:
            c = record["bandit"] = part_bandit(args.quick)
        print(f"BANDIT heat CN n={c['unknowns']} systems={c['n_systems']}: bandit/best-fixed "
              f"iterations {c['bandit_vs_best_fixed_iterations']:.3f} (best omega "
              f"{c['best_fixed_omega']}), bandit/CG seconds {c['bandit_vs_cg_seconds']:.2f}")
        print(table(c["rows"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
