"""Kind ``galerkin``: POD-Galerkin reduced model of ``burgers`` with hyper-reduction.

Training: POD of every stored state of the training trajectories (``modes``
modes), rotated to the reduced diffusion eigenbasis; the nonlinear term is
projected exactly (``hyper="none"``, ``O(n r)`` per evaluation) or
hyper-reduced by DEIM / Q-DEIM on the snapshots ``N(u)`` of the stored states
or by ECSW on the projected states (``hyper_points`` points;
:mod:`rom.hyper_reduction`). The reduced system is integrated by the
problem's Lawson-RK4 (:mod:`rom.galerkin`). Every training trajectory is then
integrated: a blow-up is a one-line error and nothing is written.

Evaluation: relative l2 error over each trajectory (and per stored time),
the residual error indicator with its correlation to the error
(:mod:`rom.error_indicator`), online time per trajectory one at a time and
batched, against the solver's time. The helpers here are shared with the
``opinf`` kind (:mod:`rom.kinds.opinf`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from data.convergence import ALLOW_UNCONVERGED, training_samples
from data.dataset import Dataset
from data.evaluation import (
    Draw,
    check_same_problem,
    dataset_record,
    is_training_data,
    require_finite,
    semilogy,
    solved_index,
    write_outputs,
)
from data.metrics import evaluation_record, relative_l2
from data.model_dir import load_model, save_model
from data.model_kinds import Option

from .. import hyper_reduction as hr
from ..error_indicator import correlations, indicator_points, residual_indicator
from ..galerkin import BurgersGalerkin, diffusion_eigenbasis
from . import RomKind

#: most projected states ECSW's NNLS is trained on (evenly spaced over the snapshots)
ECSW_STATES = 400


def burgers_trajectories(ds: Dataset, idx: np.ndarray | None, kind: str
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """``(U (K, T, n), ν (K,), sample indices, problem)`` of a ``burgers`` dataset."""
    if ds.problem != "burgers":
        raise ValueError(f"{ds.path}: {kind} reduces the burgers problem, the dataset is "
                         f"{ds.problem}")
    if ds.times is None or len(ds.times) < 2:
        raise ValueError(f"{ds.path}: is steady; {kind} needs a time-dependent dataset "
                         "(stored trajectories)")
    idx = solved_index(ds) if idx is None else idx
    U = np.asarray(ds.field("u")[()] if idx.size == ds.n_samples else ds.field("u")[idx],
                   dtype=float)
    require_finite(ds.path, "u", U, idx)
    problem = ds.make_problem()
    nus = np.array([problem.viscosity(mu) for mu in ds.parameters[idx]])
    return U, nus, idx, problem


def pod_basis(U: np.ndarray, modes: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``modes`` POD modes of all stored states (``U (K, T, n)``) and all singular values."""
    S = U.reshape(-1, U.shape[-1]).T
    V, sigma, _ = np.linalg.svd(S, full_matrices=False)
    rank = int(np.sum(sigma > sigma[0] * 1e-12)) if sigma.size and sigma[0] > 0 else 0
    if modes > rank:
        raise ValueError(f"{modes} modes requested but the training states span only {rank} "
                         "dimensions")
    return V[:, :modes], sigma


def final_time_panel(x: np.ndarray, truth: np.ndarray, pred: np.ndarray, label: str) -> Draw:
    """Truth, reduced solution and their difference at the final time (one sample)."""
    def draw(ax: Any) -> None:
        ax.plot(x, truth, "k-", label="truth")
        ax.plot(x, pred, "r--", label=label)
        ax.plot(x, pred - truth, "b:", label="error")
        ax.set_xlabel("x")
        ax.set_title("final time: truth / reduced / error")
        ax.grid(True, alpha=0.3)
        ax.legend()
    return draw


