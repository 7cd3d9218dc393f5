"""LSM: the Latent Spectral Model (Wu et al., ICML 2023), on 1-, 2- or 3-D grids.

A U-Net of convolutions whose skip connections pass through Neural Spectral
Blocks (NSB) that solve the PDE operator in a small latent space::

    x (B, C_in, *S) --pad to 2^levels--> lift: DoubleConv(C_in → w)
      encoder  e_0 = lift(x),  e_l = DoubleConv(MaxPool₂(e_{l-1}))  (width w·2^l)
      skips    z_l = NSB_l(e_l)                                   l = 0..levels
      decoder  d_L = z_L,  d_l = DoubleConv([Up₂(d_{l+1}), z_l])  (linear interpolation)
      head     1×1 conv → GELU → 1×1 conv --crop--> (B, C_out, *S)

Neural Spectral Block on a feature map ``X`` (C channels). The map is cut into
non-overlapping patches of ``p^d`` points (zero-padded to a multiple of ``p``;
padded points are masked out of the projection and cropped after the
reconstruction). In each patch, with ``M`` learned latent tokens ``T₀ ∈ R^{M×C}``:

1. projection to the latent space (cross-attention, pixels as keys/values)
   ``T = softmax(T₀ Xᵀ / √C) X``  (M × C);
2. latent operator with a trigonometric basis of ``K`` frequencies applied to
   each token coordinate, ``φ(T) = [T, sin(kπT), cos(kπT)]_{k=1..K}``, and
   learned coefficients ``W ∈ R^{C(2K+1) × C}``, ``b ∈ R^C``:
   ``G(T) = φ(T) W + b`` -- a truncated Fourier series in every latent
   coordinate, mixed across channels;
3. reconstruction (pixels as queries, latent tokens as keys, G(T) as values)
   ``X' = softmax(X T₀ᵀ / √C) G(T)``, and the block returns ``X + X'``.

The lead time ``t`` is ignored (the trainer supplies it as an input channel).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Architecture keywords and their defaults (a small CPU-sized model).
DEFAULTS: dict[str, Any] = {
    "width": 16,
    "num_token": 4,
    "num_basis": 8,
    "patch_size": 4,
    "levels": 3,
}

_INTERP = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _conv(ndim: int) -> type[nn.Module]:
    return {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[ndim]


class DoubleConv(nn.Module):
    """``(conv3 → GroupNorm(1) → GELU)²``; parameters ``3^d(C_i C_o + C_o²) + 6 C_o``."""

    def __init__(self, cin: int, cout: int, ndim: int) -> None:
        super().__init__()
        conv = _conv(ndim)
        self.net = nn.Sequential(conv(cin, cout, 3, padding=1), nn.GroupNorm(1, cout), nn.GELU(),
                                 conv(cout, cout, 3, padding=1), nn.GroupNorm(1, cout),
                                 nn.GELU())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def patchify(x: Tensor, patch: int) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Cut ``(B, C, *S)`` into patches ``(B·P, p^d, C)`` after zero-padding to multiples of p.

    Returns the patches, a boolean ``(B·P, p^d)`` mask of real (unpadded) points
    and the padded spatial shape.
    """
    b, c, *shape = x.shape
    d = len(shape)
    padded = tuple(-(-n // patch) * patch for n in shape)
    pad = [v for n, m in zip(reversed(shape), reversed(padded)) for v in (0, m - n)]
    x = F.pad(x, pad)
    valid = F.pad(torch.ones((1, 1, *shape), dtype=torch.bool, device=x.device), pad)
    split = [b, c]
    for m in padded:
        split += [m // patch, patch]
    # axes: b, c, (n_1, p_1), ..., (n_d, p_d) -> b, n_1..n_d, p_1..p_d, c
    order = [0] + [2 + 2 * i for i in range(d)] + [3 + 2 * i for i in range(d)] + [1]
    tokens = x.reshape(split).permute(order).reshape(-1, patch ** d, c)
    vsplit = [1, 1] + split[2:]
    vmask = valid.reshape(vsplit).permute(order).reshape(-1, patch ** d)
    return tokens, vmask.repeat(b, 1), padded


def unpatchify(tokens: Tensor, batch: int, padded: tuple[int, ...], shape: tuple[int, ...],
               patch: int) -> Tensor:
    """Inverse of :func:`patchify`: ``(B·P, p^d, C)`` -> ``(B, C, *shape)`` (crop)."""
    d = len(padded)
    c = tokens.shape[-1]
    grid = [m // patch for m in padded]
    x = tokens.reshape([batch] + grid + [patch] * d + [c])
    order = [0, 2 * d + 1]
    for i in range(d):
        order += [1 + i, 1 + d + i]
    x = x.permute(order).reshape([batch, c] + list(padded))
    return x[(slice(None), slice(None)) + tuple(slice(0, n) for n in shape)]


class NeuralSpectralBlock(nn.Module):
    """Latent-space operator with a trigonometric basis (see the module docstring).

    Parameters: ``M·C`` (latent tokens) ``+ C²(2K+1) + C`` (latent operator).
    """

    def __init__(self, channels: int, num_token: int, num_basis: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.tokens = nn.Parameter(torch.randn(num_token, channels) / math.sqrt(channels))
        self.register_buffer("freqs", math.pi * torch.arange(1, num_basis + 1,
                                                             dtype=torch.float32),
                             persistent=False)
        self.operator = nn.Linear(channels * (2 * num_basis + 1), channels)

    def latent_operator(self, tokens: Tensor) -> Tensor:
        """``G(T) = [T, sin(kπT), cos(kπT)] W + b`` for tokens ``(…, M, C)``."""
        arg = tokens[..., None] * self.freqs
        feats = torch.cat([tokens[..., None], torch.sin(arg), torch.cos(arg)], dim=-1)
        return self.operator(feats.flatten(-2))

    def forward(self, x: Tensor) -> Tensor:
        b, c, *shape = x.shape
        p = min(self.patch_size, max(shape))
        pix, valid, padded = patchify(x, p)                       # (BP, L, C), (BP, L)
        scale = 1.0 / math.sqrt(c)
        logits = torch.einsum("mc,nlc->nml", self.tokens, pix) * scale
        # padded points may not be attended to; they still query (and are cropped later)
        masked = logits.masked_fill(~valid[:, None, :], float("-inf"))
        latent = torch.softmax(masked, dim=-1) @ pix               # (BP, M, C)
        latent = self.latent_operator(latent)
        back = torch.softmax(logits.transpose(1, 2), dim=-1) @ latent   # (BP, L, C)
        return x + unpatchify(back, b, padded, tuple(shape), p)


class LSM(nn.Module):
    """Latent Spectral Model: U-Net with Neural Spectral Blocks on every scale."""

    #: convolution kernels and patches span a fixed number of grid points
    RESOLUTION_INVARIANT = False
    ARCH_DEFAULTS = DEFAULTS
    #: ``t`` is ignored; the trainer appends the lead time as an input channel.
    USES_TIME = False

    def __init__(self, in_channels: int, out_channels: int, ndim: int = 2, *, width: int = 16,
                 num_token: int = 4, num_basis: int = 8, patch_size: int = 4,
                 levels: int = 3) -> None:
        super().__init__()
        if ndim not in _INTERP:
            raise ValueError(f"LSM supports 1-, 2- or 3-D grids, got ndim={ndim}")
        if min(in_channels, out_channels, width, num_token, patch_size) < 1:
            raise ValueError("in_channels, out_channels, width, num_token and patch_size "
                             "must be >= 1")
        if num_basis < 0 or levels < 0:
            raise ValueError(f"num_basis and levels must be >= 0, got {num_basis}, {levels}")
        self.in_channels, self.out_channels, self.ndim = int(in_channels), int(out_channels), ndim
        self.levels = int(levels)
        self.arch = {"width": int(width), "num_token": int(num_token),
                     "num_basis": int(num_basis), "patch_size": int(patch_size),
                     "levels": int(levels)}
        widths = [width * 2 ** level for level in range(levels + 1)]
        self.lift = DoubleConv(in_channels, width, ndim)
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1], ndim)
                                  for i in range(levels))
        self.spectral = nn.ModuleList(NeuralSpectralBlock(c, num_token, num_basis, patch_size)
                                      for c in widths)
        self.up = nn.ModuleList(DoubleConv(widths[i + 1] + widths[i], widths[i], ndim)
                                for i in range(levels))
        conv = _conv(ndim)
        self.head = nn.Sequential(conv(width, 2 * width, 1), nn.GELU(),
                                  conv(2 * width, out_channels, 1))
        self._pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[ndim]

    def padded_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The grid a ``shape`` input is zero-padded to (multiples of ``2^levels``)."""
        m = 2 ** self.levels
        return tuple(-(-n // m) * m for n in shape)

    def forward(self, x: Tensor, t: Tensor | None = None) -> Tensor:
        """``x``: ``(B, C_in, *S)``; ``t`` is accepted and ignored."""
        if x.dim() != self.ndim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"LSM expects input (B, {self.in_channels}, {self.ndim} spatial "
                             f"axes), got {tuple(x.shape)}")
        shape = tuple(x.shape[2:])
        padded = self.padded_shape(shape)
        pad = [v for n, m in zip(reversed(shape), reversed(padded)) for v in (0, m - n)]
        h = self.lift(F.pad(x, pad))
        feats = [h]
        for down in self.down:
            h = down(self._pool(h, 2))
            feats.append(h)
        skips = [block(f) for block, f in zip(self.spectral, feats)]
        h = skips[-1]
        for level in reversed(range(self.levels)):
            h = F.interpolate(h, size=skips[level].shape[2:], mode=_INTERP[self.ndim],
                              align_corners=False)
            h = self.up[level](torch.cat([h, skips[level]], dim=1))
        out = self.head(h)
        return out[(slice(None), slice(None)) + tuple(slice(0, n) for n in shape)]
