"""Building blocks of scOT: time-conditioned norms and Swin-v2 windowed attention.

All tensors inside these blocks are *channels-last*: ``(B, H, W, C)``; the lead
time ``t`` is a tensor ``(B,)``.

* :class:`TimeLayerNorm` -- layer norm over channels without its own affine,
  followed by a scale and shift that are affine functions of ``t``:
  ``y = γ(t) ⊙ (x - μ)/sqrt(σ² + ε) + β(t)``, ``γ(t) = a_γ t + b_γ``,
  ``β(t) = a_β t + b_β`` (``a, b ∈ R^C``). Initialised with ``a_γ = a_β = 0``,
  ``b_γ = 1``, ``b_β = 0`` so a fresh block is an ordinary layer norm; the
  output is affine (hence continuous) in ``t``.
* :class:`WindowAttention` -- Swin-v2 scaled-cosine self-attention within
  ``w_h × w_w`` windows, ``A = softmax(τ_h cos(q_i, k_j) + B_ij)`` with a
  learnable per-head ``log τ_h`` (clamped at ``log 100``) and a *continuous*
  relative-position bias ``B = 16 σ(MLP(Δ̂))`` evaluated at log-spaced
  relative coordinates ``Δ̂ = sign(Δ) log2(1 + 8|Δ|/(w-1)) / 3`` (log-CPB),
  so one set of weights serves every window size.
* :class:`SwinBlock` -- res-post-norm Swin-v2 block:
  ``x ← x + LN_t(Attn(x))``, ``x ← x + LN_t(MLP(x))`` with cyclic-shifted
  windows (shift ``w/2``) on odd blocks and the usual region mask.
* :class:`PatchMerging` / :class:`PatchExpanding` -- 2×2 down/up-sampling of
  the token grid (``4C → 2C`` linear; ``C → 2C`` linear + pixel shuffle to C/2).
* :class:`ConvNeXtBlock` -- ``x + λ ⊙ W₂ GELU(W₁ LN_t(DWConv7×7(x)))`` used on
  the skip connections.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The CPB MLP's hidden width (Swin-v2 uses 512).
CPB_HIDDEN = 512
#: Value added to attention logits between tokens of different shifted regions.
MASK_VALUE = -1.0e4


def _time(t: Tensor | None, x: Tensor) -> Tensor:
    """Lead times as a float tensor ``(B,)`` on x's device; ``None`` means t = 0."""
    if t is None:
        return x.new_zeros(x.shape[0])
    return t.to(dtype=x.dtype, device=x.device).reshape(x.shape[0])


class TimeLayerNorm(nn.Module):
    """Layer norm over the last axis with lead-time-dependent scale and shift.

    ``y = (a_γ t + b_γ) ⊙ (x - μ)/sqrt(σ² + ε) + (a_β t + b_β)``; μ, σ² over channels.
    Parameters: ``4 C`` (``weight_slope, weight_bias, shift_slope, shift_bias``).
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight_slope = nn.Parameter(torch.zeros(dim))
        self.weight_bias = nn.Parameter(torch.ones(dim))
        self.shift_slope = nn.Parameter(torch.zeros(dim))
        self.shift_bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        tt = _time(t, x).reshape((x.shape[0],) + (1,) * (x.dim() - 1))
        y = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return (self.weight_slope * tt + self.weight_bias) * y + (self.shift_slope * tt
                                                                   + self.shift_bias)


def window_partition(x: Tensor, window: tuple[int, int]) -> Tensor:
    """``(B, H, W, C)`` -> ``(B·nW, w_h·w_w, C)`` (windows in row-major order)."""
    b, h, w, c = x.shape
    wh, ww = window
    x = x.view(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, c)


def window_reverse(windows: Tensor, window: tuple[int, int], h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B·nW, w_h·w_w, C)`` -> ``(B, H, W, C)``."""
    wh, ww = window
    c = windows.shape[-1]
    x = windows.view(-1, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(window: tuple[int, int]) -> Tensor:
    """Index ``(N, N)`` into the ``(2w_h-1)(2w_w-1)`` table of offsets between window cells."""
    wh, ww = window
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij"))
    coords = coords.flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]
    return (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)


def log_spaced_offsets(window: tuple[int, int]) -> Tensor:
    """Log-CPB inputs ``((2w_h-1)(2w_w-1), 2)``: ``sign(Δ) log2(1 + 8|Δ|/(w-1)) / log2(8)``."""
    axes = []
    for n in window:
        d = torch.arange(-(n - 1), n, dtype=torch.float32)
        d = d / (n - 1) * 8.0 if n > 1 else d
        axes.append(torch.sign(d) * torch.log2(1.0 + d.abs()) / math.log2(8.0))
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    return grid.reshape(-1, 2)


def shifted_window_mask(h: int, w: int, window: tuple[int, int], shift: tuple[int, int],
                        device: torch.device) -> Tensor:
    """Additive mask ``(nW, N, N)``: 0 within a region, ``MASK_VALUE`` across regions.

    After a cyclic roll by ``-shift`` the bottom/right windows contain cells that
    are not neighbours in the original grid; cells are labelled by region
    (3 bands per axis) and attention between different labels is suppressed.
    """
    label = torch.zeros(1, h, w, 1, device=device)
    bands = []
    for n, wn, s in ((h, window[0], shift[0]), (w, window[1], shift[1])):
        bands.append((slice(0, n - wn), slice(n - wn, n - s), slice(n - s, n)) if s else
                     (slice(0, n),))
    count = 0
    for sh in bands[0]:
        for sw in bands[1]:
            label[:, sh, sw, :] = count
            count += 1
    lw = window_partition(label, window).squeeze(-1)
    diff = lw[:, None, :] - lw[:, :, None]
    return torch.where(diff != 0, MASK_VALUE, 0.0)


