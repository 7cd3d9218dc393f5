"""Kind ``rb``: certified Galerkin reduced basis of a dataset's problem (weak greedy).

Needs the problem's affine decomposition ``A(mu) = sum_q theta_q(mu) A_q``
(``problem.has_affine_decomposition``). Training draws a training set of the
parameter space, builds the reduced basis by the weak greedy on the relative
a-posteriori bound (:mod:`rom.reduced_basis`, :func:`rom.greedy.weak_greedy`)
and stores the online data: projected terms, estimator data and the
coercivity lower bound (min-theta when the decomposition allows it, else SCM
fitted at the centre of the box, whose training points the greedy then uses).

Evaluation solves every dataset parameter online (batched), compares with
the truth solution (:class:`rom.truth.AffineTruth`: sparse LU with
extended-precision iterative refinement, so the bound is checked against the
exact discrete solution to about ``eps``, not to a plain LU's ``kappa eps``)
in the energy norm at ``mu_ref`` (products accumulated in long double) and
reports bound violations, effectivities, the error/bound decay with ``N`` and
``bound.reference_rel_error_estimate``, the largest estimated relative error
of the reference solutions.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data.dataset import Dataset
from data.evaluation import (
    box_from_json,
    box_json,
    check_same_problem,
    dataset_record,
    online_seconds,
    parameter_box,
    require_finite,
    semilogy,
    solved_index,
    write_outputs,
)
from data.metrics import evaluation_record, relative_l2
from data.model_dir import load_model, require_tensors, save_model
from data.model_kinds import Option
from solvers.problems import problem_from_config
from solvers.problems.base import AffineDecomposition, Problem
from solvers.problems.sampling import sample_unit

from ..coercivity import SCM, MinTheta
from ..estimators import ESTIMATORS, STABLE_FLOOR, STANDARD_FLOOR, bound_statistics, effectivities
from ..gram_schmidt import ExtendedProduct
from ..outputs import (
    PrimalDualOutput,
    dual_theta_f,
    make_output,
    output_statistics,
    parse_functional,
)
from ..reduced_basis import OnlineRB, ReducedBasis, batch_thetas, energy_product
from ..truth import AffineTruth
from . import RomKind, greedy_figure, number
from .rb_parabolic import evaluate_parabolic, load_parabolic, train_parabolic


@dataclass
class RBModel:
    """A loaded ``rb`` model: ``online(mus, N)`` gives ``(u_N, Delta)``; ``basis`` lifts
    ``u_N`` to the truth unknowns."""

    meta: dict[str, Any]
    tensors: dict[str, np.ndarray]
    online: OnlineRB
    problem: Problem
    affine: AffineDecomposition
    primal_dual: PrimalDualOutput | None = None

    @property
    def basis(self) -> np.ndarray:
        return self.tensors["basis"]


class RBKind(RomKind):
    name = "rb"
    help = "Certified reduced basis (weak greedy) of DATA's problem (needs an affine decomposition)."
    options = (
        Option("tol", float, 1e-6, "Greedy tolerance on the relative bound."),
        Option("max_basis", int, 50, "Largest basis size N.", minimum=1),
        Option("train_size", int, 1000, "Size of the greedy training set.", minimum=1),
        Option("sampler", ("random", "lhs", "sobol"), "lhs",
               "Design of the training set in the problem's parameter space."),
        Option("estimator", ("stable", "standard"), "stable",
               "Residual-norm evaluation: stable (accurate to ~1e-12) or standard "
               "(expanded quadratic form, floor ~1e-8)."),
        Option("seed", int, 0, "Seed of the training set."),
        Option("pod_greedy_modes", int, 1, "Time-dependent datasets: POD modes of the worst "
               "projection-error trajectory added per POD-greedy step.", minimum=1),
        Option("functional", str, "mean", "The linear output functional the evaluation "
               "reports with its error bound: mean (of the field over the grid), "
               "mean:X0:X1,Y0:Y1 (over the nodes in a box), or none."),
        Option("output_correction", ("none", "primal-dual"), "none", "Steady datasets: "
               "also reduce the dual problem A(mu)^T psi = -l (same greedy settings) for the "
               "primal-dual corrected output and its product bound."),
    )

    def train(self, data_path: str | Path, out_dir: str | Path, *, progress: Any = None,
              tol: float = 1e-6, max_basis: int = 50, train_size: int = 1000,
              sampler: str = "lhs", estimator: str = "stable", seed: int = 0,
              pod_greedy_modes: int = 1, functional: str = "mean",
              output_correction: str = "none") -> dict[str, Any]:
        """Weak-greedy RB of the dataset's problem (POD-greedy parabolic RB for a
        time-dependent one, :mod:`rom.kinds.rb_parabolic`); writes the model directory.
        ``progress`` receives one line per greedy step."""
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}")
        if train_size < 1 or max_basis < 1:
            raise ValueError("the training-set size and the largest basis size must be positive")
        with Dataset(data_path) as ds:
            time_dependent = bool(ds.make_problem().time_dependent)
        parse_functional(functional)
        if output_correction not in ("none", "primal-dual"):
            raise ValueError(f"unknown output correction {output_correction!r}; valid: none, "
                             "primal-dual")
        if output_correction != "none" and functional.strip() == "none":
            raise ValueError("the primal-dual output correction needs an output functional")
        if time_dependent:
            if output_correction != "none":
                raise ValueError("the primal-dual output correction is for steady datasets; "
                                 "the parabolic RB reports the plain output bound")
            if estimator != "stable":
                raise ValueError("the parabolic reduced basis evaluates residual norms with the "
                                 "stable estimator only")
            return train_parabolic(data_path, out_dir, progress=progress, tol=tol,
                                   max_basis=max_basis, train_size=train_size, sampler=sampler,
                                   seed=seed, pod_greedy_modes=pod_greedy_modes,
                                   functional=functional)
        if pod_greedy_modes != 1:
            raise ValueError("POD-greedy modes apply to time-dependent datasets only; this "
                             "dataset is steady")
        with Dataset(data_path) as ds:
            problem = ds.make_problem()
            if not problem.has_affine_decomposition:
                raise ValueError(f"problem {ds.problem!r} has no affine decomposition, so a "
                                 "certified reduced basis cannot be built; the model kinds pod "
                                 "and eim (target operator: an affine form from the assembled "
                                 "systems) need none")
            space, record = ds.parameter_space, dataset_record(ds)
        affine = problem.affine_decomposition()
        # the output (a bad box fails here, before the greedy); its l defines the dual problem
        output = make_output(functional, affine.A_terms[0].shape[0],
                             int(np.prod(problem.grid.shape)), problem=problem)
        t0 = time.perf_counter()
        train = space.from_unit(sample_unit(train_size, space.dim, sampler, seed))
        box = parameter_box(space)
        coercivity, mu_ref = None, affine.min_theta_ref
        if mu_ref is None:   # SCM at the centre of the box
            mu_ref = 0.5 * (box[0] + box[1])
            coercivity = SCM(affine.A_terms, energy_product(affine.assemble(mu_ref)[0]))
            # SCM certifies its own training points once converged: the greedy runs there
            # (at most 200 points: every SCM step solves one LP per point)
            train = train[:200]
            coercivity.fit(train, batch_thetas(affine.theta_A, train), max_points=len(train))
        rb = ReducedBasis(affine, mu_ref, box, estimator_kind=estimator, coercivity=coercivity)

        def report(step: Any) -> None:
            if progress:
                progress(f"N={step.N:3d}  max rel. bound {step.max_rel_bound:.3e}")
        rb.greedy(train, tol=tol, max_basis=max_basis, progress=report)
        on = rb.online()
        tensors = {"basis": rb.basis, "A_N": on.A_N, "f_N": on.f_N, "est_data": on.est_data,
                   "mu_ref": np.asarray(mu_ref, float)}
        coer = {"kind": rb.coercivity.kind}
        for k, v in rb.coercivity.online_data().items():
            if isinstance(v, np.ndarray):
                tensors[f"coercivity/{k}"] = v
            else:
                coer[k] = v
        history = [{"N": h.N, "max_rel_bound": h.max_rel_bound, "mu": h.mu} for h in rb.history]
        dual_meta = None
        if output_correction == "primal-dual":
            dual_meta = self._train_dual(rb, output.l, train, tol, max_basis, tensors, progress)
        offline = time.perf_counter() - t0
        meta = {"dataset": record, "N": rb.N, "estimator": estimator, "estimator_floor": on.floor,
                "functional": functional, "output_correction": output_correction,
                "dual": dual_meta,
                "coercivity": coer, "box": box_json(box),
                "train": {"tol": tol, "max_basis": max_basis, "train_size": train_size,
                          "greedy_train_size": len(train), "sampler": sampler, "seed": seed,
                          "offline_seconds": offline},
                "greedy": history, "truth_dim": int(rb.basis.shape[0])}
        save_model(out_dir, self.name, tensors, **meta)
        return meta

    @staticmethod
    def _train_dual(rb: ReducedBasis, l: np.ndarray, train: np.ndarray, tol: float,
                    max_basis: int, tensors: dict[str, np.ndarray],
                    progress: Any) -> dict[str, Any]:
        """The dual RB of ``A(mu)^T psi = -l`` (same X, coercivity bound and greedy settings);
        adds its online data and the correction tensors to ``tensors``."""
        dual = ReducedBasis(PrimalDualOutput.dual_decomposition(rb.affine, l), rb.mu_ref,
                            rb.box, estimator_kind=rb.estimator_kind, coercivity=rb.coercivity,
                            X=rb.X)

        def report(step: Any) -> None:
            if progress:
                progress(f"dual N={step.N:3d}  max rel. bound {step.max_rel_bound:.3e}")
        dual.greedy(train, tol=tol, max_basis=max_basis, progress=report)
        don = dual.online()
        tensors.update({"dual/A_N": don.A_N, "dual/f_N": don.f_N, "dual/est_data": don.est_data})
        pd = PrimalDualOutput.from_bases(l, rb, dual)
        tensors.update({f"output/{k}": v for k, v in pd.tensors().items()})
        return {"N": dual.N, "greedy": [{"N": h.N, "max_rel_bound": h.max_rel_bound}
                                        for h in dual.history]}

    def load(self, model_dir: str | Path, device: str = "cpu") -> RBModel:
        """The online model of an ``rb`` directory (with its problem and decomposition)."""
        meta, t = load_model(model_dir, self.name)
        if meta.get("time_dependent"):
            return load_parabolic(model_dir)[2]
        require_tensors(t, "basis", "A_N", "f_N", "est_data", "mu_ref", where=str(model_dir))
        problem = problem_from_config(meta["dataset"]["config"])
        affine = problem.affine_decomposition()
        c = meta["coercivity"]
        if c["kind"] == "min-theta":
            coercivity: Any = MinTheta(t["coercivity/theta_ref"], c["alpha_ref"])
        else:
            coercivity = SCM.from_online_data({**c, **{k.split("/", 1)[1]: v
                                                       for k, v in t.items()
                                                       if k.startswith("coercivity/")}})
        floor = STABLE_FLOOR if meta["estimator"] == "stable" else STANDARD_FLOOR
        box = box_from_json(meta["box"])
        online = OnlineRB(t["A_N"], t["f_N"], meta["estimator"], t["est_data"], coercivity,
                          affine.theta_A, affine.theta_f, box, floor)
        primal_dual = None
        if meta.get("output_correction", "none") == "primal-dual":
            require_tensors(t, "dual/A_N", "dual/f_N", "dual/est_data", "output/lV",
                            "output/Wf", "output/WAV", where=str(model_dir))
            dual = OnlineRB(t["dual/A_N"], t["dual/f_N"], meta["estimator"], t["dual/est_data"],
                            coercivity, affine.theta_A, dual_theta_f, box, floor)
            primal_dual = PrimalDualOutput(t["output/lV"], t["output/Wf"], t["output/WAV"],
                                           online, dual)
        return RBModel(meta, t, online, problem, affine, primal_dual)

    def summary(self, meta: dict[str, Any]) -> str:
        last = number(meta["greedy"][-1]["max_rel_bound"]) if meta["greedy"] else float("nan")
        dual = (f", dual N={meta['dual']['N']} (primal-dual output)" if meta.get("dual")
                else "")
        return (f"N={meta['N']}, max relative bound {last:.2e} on the training set, "
                f"{meta['estimator']} estimator{dual}")

    def _evaluate(self, meta: dict[str, Any], model_dir: Path, ds: Dataset,
                  out_dir: Path | None, resolution: int | None,
                  batch_size: int | None, bar: Any = None) -> dict[str, Any]:
        if meta.get("time_dependent"):
            return evaluate_parabolic(meta, model_dir, ds, out_dir, resolution, batch_size)
        model = self.load(model_dir)
        online, problem, V = model.online, model.problem, model.basis
        check_same_problem(meta, ds, resolution)
        idx = solved_index(ds)
        mus = ds.parameters[idx]
        field = problem.output_names[0]
        truth_fields = ds.outputs(idx)[field]
        require_finite(ds.path, field, truth_fields, idx)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            uN, delta = online(mus)
        single, batched = online_seconds(lambda m: online(m), mus, batch_size)
        X = ExtendedProduct(energy_product(model.affine.assemble(model.tensors["mu_ref"])[0]))
        Ns = np.unique(np.linspace(1, online.N, min(online.N, 12)).astype(int))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            conv = {int(N): online(mus, int(N)) for N in Ns}      # (coefficients, bounds)
        conv_err = {N: np.empty(len(mus)) for N in conv}
        err_x, norm_x, direct, preds = np.empty(len(mus)), np.empty(len(mus)), 0.0, []
        out = make_output(meta.get("functional", "none"), V.shape[0],
                          int(np.prod(problem.grid.shape)), X.X, problem)
        s_true = np.empty(len(mus))
        truth, ref_err = AffineTruth(model.affine), 0.0
        for i, (mu, c) in enumerate(zip(mus, uN)):
            ref = truth(mu)
            u, direct, ref_err = ref.u, direct + ref.seconds, max(ref_err, ref.rel_error_estimate)
            e = u - V @ c
            err_x[i], norm_x[i] = np.sqrt(e @ (X @ e)), np.sqrt(u @ (X @ u))
            s_true[i] = out(u) if out is not None else np.nan
            for N, (cN, _) in conv.items():
                eN = u - V[:, :N] @ cN[i]
                conv_err[N][i] = np.sqrt(eN @ (X @ eN))
            preds.append(problem.to_fields(mu, V @ c)[field])
            if bar is not None:   # one truth solve per sample: the long part
                bar.update()
        preds = np.array(preds)
        rel = relative_l2(preds, truth_fields)
        direct_s = direct / len(mus)
        solver_s = ds.solver_seconds_per_sample()
        record = evaluation_record(
            self.name, rel, single, solver_s if np.isfinite(solver_s) else direct_s,
            bound={**bound_statistics(delta, err_x), "norm": "energy norm at mu_ref",
                   "max_rel_error_x": float(np.max(err_x / norm_x)),
                   "max_rel_bound": float(np.max(delta / norm_x)),
                   "estimator": meta["estimator"], "estimator_floor": online.floor,
                   "reference": "LU with extended-precision iterative refinement",
                   "reference_rel_error_estimate": ref_err},
            N=int(online.N), on_training_data=False, online={"single_s": single, "batched_s": batched,
                                     "batch_size": int(batch_size or len(mus))},
            direct_solve_s=direct_s, speedup_batched=direct_s / batched,
            speedup_direct_single=direct_s / single,
            convergence={"N": list(conv),
                         "max_rel_error_x": [float(np.max(conv_err[N] / norm_x)) for N in conv],
                         "max_rel_bound": [float(np.max(b / norm_x)) for _, b in conv.values()]})
        if out is not None:   # |l(e)| <= ||l||_{X'} ||e||_X <= ||l||_{X'} Delta
            st = output_statistics(s_true, out(uN @ V.T), out.bound(delta))
            record["output"] = {"functional": out.name, **st}
            record["report_rows"] = [
                [f"output {out.name}: max error / bound",
                 f"{st['max_abs_error']:.2e} / {st['max_bound']:.2e}"],
                ["output bound violations / min effectivity",
                 f"{st['violations']} / {st['min_effectivity']:.2f}"]]
            if model.primal_dual is not None:
                record["output"]["primal_dual"] = self._primal_dual_record(
                    model.primal_dual, mus, s_true, st, record["report_rows"])
        conv_rec = record["convergence"]
        figs = {"greedy": greedy_figure(meta, "weak greedy"),
                "effectivities": semilogy(None, {"effectivity":
                                                 np.sort(effectivities(delta, err_x))},
                                          "sample (sorted)", "bound / true error"),
                "error_vs_N": semilogy(conv_rec["N"],
                                       {"max rel. error (X)": conv_rec["max_rel_error_x"],
                                        "max rel. bound": conv_rec["max_rel_bound"]},
                                       "N", "evaluation set")}
        write_outputs(out_dir, record, {field: preds, "parameters": mus, "bound": delta,
                                        "error_x": err_x, "rel_l2": rel}, figs)
        return record

    @staticmethod
    def _primal_dual_record(pd: PrimalDualOutput, mus: np.ndarray, s_true: np.ndarray,
                            plain: dict[str, Any], rows: list[list[str]]) -> dict[str, Any]:
        """Corrected-output errors, bounds and effectivities (and two report rows)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = pd(mus)
            pd(mus[:1])                       # the one-parameter path's caches, untimed
            t0 = time.perf_counter()
            for mu in mus[: min(len(mus), 50)]:
                pd(mu[None])
            single = (time.perf_counter() - t0) / min(len(mus), 50)
        st = output_statistics(s_true, r["s_corrected"], r["bound_corrected"])
        gain = plain["max_abs_error"] / st["max_abs_error"] if st["max_abs_error"] > 0 else np.inf
        rows += [["primal-dual output: max error / bound",
                  f"{st['max_abs_error']:.2e} / {st['max_bound']:.2e} ({gain:.3g}x smaller error)"],
                 ["primal-dual bound violations / min effectivity",
                  f"{st['violations']} / {st['min_effectivity']:.2f}"]]
        return {**st, "dual_N": int(pd.on_du.N), "error_reduction": float(gain),
                "single_s": single}


KIND = RBKind()
