"""Side by side with pyMOR: certified RB of the same assembled thermal block.

Our ``rom`` package (this venv) and pyMOR (a separate venv, default
``/tmp/pymor-venv``; create it with ``python3 -m venv /tmp/pymor-venv &&
/tmp/pymor-venv/bin/pip install pymor``) reduce the *same discrete problem*:
the block matrices ``A_q`` and load ``f`` of ``thermal_block`` are written to
an ``.npz`` file and handed to pyMOR as ``NumpyMatrixOperator``s combined in a
``LincombOperator`` with ``ProjectionParameterFunctional`` coefficients. Both
use the energy product ``X = A(mu_ref)``, the min-theta coercivity bound, the
same LHS training set and the same weak greedy to the same ``N``; pyMOR's
``CoerciveRBReductor`` also evaluates the residual norm stably (orthonormalised
Riesz representers), so the estimators are comparable.

Reported: offline (greedy) time, online time per parameter (solve + error
estimate, one parameter at a time; ours also batched), and the max relative
energy-norm error and bound on the test set at equal N.

Usage: ``.venv/bin/python benchmarks/rom_pymor.py [--quick] [--pymor-python PATH]``
"""

from __future__ import annotations

import sys
from pathlib import Path

# the repository root before benchmarks/ on the path: benchmarks/solvers.py must not
# shadow the solvers package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings


def _worker(npz: str, out: str) -> None:
    """Runs inside the pyMOR venv: numpy, scipy and pymor only."""
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla
    from pymor.algorithms.greedy import rb_greedy
    from pymor.models.basic import StationaryModel
    from pymor.operators.constructions import LincombOperator, VectorOperator
    from pymor.operators.numpy import NumpyMatrixOperator
    from pymor.parameters.functionals import (
        MinThetaParameterFunctional,
        ProjectionParameterFunctional,
    )
    from pymor.reductors.coercive import CoerciveRBReductor

    d = np.load(npz)
    Q = int(d["Q"])
    A_terms = [sp.csr_matrix((d[f"A{q}_data"], d[f"A{q}_indices"], d[f"A{q}_indptr"]),
                             shape=tuple(d["shape"])) for q in range(Q)]
    f, mu_ref, N = d["f"], d["mu_ref"], int(d["N"])
    train, test = d["train"], d["test"]
    thetas = [ProjectionParameterFunctional("diffusion", size=Q, index=q) for q in range(Q)]
    op = LincombOperator([NumpyMatrixOperator(A) for A in A_terms], thetas)
    rhs = VectorOperator(op.range.from_numpy(f[:, None]))
    X = sum(m * A for m, A in zip(mu_ref, A_terms))
    product = NumpyMatrixOperator(sp.csr_matrix(X))
    fom = StationaryModel(op, rhs, products={"energy": product})
    coercivity = MinThetaParameterFunctional(thetas, fom.parameters.parse(mu_ref))
    reductor = CoerciveRBReductor(fom, product=product, coercivity_estimator=coercivity)
    t0 = time.perf_counter()
    greedy = rb_greedy(fom, reductor, [fom.parameters.parse(m) for m in train],
                       max_extensions=N)
    offline = time.perf_counter() - t0
    rom = greedy["rom"]
    mus = [fom.parameters.parse(m) for m in test]
    t0 = time.perf_counter()
    sols, ests = [], []
    for mu in mus:
        data = rom.compute(solution=True, solution_error_estimate=True, mu=mu)
        sols.append(data["solution"])
        ests.append(float(np.ravel(data["solution_error_estimate"])[0]))
    online = (time.perf_counter() - t0) / len(mus)
    rel_err, rel_bound, viol = [], [], 0
    for m, uN, est in zip(test, sols, ests):
        A = sum(t * Aq for t, Aq in zip(m, A_terms))
        u = spla.splu(sp.csc_matrix(A)).solve(f)
        e = u - reductor.reconstruct(uN).to_numpy()[:, 0]
        err, nu = np.sqrt(e @ (X @ e)), np.sqrt(u @ (X @ u))
        rel_err.append(err / nu)
        rel_bound.append(est / nu)
        viol += int(est < err)
    with open(out, "w") as fh:
        json.dump({"N": int(len(reductor.bases["RB"])), "offline_s": offline,
                   "online_single_s": online, "max_rel_err": float(max(rel_err)),
                   "max_rel_bound": float(max(rel_bound)), "violations": viol}, fh)


