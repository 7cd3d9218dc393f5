"""Kind ``eim``: empirical interpolation of a dataset field, or of the assembled operator.

``target="field"`` (default): EIM (:func:`rom.eim.eim`, relative sup norm)
of one field over the dataset's samples (default: the first input field):
``M`` magic points ``x_m`` and a unit lower triangular basis ``Q`` with
``g(mu) ~ Q B^{-1} [g(mu)(x_m)]_m``, so each sample is reconstructed from
its values at the magic points. Evaluation reports the reconstruction error
and warns when the test sup error exceeds the training error by more than
100x (:func:`rom.eim.check_generalisation`).

``target="operator"``: matrix EIM of the assembled systems ``A(mu), b(mu)``
and a certified reduced basis on the resulting affine form, for steady linear
problems without an affine decomposition (:mod:`rom.kinds.operator_eim`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from data.convergence import ALLOW_UNCONVERGED, training_samples
from data.dataset import Dataset
from data.evaluation import (
    dataset_record,
    field_name,
    is_training_data,
    online_seconds,
    require_finite,
    semilogy,
    solved_index,
    write_outputs,
)
from data.metrics import evaluation_record, relative_l2
from data.model_dir import load_model, require_tensors, save_model
from data.model_kinds import Option

from ..eim import Interpolant, check_generalisation, eim, sup_errors
from . import RomKind, operator_eim

TARGETS = ("field", "operator")


class EIMKind(RomKind):
    name = "eim"
    help = ("Empirical interpolation: of a DATA field (M magic points reconstruct each sample) "
            "or of the problem's assembled matrices (non-intrusive affine form for a reduced "
            "basis).")
    options = (
        Option("target", TARGETS, "field",
               "field: EIM of a dataset field; operator: matrix EIM of the assembled "
               "systems A(mu), b(mu) + certified reduced basis (steady linear problems)."),
        Option("field", str, None, "Field to interpolate (default: the first input)."),
        Option("tol", float, 1e-6, "Relative sup-norm EIM training tolerance."),
        Option("max_terms", int, 100, "Largest M.", minimum=1),
        Option("train_size", int, 60,
               "operator: parameters assembled for the EIM, SCM and greedy.", minimum=2),
        Option("max_basis", int, 40, "operator: largest N.", minimum=1),
        Option("rb_tol", float, 1e-6, "operator: greedy tolerance."),
        ALLOW_UNCONVERGED,
    )

    def train(self, data_path: str | Path, out_dir: str | Path, *, progress: Any = None,
              target: str = "field", field: str | None = None, tol: float = 1e-6,
              max_terms: int | None = 100, train_size: int = 60, max_basis: int = 40,
              rb_tol: float = 1e-6, allow_unconverged: bool = False) -> dict[str, Any]:
        """EIM of a dataset field over its samples, or (``target="operator"``) matrix EIM of
        the assembled systems + reduced basis (``train_size``, ``max_basis``, ``rb_tol``)."""
        if target == "operator":
            return operator_eim.train(data_path, out_dir, tol=tol, max_terms=max_terms,
                                      train_size=train_size, max_basis=max_basis,
                                      rb_tol=rb_tol, progress=progress)
        if target != "field":
            raise ValueError(f"unknown EIM target {target!r}; valid: {', '.join(TARGETS)}")
        with Dataset(data_path) as ds:
            name = field_name(ds, field, default_inputs=True)
            idx = training_samples(ds, allow_unconverged)
            S = np.asarray(ds.field(name)[idx], dtype=float)
            record = dataset_record(ds)
        require_finite(data_path, name, S, idx)
        G = S.reshape(len(S), -1).T
        t0 = time.perf_counter()
        I = eim(G, tol=tol, max_terms=max_terms)
        meta = {"dataset": record, "field": name, "field_shape": list(S.shape[1:]), "M": I.M,
                "train_error_rel_sup": I.history_rel, "train": {
                    "tol": tol, "max_terms": max_terms,
                    "offline_seconds": time.perf_counter() - t0}}
        save_model(out_dir, self.name, {"Q": I.Q, "indices": I.indices}, **meta)
        return meta

    def load(self, model_dir: str | Path, device: str = "cpu") -> Any:
        """Field target: the :class:`~rom.eim.Interpolant`; operator target: the online RB
        (:func:`rom.kinds.operator_eim.load`)."""
        meta, t = load_model(model_dir, self.name)
        if meta.get("target") == "operator":
            return operator_eim.load(meta, t)
        require_tensors(t, "Q", "indices", where=str(model_dir))
        return Interpolant(t["Q"], t["indices"], unit_lower=True)

    def summary(self, meta: dict[str, Any]) -> str:
        if meta.get("target") == "operator":
            return (f"matrix EIM M={meta['M']} (rhs {meta['M_rhs']}), training error "
                    f"{meta['eim_train_error_rel_sup']:.1e}, RB N={meta['N']}")
        return (f"M={meta['M']} magic points of {meta['field']!r}, training error "
                f"{meta['train_error_rel_sup'][-1]:.2e}")

    def _evaluate(self, meta: dict[str, Any], model_dir: Path, ds: Dataset,
                  out_dir: Path | None, resolution: int | None,
                  batch_size: int | None, bar: Any = None) -> dict[str, Any]:
        if meta.get("target") == "operator":   # a truth solve per sample: progress
            return operator_eim.evaluate(meta, self.load(model_dir), ds, out_dir, resolution,
                                         batch_size, bar)
        I = self.load(model_dir)
        name = meta["field"]
        if name not in ds.input_names + ds.output_names:
            raise ValueError(f"{ds.path}: has no field {name!r} (the model's field)")
        idx = solved_index(ds)
        truth = np.asarray(ds.field(name)[idx], dtype=float)
        if list(truth.shape[1:]) != meta["field_shape"]:
            raise ValueError(f"{ds.path}: field {name!r} has shape {truth.shape[1:]}, the "
                             f"model expects {tuple(meta['field_shape'])}")
        require_finite(ds.path, name, truth, idx)
        G = truth.reshape(len(truth), -1).T
        pred = I(G).T.reshape(truth.shape)
        if bar is not None:   # all samples at once
            bar.update(len(truth))
        rel = relative_l2(pred, truth)
        sup = sup_errors(G, pred.reshape(len(truth), -1).T)
        magic = G[I.indices].T
        single, batched = online_seconds(lambda v: I.Q @ I.coefficients(v).T, magic,
                                         batch_size)
        train_err = meta["train_error_rel_sup"][-1]
        generalises = check_generalisation(train_err, float(sup.max()))
        record = evaluation_record(self.name, rel, single, ds.solver_seconds_per_sample(),
                                   M=I.M, field=name,
                                   rel_sup={"max": float(sup.max()),
                                            "train_max": float(train_err)},
                                   generalises=generalises,
                                   on_training_data=is_training_data(meta["dataset"], ds),
                                   online={"single_s": single, "batched_s": batched})
        figs = {"eim_training": semilogy(None, {"train max rel. sup error":
                                                meta["train_error_rel_sup"]}, "M",
                                         "EIM greedy")}
        write_outputs(out_dir, record, {name: pred, "rel_l2": rel, "rel_sup": sup,
                                        "magic_indices": I.indices}, figs)
        return record


KIND = EIMKind()
