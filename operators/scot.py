"""scOT: the Poseidon-style scalable Operator Transformer (Herde et al., NeurIPS 2024).

A U-shaped Swin-v2 transformer on a 1-D or 2-D grid, conditioned on the lead time t::

    x (B, C_in, *S) --pad--> patch embedding (p^d conv, stride p) -> LN_t
      encoder stage s = 0..S-1 : depths[s] Swin-v2 blocks (dim C·2^s, heads[s]),
                                 then patch merging by 2 per axis (s < S-1)
      decoder stage s = S-2..0 : patch expanding by 2 per axis, + ConvNeXt(skip_s),
                                 depths[s] Swin-v2 blocks
      LN_t -> patch recovery (p^d transposed conv, GELU, 5^d conv) --crop--> (B, C_out, *S)

In 1-D (``ndim=1``, ``S = (L,)``) the windows are ``w`` consecutive tokens,
shifted by ``w/2`` on odd blocks, the log-CPB MLP takes the one relative
coordinate, merging maps ``2C → 2C`` and expanding ``C → C`` (see
:mod:`operators.swin`); the 2-D network is unchanged.

Every normalisation is a :class:`operators.swin.TimeLayerNorm`: a layer norm
without affine followed by ``γ(t) = a_γ t + b_γ``, ``β(t) = a_β t + b_β``, so the
output is a continuous function of ``t``; ``t=None`` means ``t = 0``.

Padding: the grid is zero-padded on the high side of each axis to the smallest
``N ≥ H`` that is a multiple of ``p·2^(S-1)`` and whose stage grids
``N/(p·2^s)`` are multiples of the (clipped) window ``min(w, N/(p·2^s))``;
the output is cropped back, so any resolution works (e.g. 85×85).

Fine-tuning: :meth:`ScOT.replace_io` swaps the input/output layers, named in
``ScOT.IO_MODULES = ("embedding", "recovery")``; all other weights are the body.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .swin import ConvNeXtBlock, PatchExpanding, PatchMerging, SwinBlock, TimeLayerNorm

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}

#: Architecture keywords and their defaults (a tiny CPU-sized model).
#: Poseidon-T-like: embed_dim=48, depths=[4, 4, 4, 4], num_heads=[3, 6, 12, 24],
#: window_size=16, patch_size=4, mlp_ratio=4.0.
DEFAULTS: dict[str, Any] = {
    "embed_dim": 24,
    "depths": [2, 2],
    "num_heads": [2, 4],
    "window_size": 4,
    "patch_size": 2,
    "mlp_ratio": 2.0,
    "skip_blocks": 1,
}


def padded_length(n: int, patch_size: int, window_size: int, stages: int) -> int:
    """Smallest ``N ≥ n`` with ``p·2^(S-1) | N`` and every stage grid divisible by its window."""
    step = patch_size * 2 ** (stages - 1)
    size = -(-n // step) * step
    while True:
        grids = [size // (patch_size * 2 ** s) for s in range(stages)]
        if all(g % min(window_size, g) == 0 for g in grids):
            return size
        size += step


class ScOT(nn.Module):
    """Time-conditioned Swin-v2 U-Net operator ``(x, t) ↦ u(t)`` on 1-D or 2-D grids."""

    #: convolution kernels and patches span a fixed number of grid points
    RESOLUTION_INVARIANT = False
    ARCH_DEFAULTS = DEFAULTS
    #: The lead time enters through the norms (the trainer adds no time channel).
    USES_TIME = True
    #: Submodules that depend on the channel counts (replaced by :meth:`replace_io`).
    IO_MODULES = ("embedding", "recovery")

    def __init__(self, in_channels: int, out_channels: int, ndim: int = 2, *,
                 embed_dim: int = 24, depths: list[int] | tuple[int, ...] = (2, 2),
                 num_heads: list[int] | tuple[int, ...] = (2, 4), window_size: int = 4,
                 patch_size: int = 2, mlp_ratio: float = 2.0, skip_blocks: int = 1) -> None:
        super().__init__()
        depths, num_heads = [int(d) for d in depths], [int(h) for h in num_heads]
        _check(ndim, in_channels, out_channels, embed_dim, depths, num_heads, window_size,
               patch_size, mlp_ratio, skip_blocks)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.ndim = int(ndim)
        self.arch = {"embed_dim": int(embed_dim), "depths": depths, "num_heads": num_heads,
                     "window_size": int(window_size), "patch_size": int(patch_size),
                     "mlp_ratio": float(mlp_ratio), "skip_blocks": int(skip_blocks)}
        self.patch_size, self.window_size, self.stages = patch_size, window_size, len(depths)
        dims = [embed_dim * 2 ** s for s in range(self.stages)]
        self.embedding = self._make_embedding(in_channels)
        self.embedding_norm = TimeLayerNorm(embed_dim)
        self.encoder = nn.ModuleList(self._stage(dims[s], depths[s], num_heads[s], mlp_ratio)
                                     for s in range(self.stages))
        self.merges = nn.ModuleList(PatchMerging(dims[s], ndim=ndim)
                                    for s in range(self.stages - 1))
        self.skips = nn.ModuleList(
            nn.ModuleList(ConvNeXtBlock(dims[s], ndim=ndim) for _ in range(skip_blocks))
            for s in range(self.stages - 1))
        self.expands = nn.ModuleList(PatchExpanding(dims[s + 1], ndim=ndim)
                                     for s in range(self.stages - 1))
        self.decoder = nn.ModuleList(self._stage(dims[s], depths[s], num_heads[s], mlp_ratio)
                                     for s in range(self.stages - 1))
        self.final_norm = TimeLayerNorm(embed_dim)
        self.recovery = self._make_recovery(out_channels)

    def _stage(self, dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
        return nn.ModuleList(SwinBlock(dim, heads, self.window_size, shifted=bool(i % 2),
                                       mlp_ratio=mlp_ratio, ndim=self.ndim)
                             for i in range(depth))

    def _make_embedding(self, in_channels: int) -> nn.Module:
        p = self.patch_size
        return _CONV[self.ndim](in_channels, self.arch["embed_dim"], kernel_size=p, stride=p)

    def _make_recovery(self, out_channels: int) -> nn.Module:
        c, p = self.arch["embed_dim"], self.patch_size
        conv_t = (nn.ConvTranspose1d, nn.ConvTranspose2d)[self.ndim - 1]
        return nn.Sequential(conv_t(c, c, kernel_size=p, stride=p), nn.GELU(),
                             _CONV[self.ndim](c, out_channels, kernel_size=5, padding=2))

    def replace_io(self, in_channels: int, out_channels: int) -> None:
        """Fresh ``embedding``/``recovery`` layers for new channel counts; the body is kept."""
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channel counts must be >= 1, got {in_channels}, {out_channels}")
        ref = self.embedding_norm.weight_bias
        self.embedding = self._make_embedding(int(in_channels)).to(ref.device, ref.dtype)
        self.recovery = self._make_recovery(int(out_channels)).to(ref.device, ref.dtype)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)

    def padded_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The grid a ``shape`` input is zero-padded to before the patch embedding."""
        return tuple(padded_length(n, self.patch_size, self.window_size, self.stages)
                     for n in shape)

    def forward(self, x: Tensor, t: Tensor | None = None) -> Tensor:
        """``x``: ``(B, C_in, *S)`` (``len(S) = ndim``), ``t``: ``(B,)`` lead times or None."""
        if x.dim() != self.ndim + 2 or x.shape[1] != self.in_channels:
            axes = ", L" if self.ndim == 1 else ", H, W"
            raise ValueError(f"scOT expects input (B, {self.in_channels}{axes}), "
                             f"got {tuple(x.shape)}")
        if t is not None and t.numel() != x.shape[0]:
            raise ValueError(f"lead time t has {t.numel()} entries for a batch of {x.shape[0]}")
        shape = tuple(x.shape[2:])
        padded = self.padded_shape(shape)
        x = F.pad(x, [v for n, m in zip(reversed(shape), reversed(padded)) for v in (0, m - n)])
        z = self.embedding_norm(self.embedding(x).movedim(1, -1), t)
        skips = []
        for s, stage in enumerate(self.encoder):
            for block in stage:
                z = block(z, t)
            if s < self.stages - 1:
                skips.append(z)
                z = self.merges[s](z, t)
        for s in reversed(range(self.stages - 1)):
            z = self.expands[s](z, t)
            skip = skips[s]
            for block in self.skips[s]:
                skip = block(skip, t)
            z = z + skip
            for block in self.decoder[s]:
                z = block(z, t)
        z = self.final_norm(z, t).movedim(-1, 1)
        return self.recovery(z)[(..., *(slice(0, n) for n in shape))]


