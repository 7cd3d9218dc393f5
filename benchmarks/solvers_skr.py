"""SKR reproduction (Wang et al., ICLR 2024): SKR-sorted GCRO-DR(40, 20) vs independent GMRES(40).

A sequence of Darcy (conservative / nonconservative) or Helmholtz systems, the
same preconditioner on both sides, tol 1e-8: matvec and wall-clock ratios.

Usage: ``.venv/bin/python benchmarks/solvers_skr.py [--quick] [--json PATH]``
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.solver_common import table  # noqa: E402
from cli.bench import run_interleaved  # noqa: E402
from solvers.linear import make_solver  # noqa: E402
from solvers.ordering import order_systems  # noqa: E402
from solvers.problems import make_problem  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    record = {"quick": args.quick, "skr": part_skr(args.quick)}
    for c in record["skr"]:
        print(f"SKR {c['problem']} {c['options']} n={c['unknowns']} systems={c['n_systems']} "
              f"precond={c['precond']}: matvec ratio {c['matvec_ratio']:.2f}x, "
              f"wall-clock ratio {c['time_ratio']:.2f}x (ordering {c['order_seconds']:.2f}s)")
        print(table(c["rows"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
