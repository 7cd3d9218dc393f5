"""``eim`` models of ``target="operator"``: matrix EIM + certified reduced basis.

Offline, only assembled systems are used (non-intrusive): the systems
``A(mu_k), b(mu_k)`` of a training design give a matrix EIM and a vector EIM
(:mod:`rom.matrix_eim`), i.e. an affine form

    A(mu) ~ sum_m beta_m(mu) Q_m,    b(mu) ~ sum_m gamma_m(mu) q_m,

whose coefficients come from the magic entries of ``A(mu)`` and ``b(mu)``.
The ``Q_m`` are not semidefinite, so coercivity is certified by SCM on the
training design, and the reduced basis is built by the weak greedy there
(where the converged SCM certifies every point). The bound certifies the EIM
operator; evaluation measures it against the true discrete solution
(:func:`rom.truth.truth_solve`: LU with extended-precision iterative
refinement; ``bound.reference_rel_error_estimate`` says how accurate it is). Online, the magic entries are read through
the problem's own entry access when it has one (``problem.has_local_entries``:
grid-independent cost), else from one assembly per parameter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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
    solved_index,
    write_outputs,
)
from data.metrics import evaluation_record, relative_l2
from data.model_dir import save_model
from solvers.problems import problem_from_config
from solvers.problems.base import Problem
from solvers.problems.sampling import sample_unit

from ..coercivity import SCM
from ..eim import Interpolant
from ..estimators import STABLE_FLOOR, bound_statistics
from ..gram_schmidt import ExtendedProduct
from ..matrix_eim import (
    AssembledEntries,
    LocalEntries,
    entry_access,
    operator_affine_decomposition,
    operator_eim,
)
from ..reduced_basis import OnlineRB, ReducedBasis, batch_thetas, energy_product
from ..truth import truth_solve
from . import greedy_figure


@dataclass
class OperatorEIMModel:
    """A loaded operator-EIM model: ``online(mus)`` gives ``(u_N, Delta)``."""

    tensors: dict[str, np.ndarray]
    online: OnlineRB
    problem: Problem
    entries: LocalEntries | AssembledEntries

    @property
    def basis(self) -> np.ndarray:
        return self.tensors["basis"]


def train(data_path: str | Path, out_dir: str | Path, *, tol: float = 1e-10,
          max_terms: int | None = 100, train_size: int = 60, max_basis: int = 40,
          rb_tol: float = 1e-6, sampler: str = "lhs", seed: int = 0,
          scm_points: int = 30, progress: Callable[[str], None] | None = None
          ) -> dict[str, Any]:
    """Matrix/vector EIM of ``problem.assemble(mu)`` on a training design, then RB with SCM;
    writes the ``eim`` model directory and returns its ``model.json`` record. ``progress``
    receives one line per phase, SCM step and greedy step."""
    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    with Dataset(data_path) as ds:
        problem, space, record = ds.make_problem(), ds.parameter_space, dataset_record(ds)
    if problem.time_dependent:
        raise ValueError(f"problem {record['problem']!r} is time-dependent: operator EIM needs "
                         "a steady linear problem; EIM of a field (target field) and the "
                         "model kind pod take time-dependent data")
    t0 = time.perf_counter()
    train_mu = space.from_unit(sample_unit(train_size, space.dim, sampler, seed))
    say(f"matrix EIM of {train_size} assembled systems")
    mat, vec = operator_eim([problem.assemble(m) for m in train_mu], tol=tol,
                            max_terms=max_terms)
    entries = entry_access(problem)
    aff = operator_affine_decomposition(mat, vec, entries)
    mu_ref = space.from_unit(np.full((1, space.dim), 0.5))[0]
    X = energy_product(problem.assemble(mu_ref).A)
    say(f"matrix EIM: M={mat.M} terms (rhs {vec.interp.M}); SCM coercivity bounds")
    scm = SCM(aff.A_terms, X, n_neighbors=scm_points, progress=progress)
    scm.fit(train_mu, batch_thetas(aff.theta_A, train_mu), tol=0.75, max_points=scm_points)
    box = parameter_box(space)
    rb = ReducedBasis(aff, mu_ref, box, coercivity=scm, X=X)
    rb.greedy(train_mu, tol=rb_tol, max_basis=max_basis,
              progress=lambda step: say(f"N={step.N:3d}  max rel. bound "
                                        f"{step.max_rel_bound:.3e}"))
    on = rb.online()
    rows, cols = mat.magic_entries
    tensors = {"basis": rb.basis, "A_N": on.A_N, "f_N": on.f_N, "est_data": on.est_data,
               "mu_ref": mu_ref, "mat_B": mat.interp.B, "mat_rows": rows, "mat_cols": cols,
               "vec_B": vec.interp.B, "vec_idx": vec.interp.indices}
    for k, v in scm.online_data().items():
        if isinstance(v, np.ndarray):
            tensors[f"coercivity/{k}"] = v
    meta = {"dataset": record, "target": "operator", "M": mat.M, "M_rhs": vec.interp.M,
            "entries": entries.kind,
            "eim_train_error_rel_sup": mat.interp.history_rel[-1], "N": rb.N,
            "estimator": "stable", "coercivity": {"kind": "scm", "n_neighbors": scm.n_neighbors},
            "box": box_json(box),
            "greedy": [{"N": h.N, "max_rel_bound": h.max_rel_bound} for h in rb.history],
            "train": {"tol": tol, "max_terms": max_terms, "train_size": train_size,
                      "sampler": sampler, "seed": seed, "rb_tol": rb_tol,
                      "offline_seconds": time.perf_counter() - t0}}
    save_model(out_dir, "eim", tensors, **meta)
    return meta


def load(meta: dict[str, Any], t: dict[str, np.ndarray]) -> OperatorEIMModel:
    """The online RB of an operator-EIM model directory's ``model.json`` and tensors."""
    problem = problem_from_config(meta["dataset"]["config"])
    entries = entry_access(problem)
    rows, cols, vidx = t["mat_rows"], t["mat_cols"], t["vec_idx"]
    # only the interpolation matrices B = Q[p] are needed online: Q := B, p := 0..M-1
    mat_I = Interpolant(t["mat_B"], np.arange(len(rows)), unit_lower=True)
    vec_I = Interpolant(t["vec_B"], np.arange(len(vidx)), unit_lower=True)

    def theta_A(mu: np.ndarray) -> np.ndarray:
        return mat_I.coefficients(entries.matrix(mu, rows, cols))

    def theta_f(mu: np.ndarray) -> np.ndarray:
        return vec_I.coefficients(entries.vector(mu, vidx))

    scm = SCM.from_online_data({"n_neighbors": meta["coercivity"]["n_neighbors"],
                                **{k.split("/", 1)[1]: v for k, v in t.items()
                                   if k.startswith("coercivity/")}})
    online = OnlineRB(t["A_N"], t["f_N"], "stable", t["est_data"], scm, theta_A, theta_f,
                      box_from_json(meta["box"]), STABLE_FLOOR)
    return OperatorEIMModel(t, online, problem, entries)


