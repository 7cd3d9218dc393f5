"""Error metrics shared by every model's evaluation.

For a sample with prediction ``p`` and truth ``u`` (arrays of any shape):

* relative L2 error ``||p - u||_2 / ||u||_2`` (discrete l2 over all entries);
* relative L1 error ``||p - u||_1 / ||u||_1`` (Poseidon reports its median in %);
* nRMSE ``sqrt(mean((p-u)^2)) / sqrt(mean(u^2))`` per channel, averaged (PDEBench).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _flat(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a.reshape(a.shape[0], -1)


def relative_l2(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-sample relative L2 error; arrays ``(n_samples, ...)``."""
    p, u = _flat(pred), _flat(true)
    den = np.linalg.norm(u, axis=1)
    return np.linalg.norm(p - u, axis=1) / np.where(den > 0, den, 1.0)


def relative_l1(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    p, u = _flat(pred), _flat(true)
    den = np.abs(u).sum(axis=1)
    return np.abs(p - u).sum(axis=1) / np.where(den > 0, den, 1.0)


def nrmse(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    p, u = _flat(pred), _flat(true)
    den = np.sqrt(np.mean(u ** 2, axis=1))
    return np.sqrt(np.mean((p - u) ** 2, axis=1)) / np.where(den > 0, den, 1.0)


def summary(values: np.ndarray) -> dict[str, float]:
    """``{"mean", "median", "max"}`` of a 1-D array (NaN-safe: NaN propagates to max)."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(np.mean(v)), "median": float(np.median(v)), "max": float(np.max(v))}


def evaluation_record(kind: str, rel_l2: np.ndarray, model_seconds_per_sample: float,
                      solver_seconds_per_sample: float, **extra: Any) -> dict[str, Any]:
    """The JSON object ``rom evaluate --json`` prints (the CLI contract's minimum keys)."""
    speedup = (solver_seconds_per_sample / model_seconds_per_sample
               if model_seconds_per_sample > 0 else float("inf"))
    return {"model": kind, "n_samples": int(np.asarray(rel_l2).size), "rel_l2": summary(rel_l2),
            "time_per_sample_s": {"model": float(model_seconds_per_sample),
                                  "solver": float(solver_seconds_per_sample)},
            "speedup": float(speedup), **extra}
