"""Kind ``rb`` on time-dependent affine datasets: POD-greedy parabolic RB (:mod:`rom.parabolic`).

Called by :mod:`rom.kinds.rb` when the dataset's problem is time-dependent.
The problem must have an affine decomposition, a ``μ``-independent initial
state (``initial_state()``) and the theta-scheme options ``scheme``/``dt``
(``heat_block``); plain ``heat`` (lognormal κ, not affine) is refused.

Evaluation integrates every dataset parameter online, compares with the
stored trajectory (relative L2 over the trajectory, mean/max over samples
and per stored time) and with the direct solve of the same time-discrete
scheme (:class:`rom.time_stepping.ThetaStepper`, sparse LU): the bound
``Δ_k`` and its effectivity at every stored time, online time per
trajectory against the solver's, and the output functional's error, bound
and effectivity (:mod:`rom.outputs`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from data.dataset import Dataset
from data.evaluation import (
    box_json,
    check_same_problem,
    dataset_record,
    pyplot,
    require_finite,
    semilogy,
    solved_index,
    write_outputs,
)
from data.metrics import evaluation_record, relative_l2
from data.model_dir import load_model, require_tensors, save_model
from solvers.problems import problem_from_config
from solvers.problems.fd import interior_to_full
from solvers.problems.sampling import sample_unit

from ..coercivity import MinTheta
from ..outputs import make_output, output_statistics, parse_functional
from ..parabolic import ParabolicOnline, ParabolicRB
from ..time_stepping import ThetaStepper, step_schedule
from . import greedy_figure


def check_parabolic(problem: Any, name: str) -> None:
    """One-line ``ValueError`` unless ``problem`` suits the parabolic RB."""
    if not problem.has_affine_decomposition:
        raise ValueError(f"problem {name!r} has no affine decomposition (its coefficients are "
                         "not affine in the parameters), so a certified parabolic reduced basis "
                         "cannot be built; use heat_block (thermal-block conductivity) or the "
                         "model kind pod")
    if not hasattr(problem, "initial_state") or "scheme" not in problem.options:
        raise ValueError(f"problem {name!r} is time-dependent but not a linear theta-scheme "
                         "problem with a fixed initial state; parabolic RB supports heat_block")


def train_parabolic(data_path: str | Path, out_dir: str | Path, *, progress: Any, tol: float,
                    max_basis: int, train_size: int, sampler: str, seed: int,
                    pod_greedy_modes: int, functional: str) -> dict[str, Any]:
    with Dataset(data_path) as ds:
        problem, space, record = ds.make_problem(), ds.parameter_space, dataset_record(ds)
    check_parabolic(problem, record.get("problem", problem.name))
    parse_functional(functional)   # validates the name
    affine, o = problem.affine_decomposition(), problem.options
    t0 = time.perf_counter()
    train = space.from_unit(sample_unit(train_size, space.dim, sampler, seed))
    rb = ParabolicRB(affine, problem.initial_state(), problem.times, o["dt"], o["scheme"])

    def report(step: Any) -> None:
        if progress:
            progress(f"N={step.N:3d}  max rel. bound {step.max_rel_bound:.3e}")
    rb.greedy(train, tol=tol, max_basis=max_basis, pod_modes=pod_greedy_modes, progress=report)
    offline = time.perf_counter() - t0
    on = rb.online()
    tensors = {"basis": rb.basis, "A_N": on.A_N, "M_N": on.M_N, "f_N": on.f_N, "b0": on.b0,
               "e0": on.e0, "est_data": on.T, "mu_ref": rb.mu_ref,
               "coercivity/theta_ref": rb.coercivity.theta_ref}
    meta = {"dataset": record, "time_dependent": True, "N": rb.N, "estimator": "stable",
            "scheme": o["scheme"], "dt": float(o["dt"]), "functional": functional,
            "coercivity": {"kind": "min-theta", "alpha_ref": rb.coercivity.alpha_ref},
            "box": box_json((np.min(train, 0), np.max(train, 0))),
            "train": {"tol": tol, "max_basis": max_basis, "train_size": train_size,
                      "sampler": sampler, "seed": seed, "pod_greedy_modes": pod_greedy_modes,
                      "offline_seconds": offline},
            "greedy": [{"N": h.N, "max_rel_bound": h.max_rel_bound, "mu": h.mu}
                       for h in rb.history],
            "truth_dim": int(rb.basis.shape[0])}
    save_model(out_dir, "rb", tensors, **meta)
    return meta


def load_parabolic(model_dir: str | Path) -> tuple[dict, dict, ParabolicOnline, Any]:
    """``(meta, tensors, online model, problem)`` of a parabolic ``rb`` directory."""
    meta, t = load_model(model_dir, "rb")
    require_tensors(t, "basis", "A_N", "M_N", "f_N", "b0", "e0", "est_data",
                    "coercivity/theta_ref", where=str(model_dir))
    problem = problem_from_config(meta["dataset"]["config"])
    affine = problem.affine_decomposition()
    online = ParabolicOnline(t["A_N"], t["M_N"], t["f_N"], t["b0"], t["e0"], t["est_data"],
                             affine.theta_A, affine.theta_f,
                             MinTheta(t["coercivity/theta_ref"], meta["coercivity"]["alpha_ref"]),
                             np.asarray(problem.times), meta["dt"], meta["scheme"])
    return meta, t, online, problem


def _panel(truth: np.ndarray, pred: np.ndarray) -> Any:
    def draw(ax: Any) -> None:
        fig = ax.figure
        fig.set_size_inches(11, 3.5)
        ax.remove()
        for i, (img, title) in enumerate(((truth, "truth"), (pred, "reduced"),
                                          (pred - truth, "error"))):
            a = fig.add_subplot(1, 3, i + 1)
            im = a.imshow(img.T, origin="lower", extent=(0, 1, 0, 1))
            a.set_title(f"{title} (final time)")
            fig.colorbar(im, ax=a, fraction=0.046)
    return draw


def evaluate_parabolic(meta: dict[str, Any], model_dir: Path, ds: Dataset, out_dir: Path | None,
                       resolution: int | None, batch_size: int | None) -> dict[str, Any]:
    _, t, online, problem = load_parabolic(model_dir)
    check_same_problem(meta, ds, resolution)
    V, grid = t["basis"], problem.grid
    idx = solved_index(ds)
    mus = ds.parameters[idx]
    field = problem.output_names[0]
    stored = ds.outputs(idx)[field]
    require_finite(ds.path, field, stored, idx)
    affine = problem.affine_decomposition()
    out = make_output(meta.get("functional", "none"), V.shape[0], int(np.prod(grid.shape)),
                      problem=problem)
    n_t = len(problem.times)
    err, norm, delta = (np.empty((len(mus), n_t)) for _ in range(3))
    preds, s_true, s_rb = [], [], []
    on_s, direct_s = 0.0, 0.0
    u0 = problem.initial_state()
    for i, mu in enumerate(mus):
        t0 = time.perf_counter()
        C, d = online.solve(mu)
        on_s += time.perf_counter() - t0
        A, f = affine.assemble(mu)
        t0 = time.perf_counter()
        U = ThetaStepper(A, problem.times, meta["dt"], meta["scheme"], f).integrate(u0)
        direct_s += time.perf_counter() - t0
        UN = C @ V.T
        err[i], norm[i], delta[i] = (np.linalg.norm(U - UN, axis=1), np.linalg.norm(U, axis=1), d)
        preds.append(np.stack([interior_to_full(grid, u) for u in UN]))
        if out is not None:
            s_true.append(out(U))
            s_rb.append(out(UN))
    preds = np.array(preds)
    rel = relative_l2(preds, stored)
    per_time = np.sqrt(np.sum((preds - stored) ** 2, axis=(2, 3))
                       / np.maximum(np.sum(stored ** 2, axis=(2, 3)), 1e-300))
    scale = norm.max(axis=1, keepdims=True)
    viol = int(np.sum(delta < err))
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.where(err > 0, delta / err, np.inf)
    single, solver_s = on_s / len(mus), ds.solver_seconds_per_sample()
    solver_s = solver_s if np.isfinite(solver_s) else direct_s / len(mus)
    record = evaluation_record(
        "rb", rel, single, solver_s, N=int(online.N), on_training_data=False, time_dependent=True,
        per_time_rel_l2={"times": list(map(float, problem.times)),
                         "mean": per_time.mean(0).tolist(), "max": per_time.max(0).tolist()},
        bound={"norm": "M-norm (Euclidean, M = I) at every stored time", "violations": viol,
               "min_effectivity": float(np.min(eff[err > 0])) if np.any(err > 0) else None,
               "max_effectivity": float(np.max(eff[err > 0])) if np.any(err > 0) else None,
               "max_rel_error": float(np.max(err / scale)),
               "max_rel_bound": float(np.max(delta / scale)),
               "per_time_max_rel_bound": np.max(delta / scale, axis=0).tolist(),
               "reference": "direct solve of the same time-discrete scheme (sparse LU)"},
        online={"single_s": single}, direct_solve_s=direct_s / len(mus),
        speedup_direct_single=direct_s / on_s)
    m, h = step_schedule(problem.times, meta["dt"])
    rows = [["time steps (scheme)", f"{m * (n_t - 1)} of {h:.3g} ({meta['scheme']})"],
            ["bound violations (all stored times)", viol],
            ["max relative error / bound", f"{record['bound']['max_rel_error']:.2e} / "
                                           f"{record['bound']['max_rel_bound']:.2e}"],
            ["online speedup vs direct solve", f"{record['speedup_direct_single']:.0f}x"]]
    if out is not None:
        st = output_statistics(np.array(s_true), np.array(s_rb), out.bound(delta))
        record["output"] = {"functional": out.name, **st}
        rows += [["output " + out.name + ": max error / bound",
                  f"{st['max_abs_error']:.2e} / {st['max_bound']:.2e}"],
                 ["output effectivity min / max",
                  f"{st['min_effectivity']:.2f} / {st['max_effectivity']:.2f}"]]
    record["report_rows"] = rows
    last = int(np.argmax(per_time[:, -1]))
    figs = {"greedy": greedy_figure(meta, "POD-greedy"),
            "error_vs_time": semilogy(problem.times[1:],
                                      {"max rel. error": np.max(err / scale, 0)[1:],
                                       "max rel. bound": np.max(delta / scale, 0)[1:]},
                                      "t", "error and bound against time"),
            "final_time_panel": _panel(stored[last, -1], preds[last, -1])}
    pyplot()
    write_outputs(out_dir, record, {field: preds, "parameters": mus, "bound": delta,
                                    "error": err, "rel_l2": rel}, figs)
    return record