def evaluate_trajectories(name: str, meta: dict[str, Any], ds: Dataset, out_dir: Path | None,
                          batch_size: int | None, Phi: np.ndarray,
                          integrate: Callable[[np.ndarray, np.ndarray], np.ndarray],
                          rhs: Callable[[np.ndarray, float], np.ndarray],
                          rows: list[list[Any]], bar: Any = None,
                          **extra: Any) -> dict[str, Any]:
    """Shared evaluation of a reduced Burgers model. ``integrate(a0 (r, B), ν (B,))`` gives
    ``(T, r, B)`` reduced states; ``rhs(states (T, r), ν)`` their time derivatives.
    ``bar`` (a :class:`data.progress.Progress`, or ``None``) counts the trajectories of
    the one-at-a-time pass, updated outside its timed regions."""
    check_same_problem(meta, ds, None)
    U, nus, idx, problem = burgers_trajectories(ds, None, name)
    h = 1.0 / U.shape[-1]
    u0 = U[:, 0]

    def one(k: int) -> np.ndarray:
        return integrate((Phi.T @ u0[k])[:, None], nus[k:k + 1])[:, :, 0] @ Phi.T

    preds, single = [], 0.0
    for k in range(len(U)):     # one trajectory at a time: timed, the bar updated apart
        t0 = time.perf_counter()
        preds.append(one(k))
        single += time.perf_counter() - t0
        if bar is not None:
            bar.update()
    preds, single = np.stack(preds), single / len(U)
    bs = len(U) if not batch_size else int(batch_size)
    t0 = time.perf_counter()
    for s in range(0, len(U), bs):
        A = integrate(Phi.T @ u0[s:s + bs].T, nus[s:s + bs])
        np.einsum("trb,nr->btn", A, Phi)
    batched = (time.perf_counter() - t0) / len(U)
    rel = relative_l2(preds, U)
    per_time = np.linalg.norm(preds - U, axis=2) / np.maximum(np.linalg.norm(U, axis=2), 1e-300)
    pts = indicator_points(U.shape[-1])
    eta = np.empty(len(U))
    for k in range(len(U)):
        a = preds[k] @ Phi
        eta[k] = residual_indicator(Phi, h, nus[k], a, rhs(a, nus[k]), pts)
    corr = correlations(eta, rel)
    solver_s = ds.solver_seconds_per_sample()
    record = evaluation_record(
        name, rel, single, solver_s, on_training_data=is_training_data(meta["dataset"], ds),
        online={"single_s": single, "batched_s": batched},
        speedup_batched=solver_s / batched if batched > 0 else None,
        rel_l2_per_time={"times": ds.times, "mean": per_time.mean(axis=0),
                         "max": per_time.max(axis=0)},
        indicator={"values": eta, "points": len(pts), **corr}, **extra)

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"
    record["report_rows"] = rows + [
        ["mean / max rel. L2", f"{np.mean(rel):.2e} / {np.max(rel):.2e}"],
        ["indicator corr. Spearman / Pearson", f"{fmt(corr['spearman'])} / {fmt(corr['pearson'])}"],
        ["online s per trajectory (single / batched)", f"{single:.2e} / {batched:.2e}"],
        ["speedup (single / batched)",
         f"{solver_s / single:.1f}x / {solver_s / batched:.1f}x" if np.isfinite(solver_s)
         else "n/a"]]
    worst = int(np.argmax(rel))
    figs = {"error_vs_time": semilogy(ds.times[1:], {"mean": per_time.mean(axis=0)[1:],
                                                     "max": per_time.max(axis=0)[1:]},
                                      "t", "relative L2 error vs time"),
            "final_time": final_time_panel(problem.grid.axes[0], U[worst, -1], preds[worst, -1],
                                           f"{name} (worst sample)")}
    write_outputs(out_dir, record, {"u": preds, "parameters": ds.parameters[idx], "rel_l2": rel,
                                    "indicator": eta}, figs)
    return record