def _ours(aff, mu_ref, train, test, N):
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from rom.reduced_basis import ReducedBasis

    box = (np.full(len(mu_ref), 0.1), np.ones(len(mu_ref)))
    t0 = time.perf_counter()
    rb = ReducedBasis(aff, mu_ref, box, estimator_kind="stable")
    with warnings.catch_warnings():   # tol=0: run exactly N greedy steps, like pyMOR
        warnings.simplefilter("ignore", RuntimeWarning)
        rb.greedy(train, tol=0.0, max_basis=N)
    offline = time.perf_counter() - t0
    online = rb.online()
    t0 = time.perf_counter()
    res = [online(m[None]) for m in test]
    single = (time.perf_counter() - t0) / len(test)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        uN, delta = online(test)
        best = min(best, time.perf_counter() - t0)
    rel_err, rel_bound, viol = [], [], 0
    X = rb.X
    for m, (c, d) in zip(test, res):
        A, f = aff.assemble(m)
        u = spla.splu(sp.csc_matrix(A)).solve(f)
        e = u - rb.basis @ c[0]
        err, nu = np.sqrt(e @ (X @ e)), np.sqrt(u @ (X @ u))
        rel_err.append(err / nu)
        rel_bound.append(d[0] / nu)
        viol += int(d[0] < err)
    return {"N": rb.N, "offline_s": offline, "online_single_s": single,
            "online_batched_s": best / len(test), "max_rel_err": float(max(rel_err)),
            "max_rel_bound": float(max(rel_bound)), "violations": viol}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pymor-python", default="/tmp/pymor-venv/bin/python")
    ap.add_argument("--N", type=int, nargs="+", default=None, help="basis sizes compared")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(*args.worker)
        return

    import numpy as np

    from solvers.problems import make_problem
    from solvers.problems.sampling import sample_unit

    res = 73 if args.quick else 143
    n_train, n_test = (300, 100) if args.quick else (1000, 200)
    Ns = args.N or ([10, 20] if args.quick else [10, 20, 25])
    problem = make_problem("thermal_block", res)
    aff = problem.affine_decomposition()
    space = problem.parameter_space
    train = space.from_unit(sample_unit(n_train, 4, "lhs", seed=1))
    test = space.from_unit(sample_unit(n_test, 4, "random", seed=2))
    mu_ref = aff.min_theta_ref
    print(f"thermal block 2x2, resolution {res}: {aff.A_terms[0].shape[0]} unknowns, "
          f"train {n_train}, test {n_test}")
    check = subprocess.run([args.pymor_python, "-c", "import pymor; print(pymor.__version__)"],
                           capture_output=True, text=True) if os.path.exists(
                               args.pymor_python) else None
    if check is None or check.returncode != 0:
        print(f"pyMOR is NOT installed at {args.pymor_python}: only our side is measured. "
              "Create it with: python3 -m venv /tmp/pymor-venv && "
              "/tmp/pymor-venv/bin/pip install pymor")
    else:
        print(f"pyMOR {check.stdout.strip()} at {args.pymor_python}")
    print(f"\n{'N':>3} {'library':>8} {'offline s':>10} {'online us':>10} {'batched us':>11} "
          f"{'max rel err':>12} {'max rel bound':>14} {'violations':>10}")
    for N in Ns:
        ours = _ours(aff, mu_ref, train, test, N)
        rows = [("rom", ours)]
        if check is not None and check.returncode == 0:
            with tempfile.TemporaryDirectory() as tmp:
                npz, out = Path(tmp) / "tb.npz", Path(tmp) / "out.json"
                arrays = {"Q": len(aff.A_terms), "shape": aff.A_terms[0].shape,
                          "f": aff.f_terms[0], "mu_ref": mu_ref, "N": N, "train": train,
                          "test": test}
                for q, A in enumerate(aff.A_terms):
                    arrays.update({f"A{q}_data": A.data, f"A{q}_indices": A.indices,
                                   f"A{q}_indptr": A.indptr})
                np.savez(npz, **arrays)
                env = {**os.environ, "PYTHONPATH": ""}
                run = subprocess.run([args.pymor_python, __file__, "--worker", str(npz),
                                      str(out)], capture_output=True, text=True, env=env)
                if run.returncode != 0:
                    print(f"pyMOR run failed: {run.stderr.strip().splitlines()[-1:]}")
                else:
                    rows.append(("pyMOR", json.loads(out.read_text())))
        for name, r in rows:
            batched = f"{r['online_batched_s'] * 1e6:11.1f}" if "online_batched_s" in r else \
                f"{'-':>11}"
            print(f"{r['N']:3d} {name:>8} {r['offline_s']:10.2f} "
                  f"{r['online_single_s'] * 1e6:10.1f} {batched} {r['max_rel_err']:12.3e} "
                  f"{r['max_rel_bound']:14.3e} {r['violations']:10d}")
        if len(rows) == 2:
            a, b = rows[0][1], rows[1][1]
            print(f"    ratios pyMOR/rom: offline {b['offline_s'] / a['offline_s']:.1f}x, "
                  f"online single {b['online_single_s'] / a['online_single_s']:.1f}x, "
                  f"online vs our batched {b['online_single_s'] / a['online_batched_s']:.0f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
