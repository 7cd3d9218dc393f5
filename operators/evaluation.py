"""Evaluation of a trained operator on a dataset: predictions, metrics, figures.

:func:`evaluate` picks the samples (the held-out test split, else the
validation split, when the dataset is the training file; every solved sample
of any other dataset), checks the fields and the dimension against the model
and that the fields are finite, and calls :func:`run_evaluation`. The record's
``on_training_data`` is true when the training file has no held-out split, so
that every training sample is scored.

Steady models predict each sample in batches. Time-dependent models are
judged from the initial state only (:mod:`operators.time_pairs`): all2all
models predict every output time directly from ``u(t_0)``, window models roll
out from the first ``k_in`` true states. Per sample the relative L2 and L1
errors and the nRMSE (:mod:`data.metrics`) are taken over all predicted
states; for trajectories the mean relative L2 error of each rollout step is
reported as well. Model time per sample is the wall time of the forward
passes (a warm-up batch excluded) divided by the number of samples; the
speedup is the dataset's solver time per sample over it.

At another ``resolution`` ``R`` inputs and truth are resampled to ``R`` points
per axis before prediction (:func:`resample`): a periodic axis of ``n`` nodes
``x_i = i/n`` is subsampled exactly (every ``n/R``-th node) when ``R`` divides
``n``, else trigonometrically interpolated (exact for fields band-limited below
``min(n, R)/2``); an axis with both end points is linearly interpolated with
the end points kept. Only resolution-invariant architectures (class attribute
``RESOLUTION_INVARIANT``: FNO, whose weights act on Fourier modes, not grid
points) may be evaluated at a resolution other than the training one; LSM and
scOT have kernels and patches of a fixed number of grid points, and asking for
another resolution is an error. Files (``metrics.json``, ``predictions.h5``,
figures) are written through :mod:`data.evaluation`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from data.dataset import Dataset
from data.evaluation import (
    pyplot,
    require_finite_fields,
    save_figure,
    solved_index,
    timed,
    write_metrics,
    write_predictions,
)
from data.metrics import evaluation_record, nrmse, relative_l1, relative_l2, summary
from data.progress import Progress
from data.torch_dataset import OperatorDataset, dataset_from_meta

from .time_pairs import rollout_all2all, rollout_window
from .trainer import read_log
from .training import dataset_fingerprint, load_model, same_dataset


def _periodic_axis(v: torch.Tensor, dim: int, r: int) -> torch.Tensor:
    """Axis ``dim`` of nodes ``i/n`` resampled to ``j/r``: every ``(n/r)``-th node when
    ``r`` divides ``n``, else the trigonometric interpolant (rfft truncated or zero-padded)."""
    n = v.shape[dim]
    if n % r == 0:
        return torch.index_select(v, dim, torch.arange(0, n, n // r, device=v.device))
    c = torch.fft.rfft(v.double(), dim=dim)
    keep = min(n, r) // 2 + 1
    c = c.narrow(dim, 0, keep)
    if keep < r // 2 + 1:
        shape = list(c.shape)
        shape[dim] = r // 2 + 1 - keep
        c = torch.cat([c, c.new_zeros(shape)], dim=dim)
    if min(n, r) % 2 == 0:  # the coarser grid's Nyquist mode is real: its cosine part, with
        nyq = min(n, r) // 2  # both conjugate halves on the finer grid (one bin on the coarser)
        c.select(dim, nyq).copy_(c.select(dim, nyq).real * (2.0 if r < n else 0.5))
    return (torch.fft.irfft(c, n=r, dim=dim) * (r / n)).to(v.dtype)


def _linear_axis(v: torch.Tensor, dim: int, r: int) -> torch.Tensor:
    """Axis ``dim`` (both end points on the grid) linearly interpolated to ``r`` points."""
    moved = v.movedim(dim, -1)
    flat = moved.reshape(-1, 1, moved.shape[-1])
    out = F.interpolate(flat, size=r, mode="linear", align_corners=True)
    return out.reshape(*moved.shape[:-1], r).movedim(-1, dim)


def resample(v: torch.Tensor, resolution: int | None,
             periodic: tuple[bool, ...] | None = None) -> torch.Tensor:
    """``(B, C, *spatial)`` resampled to ``resolution`` points per axis (``None``: as is);
    ``periodic[d]``: axis ``d`` is periodic (right end point omitted). Separable: each axis
    in turn, exact striding or trigonometric interpolation on periodic axes, linear
    interpolation with the end points kept on the others (multilinear in all)."""
    nd = v.dim() - 2
    if resolution is None or all(n == resolution for n in v.shape[2:]):
        return v
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2 points per axis, got {resolution}")
    if v.shape[1] == 0:  # no conditioning channels
        return v.new_zeros(v.shape[0], 0, *([resolution] * nd))
    periodic = tuple(periodic) if periodic is not None else (False,) * nd
    for d in range(nd):
        if v.shape[2 + d] != resolution:
            v = (_periodic_axis if periodic[d] else _linear_axis)(v, 2 + d, resolution)
    return v


def check_resolution(meta: dict[str, Any], grid_shape: tuple[int, ...], resolution: int | None
                     ) -> None:
    """Refuse evaluation at another resolution for a kind that is not resolution-invariant."""
    from .registry import model_class

    if resolution is None:
        return
    trained = tuple(meta["data"].get("grid_shape") or grid_shape)
    if all(n == resolution for n in trained):
        return
    if not getattr(model_class(meta["kind"]), "RESOLUTION_INVARIANT", False):
        raise ValueError(f"a {meta['kind']} model is not resolution-invariant (its kernels and "
                         f"patches span a fixed number of grid points): it was trained on "
                         f"{'x'.join(map(str, trained))} points and cannot be evaluated at "
                         f"{resolution} per axis")


def _timed(device: str, fn: Any, *args: Any) -> tuple[torch.Tensor, float]:
    """``fn(*args)`` without gradients and its wall time, the device's queue drained first
    (CUDA kernels run asynchronously)."""
    def run() -> torch.Tensor:
        with torch.no_grad():
            out = fn(*args)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        return out

    return timed(run)


def _predict_steady(model, data: OperatorDataset, resolution, batch_size, device,
                    periodic=None, bar=None):
    preds, truths, seconds, first = [], [], 0.0, True
    bar = bar or Progress(len(data), desc="evaluate", unit="sample", enabled=False)
    for start in range(0, len(data), batch_size):
        items = [data[k] for k in range(start, min(start + batch_size, len(data)))]
        x = resample(torch.stack([it["x"] for it in items]), resolution, periodic).to(device)
        y = resample(torch.stack([it["y"] for it in items]), resolution, periodic)
        if first:  # warm-up (allocations, FFT plans) not counted
            _timed(device, model, x[:1], None)
            first = False
        p, dt = _timed(device, model, x, None)
        preds.append(p.cpu().numpy())
        truths.append(y.numpy())
        seconds += dt
        bar.update(len(items))
    bar.close()
    return np.concatenate(preds), np.concatenate(truths), seconds


def _predict_trajectories(model, data: OperatorDataset, resolution, device, periodic=None,
                          bar=None):
    """``(n, T, C, *spatial)`` predictions and truths of every sample's trajectory."""
    preds, truths, seconds = [], [], 0.0
    samples = list(dict.fromkeys(int(s) for s in data.indices))
    bar = bar or Progress(len(samples), desc="evaluate", unit="sample", enabled=False)
    for n, s in enumerate(samples):
        traj = resample(torch.from_numpy(data.states(s)), resolution, periodic)
        static = resample(torch.from_numpy(data.static_inputs(s))[None], resolution,
                          periodic).to(device)
        if data.mode == "all2all":
            args = (rollout_all2all, model, traj[:1].to(device), static, data.times)
        else:
            args = (rollout_window, model, traj[None, :data.steps_in].to(device), static,
                    len(traj))
        if n == 0:
            _timed(device, *args)
        p, dt = _timed(device, *args)
        preds.append(p[0].cpu().numpy())
        truths.append(traj.numpy())
        seconds += dt
        bar.update(1)
    bar.close()
    return np.stack(preds), np.stack(truths), seconds