class GalerkinKind(RomKind):
    name = "galerkin"
    help = "POD-Galerkin reduced model of burgers with DEIM/Q-DEIM/ECSW hyper-reduction."
    options = (
        Option("modes", int, 20, "POD modes N.", minimum=1),
        Option("hyper", ("deim", "qdeim", "ecsw", "none"), "deim",
               "Hyper-reduction of the flux term."),
        Option("hyper_points", int, None, "Sampled points M (default 2N).", minimum=1),
        Option("step_rule", ("reduced", "solver"), "reduced",
               "Time step: reduced CFL (grid independent) or the full solver's."),
        Option("growth", float, 10.0, "Blow-up threshold: largest growth of |a|.", minimum=1.0),
        ALLOW_UNCONVERGED,
    )

    def train(self, data_path: str | Path, out_dir: str | Path, *, progress: Any = None,
              modes: int = 20, hyper: str = "deim", hyper_points: int | None = None,
              step_rule: str = "reduced", growth: float = 10.0,
              allow_unconverged: bool = False) -> dict[str, Any]:
        """POD basis, hyper-reduction and a training-time stability check; writes the model."""
        t0 = time.perf_counter()
        with Dataset(data_path) as ds:
            if ds.times is None:
                raise ValueError(f"{data_path}: is steady; galerkin needs a time-dependent "
                                 "dataset (stored trajectories)")
            idx = training_samples(ds, allow_unconverged)
            U, nus, _, problem = burgers_trajectories(ds, idx, self.name)
            record, times = dataset_record(ds), np.asarray(ds.times, dtype=float)
        n = U.shape[-1]
        h = 1.0 / n
        Phi, sigma = pod_basis(U, modes)
        Phi, kappa = diffusion_eigenbasis(Phi, h)
        points = hyper_points or 2 * modes
        S = U.reshape(-1, n).T
        kw: dict[str, Any] = {}
        if hyper in ("deim", "qdeim"):
            kw["nonlinear_snapshots"] = hr.flux_divergence(S, h)
        elif hyper == "ecsw":
            pick = np.unique(np.linspace(0, S.shape[1] - 1, min(S.shape[1], ECSW_STATES)).astype(int))
            kw["states"] = Phi @ (Phi.T @ S[:, pick])
        nl, info = hr.build(hyper, Phi, h, points=points, **kw)
        model = self._model(Phi, kappa, nl, times, h, problem, step_rule, growth)
        A = model.integrate_reduced(Phi.T @ U[:, 0].T, nus)      # raises ReducedBlowUp
        train_err = relative_l2(np.einsum("trb,nr->btn", A, Phi), U)
        offline = time.perf_counter() - t0
        meta = {"dataset": record, "field": "u", "n_modes": int(modes), "hyper": hyper,
                "hyper_info": info, "sampled_entries": nl.sampled_entries,
                "step_rule": step_rule, "growth": growth, "times": times.tolist(),
                "cfl": float(problem.options["cfl"]), "dt": float(problem.options["dt"]),
                "train": {"offline_seconds": offline, "n_train": int(len(U)),
                          "rel_l2_mean": float(np.mean(train_err)),
                          "rel_l2_max": float(np.max(train_err))}}
        save_model(out_dir, self.name, {"Phi": Phi, "kappa": kappa, "sigma": sigma,
                                        **nl.tensors()}, **meta)
        return meta

    @staticmethod
    def _model(Phi: np.ndarray, kappa: np.ndarray, nl: hr.SampledNonlinearity, times: np.ndarray,
               h: float, problem: Any, step_rule: str, growth: float) -> BurgersGalerkin:
        return BurgersGalerkin(Phi, kappa, nl, times, h, cfl=float(problem.options["cfl"]),
                               dt=float(problem.options["dt"]) or np.inf, step_rule=step_rule,
                               growth=growth)

    def load(self, model_dir: str | Path, device: str = "cpu") -> BurgersGalerkin:
        """The reduced model (``integrate_reduced(a0, ν)``, ``stepper(ν)``)."""
        meta, t = load_model(model_dir, self.name)
        h = 1.0 / t["Phi"].shape[0]
        nl = hr.from_tensors(meta["hyper"], t["Phi"], h, t["hyper_points"], t["hyper_W"])
        return BurgersGalerkin(t["Phi"], t["kappa"], nl, np.asarray(meta["times"]), h,
                               cfl=meta["cfl"], dt=meta["dt"] or np.inf,
                               step_rule=meta["step_rule"], growth=meta["growth"])

    def summary(self, meta: dict[str, Any]) -> str:
        return (f"N={meta['n_modes']}, {meta['hyper']} with {meta['sampled_entries']} sampled "
                f"entries, training rel. L2 {meta['train']['rel_l2_mean']:.2e}")

    def _evaluate(self, meta: dict[str, Any], model_dir: Path, ds: Dataset,
                  out_dir: Path | None, resolution: int | None,
                  batch_size: int | None, bar: Any = None) -> dict[str, Any]:
        check_same_problem(meta, ds, resolution)
        model = self.load(model_dir)

        def rhs(a: np.ndarray, nu: float) -> np.ndarray:
            return (nu * model.kappa[:, None] * a.T - model.nonlinear(a.T)).T

        rows = [["modes N", meta["n_modes"]],
                ["hyper-reduction", f"{meta['hyper']} ({meta['hyper_info']['points']} points, "
                                    f"{meta['sampled_entries']} sampled entries)"]]
        return evaluate_trajectories(self.name, meta, ds, out_dir, batch_size, model.Phi,
                                     model.integrate_reduced, rhs, rows, bar=bar,
                                     n_modes=meta["n_modes"], hyper=meta["hyper"],
                                     sampled_entries=meta["sampled_entries"])


KIND = GalerkinKind()