class WindowAttention(nn.Module):
    """Swin-v2 scaled-cosine multi-head attention inside windows with log-CPB bias.

    ``head_h = softmax(τ_h · q̂ k̂ᵀ + 16 σ(B_h) + mask) v`` where ``q̂, k̂`` are
    unit-normalised per head and ``τ_h = exp(min(s_h, log 100))``.
    Parameters: ``qkv (3C² + 3C) + proj (C² + C) + s (heads)
    + CPB (2·512 + 512 + 512·heads)``.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.full((num_heads,), math.log(10.0)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, CPB_HIDDEN), nn.ReLU(inplace=True),
                                     nn.Linear(CPB_HIDDEN, num_heads, bias=False))
        self._geometry: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    def _tables(self, window: tuple[int, int], device: torch.device) -> tuple[Tensor, Tensor]:
        if window not in self._geometry:
            self._geometry[window] = (log_spaced_offsets(window), relative_position_index(window))
        offsets, index = self._geometry[window]
        return offsets.to(device), index.to(device)

    def position_bias(self, window: tuple[int, int], device: torch.device) -> Tensor:
        """Continuous relative position bias ``(heads, N, N)`` in ``(0, 16)``."""
        offsets, index = self._tables(window, device)
        table = self.cpb_mlp(offsets.to(self.proj.weight.dtype))   # (T, heads)
        n = window[0] * window[1]
        bias = table[index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)
        return 16.0 * torch.sigmoid(bias)

    def forward(self, x: Tensor, window: tuple[int, int], mask: Tensor | None = None) -> Tensor:
        """``x``: ``(B·nW, N, C)`` windows; ``mask``: ``(nW, N, N)`` or None."""
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        scale = torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1))
        attn = attn * scale[None, :, None, None] + self.position_bias(window, x.device)[None]
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask[None, :, None]
            attn = attn.view(bw, self.num_heads, n, n)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(out)


class SwinBlock(nn.Module):
    """Res-post-norm Swin-v2 block with time-conditioned norms and optional window shift.

    The window is clipped to the grid (``w_eff = min(w, H)``), and no shift is used
    on an axis the window already covers. ``H, W`` must be multiples of ``w_eff``.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, shifted: bool,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.window_size = window_size
        self.shifted = shifted
        self.attn = WindowAttention(dim, num_heads)
        self.norm1 = TimeLayerNorm(dim)
        hidden = int(round(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = TimeLayerNorm(dim)

    def geometry(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Effective window and shift for an ``h × w`` token grid."""
        window = (min(self.window_size, h), min(self.window_size, w))
        if h % window[0] or w % window[1]:
            raise ValueError(f"token grid {h}x{w} is not a multiple of the window {window}")
        shift = tuple(wn // 2 if self.shifted and n > wn else 0 for n, wn in zip((h, w), window))
        return window, shift

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        b, h, w, c = x.shape
        window, shift = self.geometry(h, w)
        mask = None
        y = x
        if any(shift):
            y = torch.roll(y, shifts=(-shift[0], -shift[1]), dims=(1, 2))
            mask = shifted_window_mask(h, w, window, shift, x.device).to(x.dtype)
        y = self.attn(window_partition(y, window), window, mask)
        y = window_reverse(y, window, h, w)
        if any(shift):
            y = torch.roll(y, shifts=shift, dims=(1, 2))
        x = x + self.norm1(y, t)
        return x + self.norm2(self.mlp(x), t)


class PatchMerging(nn.Module):
    """2×2 token merge: concatenate neighbours (4C), ``Linear(4C → 2C)``, then LN_t (Swin v2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = TimeLayerNorm(2 * dim)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        b, h, w, c = x.shape
        x = x.view(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 4, 2, 5).reshape(
            b, h // 2, w // 2, 4 * c)
        return self.norm(self.reduction(x), t)


class PatchExpanding(nn.Module):
    """2×2 token split: ``Linear(C → 2C)``, pixel shuffle to ``(2H, 2W, C/2)``, then LN_t."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"cannot expand an odd width {dim}")
        self.expand = nn.Linear(dim, 2 * dim, bias=False)
        self.norm = TimeLayerNorm(dim // 2)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        b, h, w, c = x.shape
        x = self.expand(x).view(b, h, w, 2, 2, c // 2).permute(0, 1, 3, 2, 4, 5)
        return self.norm(x.reshape(b, 2 * h, 2 * w, c // 2), t)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block on channels-last maps: ``x + λ ⊙ W₂ GELU(W₁ LN_t(DWConv₇(x)))``.

    Parameters: ``49C + C`` (depthwise conv) ``+ 4C`` (LN_t) ``+ 8C² + 5C`` (MLP)
    ``+ C`` (layer scale λ, initialised to ``layer_scale``).
    """

    def __init__(self, dim: int, layer_scale: float = 1e-1) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = TimeLayerNorm(dim)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.pw2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        y = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y, t))))
        return x + self.gamma * y
