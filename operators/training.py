"""Train and load neural operators (``fno``, ``lsm``, ``scot``; served by :mod:`operators.kinds`).

``train_operator`` builds the paired torch datasets of a rom dataset, the
train/val/test split by sample index, the normalisation statistics of the
training inputs and outputs, the model (optionally initialised from another
model: fine-tuning) and runs :class:`~operators.trainer.Trainer`. Everything
that rebuilds the model is written to ``model.json``:

    kind, arch, in_channels, out_channels, ndim, data (fields, time mode, ...),
    split {train, val, test}, normalization {input, output}, time_channel,
    t_scale, training (TrainConfig), dataset (fingerprint), result.

A resumed run continues as stored (no new architecture, no initial model); a
fine-tuned run takes its architecture from the initial model. A new run first
checks that the selected fields of the training and validation samples are
finite (one line naming the field and sample otherwise).
:func:`load_model` rebuilds the trained operator from that record.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data.convergence import training_samples
from data.dataset import Dataset
from data.evaluation import require_finite_fields
from data.model_dir import read_model_meta, write_model_meta
from data.torch_dataset import OperatorDataset, dataset_from_meta, split_indices

from . import checkpoint as ckpt
from .ddp import env_info
from .normalization import NormalizedOperator, Normalizer, RunningMoments
from .registry import (
    MODELS,
    arch_defaults,
    build_model,
    count_parameters,
    model_class,
    stored_arch,
)
from .trainer import TrainConfig, Trainer

KINDS = tuple(MODELS)
#: at most this many training pairs are read to compute the normalisation statistics
STATS_MAX_ITEMS = 4096


def dataset_fingerprint(ds: Dataset) -> dict[str, Any]:
    """What identifies a dataset: problem, sample count, seed and a hash of its config."""
    digest = hashlib.sha256(json.dumps(ds.config, sort_keys=True, default=str).encode())
    return {"path": str(Path(ds.path).resolve()), "problem": ds.problem,
            "n_samples": ds.n_samples, "seed": ds.seed, "config_sha256": digest.hexdigest()[:16]}


def same_dataset(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("problem", "n_samples", "seed", "config_sha256")
    return all(a.get(k) == b.get(k) for k in keys)


def normalizers(train_set: OperatorDataset, seed: int = 0) -> tuple[Normalizer, Normalizer]:
    """Per-channel mean/std of ``x`` and ``y`` over (a random subset of) the training pairs."""
    n = len(train_set)
    items = (np.arange(n) if n <= STATS_MAX_ITEMS else
             np.sort(np.random.default_rng(seed).choice(n, STATS_MAX_ITEMS, replace=False)))
    mx, my = RunningMoments(), RunningMoments()
    for k in items:
        item = train_set[int(k)]
        mx.update(item["x"][None])
        my.update(item["y"][None])
    return Normalizer.from_moments(mx), Normalizer.from_moments(my)


def _transfer(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy tensors whose name and shape match; return the names left at their new init."""
    own = model.state_dict()
    fresh = [k for k in own if k not in state or state[k].shape != own[k].shape]
    model.load_state_dict({**own, **{k: v for k, v in state.items()
                                     if k in own and v.shape == own[k].shape}})
    return fresh


def _init_from(kind: str, init: str | Path, in_channels: int, out_channels: int, ndim: int
               ) -> tuple[torch.nn.Module, dict[str, Any], list[str]]:
    """Fine-tuning: the model of ``init`` with embedding/recovery replaced when channels differ."""
    meta = read_model_meta(init, kind)
    if meta["ndim"] != ndim:
        raise ValueError(f"initial model {init} is {meta['ndim']}-D, the data are {ndim}-D")
    meta["arch"] = stored_arch(kind, meta["arch"])
    model = build_model(kind, meta["in_channels"], meta["out_channels"], ndim, **meta["arch"])
    state = {k[len("model."):]: v for k, v in ckpt.load_weights(init).items()
             if k.startswith("model.")}
    model.load_state_dict(state)
    if (in_channels, out_channels) != (meta["in_channels"], meta["out_channels"]):
        if hasattr(model, "replace_io"):
            model.replace_io(in_channels, out_channels)
        else:
            model = build_model(kind, in_channels, out_channels, ndim, **meta["arch"])
    fresh = _transfer(model, state)
    return model, meta["arch"], fresh


