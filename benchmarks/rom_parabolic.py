"""Parabolic certified RB (POD-greedy) on heat_block against the full solve and pyMOR.

The affine heat problem ``heat_block`` (2x2 thermal-block conductivity in
``[0.1, 1]``, ``f = 1``, ``u_0 = sin(πx) sin(πy)``, backward Euler, one
stored output per step) at 100² interior unknowns (``--quick``: 50²). Our
``rom.parabolic.ParabolicRB`` (POD-greedy, stable space-time bound) and
pyMOR's ``ParabolicRBReductor`` with ``rb_greedy`` and POD extension (a
separate venv, default ``/tmp/pymor-venv``; ``python3 -m venv
/tmp/pymor-venv && /tmp/pymor-venv/bin/pip install pymor``) reduce the *same*
assembled matrices (handed over in an ``.npz``): energy product
``X = A(μ_ref)``, min-theta coercivity, the same LHS training set, POD-greedy
with the same number of modes per step, run to the same largest ``N``.

Reported at equal ``N`` on random test parameters: the max relative error
``max_k |e^k| / max_k |u^k|`` over all stored times and parameters (against
the direct solve of the same time-discrete scheme, shared by both), the max
relative bound, the bound violations (``Δ_k < |e^k|`` at any stored time),
offline time, online time per trajectory (solve + bound) and the speedup
against the direct solve (sparse LU factorisation + all steps). pyMOR's
estimator bounds ``(|e^k|^2/C_a + ...)^{1/2}``; it is multiplied by
``sqrt(C_a(μ))`` to bound ``|e^k|`` like ours (the same inequality).

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rom_parabolic.py [--quick]``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import platform
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
    from pymor.algorithms.timestepping import ImplicitEulerTimeStepper
    from pymor.models.basic import InstationaryModel
    from pymor.operators.constructions import LincombOperator, VectorOperator
    from pymor.operators.numpy import NumpyMatrixOperator
    from pymor.parameters.functionals import (
        MinThetaParameterFunctional,
        ProjectionParameterFunctional,
    )
    from pymor.reductors.parabolic import ParabolicRBReductor

    A_terms, d = load_terms(npz)
    Q = len(A_terms)
    f, u0, mu_ref, Ns = d["f"], d["u0"], d["mu_ref"], [int(n) for n in d["Ns"]]
    train, test, modes = d["train"], d["test"], int(d["modes"])
    thetas = [ProjectionParameterFunctional("diffusion", size=Q, index=q) for q in range(Q)]
    op = LincombOperator([NumpyMatrixOperator(A) for A in A_terms], thetas)
    rhs = VectorOperator(op.range.from_numpy(f[:, None]))
    init = VectorOperator(op.range.from_numpy(u0[:, None]))
    X = NumpyMatrixOperator(sp.csr_matrix(sum(m * A for m, A in zip(mu_ref, A_terms))))
    fom = InstationaryModel(float(d["T"]), init, op, rhs,
                            time_stepper=ImplicitEulerTimeStepper(int(d["nt"])),
                            products={"energy": X,
                                      "l2": NumpyMatrixOperator(sp.identity(len(f), format="csr"))})
    coercivity = MinThetaParameterFunctional(thetas, fom.parameters.parse(mu_ref))
    reductor = ParabolicRBReductor(fom, product=X, coercivity_estimator=coercivity)
    t0 = time.perf_counter()
    rb_greedy(fom, reductor, [fom.parameters.parse(m) for m in train],
              max_extensions=-(-max(Ns) // modes),
              extension_params={"method": "pod", "pod_modes": modes})
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
            coef.append(data["solution"].to_numpy())
            est.append(np.ravel(data["solution_error_estimate"]) * np.sqrt(coercivity(mu)))
        result[f"online_{N}"] = (time.perf_counter() - t0) / len(mus)
        result[f"coef_{N}"], result[f"est_{N}"] = np.array(coef), np.array(est)
    np.savez(out, **result)


def _errors(V, coef, est, truths):
    """Max relative error and bound over stored times and parameters, and the violations."""
    import numpy as np

    rel_err, rel_bound, viol = 0.0, 0.0, 0
    for U, C, d in zip(truths, coef, est):
        C = C if C.shape[0] == U.shape[0] else C.T
        err = np.linalg.norm(U - C @ V[:, : C.shape[1]].T, axis=1)
        scale = np.linalg.norm(U, axis=1).max()
        rel_err, rel_bound = max(rel_err, err.max() / scale), max(rel_bound, d.max() / scale)
        viol += int(np.sum(d < err))
    return rel_err, rel_bound, viol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pymor-python", default="/tmp/pymor-venv/bin/python")
    ap.add_argument("--N", type=int, nargs="+", default=None, help="basis sizes")
    ap.add_argument("--modes", type=int, default=4, help="POD-greedy modes per step")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(*args.worker)
        return

    import numpy as np

    from rom.parabolic import ParabolicRB
    from rom.time_stepping import ThetaStepper
    from solvers.problems import make_problem
    from solvers.problems.sampling import sample_unit

    res, n_train, n_test = (52, 60, 50) if args.quick else (102, 100, 200)
    Ns = sorted(args.N or ([10, 20, 40] if args.quick else [10, 20, 40, 60, 80]))
    T, nt = 0.5, 50
    p = make_problem("heat_block", res, scheme="be", n_out=nt + 1, dt=T / nt, t_final=T)
    aff, space, u0 = p.affine_decomposition(), p.parameter_space, p.initial_state()
    train = space.from_unit(sample_unit(n_train, 4, "lhs", seed=1))
    test = space.from_unit(sample_unit(n_test, 4, "random", seed=2))
    n = aff.A_terms[0].shape[0]
    head = (f"heat_block 2x2, resolution {res}: {n} unknowns, backward Euler, {nt} steps, "
            f"train {n_train}, test {n_test}, POD-greedy {args.modes} modes/step, N = {Ns}")
    print(head)
    truths, direct = [], 0.0
    for m in test:   # the direct solve of the same scheme (LU once + nt steps), shared
        A, f = aff.assemble(m)
        t0 = time.perf_counter()
        truths.append(ThetaStepper(A, p.times, T / nt, "be", f).integrate(u0))
        direct += time.perf_counter() - t0
    direct /= n_test

    t0 = time.perf_counter()
    rb = ParabolicRB(aff, u0, p.times, T / nt, "be")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rb.greedy(train, tol=0.0, max_basis=max(Ns), pod_modes=args.modes)
    ours = {"offline_s": time.perf_counter() - t0, "N_built": rb.N}
    on = rb.online()
    for N in Ns:
        on.solve(test[0], N)    # slice once (cached), as a loaded model would
        t0 = time.perf_counter()
        out = [on.solve(m, N) for m in test]
        ours[f"online_{N}"] = (time.perf_counter() - t0) / n_test
        ours[f"coef_{N}"] = [c for c, _ in out]
        ours[f"est_{N}"] = [d for _, d in out]
    libs = [("rom", ours, rb.basis)]

    check = (subprocess.run([args.pymor_python, "-c", "import pymor; print(pymor.__version__)"],
                            capture_output=True, text=True)
             if os.path.exists(args.pymor_python) else None)
    pymor_version = check.stdout.strip() if check is not None and check.returncode == 0 else None
    if pymor_version:
        with tempfile.TemporaryDirectory() as tmp:
            npz, outp = Path(tmp) / "hb.npz", Path(tmp) / "out.npz"
            save_terms(npz, aff.A_terms, f=aff.f_terms[0], u0=u0, mu_ref=rb.mu_ref, Ns=Ns,
                       train=train, test=test, T=T, nt=nt, modes=args.modes)
            run = subprocess.run([args.pymor_python, __file__, "--worker", str(npz), str(outp)],
                                 capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": ""})
            if run.returncode != 0:
                print("pyMOR run failed:", run.stderr.strip().splitlines()[-3:])
            else:
                theirs = dict(np.load(outp))
                B = theirs["basis"]
                libs.append(("pyMOR", theirs, B if B.shape[0] == n else B.T))
    else:
        print(f"pyMOR is NOT installed at {args.pymor_python}: only our side is measured")

    lines = ["| N | library | offline s | online ms / trajectory | speedup vs direct "
             "| max rel. error | max rel. bound | violations |", "|---|---|---|---|---|---|---|---|"]
    for N in Ns:
        for name, r, V in libs:
            if N > r["N_built"]:
                continue
            err, bound, viol = _errors(V, r[f"coef_{N}"], r[f"est_{N}"], truths)
            lines.append(f"| {N} | {name} | {float(r['offline_s']):.1f} | "
                         f"{float(r[f'online_{N}']) * 1e3:.2f} | "
                         f"{direct / float(r[f'online_{N}']):.0f}x | {err:.2e} | {bound:.2e} | "
                         f"{viol} of {n_test * (nt + 1)} |")
    table = "\n".join(lines)
    print(table)
    load = os.getloadavg()
    cmd = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rom_parabolic.py",
                    *sys.argv[1:]]).strip()
    md = (f"# Parabolic RB (POD-greedy, certified) on heat_block\n\n{head}.\n\n"
          f"Command: `{cmd}`  \nMachine: {platform.machine()}, {os.cpu_count()} cores "
          f"(shared), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; one BLAS "
          f"thread. pyMOR: {pymor_version or 'not installed'}.\n\n"
          f"Direct solve (sparse LU of I + Δt A(μ) + {nt} steps): {direct * 1e3:.1f} ms per "
          "trajectory. Online: reduced trajectory + the bound at every step. Errors: "
          "`max_k |u^k - u_N^k| / max_k |u^k|` (Euclidean = M-norm, M = I) over all stored "
          "times and test parameters; violations: stored times where the bound is below "
          "the error.\n\n" + table + "\n")
    out_dir = Path(__file__).resolve().parent / "results"
    name = "rom_parabolic_quick.md" if args.quick else "rom_parabolic.md"
    (out_dir / name).write_text(md)
    print(f"wrote {out_dir / name}")


if __name__ == "__main__":
    main()
