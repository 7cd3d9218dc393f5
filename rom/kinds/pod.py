"""Kind ``pod``: non-intrusive POD of a dataset field with regression of its coefficients.

Training takes the snapshots ``s(mu_k)`` of one field (a time-dependent
field is one flattened trajectory per sample), keeps the POD modes whose
relative l2 singular-value tail is below ``tol`` and fits an RBF interpolant
or a Gaussian process ``mu -> a(mu)`` to the modal coefficients
(:class:`rom.regression.PODRegression`). The online prediction is
``s(mu) ~ s_bar + V a(mu)``; it needs no solver and works for any problem with
parameters. The model's box is the training parameters' range; evaluating
outside it warns.
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
    semilogy,
    solved_index,
    write_outputs,
)
from data.metrics import evaluation_record, relative_l2
from data.model_dir import load_model, save_model
from data.model_kinds import Option

from ..reduced_basis import warn_outside
from ..regression import REGRESSORS, PODRegression
from . import RomKind


class PODKind(RomKind):
    name = "pod"
    help = "Non-intrusive POD of a DATA field with RBF/GP regression of the coefficients."
    options = (
        Option("tol", float, 1e-4, "POD truncation: relative l2 tail of the singular values."),
        Option("max_modes", int, None, "Cap on the modes.", minimum=1),
        Option("field", str, None, "Field to reduce (default: the first output)."),
        Option("regressor", ("rbf", "gp"), "rbf",
               "Regression of the POD coefficients on the parameters."),
        ALLOW_UNCONVERGED,
    )

    def train(self, data_path: str | Path, out_dir: str | Path, *, progress: Any = None,
              tol: float | None = 1e-4, max_modes: int | None = None, field: str | None = None,
              regressor: str = "rbf", allow_unconverged: bool = False) -> dict[str, Any]:
        """POD of a dataset field with RBF/GP coefficient regression; writes the model.
        Unconverged samples are refused, or left out with ``allow_unconverged``."""
        if regressor not in REGRESSORS:
            raise ValueError(f"unknown regressor {regressor!r}; valid: {', '.join(REGRESSORS)}")
        with Dataset(data_path) as ds:
            name = field_name(ds, field)
            idx = training_samples(ds, allow_unconverged)
            S = np.asarray(ds.field(name)[()] if idx.size == ds.n_samples
                           else ds.field(name)[idx], dtype=float)
            params, record = ds.parameters[idx], dataset_record(ds)
            space = ds.parameter_space
        require_finite(data_path, name, S, idx)
        if params.ndim != 2 or params.shape[1] == 0:
            raise ValueError(f"{data_path}: has no parameters; POD regression maps parameters "
                             "to the field (train an operator model such as fno on input "
                             "fields instead)")
        t0 = time.perf_counter()
        model = PODRegression.fit(params, S, tol=tol, max_modes=max_modes, regressor=regressor)
        offline = time.perf_counter() - t0
        meta = {"dataset": record, "field": name, "field_shape": list(S.shape[1:]),
                "regressor": regressor, "n_modes": int(model.modes.shape[1]),
                "box": box_json(parameter_box(space)),
                "train": {"tol": tol, "max_modes": max_modes, "offline_seconds": offline,
                          "n_train": int(len(params))}}
        save_model(out_dir, self.name, model.tensors(), **meta)
        return meta

    def load(self, model_dir: str | Path, device: str = "cpu") -> PODRegression:
        """The regression model (``predict(mus)`` gives flattened fields)."""
        meta, t = load_model(model_dir, self.name)
        return PODRegression.from_tensors(t, meta["regressor"])

    def summary(self, meta: dict[str, Any]) -> str:
        return f"{meta['n_modes']} modes of {meta['field']!r}, {meta['regressor']}"

    def _evaluate(self, meta: dict[str, Any], model_dir: Path, ds: Dataset,
                  out_dir: Path | None, resolution: int | None,
                  batch_size: int | None) -> dict[str, Any]:
        model = self.load(model_dir)
        name = meta["field"]
        if name not in ds.input_names + ds.output_names:
            raise ValueError(f"{ds.path}: has no field {name!r} (the model's field)")
        shape = tuple(ds.field(name).shape[1:])
        if list(shape) != meta["field_shape"]:
            raise ValueError(f"{ds.path}: field {name!r} has shape {shape}, the model was "
                             f"trained on {tuple(meta['field_shape'])} (resolution "
                             f"{resolution or 'same'})")
        idx = solved_index(ds)
        mus = ds.parameters[idx]
        warn_outside(mus, *box_from_json(meta["box"]), "parameter")
        truth = np.asarray(ds.field(name)[idx], dtype=float)
        require_finite(ds.path, name, truth, idx)
        pred = model.predict(mus).reshape((len(mus),) + shape)
        rel = relative_l2(pred, truth)
        single, batched = online_seconds(model.predict, mus, batch_size)
        solver_s = ds.solver_seconds_per_sample()
        record = evaluation_record(self.name, rel, single, solver_s,
                                   n_modes=int(model.modes.shape[1]),
                                   regressor=meta["regressor"], field=name,
                                   on_training_data=is_training_data(meta["dataset"], ds),
                                   online={"single_s": single, "batched_s": batched},
                                   speedup_batched=solver_s / batched if batched > 0 else None)
        figs = {"singular_values": semilogy(None, {"sigma": model.singular_values}, "index",
                                            "POD singular values")}
        write_outputs(out_dir, record, {name: pred, "parameters": mus, "rel_l2": rel}, figs)
        return record


KIND = PODKind()
