"""Learned PCG preconditioners vs Jacobi-CG, IC(0)-CG and AMG-CG on held-out Darcy systems.

    .venv/bin/python benchmarks/precond.py --quick          # 128², ~2 min
    .venv/bin/python benchmarks/precond.py                  # 128² and 256²

Trains the learned models on small (32²) Darcy systems, lognormal and
piecewise-constant coefficients mixed, then solves held-out systems at 128²
(and 256²) to ``rtol = 1e-8`` (true residual) with the same CG
(:func:`solvers.linear.krylov.cg`) under every preconditioner. Time is
*build + solve* per system (network inference included), the minimum over
``--repeats`` interleaved runs; BLAS/torch use one thread. Ratios are against
the fastest of Jacobi, IC(0) and AMG measured on the same system in the same
run. Also reported: the same two-level method with a Jacobi smoother (no
network), which isolates what the network adds, and ``learned-inverse1-refinf``,
the same trained model built through the reference inference path (graph
tensors + ``PrecondGNN.forward``) instead of the fast one of
:mod:`operators.precond.infer`, which isolates what the inference engineering
gains. Networks: ``--hidden 8 --layers 1`` by default (one message-passing
layer; larger networks gave the same iteration counts, see
``benchmarks/results/precond.md``).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from operators.precond.coarse import TwoLevel  # noqa: E402
from operators.precond.gnn import PrecondGNN  # noqa: E402
from operators.precond.model import LearnedPreconditioner  # noqa: E402
from operators.precond.train import fit, prepare_system, sampled_systems  # noqa: E402
from solvers.linear.krylov import cg  # noqa: E402
from solvers.linear.precond import Jacobi, make_precond  # noqa: E402

torch.set_num_threads(1)
COEFFICIENTS = ("lognormal", "piecewise")
BASELINES = ("jacobi", "ic0", "amg")
REF = "-refinf"


def systems(resolution: int, coefficient: str, n: int, seed: int) -> list[tuple[sp.csr_matrix, np.ndarray]]:
    """``n`` Darcy systems with the ``coefficient`` field at ``resolution``."""
    return sampled_systems("darcy", resolution, n, seed, coefficient=coefficient)


def train_model(variant: str, power: int, levels: int, mode: str, *, epochs: int, n_train: int,
                hidden: int, layers: int, seed: int = 0) -> tuple[LearnedPreconditioner, float]:
    """Train on 32² Darcy systems (both coefficient kinds); returns the model and seconds."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = LearnedPreconditioner(PrecondGNN(hidden, layers), variant, power=power,
                                  coarse_levels=levels, coarse_mode=mode)
    rng = np.random.default_rng(seed)
    data = [s for k, c in enumerate(COEFFICIENTS) for s in systems(34, c, n_train // 2, 100 + k)]
    prep = [prepare_system(A, None, power=model.power, coarse_levels=levels, loss="probe",
                           n_bank=32, rng=rng) for A, _ in data]
    val = [prepare_system(A, None, power=model.power, coarse_levels=levels, loss="probe",
                          n_bank=32, rng=rng)
           for c in COEFFICIENTS for A, _ in systems(34, c, 2, 200)]
    fit(model, prep, val, epochs=epochs, lr=5e-3, batch_size=4, probes=8, seed=seed)
    return model, time.perf_counter() - t0


def run_method(name: str, A: sp.csr_matrix, b: np.ndarray, models: dict, rtol: float) -> dict:
    t0 = time.perf_counter()
    detail = {}
    if name in models:
        M = models[name].build(A)
        detail = dict(models[name].timings)
    elif name.endswith(REF) and name[:-len(REF)] in models:  # same model, reference inference
        model = models[name[:-len(REF)]]
        M = model.build_many([A], reference=True)[0]
        detail = dict(model.timings)
    elif name == "jacobi+coarse":
        M = TwoLevel(A, JacobiSmoother(A), models["_levels"], models["_mode"])
    else:
        M = make_precond(name, A)
    t1 = time.perf_counter()
    x, st = cg(A, b, rtol=rtol, M=M)
    t2 = time.perf_counter()
    if not st.converged:
        raise RuntimeError(f"{name} did not converge: {st.status}, residual {st.residual:.2e}")
    return {"build": t1 - t0, "solve": t2 - t1, "total": t2 - t0, "iterations": st.iterations,
            "residual": st.residual, **detail}


class JacobiSmoother:
    """``S = D^{-1}`` in the form ``G_s G_s^T`` (so the two-level apply is fused like the learned one)."""

    name = "jacobi"

    def __init__(self, A):
        self.J = Jacobi(A)
        n = A.shape[0]
        self.Gs = sp.diags(np.sqrt(self.J.dinv)).tocsr()
        self.shift = np.zeros(n)

    def low_rank_form(self):
        return self.Gs, self.shift

    def apply(self, r):
        return self.J.apply(r)


def bench(resolutions, n_test, repeats, models, methods, rtol):
    rows = []
    for res in resolutions:
        for k, coef in enumerate(COEFFICIENTS):
            for i, (A, b) in enumerate(systems(res, coef, n_test, 1000 + 17 * k + res)):
                best = {}
                for rep in range(repeats):
                    for m in methods:
                        if m == "ic0" and rep > 0:
                            continue  # minutes at 256² and never the fastest: timed once
                        r = run_method(m, A, b, models, rtol)
                        if m not in best or r["total"] < best[m]["total"]:
                            best[m] = r
                base = min(BASELINES, key=lambda m: best[m]["total"])
                row = {"resolution": res - 2, "coefficient": coef, "sample": i, "n": A.shape[0],
                       "best_baseline": base, "methods": best}
                rows.append(row)
                print(f"{res - 2}² {coef:9s} #{i}  " + "  ".join(
                    f"{m}: {best[m]['iterations']}it {best[m]['total']:.3f}s" for m in methods)
                    + f"   best baseline {base}", flush=True)
    return rows


def table(rows, methods) -> str:
    lines = ["| grid | coefficient | " + " | ".join(methods) + " | best baseline | speed-up of "
             + " / ".join(m for m in methods if m.startswith("learned")) + " |",
             "|" + "---|" * (len(methods) + 4)]
    for r in rows:
        base = r["methods"][r["best_baseline"]]["total"]
        cells = [f"{r['methods'][m]['iterations']} it, {r['methods'][m]['total'] * 1e3:.0f} ms"
                 for m in methods]
        ups = [f"{base / r['methods'][m]['total']:.2f}x" for m in methods if m.startswith("learned")]
        lines.append(f"| {r['resolution']}² | {r['coefficient']} | " + " | ".join(cells)
                     + f" | {r['best_baseline']} | " + " / ".join(ups) + " |")
    return "\n".join(lines)


def breakdown(rows, methods) -> str:
    lines = ["| grid | method | inference ms | assembly+coarse ms | solve ms | iterations | ms/iteration |",
             "|---|---|---|---|---|---|---|"]
    for res in sorted({r["resolution"] for r in rows}):
        sel = [r for r in rows if r["resolution"] == res]
        for m in methods:
            def g(key, m=m, sel=sel):
                return np.mean([r["methods"][m].get(key, 0.0) for r in sel])

            its = g("iterations")
            inf = g("inference_s") if m.startswith("learned") else 0.0
            asm = g("build") - inf
            lines.append(f"| {res}² | {m} | {inf * 1e3:.0f} | {asm * 1e3:.0f} | {g('solve') * 1e3:.0f}"
                         f" | {its:.0f} | {g('solve') / its * 1e3:.2f} |")
    return "\n".join(lines)


def geomean_speedup(rows, method) -> float:
    """Geometric mean over systems of (best baseline time) / (method time)."""
    return float(np.exp(np.mean([np.log(r["methods"][r["best_baseline"]]["total"]
                                         / r["methods"][method]["total"]) for r in rows])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="128² only, 2 systems per coefficient")
    ap.add_argument("--sizes", type=int, nargs="*", default=None, help="interior grid sizes")
    ap.add_argument("--tests", type=int, default=None, help="held-out systems per coefficient")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--train", type=int, default=32, help="training systems (32², both kinds)")
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--levels", type=int, default=2, help="aggregation passes of the coarse space")
    ap.add_argument("--mode", default="additive", choices=["additive", "multiplicative"])
    ap.add_argument("--variants", nargs="*", default=["inverse:1", "factor:1"],
                    help="VARIANT:PATTERN_POWER of the learned two-level models")
    ap.add_argument("--one-level", action="store_true", help="also a one-level learned factor")
    ap.add_argument("--no-reference", action="store_true",
                    help="leave out learned-inverse1-refinf (the same model through the reference "
                         "graph-tensor inference path)")
    ap.add_argument("--json", dest="json_out", default=None, help="write all figures as JSON")
    ap.add_argument("--rtol", type=float, default=1e-8)
    a = ap.parse_args()
    sizes = a.sizes or ([128] if a.quick else [128, 256])
    n_test = a.tests or (2 if a.quick else 3)
    models: dict = {"_levels": a.levels, "_mode": a.mode}
    train_s = {}
    for spec in a.variants:
        variant, power = spec.split(":")
        name = f"learned-{variant}{power}"
        models[name], train_s[name] = train_model(variant, int(power), a.levels, a.mode,
                                                  epochs=a.epochs, n_train=a.train,
                                                  hidden=a.hidden, layers=a.layers)
        print(f"trained {name}: {train_s[name]:.1f} s", flush=True)
    if a.one_level:
        models["learned-factor1-onelevel"], train_s["learned-factor1-onelevel"] = train_model(
            "factor", 1, 0, a.mode, epochs=a.epochs, n_train=a.train, hidden=a.hidden,
            layers=a.layers)
    methods = list(BASELINES) + ["jacobi+coarse"] + [m for m in models if not m.startswith("_")]
    if not a.no_reference and "learned-inverse1" in models:
        methods.append("learned-inverse1" + REF)
    for m in models.values():  # warm up torch / pyamg once, outside the timings
        if isinstance(m, LearnedPreconditioner):
            m.build(systems(34, "lognormal", 1, 0)[0][0])
    rows = bench([s + 2 for s in sizes], n_test, a.repeats, models, methods, a.rtol)
    print()
    print(table(rows, methods))
    print()
    print(breakdown(rows, methods))
    ratios = {}
    for res in sorted({r["resolution"] for r in rows}):
        sel = [r for r in rows if r["resolution"] == res]
        ratios[f"{res}"] = {m: geomean_speedup(sel, m) for m in methods
                            if m.startswith("learned") or m == "jacobi+coarse"}
        print(f"\n{res}² geometric-mean speed-up vs the best baseline:",
              ", ".join(f"{m} {v:.2f}x" for m, v in ratios[f"{res}"].items()))
    print("training seconds:", ", ".join(f"{m} {v:.0f}" for m, v in train_s.items()))
    if a.json_out:
        Path(a.json_out).write_text(json.dumps({"rows": rows, "ratios": ratios,
                                                "train_seconds": train_s, "args": vars(a)},
                                               indent=1, default=float))


if __name__ == "__main__":
    main()
