"""Kind ``local``: a dictionary of local reduced models (ROM-net), one per cluster of snapshots.

Training (Daniel, Casenave, Akkari, Ryckelynck 2020-2022; see ``docs/rom_local.md``):

1. the dissimilarity matrix of the training snapshots of one field
   (:mod:`rom.dissimilarity`: ``sine``, ``grassmann`` for trajectories,
   ``euclidean`` on snapshots, ``params`` on parameters);
2. k-medoids into ``clusters`` groups (:mod:`rom.clustering`); ``auto`` sweeps
   ``K = 2..k_max`` with the a priori criterion (:mod:`rom.local_criterion`);
3. per cluster a local model: non-intrusive POD + coefficient regression
   (``local="pod"``, :mod:`rom.local_pod`), or certified Galerkin RB
   (``local="rb"``, :mod:`rom.local_rb`);
4. a selector ``mu -> cluster`` (:mod:`rom.selectors`: ``knn``, the default
   with ``pod``; ``surrogate``, the nearest medoid of the global model's
   prediction, which picks the best local *basis* far more often but may hand
   a parameter to a cluster whose regression must extrapolate; ``boosting``;
   ``cnn`` on the input fields; ``bound``, the smallest residual bound, the
   default with ``rb``);
5. for comparison, one global POD model of the largest local dimension on the
   same snapshots (stored with the model, so that ``evaluate`` measures the
   gain the criterion predicted).

Evaluation scores the selected local models against the truth, and reports the
per-cluster errors (by the true cluster: the nearest medoid of the true
solution), the selector's accuracy and the cost of its wrong choices, the
projection errors of local and global bases against the online dimension, and
the criterion's predicted gain against the measured one (figures and report
rows in :mod:`rom.kinds.local_figures`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from data.convergence import ALLOW_UNCONVERGED, training_samples
from data.dataset import Dataset
from data.evaluation import (
    box_from_json,
    box_json,
    dataset_record,
    field_name,
    is_training_data,
    online_seconds,
    parameter_box,
    require_finite,
    solved_index,
    timed,
    write_outputs,
)
from data.metrics import evaluation_record, relative_l2
from data.model_dir import load_model, read_model_meta, save_model
from data.model_kinds import Option

from ..clustering import cluster
from ..dissimilarity import cross_dissimilarity, dissimilarity_matrix
from ..local_criterion import cv_errors, in_sample_gain, sweep_k
from ..local_pod import BASES, REGRESSION_SETS, LocalPOD, fit_model
from ..reduced_basis import warn_outside
from ..regression import REGRESSORS, PODRegression
from ..selectors import SurrogateSelector, confusion, fit_selector, load_selector
from . import RomKind
from .local_figures import figures, report_rows

KINDS_OF_DISSIMILARITY = ("sine", "grassmann", "euclidean", "params")


def parse_clusters(value: Any) -> int | None:
    """``clusters``: a positive integer, or ``"auto"`` (``None``: choose by the criterion)."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        k = int(str(value))
    except ValueError:
        raise ValueError(f"clusters must be a positive integer or 'auto', got {value!r}") from None
    if k < 1:
        raise ValueError(f"clusters must be a positive integer or 'auto', got {value!r}")
    return k


def log_coordinates(space: Any) -> list[bool]:
    """Which parameter coordinates the local models see in log scale: the log-uniform ones
    (a diffusion over decades is uniform in ``log eps``, where regression and k-NN work)."""
    return [k == "loguniform" for k in space.kinds]


def features(mus: np.ndarray, log: Any) -> np.ndarray:
    """Parameters with the ``log`` coordinates replaced by their logarithm."""
    mus = np.array(np.atleast_2d(mus), dtype=float)
    for j in np.flatnonzero(np.asarray(log, dtype=bool)):
        if np.any(mus[:, j] <= 0):
            raise ValueError(f"parameter {j + 1} is log-uniform and must be positive")
        mus[:, j] = np.log(mus[:, j])
    return mus