def evaluate(meta: dict[str, Any], model: OperatorEIMModel, ds: Dataset,
             out_dir: Path | None, resolution: int | None,
             batch_size: int | None, bar: Any = None) -> dict[str, Any]:
    """Solutions of the EIM-RB model versus the dataset; bound versus the true discrete
    solution (energy norm at ``mu_ref``); ``bar`` (a :class:`data.progress.Progress`)
    counts the samples' truth solves."""
    check_same_problem(meta, ds, resolution)
    online, problem, entries, V = model.online, model.problem, model.entries, model.basis
    idx = solved_index(ds)
    mus = ds.parameters[idx]
    field = problem.output_names[0]
    truth = ds.outputs(idx)[field]
    require_finite(ds.path, field, truth, idx)
    uN, delta = online(mus)
    single, batched = online_seconds(lambda m: online(m), mus, batch_size)
    X = ExtendedProduct(energy_product(problem.assemble(model.tensors["mu_ref"]).A))
    preds, err_x, direct, ref_err = [], np.empty(len(mus)), 0.0, 0.0
    for i, (mu, c) in enumerate(zip(mus, uN)):
        s = problem.assemble(mu)
        ref = truth_solve(s.A, s.b)
        u, direct, ref_err = ref.u, direct + ref.seconds, max(ref_err, ref.rel_error_estimate)
        e = u - V @ c
        err_x[i] = np.sqrt(e @ (X @ e))
        preds.append(problem.to_fields(mu, V @ c)[field])
        if bar is not None:
            bar.update()
    preds = np.array(preds)
    rel = relative_l2(preds, truth)
    solver_s = ds.solver_seconds_per_sample()
    record = evaluation_record(
        "eim", rel, single, solver_s if np.isfinite(solver_s) else direct / len(mus),
        target="operator", M=int(meta["M"]), N=int(online.N), on_training_data=False,
        bound={**bound_statistics(delta, err_x), "norm": "energy norm at mu_ref",
               "reference": "true discrete solution (the bound certifies the EIM operator)",
               "eim_train_error_rel_sup": meta["eim_train_error_rel_sup"],
               "estimator": "stable", "estimator_floor": STABLE_FLOOR,
               "reference_rel_error_estimate": ref_err},
        direct_solve_s=direct / len(mus), online={"single_s": single, "batched_s": batched},
        entries=entries.kind,
        note=("online time includes one full assembly per parameter (non-intrusive entries)"
              if entries.kind == "assembled" else
              "online time: the problem evaluates the magic entries directly (grid-independent)"))
    figs = {"greedy": greedy_figure(meta, "weak greedy (EIM operator)")}
    write_outputs(out_dir, record, {field: preds, "parameters": mus, "bound": delta,
                                    "error_x": err_x, "rel_l2": rel}, figs)
    return record
