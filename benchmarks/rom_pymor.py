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

Reported: offline (greedy to the largest N) time, online time per parameter (solve + error
estimate, one parameter at a time; ours also batched), and the max relative
energy-norm error and bound on the test set at equal N.

Usage: ``.venv/bin/python benchmarks/rom_pymor.py [--quick] [--pymor-python PATH]``
"""

from __future__ import annotations

import sys
from pathlib import Path

# the repository root before benchmarks/ on the path: a benchmark script named like a package must not
# shadow the solvers package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import subprocess
import tempfile
import time
import warnings

from benchmarks.pymor_exchange import load_terms, save_terms  # noqa: E402


def _worker(npz: str, out: str) -> None:
    """Runs inside the pyMOR venv: numpy, scipy and pymor only."""
    import numpy as np
    import scipy.sparse as sp
    from pymor.algorithms.greedy import rb_greedy
    from pymor.models.basic import StationaryModel
    from pymor.operators.constructions import LincombOperator, VectorOperator
    from pymor.operators.numpy import NumpyMatrixOperator
    from pymor.parameters.functionals import (
        MinThetaParameterFunctional,
        ProjectionParameterFunctional,
    )
    from pymor.reductors.coercive import CoerciveRBReductor

    A_terms, d = load_terms(npz)
    Q = len(A_terms)
    f, mu_ref, Ns = d["f"], d["mu_ref"], [int(n) for n in d["Ns"]]
    train, test = d["train"], d["test"]
    thetas = [ProjectionParameterFunctional("diffusion", size=Q, index=q) for q in range(Q)]
    op = LincombOperator([NumpyMatrixOperator(A) for A in A_terms], thetas)
    rhs = VectorOperator(op.range.from_numpy(f[:, None]))
    X = NumpyMatrixOperator(sp.csr_matrix(sum(m * A for m, A in zip(mu_ref, A_terms))))
    fom = StationaryModel(op, rhs, products={"energy": X})
    coercivity = MinThetaParameterFunctional(thetas, fom.parameters.parse(mu_ref))
    reductor = CoerciveRBReductor(fom, product=X, coercivity_estimator=coercivity)
    t0 = time.perf_counter()
    rb_greedy(fom, reductor, [fom.parameters.parse(m) for m in train], max_extensions=max(Ns))
    offline = time.perf_counter() - t0
    mus = [fom.parameters.parse(m) for m in test]
    result = {"offline_s": offline, "N_built": len(reductor.bases["RB"]),
              "basis": reductor.bases["RB"].to_numpy()}
    for N in Ns:
        rom = reductor.reduce(N)
        t0 = time.perf_counter()
        coef, est = [], []
        for mu in mus:
            data = rom.compute(solution=True, solution_error_estimate=True, mu=mu)
            coef.append(data["solution"].to_numpy()[:, 0])
            est.append(float(np.ravel(data["solution_error_estimate"])[0]))
        result[f"online_{N}"] = (time.perf_counter() - t0) / len(mus)
        result[f"coef_{N}"], result[f"est_{N}"] = np.array(coef), np.array(est)
    np.savez(out, **result)


def _errors(V, coef, est, truths, X):
    import numpy as np

    rel_err, rel_bound, viol = [], [], 0
    for u, c, d in zip(truths, coef, est):
        e = u - V[:, : c.size] @ c
        err, nu = np.sqrt(e @ (X @ e)), np.sqrt(u @ (X @ u))
        rel_err.append(err / nu)
        rel_bound.append(d / nu)
        viol += int(d < err)
    return float(max(rel_err)), float(max(rel_bound)), viol


def _ours(aff, mu_ref, train, test, Ns, truths):
    import numpy as np

    from rom.reduced_basis import ReducedBasis

    box = (np.full(len(mu_ref), 0.1), np.ones(len(mu_ref)))
    t0 = time.perf_counter()
    rb = ReducedBasis(aff, mu_ref, box, estimator_kind="stable")
    with warnings.catch_warnings():   # tol=0: run exactly max(Ns) greedy steps, like pyMOR
        warnings.simplefilter("ignore", RuntimeWarning)
        rb.greedy(train, tol=0.0, max_basis=max(Ns))
    out = {"offline_s": time.perf_counter() - t0, "N_built": rb.N}
    online = rb.online()
    for N in Ns:
        t0 = time.perf_counter()
        res = [online(m[None], N) for m in test]
        out[f"online_{N}"] = (time.perf_counter() - t0) / len(test)
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            online(test, N)
            best = min(best, time.perf_counter() - t0)
        out[f"batched_{N}"] = best / len(test)
        out[f"coef_{N}"] = np.array([c[0] for c, _ in res])
        out[f"est_{N}"] = np.array([d[0] for _, d in res])
    return out, rb.basis, rb.X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pymor-python", default="/tmp/pymor-venv/bin/python")
    ap.add_argument("--N", type=int, nargs="+", default=[10, 20, 25], help="basis sizes")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(*args.worker)
        return

    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from solvers.problems import make_problem
    from solvers.problems.sampling import sample_unit

    res = 73 if args.quick else 143
    n_train, n_test = (300, 100) if args.quick else (1000, 100)
    Ns = sorted(args.N)
    problem = make_problem("thermal_block", res)
    aff = problem.affine_decomposition()
    space = problem.parameter_space
    train = space.from_unit(sample_unit(n_train, 4, "lhs", seed=1))
    test = space.from_unit(sample_unit(n_test, 4, "random", seed=2))
    mu_ref = aff.min_theta_ref
    print(f"thermal block 2x2, resolution {res}: {aff.A_terms[0].shape[0]} unknowns, "
          f"train {n_train}, test {n_test}, N = {Ns}")
    check = subprocess.run([args.pymor_python, "-c", "import pymor; print(pymor.__version__)"],
                           capture_output=True, text=True) if os.path.exists(
                               args.pymor_python) else None
    have_pymor = check is not None and check.returncode == 0
    if not have_pymor:
        print(f"pyMOR is NOT installed at {args.pymor_python}: only our side is measured. "
              "Create it with: python3 -m venv /tmp/pymor-venv && "
              "/tmp/pymor-venv/bin/pip install pymor")
    else:
        print(f"pyMOR {check.stdout.strip()} at {args.pymor_python}")
    truths = []
    for m in test:   # one reference per test parameter, shared by both libraries
        A, f = aff.assemble(m)
        truths.append(spla.splu(sp.csc_matrix(A)).solve(f))
    ours, V, X = _ours(aff, mu_ref, train, test, Ns, truths)
    libs = [("rom", ours, V)]
    if have_pymor:
        with tempfile.TemporaryDirectory() as tmp:
            npz, out = Path(tmp) / "tb.npz", Path(tmp) / "out.npz"
            save_terms(npz, aff.A_terms, f=aff.f_terms[0], mu_ref=mu_ref, Ns=Ns, train=train,
                       test=test)
            run = subprocess.run([args.pymor_python, __file__, "--worker", str(npz), str(out)],
                                 capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": ""})
            if run.returncode != 0:
                print(f"pyMOR run failed: {run.stderr.strip().splitlines()[-1:]}")
            else:
                theirs = dict(np.load(out))
                libs.append(("pyMOR", theirs, theirs["basis"]))
    print(f"\n{'N':>3} {'library':>8} {'offline s':>10} {'online us':>10} {'batched us':>11} "
          f"{'max rel err':>12} {'max rel bound':>14} {'violations':>10}")
    for name, r, _ in libs:
        print(f"    {name}: greedy to N={int(r['N_built'])} in {float(r['offline_s']):.2f} s")
    for N in Ns:
        for name, r, basis in libs:
            err, bound, viol = _errors(basis, r[f"coef_{N}"], r[f"est_{N}"], truths, X)
            batched = (f"{r[f'batched_{N}'] * 1e6:11.1f}" if f"batched_{N}" in r
                       else f"{'-':>11}")
            print(f"{N:3d} {name:>8} {float(r['offline_s']):10.2f} "
                  f"{float(r[f'online_{N}']) * 1e6:10.1f} {batched} {err:12.3e} "
                  f"{bound:14.3e} {viol:10d}")
        if len(libs) == 2:
            a, b = libs[0][1], libs[1][1]
            print(f"    pyMOR/rom: online single {b[f'online_{N}'] / a[f'online_{N}']:.1f}x, "
                  f"pyMOR single / rom batched {b[f'online_{N}'] / a[f'batched_{N}']:.0f}x")
    if len(libs) == 2:
        print(f"offline ratio pyMOR/rom: {libs[1][1]['offline_s'] / libs[0][1]['offline_s']:.1f}x")


if __name__ == "__main__":
    main()
