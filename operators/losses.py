"""Training losses: relative L2 and relative H^1 (spectral) errors, averaged over the batch.

For a prediction ``p`` and target ``u`` of shape ``(B, C, *spatial)``:

* relative L2:   ``||p - u||_2 / ||u||_2`` per sample (discrete l2 over channels and grid);
* relative H^1:  ``|p - u|_{H^1} / |u|_{H^1}`` per sample with the spectral norm

      |v|^2_{H^1} = sum_k (1 + |2 pi k / L|^2) |v_hat(k)|^2 ,

  ``v_hat = FFT(v) / N`` (Parseval: ``sum |v_hat|^2 = mean(v^2)``), ``k`` the
  integer wavenumbers and ``L`` the domain length per axis (1 by default),
  i.e. ``mean(v^2) + mean(|grad v|^2)`` for periodic band-limited ``v``
  (FFT derivatives; non-periodic data are treated as periodic, as in the
  FNO reference H^1 loss).

Both are computed in float32 even under autocast (float64 inputs in float64).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

LOSSES = ("l2", "h1")


def _real(v: torch.Tensor) -> torch.Tensor:
    """float32 (float64 stays float64): losses are never computed in half precision."""
    return v if v.dtype == torch.float64 else v.float()


def _per_sample_sq(v: torch.Tensor) -> torch.Tensor:
    return v.reshape(v.shape[0], -1).pow(2).sum(dim=1)


def relative_l2(pred: torch.Tensor, true: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Batch mean of ``||p - u||_2 / ||u||_2`` (per sample over all channels and points)."""
    p, u = _real(pred), _real(true)
    num = _per_sample_sq(p - u).sqrt()
    den = _per_sample_sq(u).sqrt().clamp_min(eps)
    return (num / den).mean()


def h1_norm_sq(v: torch.Tensor, ndim: int, lengths: Sequence[float] | None = None
               ) -> torch.Tensor:
    """Per-sample squared spectral H^1 norm ``sum_k (1 + |2 pi k / L|^2) |v_hat_k|^2``."""
    v = _real(v)
    dims = tuple(range(-ndim, 0))
    shape = v.shape[-ndim:]
    lengths = list(lengths) if lengths is not None else [1.0] * ndim
    vh = torch.fft.fftn(v, dim=dims, norm="forward")
    weight = torch.ones(shape, device=v.device, dtype=v.dtype)
    for d, (n, L) in enumerate(zip(shape, lengths)):
        k = torch.fft.fftfreq(n, d=1.0 / n, device=v.device, dtype=v.dtype) * (2 * math.pi / L)
        view = [1] * ndim
        view[d] = n
        weight = weight + k.reshape(view) ** 2
    return (weight * vh.abs() ** 2).reshape(v.shape[0], -1).sum(dim=1)


def relative_h1(pred: torch.Tensor, true: torch.Tensor, ndim: int | None = None,
                lengths: Sequence[float] | None = None, eps: float = 1e-12) -> torch.Tensor:
    """Batch mean of the relative spectral H^1 error (see module docstring)."""
    nd = ndim if ndim is not None else pred.dim() - 2
    num = h1_norm_sq(_real(pred) - _real(true), nd, lengths).sqrt()
    den = h1_norm_sq(true, nd, lengths).sqrt().clamp_min(eps)
    return (num / den).mean()


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``"l2"`` -> :func:`relative_l2`, ``"h1"`` -> :func:`relative_h1`."""
    if name == "l2":
        return relative_l2
    if name == "h1":
        return relative_h1
    raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