def read_snapshots(ds: Dataset, name: str, idx: np.ndarray) -> np.ndarray:
    """``(n, n_t, n_space)`` for a time-dependent field, ``(n, n_space)`` otherwise."""
    S = np.asarray(ds.field(name)[()] if idx.size == ds.n_samples else ds.field(name)[idx],
                   dtype=float)
    if ds.times is not None and S.ndim >= 3:
        return S.reshape(S.shape[0], S.shape[1], -1)
    return S.reshape(S.shape[0], -1)


def input_fields(ds: Dataset, idx: np.ndarray) -> list[np.ndarray]:
    """The dataset's input fields at samples ``idx`` (for the cnn selector)."""
    return [np.asarray(ds.field(n)[idx], dtype=float) for n in ds.input_names]


class LocalModel:
    """The online dictionary: selector, then the selected local model."""

    def __init__(self, meta: dict[str, Any], t: dict[str, np.ndarray]):
        self.meta = meta
        k = int(meta["K"])
        self.selector_name = meta["selector"]
        self.rb_selector = "bound" if self.selector_name == "bound" else "nearest"
        self.last_bound: np.ndarray | None = None
        glob = {k2[7:]: v for k2, v in t.items() if k2.startswith("global/")}
        self.glob = PODRegression.from_tensors(glob, meta["regressor"]) if glob else None
        self.medoid_snapshots = t["medoid_snapshots"]
        self.medoid_params = t["medoid_params"]
        self.log = meta.get("log_parameters", [])
        self.lo, self.width = t["param_lo"], t["param_width"]
        if meta["local"] == "pod":
            self.local = LocalPOD.from_tensors(t, k, meta["regressor"])
            if self.selector_name == "surrogate":
                if self.glob is None:
                    raise ValueError("corrupt model: the surrogate selector's global model "
                                     "is missing")
                self.selector = SurrogateSelector(
                    self.glob, self.medoid_snapshots, self.medoid_params,
                    meta["dissimilarity"], self.lo, self.width, int(meta["trajectory_modes"]))
            else:
                self.selector = load_selector(self.selector_name, t)
        else:
            from ..local_rb import LocalRB

            self.local = LocalRB.load({k2[3:]: v for k2, v in t.items() if k2.startswith("rb/")})
            self.selector = None      # rom.local_rb selects: "bound", or "nearest" for knn
        self.train_params, self.train_labels = t["train_params"], t["train_labels"]
        self.global_sv = t.get("global_singular_values")
        self.local_sv = [t[f"local_singular_values/{c}"] for c in range(k)
                         if f"local_singular_values/{c}" in t]

    def select(self, mus: np.ndarray, fields: Any = None) -> np.ndarray:
        """Cluster chosen for each parameter (``fields``: input fields, for ``cnn``)."""
        mus = np.atleast_2d(np.asarray(mus, float))
        if self.meta["local"] == "rb":
            return np.asarray(self.local.reduced(mus, selector=self.rb_selector)[2],
                              dtype=np.int64)
        return self.selector.predict(features(mus, self.log), fields)

    def predict(self, mus: np.ndarray, fields: Any = None,
                labels: np.ndarray | None = None) -> np.ndarray:
        """Flattened predictions ``(B, n)`` (``labels``: use these clusters instead)."""
        mus = np.atleast_2d(np.asarray(mus, float))
        labels = self.select(mus, fields) if labels is None else labels
        if self.meta["local"] == "pod":
            return self.local.predict(features(mus, self.log), labels)
        U, self.last_bound, _ = self.local.fields(mus, selector=self.rb_selector)
        return np.asarray(U).reshape(len(mus), -1)

    def true_clusters(self, U: np.ndarray, mus: np.ndarray) -> np.ndarray:
        """Nearest medoid of each true solution in the clustering's dissimilarity."""
        D = cross_dissimilarity(U, self.medoid_snapshots, self.meta["dissimilarity"],
                                params_a=features(mus, self.log), params_b=self.medoid_params, lo=self.lo,
                                width=self.width,
                                trajectory_modes=int(self.meta["trajectory_modes"]))
        return np.argmin(D, axis=1).astype(np.int64)


