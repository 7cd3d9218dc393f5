"""Learned PCG preconditioners and their ceilings vs Jacobi-, IC(0)-, AMG- and multilevel-CG.

    .venv/bin/python benchmarks/precond.py --quick          # 128², ~1-3 min
    .venv/bin/python benchmarks/precond.py                  # 128², 256² and 512²

Rows besides the classical ones: ``multilevel`` (the project's V-cycle,
what ``auto`` picks for these systems, and the ablation of
``learned-damping``), ``jacobi+coarse`` (the ablation of the learned
two-level inverse), ``ceiling-spai`` (the V-cycle with the Frobenius-optimal
SPAI on A's pattern as its finest smoother, computed exactly per matrix,
:mod:`operators.precond.ceiling`; its time includes the SPAI build, the
breakdown gives it apart), ``ceiling-cheb2/3`` (its finest smoother the
degree-2/3 Chebyshev polynomial in ``D⁻¹A`` on ``[g/8, g]``, 1/2 extra
products with A per smoothing step), ``ceiling-omega`` (the V-cycle with the damping of
the fewest iterations on that very system, found by an offline scan whose
cost is *not* included) and ``learned-damping`` (a row-wise network
predicting the finest smoother's damping, :mod:`operators.precond.damping`,
inference included; ``inference`` in the breakdown is what a sequence of
slowly changing matrices sharing one inference would save at most).

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

from operators.precond.ceiling import best_omega, chebyshev_smoother, spai_pattern  # noqa: E402
from operators.precond.coarse import TwoLevel  # noqa: E402
from operators.precond.damping import LearnedDamping, train_damping  # noqa: E402
from operators.precond.gnn import PrecondGNN  # noqa: E402
from operators.precond.model import LearnedPreconditioner  # noqa: E402
from operators.precond.train import fit, prepare_system, sampled_systems  # noqa: E402
from solvers.linear.krylov import cg  # noqa: E402
from solvers.linear.precond import Jacobi, make_precond  # noqa: E402
from solvers.linear.twolevel import MultilevelJacobi  # noqa: E402

torch.set_num_threads(1)
COEFFICIENTS = ("lognormal", "piecewise")
BASELINES = ("jacobi", "ic0", "amg", "multilevel")
ABLATION = {"learned-damping": "multilevel", "ceiling-spai": "multilevel",
            "ceiling-cheb2": "multilevel", "ceiling-cheb3": "multilevel",
            "ceiling-omega": "multilevel", "learned-inverse1": "jacobi+coarse",
            "learned-factor1": "jacobi+coarse", "learned-inverse1-refinf": "jacobi+coarse"}
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
    elif name == "ceiling-spai":
        S = spai_pattern(A)
        detail = {"inference_s": time.perf_counter() - t0}  # the offline SPAI, in the time
        M = MultilevelJacobi(A, smoother=S)
    elif name.startswith("ceiling-cheb"):  # degree-k Chebyshev on [g/8, g]
        M = MultilevelJacobi(A, smoother=chebyshev_smoother(A, int(name[-1]), 8.0))
    elif name == "ceiling-omega":
        M = MultilevelJacobi(A, omega=models["_omega"])  # scanned offline, not timed
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
                if "ceiling-omega" in methods:
                    models["_omega"], scan = best_omega(A, b, rtol=rtol)
                    print(f"  best omega {models['_omega']}: {scan}", flush=True)
                for rep in range(repeats):
                    for m in methods:
                        if m in ("ic0", "jacobi") and rep > 0:
                            continue  # minutes at 256² and never the fastest: timed once
                        r = run_method(m, A, b, models, rtol)
                        if m not in best or r["total"] < best[m]["total"]:
                            best[m] = r
                base = min(BASELINES, key=lambda m: best[m]["total"])
                row = {"resolution": res - 2, "coefficient": coef, "sample": i, "n": A.shape[0],
                       "best_baseline": base, "methods": best, "omega": models.get("_omega")}
                rows.append(row)
                print(f"{res - 2}² {coef:9s} #{i}  " + "  ".join(
                    f"{m}: {best[m]['iterations']}it {best[m]['total']:.3f}s" for m in methods)
                    + f"   best baseline {base}", flush=True)
    return rows


def sequence_bench(resolution: int, length: int, drift: float, repeats: int, model, rtol: float
                   ) -> list[dict]:
    """A slowly changing Darcy sequence (parameters ``μ_t = μ_0 + t·drift·ξ``): the V-cycle
    per matrix, the learned damping with inference per matrix, and with one inference for
    the whole sequence (raw outputs of the first matrix reused, weights recomputed from
    each matrix: SPD for every one). Sums over the sequence, minimum of ``repeats``."""
    from solvers.problems import make_problem

    out = []
    for k, coef in enumerate(COEFFICIENTS):
        p = make_problem("darcy", resolution, coefficient=coef)
        rng = np.random.default_rng(5000 + k + resolution)
        mu0, xi = rng.standard_normal((2, p.parameter_space.dim))
        seq = [p.assemble(mu0 + t * drift * xi) for t in range(length)]
        seq = [(sp.csr_matrix(s.A), np.asarray(s.b, dtype=float)) for s in seq]
        best: dict = {}
        for _ in range(repeats):
            for m in ("multilevel", "learned-damping", "learned-damping-sequence"):
                tot, its, raw = 0.0, 0, None
                for A, b in seq:
                    t0 = time.perf_counter()
                    if m == "multilevel":
                        M = MultilevelJacobi(A)
                    else:
                        M = model.build(A, raw=raw)
                        if m.endswith("sequence"):
                            raw = model.last_raw
                    x, st = cg(A, b, rtol=rtol, M=M)
                    tot += time.perf_counter() - t0
                    its += st.iterations
                    if not st.converged:
                        raise RuntimeError(f"{m} did not converge on the sequence")
                if m not in best or tot < best[m]["total"]:
                    best[m] = {"total": tot, "iterations": its}
        out.append({"resolution": resolution - 2, "coefficient": coef, "length": length,
                    "drift": drift, "methods": best})
        print(f"sequence {resolution - 2}² {coef}: " + "  ".join(
            f"{m}: {v['iterations']}it {v['total'] * 1e3:.0f}ms" for m, v in best.items()),
            flush=True)
    return out


def table(rows, methods) -> str:
    lines = ["| grid | coefficient | " + " | ".join(methods) + " | best classical | best ω |",
             "|" + "---|" * (len(methods) + 4)]
    for r in rows:
        cells = [f"{r['methods'][m]['iterations']} it, {r['methods'][m]['total'] * 1e3:.0f} ms"
                 for m in methods]
        lines.append(f"| {r['resolution']}² | {r['coefficient']} | " + " | ".join(cells)
                     + f" | {r['best_baseline']} | {r.get('omega')} |")
    return "\n".join(lines)


def _geo(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def summary(rows, methods) -> str:
    """Per grid: geometric means of the time and of the ratios against the best classical
    row and against the method's own ablation (same system, same run)."""
    lines = ["| grid | method | iterations | time ms (geo. mean) | vs best classical | vs own ablation |",
             "|---|---|---|---|---|---|"]
    for res in sorted({r["resolution"] for r in rows}):
        sel = [r for r in rows if r["resolution"] == res]
        for m in methods:
            t = [r["methods"][m]["total"] for r in sel]
            vb = _geo([r["methods"][r["best_baseline"]]["total"] / r["methods"][m]["total"]
                       for r in sel])
            abl = ABLATION.get(m)
            va = (f"{_geo([r['methods'][abl]['total'] / r['methods'][m]['total'] for r in sel]):.2f}x"
                  f" ({abl})" if abl in methods else "")
            its = np.mean([r["methods"][m]["iterations"] for r in sel])
            lines.append(f"| {res}² | {m} | {its:.1f} | {_geo(t) * 1e3:.0f} | {vb:.2f}x | {va} |")
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
            inf = g("inference_s")
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
    ap.add_argument("--no-damping", action="store_true", help="leave out learned-damping")
    ap.add_argument("--damping-hidden", type=int, default=8)
    ap.add_argument("--damping-epochs", type=int, default=40)
    ap.add_argument("--sequence", type=int, default=8,
                    help="length of the slowly changing sequences (0: none; sizes after the first)")
    ap.add_argument("--no-ceiling", action="store_true", help="leave out the ceiling rows")
    ap.add_argument("--json", dest="json_out", default=None, help="write all figures as JSON")
    ap.add_argument("--rtol", type=float, default=1e-8)
    a = ap.parse_args()
    sizes = a.sizes or ([128] if a.quick else [128, 256, 512])
    n_test = a.tests or 2
    models: dict = {"_levels": a.levels, "_mode": a.mode}
    train_s = {}
    for spec in a.variants:
        variant, power = spec.split(":")
        name = f"learned-{variant}{power}"
        models[name], train_s[name] = train_model(variant, int(power), a.levels, a.mode,
                                                  epochs=a.epochs, n_train=a.train,
                                                  hidden=a.hidden, layers=a.layers)
        print(f"trained {name}: {train_s[name]:.1f} s", flush=True)
    if not a.no_damping:
        t0 = time.perf_counter()
        mats = [A for c in COEFFICIENTS for A, _ in systems(34, c, a.train // 2, 100)]
        models["learned-damping"], _ = train_damping(mats, hidden=a.damping_hidden,
                                                     epochs=a.damping_epochs)
        train_s["learned-damping"] = time.perf_counter() - t0
        print(f"trained learned-damping: {train_s['learned-damping']:.1f} s", flush=True)
    if a.one_level:
        models["learned-factor1-onelevel"], train_s["learned-factor1-onelevel"] = train_model(
            "factor", 1, 0, a.mode, epochs=a.epochs, n_train=a.train, hidden=a.hidden,
            layers=a.layers)
    methods = (list(BASELINES) + ["jacobi+coarse"] + ([] if a.no_ceiling else
                                                       ["ceiling-spai", "ceiling-omega",
                                                        "ceiling-cheb2", "ceiling-cheb3"])
               + [m for m in models if not m.startswith("_")])
    if not a.no_reference and "learned-inverse1" in models:
        methods.append("learned-inverse1" + REF)
    for m in models.values():  # warm up torch / pyamg once, outside the timings
        if isinstance(m, (LearnedPreconditioner, LearnedDamping)):
            m.build(systems(34, "lognormal", 1, 0)[0][0])
    rows = bench([s + 2 for s in sizes], n_test, a.repeats, models, methods, a.rtol)
    print()
    print(table(rows, methods))
    print()
    print(breakdown(rows, methods))
    print()
    print(summary(rows, methods))
    ratios = {}
    for res in sorted({r["resolution"] for r in rows}):
        sel = [r for r in rows if r["resolution"] == res]
        ratios[f"{res}"] = {m: geomean_speedup(sel, m) for m in methods
                            if m not in BASELINES}
        print(f"\n{res}² geometric-mean speed-up vs the best baseline:",
              ", ".join(f"{m} {v:.2f}x" for m, v in ratios[f"{res}"].items()))
    seq = []
    if "learned-damping" in models and a.sequence > 0:
        for res in sizes[1:] or sizes:
            seq += sequence_bench(res + 2, a.sequence, 0.01, a.repeats, models["learned-damping"],
                                  a.rtol)
    print("training seconds:", ", ".join(f"{m} {v:.0f}" for m, v in train_s.items()))
    if a.json_out:
        Path(a.json_out).write_text(json.dumps({"rows": rows, "ratios": ratios, "sequence": seq,
                                                "train_seconds": train_s, "args": vars(a)},
                                               indent=1, default=float))


if __name__ == "__main__":
    main()
