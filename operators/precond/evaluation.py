"""Evaluation of a learned preconditioner: PCG against the classical preconditioners.

:func:`evaluate` rebuilds every system of a dataset and solves it with CG
(:func:`solvers.linear.krylov.cg`, tolerance ``rtol`` on the true residual)
under each preconditioner: none, Jacobi, IC(0), AMG (pyamg smoothed
aggregation) and the learned one. Time per system is *build + solve*; the
learned preconditioner's build is its share of building ``batch_size`` systems
(inference + assembly + coarse space; one batched network pass on a GPU or
with edge states, the fast per-matrix path of :mod:`operators.precond.infer`
on the CPU). Reported (at least :func:`data.metrics.evaluation_record`'s keys):

* ``rel_l2``: ``‖x_learned - x_ref‖ / ‖x_ref‖`` against the dataset's
  solutions (direct solves when evaluated at another resolution);
* ``residual``: true relative residual ``‖b - A x‖/‖b‖`` of the learned PCG solutions;
* ``time_per_sample_s``: ``model`` = learned PCG, ``solver`` = the fastest
  baseline (``best_baseline``), so ``speedup`` > 1 means the learned
  preconditioner beat every baseline measured in this run;
* ``iterations`` / ``time``: per method ``{mean, median, max}``;
* ``learned_build_s``: mean inference and assembly seconds per system.

With ``out_dir`` it writes ``metrics.json``, ``per_sample.json`` (iterations,
seconds, residuals and errors of every system) and ``iterations.png``
through :mod:`data.evaluation`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from data.evaluation import pyplot, save_figure, write_metrics
from data.metrics import evaluation_record, relative_l2, summary
from solvers.linear.krylov import cg
from solvers.linear.precond import make_precond

from .model import LearnedPreconditioner, load
from .train import dataset_systems

BASELINES = ("none", "jacobi", "ic0", "amg")


def _solve(A: Any, b: np.ndarray, M: Any, rtol: float) -> tuple[np.ndarray, Any, float]:
    t0 = time.perf_counter()
    x, st = cg(A, b, rtol=rtol, M=M)
    return x, st, time.perf_counter() - t0


def compare(model: LearnedPreconditioner, matrices: list, rhs: list, *, rtol: float = 1e-8,
            baselines: tuple[str, ...] = BASELINES, batch_size: int = 8) -> dict[str, Any]:
    """Side-by-side PCG runs; returns per-method lists of iterations/seconds and the learned x."""
    methods = list(baselines) + ["learned"]
    its = {m: [] for m in methods}
    secs = {m: [] for m in methods}
    conv = {m: [] for m in methods}
    xs, res, build = [], [], {"inference_s": 0.0, "assembly_s": 0.0}
    for start in range(0, len(matrices), batch_size):
        chunk = list(range(start, min(start + batch_size, len(matrices))))
        t0 = time.perf_counter()
        Ms = model.build_many([matrices[k] for k in chunk])
        share = (time.perf_counter() - t0) / len(chunk)
        for key in build:
            build[key] += model.timings.get(key, 0.0)
        for k, M in zip(chunk, Ms):
            A, b = matrices[k], rhs[k]
            x, st, t = _solve(A, b, M, rtol)
            its["learned"].append(st.iterations)
            secs["learned"].append(share + t)
            conv["learned"].append(st.converged)
            xs.append(x)
            res.append(st.residual)
            for name in baselines:
                t0 = time.perf_counter()
                P = make_precond(name, A)
                tb = time.perf_counter() - t0
                _, stb, t = _solve(A, b, P, rtol)
                its[name].append(stb.iterations)
                secs[name].append(tb + t)
                conv[name].append(stb.converged)
    n = max(len(matrices), 1)
    return {"iterations": its, "seconds": secs, "converged": conv, "x": xs, "residual": res,
            "build": {k: v / n for k, v in build.items()}}


def evaluate(model_dir: str | Path, data_path: str | Path, *, out_dir: str | Path | None = None,
             resolution: int | None = None, batch_size: int | None = None, device: str = "cpu",
             rtol: float = 1e-8, max_samples: int | None = None,
             baselines: tuple[str, ...] = BASELINES) -> dict[str, Any]:
    """Learned PCG vs CG / Jacobi-CG / IC(0)-CG / AMG-CG on a dataset's systems (see module doc)."""
    model = load(model_dir, device=device)
    mats, rhs, sols, info = dataset_systems(data_path, max_samples, resolution)
    r = compare(model, mats, rhs, rtol=rtol, baselines=baselines, batch_size=batch_size or 8)
    mean_t = {m: float(np.mean(v)) for m, v in r["seconds"].items()}
    best = min(baselines, key=lambda m: mean_t[m]) if baselines else "learned"
    rel = relative_l2(np.stack(r["x"]), np.stack(sols))
    record = evaluation_record(
        "precond", rel, mean_t["learned"], mean_t[best],
        residual=summary(np.asarray(r["residual"])),
        converged={m: int(np.sum(v)) for m, v in r["converged"].items()},
        iterations={m: summary(np.asarray(v, dtype=float)) for m, v in r["iterations"].items()},
        time={m: summary(np.asarray(v)) for m, v in r["seconds"].items()},
        best_baseline=best, learned_build_s=r["build"], rtol=rtol,
        variant=model.variant.name, coarse_levels=model.coarse_levels,
        resolution=info["resolution"], n_unknowns=int(mats[0].shape[0]))
    if out_dir is not None:
        write_metrics(out_dir, record)
        per = {"iterations": r["iterations"], "seconds": r["seconds"],
               "residual": r["residual"], "rel_l2": rel.tolist()}
        write_metrics(out_dir, per, name="per_sample.json")
        _figure(r, Path(out_dir) / "iterations.png")
    return record


def _figure(r: dict[str, Any], path: Path) -> None:
    """Bar chart of mean iterations and mean seconds per method."""
    plt = pyplot()
    names = list(r["iterations"])
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].bar(names, [np.mean(r["iterations"][m]) for m in names])
    ax[0].set_ylabel("CG iterations")
    ax[1].bar(names, [np.mean(r["seconds"][m]) for m in names])
    ax[1].set_ylabel("build + solve [s]")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
