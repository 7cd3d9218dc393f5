"""Channel-wise Gaussian normalisation of operator inputs and outputs.

``encode(v) = (v - mean_c) / (std_c + eps)`` and ``decode`` its inverse, with
``mean_c``, ``std_c`` the mean and standard deviation of channel ``c`` over
all training samples and grid points (Chan et al.'s parallel update of the
running moments in float64, so statistics of large datasets are exact to
rounding and can be accumulated chunk by chunk). The statistics are module
buffers (saved with the weights) and are also written to ``model.json``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn


class RunningMoments:
    """Per-channel count, mean and sum of squared deviations (``M2``), updated by chunks."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, chunk: np.ndarray | torch.Tensor) -> None:
        """Add a chunk ``(B, C, *spatial)``."""
        a = chunk.detach().cpu().numpy() if isinstance(chunk, torch.Tensor) else np.asarray(chunk)
        a = np.moveaxis(a.astype(np.float64), 1, 0).reshape(a.shape[1], -1)
        nb, mb = a.shape[1], a.mean(axis=1)
        m2b = ((a - mb[:, None]) ** 2).sum(axis=1)
        if self.mean is None:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * nb / n
        self.m2 = self.m2 + m2b + delta ** 2 * self.n * nb / n
        self.n = n

    def std(self) -> np.ndarray:
        if self.mean is None:
            raise ValueError("no data to compute normalisation statistics")
        return np.sqrt(self.m2 / max(self.n, 1))


class Normalizer(nn.Module):
    """``encode``/``decode`` with per-channel ``mean``/``std`` buffers of shape ``(C,)``."""

    def __init__(self, mean: Iterable[float], std: Iterable[float], eps: float = 1e-6) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(list(mean), dtype=np.float32)))
        self.register_buffer("std", torch.as_tensor(np.asarray(list(std), dtype=np.float32)))
        self.eps = float(eps)

    @classmethod
    def identity(cls, channels: int) -> Normalizer:
        return cls([0.0] * channels, [1.0] * channels, eps=0.0)

    @classmethod
    def from_moments(cls, moments: RunningMoments) -> Normalizer:
        return cls(moments.mean.tolist(), moments.std().tolist())

    @classmethod
    def from_json(cls, record: dict) -> Normalizer:
        return cls(record["mean"], record["std"], record.get("eps", 1e-6))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "eps": self.eps}

    def _view(self, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return b.reshape(1, -1, *([1] * (x.dim() - 2))).to(x.dtype)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._view(self.mean, x)) / (self._view(self.std, x) + self.eps)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self._view(self.std, x) + self.eps) + self._view(self.mean, x)


class NormalizedOperator(nn.Module):
    """A model between normalisers: ``u = decode(model([encode(x), t / t_scale], t / t_scale))``.

    When ``time_channel`` is set, the lead time ``t`` (``(B,)``) scaled by
    ``t_scale`` is appended to the encoded input as one constant channel (FNO
    and LSM learn the dependence on ``t`` from it); the raw ``t`` is always
    passed on as well (scOT conditions its normalisations on it).
    """

    def __init__(self, model: nn.Module, in_norm: Normalizer, out_norm: Normalizer,
                 time_channel: bool = False, t_scale: float = 1.0) -> None:
        super().__init__()
        self.model, self.in_norm, self.out_norm = model, in_norm, out_norm
        self.time_channel, self.t_scale = bool(time_channel), float(t_scale)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        z = self.in_norm.encode(x)
        if self.time_channel:
            tt = torch.zeros(x.shape[0], device=x.device) if t is None else t
            tt = (tt.to(z.dtype) / self.t_scale).reshape(-1, 1, *([1] * (x.dim() - 2)))
            z = torch.cat([z, tt.expand(-1, 1, *x.shape[2:])], dim=1)
        if t is not None:  # every model sees the lead time in units of t_scale
            t = t.to(z.dtype) / self.t_scale
        return self.out_norm.decode(self.model(z, t))
