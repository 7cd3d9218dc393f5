"""Training, evaluation and description of ROM model directories (kinds ``rb``, ``pod``, ``eim``).

* ``rb``: certified Galerkin reduced basis (:mod:`rom.reduced_basis`) of a
  dataset's problem; needs the problem's affine decomposition.
* ``pod``: non-intrusive POD + coefficient regression (:mod:`rom.regression`)
  of any dataset field (time-dependent fields flattened per sample).
* ``eim``: empirical interpolation (:mod:`rom.eim`) of a dataset field: the
  field is reconstructed from its values at ``M`` magic points.

``evaluate`` follows the contract of :mod:`cli.models`; see docs/rom.md.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from data.dataset import Dataset
from data.metrics import evaluation_record, relative_l2
from solvers.problems import problem_from_config
from solvers.problems.sampling import sample_unit

from .coercivity import SCM, MinTheta
from .eim import Interpolant, eim, sup_errors
from .estimators import ESTIMATORS, STABLE_FLOOR, STANDARD_FLOOR, bound_statistics, effectivities
from .io import load_model, require, save_model
from .reduced_basis import OnlineRB, ReducedBasis, batch_thetas
from .regression import REGRESSORS, PODRegression

KINDS = ("rb", "pod", "eim")


# -- helpers -----------------------------------------------------------------------------

def _dataset_record(ds: Dataset) -> dict[str, Any]:
    return {"path": str(ds.path), "problem": ds.problem, "n_samples": int(ds.n_samples),
            "config": ds.config}


def _done_index(ds: Dataset) -> np.ndarray:
    idx = np.flatnonzero(ds.done)
    if idx.size == 0:
        raise ValueError(f"{ds.path}: dataset has no solved samples")
    return idx


def _field_name(ds: Dataset, field: str | None, default_inputs: bool = False) -> str:
    names = (ds.input_names + ds.output_names) if default_inputs else ds.output_names
    if field is None:
        if not names:
            raise ValueError(f"{ds.path}: dataset has no fields")
        return names[0]
    if field not in ds.input_names + ds.output_names:
        raise ValueError(f"{ds.path}: no field {field!r}; fields: "
                         f"{', '.join(ds.input_names + ds.output_names)}")
    return field


def _box(space: Any) -> tuple[np.ndarray, np.ndarray]:
    """The parameter box; standard-normal coordinates are unbounded."""
    r = np.array(space.ranges, dtype=float)
    normal = np.array([k == "normal" for k in space.kinds], dtype=bool)
    return np.where(normal, -np.inf, r[:, 0]), np.where(normal, np.inf, r[:, 1])


def _check_same_problem(meta: dict, ds: Dataset, resolution: int | None) -> None:
    cfg = meta["dataset"]["config"]
    if resolution is not None and int(resolution) != int(cfg.get("resolution", -1)):
        raise ValueError(f"a {meta['kind']} model is tied to its grid (resolution "
                         f"{cfg.get('resolution')}); --resolution {resolution} is not supported")
    same = (ds.config.get("problem") == cfg.get("problem")
            and ds.config.get("resolution") == cfg.get("resolution")
            and ds.config.get("options", {}) == cfg.get("options", {}))
    if not same:
        raise ValueError(f"{ds.path}: dataset problem {ds.config.get('problem')} at resolution "
                         f"{ds.config.get('resolution')} does not match the model's "
                         f"{cfg.get('problem')} at resolution {cfg.get('resolution')}")


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """Result and the best wall time of ``repeat`` calls."""
    best, out = np.inf, None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _single_and_batched(fn: Callable[[np.ndarray], Any], mus: np.ndarray,
                        batch_size: int | None) -> tuple[float, float]:
    """Seconds per sample of ``fn`` called one parameter at a time and in batches."""
    n_single = min(len(mus), 200)
    t0 = time.perf_counter()
    for mu in mus[:n_single]:
        fn(mu[None])
    single = (time.perf_counter() - t0) / n_single
    bs = len(mus) if not batch_size else int(batch_size)
    if bs < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")

    def run_all() -> None:
        for i in range(0, len(mus), bs):
            fn(mus[i:i + bs])
    _, batched = _timed(run_all, repeat=3)
    return single, batched / len(mus)


def _write_outputs(out_dir: Path | None, record: dict, predictions: dict[str, np.ndarray],
                   figures: dict[str, Callable[[Any], None]]) -> None:
    if out_dir is None:
        return
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(record, indent=2, default=float))
    with h5py.File(out_dir / "predictions.h5", "w") as f:
        f.attrs["model"] = record["model"]
        for k, v in predictions.items():
            f.create_dataset(k, data=np.asarray(v))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, draw in figures.items():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        draw(ax)
        fig.tight_layout()
        fig.savefig(out_dir / f"{name}.png", dpi=110)
        plt.close(fig)


def _semilogy(x: Any, ys: dict[str, Any], xlabel: str, title: str) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        for label, y in ys.items():
            ax.semilogy(x if x is not None else np.arange(1, len(y) + 1), y, ".-", label=label)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    return draw


# -- rb ------------------------------------------------------------------------------------

def train_rb(data_path: str | Path, out_dir: str | Path, *, tol: float = 1e-6,
             max_basis: int = 50, train_size: int = 1000, sampler: str = "lhs",
             estimator: str = "stable", seed: int = 0,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Weak-greedy RB of the dataset's problem; writes the model directory."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}")
    if train_size < 1 or max_basis < 1:
        raise ValueError("--train-size and --max-basis must be positive")
    with Dataset(data_path) as ds:
        problem = ds.make_problem()
        try:
            affine = problem.affine_decomposition()
        except NotImplementedError:
            raise ValueError(f"problem {ds.problem!r} has no affine decomposition, so a "
                             "certified reduced basis cannot be built; use `rom train pod` "
                             "(non-intrusive) instead") from None
        space, record = ds.parameter_space, _dataset_record(ds)
    t0 = time.perf_counter()
    train = space.from_unit(sample_unit(train_size, space.dim, sampler, seed))
    box = _box(space)
    coercivity, mu_ref = None, affine.min_theta_ref
    if mu_ref is None:   # SCM at the centre of the box
        mu_ref = 0.5 * (box[0] + box[1])
        A_ref = affine.assemble(mu_ref)[0]
        X = sp.csr_matrix(0.5 * (A_ref + A_ref.T))
        coercivity = SCM(affine.A_terms, X)
        # SCM certifies its own training points once converged: the greedy runs there
        # (at most 200 points: every SCM step solves one LP per point)
        train = train[:200]
        coercivity.fit(train, batch_thetas(affine.theta_A, train), max_points=len(train))
    rb = ReducedBasis(affine, mu_ref, box, estimator_kind=estimator, coercivity=coercivity)

    def report(step: Any) -> None:
        if progress:
            progress(f"N={step.N:3d}  max rel. bound {step.max_rel_bound:.3e}")
    rb.greedy(train, tol=tol, max_basis=max_basis, progress=report)
    offline = time.perf_counter() - t0
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
    meta = {"dataset": record, "N": rb.N, "estimator": estimator, "estimator_floor": on.floor,
            "coercivity": coer, "box": [box[0].tolist(), box[1].tolist()],
            "train": {"tol": tol, "max_basis": max_basis, "train_size": train_size,
                      "greedy_train_size": len(train), "sampler": sampler, "seed": seed,
                      "offline_seconds": offline},
            "greedy": history, "truth_dim": int(rb.basis.shape[0])}
    save_model(out_dir, "rb", tensors, **meta)
    return meta


def load_rb(model_dir: str | Path) -> tuple[dict, dict, OnlineRB, Any]:
    """``(meta, tensors, online model, problem)`` of an ``rb`` model directory."""
    meta, t = load_model(model_dir, "rb")
    require(t, "basis", "A_N", "f_N", "est_data", "mu_ref", where=str(model_dir))
    problem = problem_from_config(meta["dataset"]["config"])
    affine = problem.affine_decomposition()
    c = meta["coercivity"]
    if c["kind"] == "min-theta":
        coercivity: Any = MinTheta(t["coercivity/theta_ref"], c["alpha_ref"])
    else:
        coercivity = SCM.from_online_data({**c, **{k.split("/", 1)[1]: v for k, v in t.items()
                                                   if k.startswith("coercivity/")}})
    floor = STABLE_FLOOR if meta["estimator"] == "stable" else STANDARD_FLOOR
    box = (np.array(meta["box"][0]), np.array(meta["box"][1]))
    online = OnlineRB(t["A_N"], t["f_N"], meta["estimator"], t["est_data"], coercivity,
                      affine.theta_A, affine.theta_f, box, floor)
    return meta, t, online, (problem, affine)


def _evaluate_rb(model_dir: Path, ds: Dataset, out_dir: Path | None, resolution: int | None,
                 batch_size: int | None, quiet: bool) -> dict[str, Any]:
    meta, t, online, (problem, affine) = load_rb(model_dir)
    _check_same_problem(meta, ds, resolution)
    idx = _done_index(ds)
    mus = ds.parameters[idx]
    field = problem.output_names[0]
    truth_fields = ds.outputs(idx)[field]
    V = t["basis"]
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        uN, delta = online(mus)
    single, batched = _single_and_batched(lambda m: online(m), mus, batch_size)
    # truth unknowns by sparse direct solve: the bound is checked against the exact
    # discrete solution (not the dataset solver's tolerance); also timed side by side
    A_ref = affine.assemble(t["mu_ref"])[0]
    X = sp.csr_matrix(0.5 * (A_ref + A_ref.T))
    err_x, norm_x, direct = np.empty(len(mus)), np.empty(len(mus)), 0.0
    Ns = np.unique(np.linspace(1, online.N, min(online.N, 12)).astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        conv = {int(N): online(mus, int(N)) for N in Ns}      # (coefficients, bounds)
    conv_err = {int(N): np.empty(len(mus)) for N in Ns}
    preds = []
    for i, (mu, c) in enumerate(zip(mus, uN)):
        A, f = affine.assemble(mu)
        t0 = time.perf_counter()
        u = spla.splu(sp.csc_matrix(A)).solve(f)
        direct += time.perf_counter() - t0
        e = u - V @ c
        err_x[i], norm_x[i] = np.sqrt(e @ (X @ e)), np.sqrt(u @ (X @ u))
        for N, (cN, _) in conv.items():
            eN = u - V[:, :N] @ cN[i]
            conv_err[N][i] = np.sqrt(eN @ (X @ eN))
        preds.append(problem.to_fields(mu, V @ c)[field])
    preds = np.array(preds)
    rel = relative_l2(preds, truth_fields)
    solver_s = ds.solver_seconds_per_sample()
    record = evaluation_record(
        "rb", rel, single, solver_s if np.isfinite(solver_s) else direct / len(mus),
        bound={**bound_statistics(delta, err_x), "norm": "energy norm at mu_ref",
               "max_rel_error_x": float(np.max(err_x / norm_x)),
               "max_rel_bound": float(np.max(delta / norm_x)),
               "estimator": meta["estimator"], "estimator_floor": online.floor},
        N=int(online.N), online={"single_s": single, "batched_s": batched,
                                 "batch_size": int(batch_size or len(mus))},
        direct_solve_s=direct / len(mus), speedup_batched=(direct / len(mus)) / batched,
        speedup_direct_single=(direct / len(mus)) / single,
        convergence={"N": [int(N) for N in conv],
                     "max_rel_error_x": [float(np.max(conv_err[N] / norm_x)) for N in conv],
                     "max_rel_bound": [float(np.max(b / norm_x)) for _, b in conv.values()]})
    greedy = meta.get("greedy", [])
    figs = {"greedy": _semilogy([g["N"] for g in greedy],
                                {"max rel. bound (train)": [g["max_rel_bound"] for g in greedy]},
                                "N", "weak greedy"),
            "effectivities": _semilogy(None, {"effectivity": np.sort(effectivities(delta, err_x))}, "sample (sorted)",
                                       "bound / true error"),
            "error_vs_N": _semilogy(record["convergence"]["N"],
                                    {"max rel. error (X)": record["convergence"]["max_rel_error_x"],
                                     "max rel. bound": record["convergence"]["max_rel_bound"]},
                                    "N", "evaluation set")}
    _write_outputs(out_dir, record, {field: preds, "parameters": mus, "bound": delta,
                                     "error_x": err_x, "rel_l2": rel}, figs)
    return record


# -- pod -----------------------------------------------------------------------------------

def train_pod(data_path: str | Path, out_dir: str | Path, *, tol: float | None = 1e-4,
              max_modes: int | None = None, field: str | None = None,
              regressor: str = "rbf") -> dict[str, Any]:
    """Non-intrusive POD of a dataset field with RBF/GP coefficient regression."""
    if regressor not in REGRESSORS:
        raise ValueError(f"unknown regressor {regressor!r}; valid: {', '.join(REGRESSORS)}")
    with Dataset(data_path) as ds:
        name = _field_name(ds, field)
        idx = _done_index(ds)
        S = np.asarray(ds.field(name)[()] if idx.size == ds.n_samples
                       else ds.field(name)[idx], dtype=float)
        params, record = ds.parameters[idx], _dataset_record(ds)
        space = ds.parameter_space
    if params.ndim != 2 or params.shape[1] == 0:
        raise ValueError(f"{data_path}: has no parameters; POD regression maps parameters to "
                         "the field (train an operator model such as fno on input fields instead)")
    t0 = time.perf_counter()
    model = PODRegression.fit(params, S, tol=tol, max_modes=max_modes, regressor=regressor)
    offline = time.perf_counter() - t0
    meta = {"dataset": record, "field": name, "field_shape": list(S.shape[1:]),
            "regressor": regressor, "n_modes": int(model.modes.shape[1]),
            "box": [_box(space)[0].tolist(), _box(space)[1].tolist()],
            "train": {"tol": tol, "max_modes": max_modes, "offline_seconds": offline,
                      "n_train": int(len(params))}}
    save_model(out_dir, "pod", model.tensors(), **meta)
    return meta


def _evaluate_pod(model_dir: Path, ds: Dataset, out_dir: Path | None, resolution: int | None,
                  batch_size: int | None, quiet: bool) -> dict[str, Any]:
    meta, t = load_model(model_dir, "pod")
    model = PODRegression.from_tensors(t, meta["regressor"])
    name = meta["field"]
    if name not in ds.input_names + ds.output_names:
        raise ValueError(f"{ds.path}: has no field {name!r} (the model's field)")
    shape = tuple(ds.field(name).shape[1:])
    if list(shape) != meta["field_shape"]:
        raise ValueError(f"{ds.path}: field {name!r} has shape {shape}, the model was trained "
                         f"on {tuple(meta['field_shape'])} (resolution {resolution or 'same'})")
    idx = _done_index(ds)
    mus = ds.parameters[idx]
    lo, hi = np.array(meta["box"][0]), np.array(meta["box"][1])
    from .reduced_basis import warn_outside

    warn_outside(mus, lo, hi, "parameter")
    pred = model.predict(mus).reshape((len(mus),) + shape)
    truth = np.asarray(ds.field(name)[idx], dtype=float)
    rel = relative_l2(pred, truth)
    single, batched = _single_and_batched(model.predict, mus, batch_size)
    solver_s = ds.solver_seconds_per_sample()
    record = evaluation_record("pod", rel, single, solver_s, n_modes=int(model.modes.shape[1]),
                               regressor=meta["regressor"], field=name,
                               online={"single_s": single, "batched_s": batched},
                               speedup_batched=solver_s / batched if batched > 0 else None)
    figs = {"singular_values": _semilogy(None, {"sigma": model.singular_values}, "index",
                                         "POD singular values")}
    _write_outputs(out_dir, record, {name: pred, "parameters": mus, "rel_l2": rel}, figs)
    return record


# -- eim -----------------------------------------------------------------------------------

def train_eim(data_path: str | Path, out_dir: str | Path, *, field: str | None = None,
              tol: float = 1e-6, max_terms: int | None = 100, target: str = "field",
              **operator_options: Any) -> dict[str, Any]:
    """EIM of a dataset field (default: its first input field) over the dataset's samples,
    or (``target="operator"``) matrix EIM of the assembled systems + reduced basis."""
    if target == "operator":
        from .matrix_eim import train_operator_eim

        return train_operator_eim(data_path, out_dir, tol=tol, max_terms=max_terms,
                                  **operator_options)
    if target != "field":
        raise ValueError(f"unknown EIM target {target!r}; valid: field, operator")
    with Dataset(data_path) as ds:
        name = _field_name(ds, field, default_inputs=True)
        idx = _done_index(ds)
        S = np.asarray(ds.field(name)[idx], dtype=float)
        record = _dataset_record(ds)
    G = S.reshape(len(S), -1).T
    t0 = time.perf_counter()
    I = eim(G, tol=tol, max_terms=max_terms)
    meta = {"dataset": record, "field": name, "field_shape": list(S.shape[1:]), "M": I.M,
            "train_error_rel_sup": I.history_rel, "train": {
                "tol": tol, "max_terms": max_terms, "offline_seconds": time.perf_counter() - t0}}
    save_model(out_dir, "eim", {"Q": I.Q, "indices": I.indices}, **meta)
    return meta


def _evaluate_eim(model_dir: Path, ds: Dataset, out_dir: Path | None, resolution: int | None,
                  batch_size: int | None, quiet: bool) -> dict[str, Any]:
    meta, t = load_model(model_dir, "eim")
    if meta.get("target") == "operator":
        from .matrix_eim import evaluate_operator_eim

        return evaluate_operator_eim(meta, t, ds, out_dir, resolution, batch_size)
    require(t, "Q", "indices", where=str(model_dir))
    I = Interpolant(t["Q"], t["indices"], unit_lower=True)
    name = meta["field"]
    if name not in ds.input_names + ds.output_names:
        raise ValueError(f"{ds.path}: has no field {name!r} (the model's field)")
    idx = _done_index(ds)
    truth = np.asarray(ds.field(name)[idx], dtype=float)
    if list(truth.shape[1:]) != meta["field_shape"]:
        raise ValueError(f"{ds.path}: field {name!r} has shape {truth.shape[1:]}, the model "
                         f"expects {tuple(meta['field_shape'])}")
    G = truth.reshape(len(truth), -1).T
    pred = I(G).T.reshape(truth.shape)
    rel = relative_l2(pred, truth)
    sup = sup_errors(G, pred.reshape(len(truth), -1).T)
    magic = G[I.indices].T
    single, batched = _single_and_batched(lambda v: I.Q @ I.coefficients(v).T, magic, batch_size)
    train_err = meta["train_error_rel_sup"][-1]
    generalises = bool(sup.max() <= 100 * max(train_err, 1e-300))
    if not generalises:
        warnings.warn(f"EIM test error {sup.max():.2e} exceeds the training error "
                      f"{train_err:.2e} by more than 100x", RuntimeWarning, stacklevel=2)
    record = evaluation_record("eim", rel, single, ds.solver_seconds_per_sample(), M=I.M,
                               field=name, rel_sup={"max": float(sup.max()),
                                                    "train_max": float(train_err)},
                               generalises=generalises,
                               online={"single_s": single, "batched_s": batched})
    figs = {"eim_training": _semilogy(None, {"train max rel. sup error":
                                             meta["train_error_rel_sup"]}, "M", "EIM greedy")}
    _write_outputs(out_dir, record, {name: pred, "rel_l2": rel, "rel_sup": sup,
                                     "magic_indices": I.indices}, figs)
    return record


# -- the serving contract -------------------------------------------------------------------

_EVALUATORS = {"rb": _evaluate_rb, "pod": _evaluate_pod, "eim": _evaluate_eim}


def evaluate(model_dir: str | Path, data_path: str | Path, *, out_dir: str | Path | None = None,
             resolution: int | None = None, batch_size: int | None = None,
             device: str = "cpu", quiet: bool = False) -> dict[str, Any]:
    """Metrics of a ROM on a dataset (``data.metrics.evaluation_record`` keys and more)."""
    from data.model_dir import read_model_meta

    kind = read_model_meta(model_dir, KINDS)["kind"]
    if device not in ("cpu", None):
        warnings.warn(f"ROM models run on the CPU; ignoring device {device!r}", RuntimeWarning,
                      stacklevel=2)
    with Dataset(data_path) as ds:
        return _EVALUATORS[kind](Path(model_dir), ds, Path(out_dir) if out_dir else None,
                                 resolution, batch_size, quiet)


def describe(model_dir: str | Path) -> dict[str, Any]:
    """Sizes and settings of a ROM for ``rom info MODEL``."""
    meta, t = load_model(model_dir, KINDS)
    out = {"kind": meta["kind"], "dataset": meta["dataset"]["path"],
           "problem": meta["dataset"]["problem"],
           "tensors": {k: list(v.shape) for k, v in t.items()},
           "parameter_count": int(sum(v.size for v in t.values()))}
    for key in ("N", "estimator", "estimator_floor", "coercivity", "field", "n_modes",
                "regressor", "M", "truth_dim", "train"):
        if key in meta:
            out[key] = meta[key]
    return out