def _check(ndim: int, in_channels: int, out_channels: int, embed_dim: int, depths: list[int],
           num_heads: list[int], window_size: int, patch_size: int, mlp_ratio: float,
           skip_blocks: int) -> None:
    """Validate the configuration with one-line messages."""
    if ndim not in (1, 2):
        raise ValueError(f"scOT supports 1-D and 2-D grids only, got ndim={ndim}")
    if in_channels < 1 or out_channels < 1:
        raise ValueError(f"channel counts must be >= 1, got {in_channels}, {out_channels}")
    if not depths or len(depths) != len(num_heads):
        raise ValueError(f"depths {depths} and num_heads {num_heads} must be non-empty lists "
                         "of the same length (one entry per stage)")
    if any(d < 1 for d in depths) or any(h < 1 for h in num_heads):
        raise ValueError("every stage needs depth >= 1 and num_heads >= 1")
    for s, h in enumerate(num_heads):
        if (embed_dim * 2 ** s) % h:
            raise ValueError(f"stage {s} width {embed_dim * 2 ** s} is not divisible by "
                             f"num_heads {h}")
    if embed_dim < 2 or embed_dim % 2:
        raise ValueError(f"embed_dim must be an even integer >= 2, got {embed_dim}")
    if window_size < 1 or patch_size < 1 or skip_blocks < 0 or mlp_ratio <= 0:
        raise ValueError("window_size and patch_size must be >= 1, skip_blocks >= 0, "
                         "mlp_ratio > 0")


@torch.no_grad()
def body_state_dict(model: ScOT) -> dict[str, Tensor]:
    """The state dict without the channel-dependent ``IO_MODULES`` (for fine-tuning)."""
    prefixes = tuple(f"{name}." for name in model.IO_MODULES)
    return {k: v for k, v in model.state_dict().items() if not k.startswith(prefixes)}
