"""Checkpoints of neural operators: weights in safetensors, training state in torch state dicts.

Layout of a model directory::

    MODEL/model.json              metadata (data.model_dir), rebuilds the model
    MODEL/weights.safetensors     the (best) model's tensors, normalisation buffers included
    MODEL/checkpoint/last.pt      training state: model, optimiser, scheduler, grad scaler,
                                  RNG states (torch, numpy, python), epoch, early-stopping state
    MODEL/train_log.jsonl         one JSON object per epoch (losses, learning rate, seconds)

Files are written through :func:`data.atomic.atomic_path` (a temporary name,
renamed when complete), so an interrupted run always leaves the previous
checkpoint intact, and every file gets the process's umask (safetensors'
own ``save_file`` would create a mode-0600 file: the weights are serialised to
bytes and written like any other file). The training state is read with
``torch.load(weights_only=True)`` (tensors, numbers, strings, lists, dicts only:
nothing is unpickled), weights with ``safetensors``; a file the user may not
read is reported as "permission denied", not as a corrupt file.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from data.atomic import atomic_path, atomic_write_bytes

WEIGHTS = "weights.safetensors"
LAST = "checkpoint/last.pt"
LOG = "train_log.jsonl"


def save_weights(model_dir: str | os.PathLike, state: dict[str, torch.Tensor]) -> Path:
    """Write a state dict as safetensors (atomically, mode from the umask)."""
    path = Path(model_dir) / WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, save_safetensors(
        {k: v.detach().cpu().contiguous() for k, v in state.items()}))


def load_weights(model_dir: str | os.PathLike, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of ``weights.safetensors`` on ``device``."""
    path = Path(model_dir) / WEIGHTS
    if not path.exists():
        raise FileNotFoundError(f"{model_dir}: no {WEIGHTS} (model was never saved)")
    data = _read(path, "weights file")
    try:
        state = load_safetensors(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"{path}: corrupt weights file ({exc})") from None
    return {k: v.to(device) for k, v in state.items()}


def _read(path: Path, what: str) -> bytes:
    """The bytes of a file; one line naming the cause when it cannot be read."""
    try:
        return path.read_bytes()
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (cannot read the {what})") from None
    except OSError as exc:
        raise OSError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None


def rng_state() -> dict[str, Any]:
    """Torch, numpy and python RNG states as tensors/ints (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                      "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": {"version": py[0], "state": torch.tensor(py[1], dtype=torch.int64)},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), None))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(model_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``checkpoint/last.pt`` atomically."""
    path = Path(model_dir) / LAST
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_training_state(model_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(model_dir) / LAST
    if not path.exists():
        raise FileNotFoundError(f"{model_dir}: no training checkpoint to resume ({LAST})")
    data = _read(path, "training checkpoint")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling refusal or corruption
        raise ValueError(f"{path}: cannot read training checkpoint ({exc})") from None