def evaluate(model_dir: str | Path, data_path: str | Path, *, out_dir: str | Path | None = None,
             resolution: int | None = None, batch_size: int | None = None,
             device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """Metrics of a trained operator on a dataset (held-out split if it is the training file);
    ``progress``: a bar / periodic lines on stderr over the samples (:mod:`data.progress`)."""
    wrapper, meta = load_model(model_dir, device)
    with Dataset(data_path) as ds:
        fingerprint = dataset_fingerprint(ds)
        solver_seconds = ds.solver_seconds_per_sample()
        solved = solved_index(ds)
        periodic, grid_shape = tuple(ds.grid.periodic), tuple(ds.grid.shape)
    check_resolution(meta, grid_shape, resolution)
    split = meta.get("split", {})
    same = same_dataset(fingerprint, meta.get("dataset", {}))
    if same and (split.get("test") or split.get("val")):
        which = "test" if split.get("test") else "val"
        indices = split[which]
    else:
        which, indices = "all", solved.tolist()
    eval_set = dataset_from_meta(data_path, meta["data"], indices)
    with Dataset(data_path) as ds:
        require_finite_fields(ds, [s.name for s in eval_set.inputs + eval_set.outputs], indices)
    need = meta["in_channels"] - int(meta["time_channel"])
    if eval_set.in_channels != need or eval_set.out_channels != meta["out_channels"]:
        raise ValueError(f"{data_path}: fields give {eval_set.in_channels} input / "
                         f"{eval_set.out_channels} output channels; the model needs {need} / "
                         f"{meta['out_channels']}")
    if eval_set.ndim != meta["ndim"]:
        raise ValueError(f"{data_path}: data is {eval_set.ndim}-D, the model {meta['ndim']}-D")
    t0 = time.perf_counter()
    record = run_evaluation(wrapper, meta, eval_set, solver_seconds, split=which,
                            resolution=resolution, batch_size=batch_size or 16,
                            device=device, out_dir=out_dir, model_dir=model_dir,
                            on_training_data=which == "all" and same, periodic=periodic,
                            progress=progress)
    record["seconds"] = time.perf_counter() - t0
    return record


def run_evaluation(model: torch.nn.Module, meta: dict[str, Any], data: OperatorDataset,
                   solver_seconds: float, *, split: str, resolution: int | None,
                   batch_size: int, device: str, out_dir: str | Path | None,
                   model_dir: str | Path, on_training_data: bool = False,
                   periodic: tuple[bool, ...] | None = None, progress: bool = False
                   ) -> dict[str, Any]:
    """Predict, score (and with ``out_dir`` write metrics.json, predictions.h5, figures);
    ``periodic``: which axes are periodic (for :func:`resample`)."""
    model.eval()
    extra: dict[str, Any] = {"split": split, "time_mode": data.mode,
                             "on_training_data": bool(on_training_data)}
    if data.mode == "steady":
        bar = Progress(len(data), desc="evaluate", unit="sample", enabled=progress)
        pred, true, seconds = _predict_steady(model, data, resolution, batch_size, device,
                                              periodic, bar)
        n = len(pred)
        scored_p, scored_u = pred, true
    else:
        bar = Progress(len(set(int(s) for s in data.indices)), desc="evaluate", unit="sample",
                       enabled=progress)
        pred, true, seconds = _predict_trajectories(model, data, resolution, device, periodic,
                                                    bar)
        n = len(pred)
        first = 1 if data.mode == "all2all" else data.steps_in  # states given, not predicted
        scored_p, scored_u = pred[:, first:], true[:, first:]
        per_step = [float(relative_l2(scored_p[:, j], scored_u[:, j]).mean())
                    for j in range(scored_p.shape[1])]
        extra.update(rel_l2_per_step=per_step, rollout="direct" if data.mode == "all2all"
                     else f"window {data.steps_in}->{data.steps_out}",
                     times=[float(t) for t in data.times[first:]])
    if n == 0:
        raise ValueError("no samples to evaluate")
    rel = relative_l2(scored_p, scored_u)
    extra.update(median_rel_l1_percent=float(100 * np.median(relative_l1(scored_p, scored_u))),
                 nrmse=summary(nrmse(scored_p, scored_u)),
                 resolution=list(pred.shape[-data.ndim:]), parameters=meta.get("parameters"))
    record = evaluation_record(meta["kind"], rel, seconds / n, solver_seconds, **extra)
    if out_dir is not None:
        write_outputs(Path(out_dir), record, pred, true, rel, data, model_dir)
    return record


def write_outputs(out: Path, record: dict[str, Any], pred: np.ndarray, true: np.ndarray,
                  rel: np.ndarray, data: OperatorDataset, model_dir: str | Path) -> None:
    """metrics.json, predictions.h5 and PNG figures in ``out``."""
    write_metrics(out, record)
    samples = list(dict.fromkeys(int(s) for s in data.indices)) if data.mode != "steady" \
        else [int(s) for s in data._pairs[:, 0]]
    arrays = {"prediction": pred, "truth": true,
              "sample_index": np.asarray(samples, dtype=np.int64), "rel_l2": rel}
    if data.times is not None:
        arrays["times"] = np.asarray(data.times)
    layout = "(n, C, *spatial)" if data.mode == "steady" else "(n, T, C, *spatial)"
    write_predictions(out / "predictions.h5", arrays, attrs={"layout": layout}, compress=True)
    last = (lambda a: a[:, -1]) if data.mode != "steady" else (lambda a: a)
    _save(sample_panels(last(pred), last(true), rel, samples), out / "samples.png")
    _save(error_histogram(rel), out / "error_histogram.png")
    log = read_log(model_dir)
    if log:
        _save(loss_curves(log), out / "loss_curves.png")
    if "rel_l2_per_step" in record:
        _save(error_per_step(record["times"], record["rel_l2_per_step"]),
              out / "error_per_step.png")


# ------------------------------------------------------------------------------ figures
def _save(fig: Any, path: Path) -> None:
    save_figure(fig, path, dpi=100, bbox_inches="tight")


def _field_2d(a: np.ndarray) -> np.ndarray:
    """First channel of a ``(C, *spatial)`` field, a 3-D field's middle slice."""
    f = a[0]
    return f[..., f.shape[-1] // 2] if f.ndim == 3 else f


def sample_panels(pred: np.ndarray, true: np.ndarray, rel: np.ndarray,
                  labels: list[int] | None = None, n: int = 3):
    """Truth / prediction / |error| for the best, median and worst samples; truth and
    prediction share one colour scale per row (first channel; 3-D: middle slice)."""
    plt = pyplot()
    order = np.argsort(rel)
    rows = list(dict.fromkeys([order[0], order[len(order) // 2], order[-1]]))[:n]
    fig, axs = plt.subplots(len(rows), 3, figsize=(10, 3 * len(rows)), squeeze=False)
    for r, k in enumerate(rows):
        u, p = _field_2d(true[k]), _field_2d(pred[k])
        lo, hi = float(min(u.min(), p.min())), float(max(u.max(), p.max()))
        for c, (title, f) in enumerate([("truth", u), ("prediction", p), ("|error|", abs(p - u))]):
            ax = axs[r, c]
            if f.ndim == 1:
                ax.plot(f)
                if c < 2:
                    ax.set_ylim(lo, hi)
            else:
                im = ax.imshow(f.T, origin="lower", vmin=lo if c < 2 else None,
                               vmax=hi if c < 2 else None, cmap="viridis" if c < 2 else "magma")
                fig.colorbar(im, ax=ax, fraction=0.046)
            name = labels[k] if labels is not None else k
            ax.set_title(f"{title} (sample {name}, rel L2 {rel[k]:.2e})" if c == 0 else title,
                         fontsize=8)
    fig.tight_layout()
    return fig


def error_histogram(rel: np.ndarray):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(rel, bins=min(30, max(5, len(rel) // 2)))
    ax.set_xlabel("relative L2 error")
    ax.set_ylabel("samples")
    return fig


def loss_curves(log: list[dict[str, Any]]):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ep = [r["epoch"] for r in log]
    ax.semilogy(ep, [r["train_loss"] for r in log], label="train loss")
    if any(r.get("val_loss") is not None for r in log):
        ax.semilogy(ep, [r["val_loss"] for r in log], label="val rel. L2")
    ax.set_xlabel("epoch")
    ax.legend()
    return fig


def error_per_step(times: list[float], errors: list[float]):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(times, errors, marker="o")
    ax.set_xlabel("t")
    ax.set_ylabel("mean relative L2 error")
    return fig
