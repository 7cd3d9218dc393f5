"""The reduced-order model kinds served by ``rom train|evaluate|info``: one module each.

* :mod:`rom.kinds.pod` (``pod``): non-intrusive POD + coefficient regression;
* :mod:`rom.kinds.rb` (``rb``): certified reduced basis of an affine problem;
* :mod:`rom.kinds.eim` (``eim``): empirical interpolation of a field, or
  (``target="operator"``) matrix EIM + certified RB (:mod:`rom.kinds.operator_eim`).

Each module exports ``KIND``, an instance of a :class:`RomKind` subclass,
which implements :class:`data.model_kinds.ModelKind` and is registered in
:data:`data.model_kinds.MODEL_KINDS`. :class:`RomKind` holds what the three
share: a model directory of ``model.json`` + ``tensors.h5``
(:mod:`data.model_dir`), CPU-only evaluation against a dataset, and
``describe``. The evaluation pieces common to every kind (timing, metrics,
figures) are in :mod:`data.evaluation`; the truth solve in :mod:`rom.truth`.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from data.dataset import Dataset
from data.evaluation import Draw, semilogy, solved_index
from data.model_dir import load_model, read_model_meta
from data.model_kinds import Option
from data.progress import Progress

#: ``model.json`` keys that ``describe`` reports when a kind stores them
DESCRIBED = ("N", "estimator", "estimator_floor", "coercivity", "field", "n_modes",
             "regressor", "M", "truth_dim", "train")


def greedy_figure(meta: dict[str, Any], title: str) -> Draw:
    """The weak greedy's largest relative bound on the training set against ``N``
    (the ``greedy`` history of a reduced-basis ``model.json``)."""
    greedy = meta.get("greedy", [])
    return semilogy([g["N"] for g in greedy],
                    {"max rel. bound (train)": [number(g["max_rel_bound"]) for g in greedy]},
                    "N", title)


def number(value: float | None, missing: float = float("inf")) -> float:
    """A number read back from ``model.json``, where strict JSON stores a non-finite
    value (an infinite bound: nothing certified yet) as ``null``."""
    return missing if value is None else float(value)


class RomKind:
    """Shared part of the ROM kinds; subclasses set ``name``, ``help``, ``options`` and
    implement ``train``, ``load``, ``summary`` and ``_evaluate`` (with a keyword ``bar``,
    a :class:`data.progress.Progress`, to report the samples of a loop over them)."""

    name: str = ""
    family: str = "rom"
    help: str = ""
    options: Sequence[Option] = ()

    def train(self, data_path: str | Path, out_dir: str | Path, *,
              progress: Callable[[str], None] | None = None, **options: Any) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, model_dir: str | Path, device: str = "cpu") -> Any:
        raise NotImplementedError

    def summary(self, meta: dict[str, Any]) -> str:
        raise NotImplementedError

    def evaluate(self, model_dir: str | Path, data_path: str | Path, *,
                 out_dir: str | Path | None = None, resolution: int | None = None,
                 batch_size: int | None = None, device: str = "cpu",
                 progress: Callable[[str], None] | bool | None = None) -> dict[str, Any]:
        """Metrics of the model on a dataset (``data.metrics.evaluation_record`` keys and
        more); with ``out_dir`` also ``metrics.json``, ``predictions.h5`` and figures.

        ``progress`` given (a line callback or ``True``): progress over the samples on
        stderr (:class:`data.progress.Progress`) for kinds whose ``_evaluate`` loops over
        samples (it takes a ``bar`` keyword); ``None``: silent."""
        meta = read_model_meta(model_dir, self.name)
        if device not in ("cpu", None):
            warnings.warn(f"ROM models run on the CPU; ignoring device {device!r}",
                          RuntimeWarning, stacklevel=2)
        with Dataset(data_path) as ds:
            args = (meta, Path(model_dir), ds, Path(out_dir) if out_dir else None,
                    resolution, batch_size)
            if "bar" not in inspect.signature(self._evaluate).parameters:
                return self._evaluate(*args)
            with Progress(len(solved_index(ds)), desc=f"evaluate {self.name}", unit="sample",
                          enabled=progress not in (None, False)) as bar:
                return self._evaluate(*args, bar=bar)

    def _evaluate(self, meta: dict[str, Any], model_dir: Path, ds: Dataset,
                  out_dir: Path | None, resolution: int | None,
                  batch_size: int | None) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self, model_dir: str | Path) -> dict[str, Any]:
        """Tensor shapes, parameter count and settings for ``rom info MODEL``."""
        meta, t = load_model(model_dir, self.name)
        out = {"kind": meta["kind"], "dataset": meta["dataset"]["path"],
               "problem": meta["dataset"]["problem"],
               "tensors": {k: list(v.shape) for k, v in t.items()},
               "parameter_count": int(sum(v.size for v in t.values()))}
        out.update({key: meta[key] for key in DESCRIBED if key in meta})
        return out