class LocalKind(RomKind):
    name = "local"
    help = ("Dictionary of local ROMs (ROM-net): cluster the snapshots, one POD/RB model "
            "per cluster, an online selector.")
    options = (
        Option("clusters", str, "auto", "Number of clusters K, or 'auto' (a priori criterion "
               "over K = 2..k_max)."),
        Option("dissimilarity", KINDS_OF_DISSIMILARITY, "sine",
               "Clustering dissimilarity: sine of the angle, Grassmann distance of trajectory "
               "subspaces, Euclidean on snapshots or on parameters."),
        Option("local", ("pod", "rb"), "pod", "Local model: non-intrusive POD + regression, "
               "or certified RB (affine problems)."),
        Option("selector", ("auto", "surrogate", "knn", "boosting", "cnn", "bound"), "auto",
               "Online choice of the local model: the nearest medoid of a global surrogate's "
               "prediction, k-NN or gradient boosting on the parameters, a CNN on the input "
               "fields, or the smallest RB error bound (rb only); auto: knn for pod (its "
               "cluster's regression interpolates), bound for rb."),
        Option("modes", int, None, "Local dimension cap N (each local basis).", minimum=1),
        Option("tol", float, 1e-4, "Local POD truncation (relative l2 tail) / RB tolerance.",
               minimum=0),
        Option("overlap", float, 0.0, "Enrich each cluster with this fraction of its size in "
               "nearest snapshots of other clusters.", minimum=0),
        Option("k_max", int, 16, "Largest K of the 'auto' sweep.", minimum=1),
        Option("field", str, None, "Field to reduce (default: the first output)."),
        Option("regressor", REGRESSORS, "rbf", "Regression of the local POD coefficients."),
        Option("local_regression", REGRESSION_SETS, "all", "Training parameters of each local "
               "coefficient regression: all (every snapshot's coefficients in the local basis: "
               "no extrapolation when a parameter is handed to another cluster) or the "
               "cluster's members."),
        Option("basis", BASES, "linear", "Local POD bases: linear (uncentred, unit-norm "
               "snapshots: relative errors) or affine (centred, as the pod kind)."),
        Option("trajectory_modes", int, 3, "POD modes per trajectory for the Grassmann "
               "distance.", minimum=1),
        Option("seed", int, 0, "Seed of the k-medoids starts and the cnn selector."),
        ALLOW_UNCONVERGED,
    )

    def train(self, data_path: str | Path, out_dir: str | Path, *, progress: Any = None,
              clusters: Any = "auto", dissimilarity: str = "sine", local: str = "pod",
              selector: str = "auto", modes: int | None = None, tol: float | None = 1e-4,
              overlap: float = 0.0, k_max: int = 16, field: str | None = None,
              regressor: str = "rbf", basis: str = "linear", trajectory_modes: int = 3,
              seed: int = 0, local_regression: str = "all",
              allow_unconverged: bool = False) -> dict[str, Any]:
        """Cluster, build the local models and the selector; writes the model directory."""
        say = progress or (lambda _msg: None)
        K = parse_clusters(clusters)
        if selector == "auto":
            selector = "bound" if local == "rb" else "knn"
        if selector == "bound" and local != "rb":
            raise ValueError("the bound selector needs certified local models (local='rb')")
        if local == "rb" and selector not in ("bound", "knn"):
            raise ValueError(f"certified local models are chosen by their error bound or the "
                             f"nearest training parameter (selector 'bound' or 'knn'), not "
                             f"{selector!r}")
        if dissimilarity not in KINDS_OF_DISSIMILARITY:
            raise ValueError(f"unknown dissimilarity {dissimilarity!r}; valid: "
                             f"{', '.join(KINDS_OF_DISSIMILARITY)}")
        with Dataset(data_path) as ds:
            name = field_name(ds, field)
            idx = training_samples(ds, allow_unconverged)
            S = read_snapshots(ds, name, idx)
            params, record = np.asarray(ds.parameters[idx], float), dataset_record(ds)
            space = ds.parameter_space
            log = log_coordinates(space)
            fields = input_fields(ds, idx) if selector == "cnn" else None
            if selector == "cnn" and not fields:
                raise ValueError(f"{data_path}: has no input fields for the cnn selector")
            spatial_dims = len(ds.grid.axes)
            problem = ds.make_problem() if local == "rb" else None
        require_finite(data_path, name, S, idx)
        if params.ndim != 2 or params.shape[1] == 0:
            raise ValueError(f"{data_path}: has no parameters; local models map parameters "
                             "to the field")
        mu_raw, params = params, features(params, log)
        n = len(S)
        if K is not None and K > n:
            raise ValueError(f"{K} clusters for {n} training samples: need at most one "
                             "cluster per sample")
        flat = S.reshape(n, -1)
        t0 = time.perf_counter()
        D = dissimilarity_matrix(S, dissimilarity, params=params,
                                 trajectory_modes=trajectory_modes)
        N_crit = int(modes) if modes else min(10, max(1, n // 4))
        sweep = []
        if K is None:
            ks = range(2, max(2, min(k_max, n // (2 * (N_crit + 1)))) + 1)
            say(f"choosing K over {list(ks)} (a priori criterion at N={N_crit})")
            K, points = sweep_k(flat, D, ks, N_crit, seed=seed, basis=basis)
            sweep = [p.as_dict() for p in points]
        cl = cluster(D, K, seed=seed)
        say(f"{K} clusters of sizes {cl.sizes().tolist()}")
        tensors: dict[str, Any] = {}
        if local == "pod":
            lm = LocalPOD.fit(params, flat, cl.labels, cl.medoids, D, tol=tol, max_modes=modes,
                              overlap=overlap, regressor=regressor, basis=basis,
                              regression=local_regression)
            dims = lm.dims()
            tensors.update(lm.tensors())
            sv = {f"{c}": m.singular_values for c, m in enumerate(lm.models)}
        else:
            try:
                from ..local_rb import LocalRB
            except ImportError:
                raise ValueError("certified local RB (local='rb') is not available in this "
                                 "installation (no rom.local_rb)") from None
            lrb = LocalRB.build(problem, mu_raw, cl.labels, tol=tol if tol else 1e-6,
                                max_basis=modes or 50, progress=progress)
            store: dict[str, Any] = {}
            lrb.save(store)
            tensors.update({f"rb/{k}": v for k, v in store.items()})
            dims = [int(d) for d in lrb.dims()]
            sv = {}
        N_glob = max(dims) if dims else 1
        glob = fit_model(params, flat, basis=basis, tol=None, max_modes=N_glob,
                         regressor=regressor)
        tensors.update({f"global/{k}": v for k, v in glob.tensors().items()})
        if local == "pod" and selector != "surrogate":   # the surrogate is the global model
            tensors.update(fit_selector(selector, params, cl.labels, K, fields=fields,
                                        spatial_dims=spatial_dims, seed=seed).tensors())
        eg, el = cv_errors(flat, cl.labels, N_glob, seed=seed, basis=basis)
        criterion = {"N": N_glob,
                     "gain_in_sample": in_sample_gain(flat, cl.labels, N_glob, basis),
                     "gain_cv": float(eg.mean() / el.mean()) if el.mean() > 0 else None,
                     "cv_global_mean_rel": float(eg.mean()), "cv_local_mean_rel": float(el.mean()),
                     "sweep": sweep, "sweep_N": N_crit if sweep else None}
        lo, hi = params.min(0), params.max(0)
        tensors.update({"medoid_snapshots": S[cl.medoids], "medoid_params": params[cl.medoids],
                        "param_lo": lo, "param_width": np.where(hi > lo, hi - lo, 1.0),
                        "train_params": mu_raw, "train_labels": cl.labels,
                        "global_singular_values": glob.singular_values})
        tensors.update({f"local_singular_values/{c}": s for c, s in sv.items()})
        offline = time.perf_counter() - t0
        info = [{"cluster": c, "size": int(s), "medoid": int(idx[m]),
                 "medoid_parameters": mu_raw[m].tolist(), "local_dim": int(d)}
                for c, (s, m, d) in enumerate(zip(cl.sizes(), cl.medoids, dims))]
        meta = {"dataset": record, "field": name, "field_shape": list(S.shape[1:]),
                "K": int(K), "dissimilarity": dissimilarity, "log_parameters": log, "local": local,
                "selector": selector, "regressor": regressor, "n_modes": int(N_glob),
                "local_regression": local_regression if local == "pod" else None,
                "basis": basis,
                "trajectory_modes": int(trajectory_modes), "clusters": info,
                "kmedoids_loss": cl.loss, "criterion": criterion,
                "box": box_json(parameter_box(space)),
                "train": {"tol": tol, "modes": modes, "overlap": overlap, "seed": seed,
                          "offline_seconds": offline, "n_train": int(n)}}
        save_model(out_dir, self.name, tensors, **meta)
        return meta

    def load(self, model_dir: str | Path, device: str = "cpu") -> LocalModel:
        """The online dictionary (:class:`LocalModel`)."""
        meta, t = load_model(model_dir, self.name)
        return LocalModel(meta, t)

    def summary(self, meta: dict[str, Any]) -> str:
        sizes = [c["size"] for c in meta["clusters"]]
        g = meta["criterion"].get("gain_cv")
        gain = f", predicted gain {g:.2g}x" if g else ""
        return (f"K={meta['K']} {meta['local']} models of {meta['field']!r} "
                f"({meta['dissimilarity']}; sizes {sizes}; {meta['selector']} selector{gain})")

    def describe(self, model_dir: str | Path) -> dict[str, Any]:
        meta = read_model_meta(model_dir, self.name)
        out = super().describe(model_dir)
        out.pop("tensors", None)
        out.update({key: meta[key] for key in ("K", "dissimilarity", "local", "selector",
                                               "clusters") if key in meta})
        out["criterion"] = {k: v for k, v in meta["criterion"].items() if k != "sweep"}
        return out

    def _evaluate(self, meta: dict[str, Any], model_dir: Path, ds: Dataset,
                  out_dir: Path | None, resolution: int | None,
                  batch_size: int | None, bar: Any = None) -> dict[str, Any]:
        model = self.load(model_dir)
        name = meta["field"]
        if name not in ds.input_names + ds.output_names:
            raise ValueError(f"{ds.path}: has no field {name!r} (the model's field)")
        idx = solved_index(ds)
        U = read_snapshots(ds, name, idx)
        if list(U.shape[1:]) != meta["field_shape"]:
            raise ValueError(f"{ds.path}: field {name!r} has samples of shape {U.shape[1:]}, "
                             f"the model was trained on {tuple(meta['field_shape'])}")
        require_finite(ds.path, name, U, idx)
        mus = np.asarray(ds.parameters[idx], float)
        warn_outside(mus, *box_from_json(meta["box"]), "parameter")
        fields = input_fields(ds, idx) if meta["selector"] == "cnn" else None
        flat = U.reshape(len(U), -1)
        chosen, pred, bound = _predict_each(model, mus, fields, bar)
        true = model.true_clusters(U, mus)
        rel = relative_l2(pred, flat)
        ev = _Errors(model, mus, flat, chosen, true, rel)
        if meta["selector"] == "cnn":     # the network classifies fields: one batch, timed
            _, t_all = timed(lambda: model.predict(mus, fields), repeat=3)
            single = batched = t_all / len(mus)
        else:
            single, batched = online_seconds(model.predict, mus, batch_size)
        solver_s = ds.solver_seconds_per_sample()
        extra = ev.record(meta)
        if bound is not None:     # certified local RB: the X-norm error bounds
            extra["bound"] = {"mean": float(bound.mean()), "max": float(bound.max()),
                              "selector": model.rb_selector}
        record = evaluation_record(self.name, rel, single, solver_s, field=name,
                                   on_training_data=is_training_data(meta["dataset"], ds),
                                   online={"single_s": single, "batched_s": batched},
                                   **extra)
        record["report_rows"] = report_rows(record)
        write_outputs(out_dir, record, {name: pred.reshape(U.shape), "parameters": mus,
                                        "rel_l2": rel, "cluster_selected": chosen,
                                        "cluster_true": true},
                      figures(model, mus, chosen, true, ev) if out_dir else {})
        return record


def _predict_each(model: LocalModel, mus: np.ndarray, fields: Any, bar: Any
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Selected cluster, flattened prediction and (certified local RB) X-norm error bound
    of each parameter, one sample at a time so that ``bar`` (a
    :class:`data.progress.Progress`, or ``None``) counts them; untimed (the online times
    are measured in separate passes)."""
    chosen, preds, bounds = [], [], []
    for i in range(len(mus)):
        f = [x[i:i + 1] for x in fields] if fields is not None else None
        c = model.select(mus[i:i + 1], f)
        preds.append(model.predict(mus[i:i + 1], f, labels=c)[0])
        chosen.append(int(c[0]))
        if model.last_bound is not None:
            bounds.append(float(np.asarray(model.last_bound, float).ravel()[0]))
        if bar is not None:
            bar.update()
    bound = np.array(bounds) if len(bounds) == len(mus) and bounds else None
    return np.array(chosen, dtype=np.int64), np.array(preds), bound


class _Errors:
    """Errors of one evaluation: selected, oracle (true cluster) and global models."""

    def __init__(self, model: LocalModel, mus: np.ndarray, U: np.ndarray, chosen: np.ndarray,
                 true: np.ndarray, rel: np.ndarray):
        self.model, self.chosen, self.true, self.rel = model, chosen, true, rel
        norms = np.linalg.norm(U, axis=1)
        self.norms = np.where(norms > 0, norms, 1.0)
        self.K = int(model.meta["K"])
        pod = model.meta["local"] == "pod"
        self.rel_oracle = (relative_l2(model.predict(mus, labels=true), U) if pod else rel)
        self.rel_global = (relative_l2(model.glob.predict(features(mus, model.log)), U)
                           if model.glob is not None else None)
        N = int(model.meta["n_modes"])
        self.dims = list(range(1, N + 1))
        if pod:
            self.proj_local = [float(np.mean(model.local.projection_error(U, true, n)
                                             / self.norms)) for n in self.dims]
            self.proj_local_selected = float(np.mean(model.local.projection_error(U, chosen)
                                                     / self.norms))
        else:
            self.proj_local, self.proj_local_selected = [], None
        g = model.glob
        self.proj_global = ([float(np.mean(np.linalg.norm(
            (U - g.mean) - ((U - g.mean) @ g.modes[:, :n]) @ g.modes[:, :n].T, axis=1)
            / self.norms)) for n in self.dims] if g is not None else [])

    def record(self, meta: dict[str, Any]) -> dict[str, Any]:
        wrong = self.chosen != self.true
        per_cluster = [{"cluster": c, "n": int(np.sum(self.true == c)),
                        "mean_rel_l2": float(np.mean(self.rel[self.true == c]))
                        if np.any(self.true == c) else None,
                        "local_dim": meta["clusters"][c]["local_dim"]} for c in range(self.K)]
        mean_l = float(np.mean(self.rel))
        gl = float(np.mean(self.rel_global)) if self.rel_global is not None else None
        crit = meta["criterion"]
        measured_proj = (self.proj_global[-1] / self.proj_local[-1]
                         if self.proj_local and self.proj_local[-1] > 0 else None)
        return {
            "K": self.K, "n_modes": int(meta["n_modes"]), "dissimilarity": meta["dissimilarity"],
            "local": meta["local"], "selector": meta["selector"],
            "per_cluster": per_cluster,
            "global": {"rel_l2": {"mean": gl, "max": float(np.max(self.rel_global))
                                  if self.rel_global is not None else None},
                       "n_modes": int(meta["n_modes"])},
            "oracle_rel_l2_mean": float(np.mean(self.rel_oracle)),
            "selector_accuracy": float(np.mean(~wrong)),
            "wrong_choice": {"n": int(wrong.sum()),
                             "mean_rel_l2": float(np.mean(self.rel[wrong])) if wrong.any()
                             else None,
                             "mean_extra_rel_l2": float(np.mean(self.rel[wrong]
                                                                - self.rel_oracle[wrong]))
                             if wrong.any() else None},
            "confusion": confusion(self.true, self.chosen, self.K).tolist(),
            "projection": {"N": self.dims, "local_mean_rel": self.proj_local,
                           "global_mean_rel": self.proj_global,
                           "local_selected_mean_rel": self.proj_local_selected},
            "criterion": {"predicted_gain_in_sample": crit.get("gain_in_sample"),
                          "predicted_gain_cv": crit.get("gain_cv"),
                          "measured_gain_projection": measured_proj,
                          "measured_gain_prediction": gl / mean_l if gl and mean_l > 0
                          else None},
        }


KIND = LocalKind()