def train_operator(kind: str, data_path: str | Path, out_dir: str | Path, *,
                   arch: dict[str, Any] | None = None, config: TrainConfig | None = None,
                   inputs: Any = None, outputs: Any = None, time_mode: str = "auto",
                   steps_in: int = 1, steps_out: int = 1, time_steps: Any = None,
                   val_fraction: float = 0.1, test_fraction: float = 0.1,
                   resume: bool = False, init: str | Path | None = None,
                   callbacks: tuple = (), exclude_unconverged: bool = False) -> dict[str, Any]:
    """Train a ``kind`` operator on ``data_path`` into ``out_dir``; returns the summary.

    ``arch`` overrides the architecture defaults; ``resume`` continues the run
    stored in ``out_dir`` (only the epoch count and the run-time settings may
    change); ``init``, another model directory, is fine-tuned (its architecture
    and weights, with new input/output layers if the channel counts differ).
    Samples whose solver did not converge are refused, or with
    ``exclude_unconverged`` left out of the split.
    """
    if resume and (arch or init is not None):
        raise ValueError("a resumed run continues as stored: it takes neither architecture "
                         "options nor an initial model")
    if init is not None and arch:
        raise ValueError(f"a fine-tuned model takes its architecture from {init}; got "
                         f"architecture options {', '.join(sorted(arch))}")
    config = config or TrainConfig()
    out_dir = Path(out_dir)
    if resume:
        meta = read_model_meta(out_dir, kind)
        stored = TrainConfig(**meta["training"])
        for key in ("epochs", "device", "quiet", "num_workers", "compile", "data_on_device",
                    "sync_every", "checkpoint_every", "log_every"):
            setattr(stored, key, getattr(config, key))
        config = stored
        data_meta, split = meta["data"], meta["split"]
        train_set = dataset_from_meta(data_path, data_meta, split["train"])
        val_set = dataset_from_meta(data_path, data_meta, split["val"]) if split["val"] else None
        model = load_model(out_dir, weights=False)[0]
    else:
        config.validate()
        with Dataset(data_path) as ds:
            fingerprint = dataset_fingerprint(ds)
            done = training_samples(ds, exclude_unconverged)
        split = split_indices(len(done), val_fraction, test_fraction, config.seed, samples=done)
        train_set = OperatorDataset(data_path, inputs=inputs, outputs=outputs,
                                    indices=split["train"], time_mode=time_mode,
                                    steps_in=steps_in, steps_out=steps_out, time_steps=time_steps)
        data_meta = train_set.describe()
        val_set = dataset_from_meta(data_path, data_meta, split["val"]) if split["val"] else None
        with Dataset(data_path) as ds:   # NaN data: say where, before any epoch diverges
            require_finite_fields(ds, [s.name for s in train_set.inputs + train_set.outputs],
                                  list(split["train"]) + list(split["val"]))
        model, meta = _new_model(kind, train_set, arch or {}, config, init)
        meta.update(data=data_meta, split=split, dataset=fingerprint, training=vars(config).copy())
        if env_info().is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_model_meta(out_dir, kind, **meta)
    trainer = Trainer(model, train_set, val_set, config, out_dir,
                      time_dependent=train_set.time_dependent, callbacks=callbacks)
    summary = trainer.fit(resume=resume)
    if trainer.info.is_main:
        meta = read_model_meta(out_dir, kind)
        meta.pop("format", None), meta.pop("format_version", None), meta.pop("kind", None)
        meta["result"] = summary
        write_model_meta(out_dir, kind, **meta)
    return summary


def _new_model(kind: str, train_set: OperatorDataset, arch: dict[str, Any],
               config: TrainConfig, init: str | Path | None
               ) -> tuple[NormalizedOperator, dict[str, Any]]:
    cls = model_class(kind)
    time_channel = train_set.time_dependent and not getattr(cls, "USES_TIME", False)
    in_ch = train_set.in_channels + int(time_channel)
    out_ch, ndim = train_set.out_channels, train_set.ndim
    torch.manual_seed(config.seed)
    meta: dict[str, Any] = {}
    if init is not None:
        model, full_arch, fresh = _init_from(kind, init, in_ch, out_ch, ndim)
        meta["init"] = {"from": str(init), "reinitialised": fresh}
    else:
        full_arch = {**arch_defaults(kind), **arch}
        model = build_model(kind, in_ch, out_ch, ndim, **full_arch)
    in_norm, out_norm = normalizers(train_set, config.seed)
    t_scale = float(np.ptp(train_set.times)) if train_set.times is not None else 1.0
    wrapper = NormalizedOperator(model, in_norm, out_norm, time_channel, t_scale or 1.0)
    meta.update(arch=full_arch, in_channels=in_ch, out_channels=out_ch, ndim=ndim,
                normalization={"input": in_norm.to_json(), "output": out_norm.to_json()},
                time_channel=time_channel, t_scale=t_scale or 1.0,
                parameters=count_parameters(model))
    return wrapper, meta


def load_model(model_dir: str | Path, device: str = "cpu", weights: bool = True
               ) -> tuple[NormalizedOperator, dict[str, Any]]:
    """Rebuild a trained operator from ``model.json`` (+ ``weights.safetensors``)."""
    meta = read_model_meta(model_dir, KINDS)
    try:
        meta["arch"] = stored_arch(meta["kind"], meta["arch"])
        model = build_model(meta["kind"], meta["in_channels"], meta["out_channels"],
                            meta["ndim"], **meta["arch"])
        norm = meta["normalization"]
        wrapper = NormalizedOperator(model, Normalizer.from_json(norm["input"]),
                                     Normalizer.from_json(norm["output"]),
                                     meta["time_channel"], meta["t_scale"])
    except KeyError as exc:
        raise ValueError(f"{model_dir}: model.json lacks {exc}") from None
    if weights:
        state = ckpt.load_weights(model_dir)
        try:
            wrapper.load_state_dict(state)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split()[6:])[:300]  # drop "Error(s) in loading ..."
            raise ValueError(f"{model_dir}: weights do not match model.json ({detail})") from None
    return wrapper.to(device).eval(), meta
