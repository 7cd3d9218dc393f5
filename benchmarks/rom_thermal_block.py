"""Thermal block 2x2, mu in [0.1, 1]^4: certified RB against the sparse direct solver.

Measured side by side in one run on the same machine:

1. weak greedy (stable estimator, LHS training set) -> max relative error
   (energy norm and l2) over the test set versus N;
2. online time per parameter (reduced solve + error bound), one parameter at
   a time and batched over all test parameters, against SuperLU (``splu`` +
   solve of the assembled 2e4-unknown system, assembly not counted);
3. bound violations (``Delta(mu) < ||u - u_N||_X``) of the standard versus the
   stable residual estimator on the same basis, at every N (the reference
   solution gets one step of extended-precision iterative refinement so that
   errors near 1e-12 are resolved).

Usage: ``.venv/bin/python benchmarks/rom_thermal_block.py [--quick]``
"""

from __future__ import annotations

import sys
from pathlib import Path

# the repository root before benchmarks/ on the path: a benchmark script named like a package must not
# shadow the solvers package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import time
import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rom.estimators import make_estimator, online_residual_norm
from rom.gram_schmidt import ExtendedProduct
from rom.reduced_basis import ReducedBasis
from solvers.problems import make_problem
from solvers.problems.sampling import sample_unit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller test set and grid")
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--train-size", type=int, default=1000)
    ap.add_argument("--max-basis", type=int, default=80)
    ap.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = ap.parse_args()
    res = args.resolution or (73 if args.quick else 143)
    n_test = args.n_test or (200 if args.quick else 1000)

    problem = make_problem("thermal_block", res)
    aff = problem.affine_decomposition()
    space = problem.parameter_space
    train = space.from_unit(sample_unit(args.train_size, 4, "lhs", seed=1))
    test = space.from_unit(sample_unit(n_test, 4, "random", seed=2))
    box = (np.full(4, 0.1), np.ones(4))
    n = aff.A_terms[0].shape[0]
    print(f"thermal block 2x2, resolution {res}: {n} unknowns; train {len(train)}, test {n_test}")

    # -- offline --------------------------------------------------------------------
    t0 = time.perf_counter()
    rb = ReducedBasis(aff, aff.min_theta_ref, box, estimator_kind="stable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rb.greedy(train, tol=1e-12, max_basis=args.max_basis)
    offline = time.perf_counter() - t0
    print(f"offline (greedy, stable estimator): N={rb.N} in {offline:.1f} s")
    std = make_estimator("standard", aff.A_terms, aff.f_terms, rb.riesz)
    std.extend(rb.basis)
    online = rb.online()

    # -- truth: sparse direct, timed ---------------------------------------------------
    Ns = sorted(set([1, 2, 4, 6, 8] + list(range(10, rb.N + 1, 5)) + [rb.N]))
    tA, tf = online.thetas(test)
    alpha = online.alpha(tA, test)
    coef = {N: online.solve_thetas(tA, tf, N) for N in Ns}
    err_x = {N: np.empty(n_test) for N in Ns}
    err_2 = {N: np.empty(n_test) for N in Ns}
    norm_x, norm_2 = np.empty(n_test), np.empty(n_test)
    V, X = rb.basis, rb.X
    A_ext_terms = [Aq.astype(np.longdouble) for Aq in aff.A_terms]
    X_ext = ExtendedProduct(X)   # error norms without stencil cancellation
    t_direct = 0.0
    for i, mu in enumerate(test):
        A, f = aff.assemble(mu)
        A = sp.csc_matrix(A)
        t1 = time.perf_counter()
        lu = spla.splu(A)
        u = lu.solve(f)
        t_direct += time.perf_counter() - t1
        # reference for the errors: one step of extended-precision refinement (not timed)
        A_ext = sum(m * Aq for m, Aq in zip(mu.astype(np.longdouble), A_ext_terms))
        r = f.astype(np.longdouble) - A_ext @ u.astype(np.longdouble)
        u = u + lu.solve(np.asarray(r, dtype=float))
        norm_x[i], norm_2[i] = np.sqrt(u @ (X @ u)), np.linalg.norm(u)
        for N in Ns:
            e = u - V[:, :N] @ coef[N][i]
            err_x[N][i], err_2[N][i] = np.sqrt(e @ (X_ext @ e)), np.linalg.norm(e)
    t_direct /= n_test

    rows = []
    for N in Ns:
        c = coef[N]
        d_stable = online_residual_norm("stable", online.est_data, tA, tf, c) / alpha
        d_std = std.residual_norm(tA, tf, c) / alpha
        rows.append({"N": N, "max_rel_err_x": float(np.max(err_x[N] / norm_x)),
                     "max_rel_err_l2": float(np.max(err_2[N] / norm_2)),
                     "max_rel_bound": float(np.max(d_stable / norm_x)),
                     "violations_stable": int(np.sum(d_stable < err_x[N])),
                     "violations_standard": int(np.sum(d_std < err_x[N])),
                     "min_eff_stable": float(np.min(d_stable / err_x[N])),
                     "min_eff_standard": float(np.min(d_std / err_x[N]))})

    # -- online timings at the smallest N with max rel. l2 error <= 1e-6 -------------
    ok = [r["N"] for r in rows if r["max_rel_err_l2"] <= 1e-6]
    N_star = ok[0] if ok else rb.N
    single = []
    for mu in test:
        t1 = time.perf_counter()
        online(mu[None], N_star)
        single.append(time.perf_counter() - t1)
    t_single = float(np.median(single))
    best = np.inf
    for _ in range(5):
        t1 = time.perf_counter()
        online(test, N_star)
        best = min(best, time.perf_counter() - t1)
    t_batch = best / n_test

    out = {"resolution": res, "unknowns": n, "n_train": len(train), "n_test": n_test,
           "offline_s": offline, "N_max": rb.N, "N_star": N_star,
           "direct_s_per_solve": t_direct, "online_single_s": t_single,
           "online_batched_s_per_mu": t_batch, "speedup_single": t_direct / t_single,
           "speedup_batched": t_direct / t_batch, "table": rows}
    print(f"\n{'N':>4} {'max rel err X':>14} {'max rel err l2':>15} {'max rel bound':>14} "
          f"{'viol. stable':>12} {'viol. standard':>14} {'min eff stable':>14} {'min eff std':>12}")
    for r in rows:
        print(f"{r['N']:4d} {r['max_rel_err_x']:14.3e} {r['max_rel_err_l2']:15.3e} "
              f"{r['max_rel_bound']:14.3e} {r['violations_stable']:12d} "
              f"{r['violations_standard']:14d} {r['min_eff_stable']:14.3g} "
              f"{r['min_eff_standard']:12.3g}")
    print(f"\nN* = {N_star} (max rel. l2 error <= 1e-6 on the test set)")
    print(f"sparse direct (splu + solve): {t_direct * 1e3:.2f} ms per parameter")
    print(f"online, one mu at a time (solve + bound): {t_single * 1e6:.1f} us  "
          f"-> speedup {t_direct / t_single:,.0f}x")
    print(f"online, batched over {n_test} mu: {t_batch * 1e6:.2f} us per mu  "
          f"-> speedup {t_direct / t_batch:,.0f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
