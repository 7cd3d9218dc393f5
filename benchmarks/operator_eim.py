"""Online cost of operator EIM: magic entries evaluated by the problem vs read from an assembly.

Darcy with a lognormal coefficient (``n_modes = 3``: 8 parameters, non-affine),
conservative scheme. Matrix EIM (tol 1e-8, at most 60 terms) from
100 assembled training systems per resolution; then, per test parameter, the
EIM coefficients ``theta_A(mu)`` with

* ``assembled``: assemble ``A(mu)`` and read the ``M`` magic entries
  (:class:`rom.matrix_eim.AssembledEntries`, the non-intrusive fallback), and
* ``local``: :meth:`Darcy.matrix_entries` evaluates only those entries from
  the coefficient at 5 nodes each (:class:`rom.matrix_eim.LocalEntries`).

Both give the same coefficients (max difference printed). Median of 30 test
parameters, single-threaded. ``--quick``: resolutions 33 and 65, 10 test
parameters (a smoke run, seconds).

Usage: ``.venv/bin/python benchmarks/operator_eim.py [--quick] [--resolutions 65,129,257,513]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rom.matrix_eim import AssembledEntries, LocalEntries, operator_eim  # noqa: E402
from solvers.problems import make_problem  # noqa: E402


def median_seconds(fn, mus) -> float:
    times = []
    for mu in mus:
        t = time.perf_counter()
        fn(mu)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def case(resolution: int, n_train: int = 100, n_test: int = 30) -> dict:
    p = make_problem("darcy", resolution, coefficient="lognormal", n_modes=3)
    space = p.parameter_space
    train = space.from_unit(np.random.default_rng(0).random((n_train, space.dim)))
    test = space.from_unit(np.random.default_rng(1).random((n_test, space.dim)))
    mat, _ = operator_eim([p.assemble(m) for m in train], tol=1e-8, max_terms=60)
    th_local = mat.theta(LocalEntries(p).matrix)
    th_asm = mat.theta(AssembledEntries(p.assemble).matrix)
    diff = max(float(np.abs(th_local(m) - th_asm(m)).max() / np.abs(th_asm(m)).max()) for m in test)
    t_asm = median_seconds(th_asm, test)
    t_loc = median_seconds(th_local, test)
    return {"resolution": resolution, "unknowns": (resolution - 2) ** 2, "M": mat.M,
            "eim_rel_sup_error": mat.interp.history_rel[-1], "assembled_s": t_asm,
            "local_s": t_loc, "ratio": t_asm / t_loc, "max_rel_theta_diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="resolutions 33 and 65, 10 test parameters")
    ap.add_argument("--resolutions", default=None, help="default 65,129,257,513 [quick: 33,65]")
    args = ap.parse_args()
    sizes = {"n_test": 10} if args.quick else {}
    resolutions = args.resolutions or ("33,65" if args.quick else "65,129,257,513")
    print("| unknowns | M | EIM rel. sup error (train) | assembled | local | ratio | max rel. theta diff |")
    print("|---|---|---|---|---|---|---|")
    for res in map(int, resolutions.split(",")):
        c = case(res, **sizes)
        print(f"| {c['unknowns']:,} | {c['M']} | {c['eim_rel_sup_error']:.1e} | "
              f"{c['assembled_s'] * 1e3:.2f} ms | {c['local_s'] * 1e3:.3f} ms | "
              f"{c['ratio']:.0f}x | {c['max_rel_theta_diff']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
