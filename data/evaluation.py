"""Pieces shared by every model kind's evaluation: dataset look-ups, timing, outputs.

A kind's ``evaluate`` (see :mod:`data.model_kinds`) compares a trained model
with a dataset's truth solutions. The steps common to all kinds live here:

* **dataset look-ups**: :func:`dataset_record` (what ``model.json`` keeps of
  the training data), :func:`is_training_data` (whether a dataset is that
  one), :func:`solved_index` (the samples with a solution),
  :func:`field_name` (a field by name, or the default one),
  :func:`require_finite` / :func:`require_finite_fields` (NaN or infinite
  values are an error naming the field and the sample),
  :func:`parameter_box` (the training box of the parameter space, stored in
  ``model.json`` by :func:`box_json` and read back by :func:`box_from_json`)
  and :func:`check_same_problem` (a grid-bound model meets only its own problem);
* **timing**: :func:`timed` (best wall time of repeated calls) and
  :func:`online_seconds`, the seconds per sample of an online stage called
  one parameter at a time and in batches;
* **outputs**: :func:`write_metrics` (``metrics.json``, strict JSON),
  :func:`write_predictions` (``predictions.h5``), :func:`write_figures` /
  :func:`save_figure` (PNG through matplotlib's Agg backend),
  :func:`semilogy` (the convergence-curve figure) and
  :func:`write_outputs` (all three at once).

``metrics.json`` is strict JSON (RFC 8259 has no NaN or infinity): a
non-finite number is written as ``null`` (:func:`strict_json`), meaning "not
defined", e.g. a speedup over a zero model time or a maximum over an empty
set. Every file is written through :mod:`data.atomic`, so a reader never sees
half of one.

Every evaluation record carries ``on_training_data``: ``true`` when the
evaluated samples are (some of) the ones the model was fitted to, so that
its errors are training errors, not generalisation errors (``rom evaluate``
then also prints a warning line on stderr). A dataset is the training data
when its configuration (problem, options, resolution, sampler, seed, sample
count) equals the one recorded in ``model.json``, wherever the file lies.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path, atomic_write_text

#: a figure-drawing function: receives a matplotlib ``Axes`` and draws on it
Draw = Callable[[Any], None]


# -- dataset look-ups ----------------------------------------------------------------------

def dataset_record(ds: Any) -> dict[str, Any]:
    """What a model directory records of its training dataset (path, problem, size, config)."""
    return {"path": str(ds.path), "problem": ds.problem, "n_samples": int(ds.n_samples),
            "config": ds.config}


def is_training_data(record: Mapping[str, Any], ds: Any) -> bool:
    """Whether ``ds`` is the dataset of a ``model.json`` ``dataset`` record (same problem
    and configuration, seed and sample count included; the path does not matter)."""
    return (record.get("problem") == ds.problem and record.get("config") == ds.config
            and int(record.get("n_samples", -1)) == int(ds.n_samples))


def require_finite(where: Any, name: str, values: np.ndarray, samples: Any) -> None:
    """Fail with one line when a field has NaN or infinite values: ``values[i]`` is
    sample ``samples[i]`` of field ``name`` of ``where`` (a dataset path)."""
    values = np.asarray(values)
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
        raise ValueError(f"{where}: field {name!r} has NaN or infinite values in sample "
                         f"{int(np.asarray(samples)[rows[0]])}{more}")


def require_finite_fields(ds: Any, names: Any, samples: Any, chunk: int = 64) -> None:
    """:func:`require_finite` for fields of a dataset, read ``chunk`` samples at a time."""
    samples = np.unique(np.asarray(samples, dtype=np.int64))
    for name in dict.fromkeys(names):
        field = ds.field(name)
        for start in range(0, len(samples), chunk):
            part = samples[start:start + chunk]
            require_finite(ds.path, name, field[part], part)


def solved_index(ds: Any) -> np.ndarray:
    """Indices of the dataset's solved samples; an error if there are none."""
    idx = np.flatnonzero(ds.done)
    if idx.size == 0:
        raise ValueError(f"{ds.path}: dataset has no solved samples")
    return idx


def field_name(ds: Any, field: str | None, default_inputs: bool = False) -> str:
    """``field`` checked against the dataset's fields, or the default field when ``None``:
    the first output, or with ``default_inputs`` the first input (then output)."""
    names = ds.input_names + ds.output_names
    if field is None:
        default = names if default_inputs else ds.output_names
        if not default:
            raise ValueError(f"{ds.path}: dataset has no fields")
        return default[0]
    if field not in names:
        raise ValueError(f"{ds.path}: no field {field!r}; fields: {', '.join(names)}")
    return field


def parameter_box(space: Any) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners of a parameter space's box; a standard-normal coordinate
    is unbounded (``-inf, inf``)."""
    r = np.array(space.ranges, dtype=float)
    normal = np.array([k == "normal" for k in space.kinds], dtype=bool)
    return np.where(normal, -np.inf, r[:, 0]), np.where(normal, np.inf, r[:, 1])


def box_json(box: tuple[np.ndarray, np.ndarray]) -> list[list[float | None]]:
    """A parameter box ``(lo, hi)`` for ``model.json``: strict JSON, an unbounded side
    (``-inf`` / ``inf``) as ``null``."""
    return [[float(v) if np.isfinite(v) else None for v in side] for side in box]


def box_from_json(box: Any) -> tuple[np.ndarray, np.ndarray]:
    """The ``(lo, hi)`` arrays of :func:`box_json` (``null``: unbounded; older files with
    ``-Infinity``/``Infinity`` read the same)."""
    lo, hi = ([default if v is None else float(v) for v in side]
              for side, default in zip(box, (-np.inf, np.inf)))
    return np.array(lo, dtype=float), np.array(hi, dtype=float)


def check_same_problem(meta: Mapping[str, Any], ds: Any, resolution: int | None) -> None:
    """A model tied to its grid is evaluated on its own problem only: same problem, same
    resolution, same options as the dataset it was trained on (``meta["dataset"]``)."""
    cfg = meta["dataset"]["config"]
    if resolution is not None and int(resolution) != int(cfg.get("resolution", -1)):
        raise ValueError(f"a {meta['kind']} model is tied to its grid (resolution "
                         f"{cfg.get('resolution')}); evaluation at resolution {resolution} "
                         "is not supported")
    same = (ds.config.get("problem") == cfg.get("problem")
            and ds.config.get("resolution") == cfg.get("resolution")
            and ds.config.get("options", {}) == cfg.get("options", {}))
    if not same:
        raise ValueError(f"{ds.path}: dataset problem {ds.config.get('problem')} at resolution "
                         f"{ds.config.get('resolution')} does not match the model's "
                         f"{cfg.get('problem')} at resolution {cfg.get('resolution')}")


# -- timing --------------------------------------------------------------------------------

def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """The result of ``fn()`` and the best wall time (seconds) of ``repeat`` calls."""
    best, out = math.inf, None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def online_seconds(fn: Callable[[np.ndarray], Any], mus: np.ndarray,
                   batch_size: int | None, *, max_single: int = 200) -> tuple[float, float]:
    """Seconds per sample of ``fn`` (a map of a ``(batch, dim)`` array of parameters) called
    one parameter at a time (on the first ``max_single``) and in batches of ``batch_size``
    (``None``: one batch of all; best of three passes)."""
    n_single = min(len(mus), max_single)
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
    _, batched = timed(run_all, repeat=3)
    return single, batched / len(mus)


# -- outputs -------------------------------------------------------------------------------

def strict_json(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays and paths made plain and every non-finite float
    (NaN, ±inf) replaced by ``None``, so that ``json.dumps(..., allow_nan=False)`` holds."""
    if isinstance(obj, Mapping):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, np.generic):
        return strict_json(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def metrics_json(record: Mapping[str, Any], indent: int | None = 2) -> str:
    """The text of ``metrics.json`` (and of ``rom evaluate --json``): strict JSON,
    non-finite numbers as ``null``."""
    return json.dumps(strict_json(record), indent=indent, allow_nan=False)


def write_metrics(out_dir: str | Path, record: Mapping[str, Any],
                  name: str = "metrics.json") -> Path:
    """Write ``OUT_DIR/metrics.json`` atomically (see :func:`metrics_json`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out / name, metrics_json(record))


def write_predictions(path: str | Path, arrays: Mapping[str, Any], *,
                      attrs: Mapping[str, Any] | None = None, compress: bool = False) -> Path:
    """Write one HDF5 dataset per array (and file attributes) to ``path`` atomically;
    ``compress`` uses gzip level 1."""
    import h5py

    path = Path(path)
    opts: dict[str, Any] = {"compression": "gzip", "compression_opts": 1} if compress else {}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
            for k, v in arrays.items():
                f.create_dataset(k, data=np.asarray(v), **opts)
    return path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 100, **savefig: Any) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, **savefig)
    finally:
        pyplot().close(fig)
    return path


def write_figures(out_dir: str | Path, figures: Mapping[str, Draw], *,
                  figsize: tuple[float, float] = (5, 3.5), dpi: int = 110) -> list[Path]:
    """``OUT_DIR/NAME.png`` for each ``NAME: draw`` (one axes per figure)."""
    plt = pyplot()
    paths = []
    for name, draw in figures.items():
        fig, ax = plt.subplots(figsize=figsize)
        draw(ax)
        fig.tight_layout()
        paths.append(save_figure(fig, Path(out_dir) / f"{name}.png", dpi=dpi))
    return paths


def semilogy(x: Any, ys: Mapping[str, Any], xlabel: str, title: str) -> Draw:
    """A figure of curves ``label: y`` on a logarithmic y axis against ``x`` (``None``:
    1, 2, ..., len(y)), with grid and legend."""
    def draw(ax: Any) -> None:
        for label, y in ys.items():
            ax.semilogy(x if x is not None else np.arange(1, len(y) + 1), y, ".-", label=label)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    return draw


def write_outputs(out_dir: str | Path | None, record: Mapping[str, Any],
                  predictions: Mapping[str, Any], figures: Mapping[str, Draw]) -> None:
    """``metrics.json``, ``predictions.h5`` (attribute ``model``: the kind) and the figures
    in ``out_dir``; nothing when ``out_dir`` is ``None``."""
    if out_dir is None:
        return
    out = Path(out_dir)
    write_metrics(out, record)
    write_predictions(out / "predictions.h5", predictions, attrs={"model": record["model"]})
    write_figures(out, figures)
