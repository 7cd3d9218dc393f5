"""Building blocks of scOT: time-conditioned norms and Swin-v2 windowed attention, 1-D or 2-D.

All tensors inside these blocks are *channels-last*: ``(B, *grid, C)`` with a
grid of ``d = 1`` axis ``(L,)`` or ``d = 2`` axes ``(H, W)``; windows, shifts and
offsets are tuples of length ``d``; the lead time ``t`` is a tensor ``(B,)``.

* :class:`TimeLayerNorm` -- layer norm over channels without its own affine,
  followed by a scale and shift that are affine functions of ``t``:
  ``y = γ(t) ⊙ (x - μ)/sqrt(σ² + ε) + β(t)``, ``γ(t) = a_γ t + b_γ``,
  ``β(t) = a_β t + b_β`` (``a, b ∈ R^C``). Initialised with ``a_γ = a_β = 0``,
  ``b_γ = 1``, ``b_β = 0`` so a fresh block is an ordinary layer norm; the
  output is affine (hence continuous) in ``t``.
* :class:`WindowAttention` -- Swin-v2 scaled-cosine self-attention within
  windows of ``w_1 × … × w_d`` tokens, ``A = softmax(τ_h cos(q_i, k_j) + B_ij)``
  with a learnable per-head ``log τ_h`` (clamped at ``log 100``) and a
  *continuous* relative-position bias ``B = 16 σ(MLP(Δ̂))``, the MLP taking the
  ``d`` log-spaced relative coordinates ``Δ̂ = sign(Δ) log2(1 + 8|Δ|/(w-1)) / 3``
  (log-CPB), so one set of weights serves every window size.
* :class:`SwinBlock` -- res-post-norm Swin-v2 block:
  ``x ← x + LN_t(Attn(x))``, ``x ← x + LN_t(MLP(x))`` with cyclic-shifted
  windows (shift ``w/2``) on odd blocks and the usual region mask (3 regions
  per shifted axis: tokens rolled across the periodic wrap never attend to
  the others of their window).
* :class:`PatchMerging` / :class:`PatchExpanding` -- down/up-sampling by 2 along
  every axis (``2^d C → 2C`` linear; ``C → 2^(d-1) C`` linear + pixel shuffle
  to ``C/2``).
* :class:`ConvNeXtBlock` -- ``x + λ ⊙ W₂ GELU(W₁ LN_t(DWConv₇(x)))`` used on
  the skip connections (7 or 7×7 depthwise kernel).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The CPB MLP's hidden width (Swin-v2 uses 512).
CPB_HIDDEN = 512
#: Value added to attention logits between tokens of different shifted regions.
MASK_VALUE = -1.0e4

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}


def _check_ndim(ndim: int) -> int:
    if ndim not in _CONV:
        raise ValueError(f"Swin blocks support 1-D or 2-D token grids, got ndim={ndim}")
    return int(ndim)


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


def window_partition(x: Tensor, window: tuple[int, ...]) -> Tensor:
    """``(B, n_1, …, n_d, C)`` -> ``(B·nW, w_1⋯w_d, C)`` (windows in row-major order)."""
    b, *grid, c = x.shape
    d = len(window)
    split = [v for n, w in zip(grid, window) for v in (n // w, w)]
    order = (0, *range(1, 2 * d, 2), *range(2, 2 * d + 1, 2), 2 * d + 1)
    x = x.view(b, *split, c).permute(order)
    return x.reshape(-1, math.prod(window), c)


def window_reverse(windows: Tensor, window: tuple[int, ...], *grid: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B·nW, w_1⋯w_d, C)`` -> ``(B, *grid, C)``."""
    d = len(window)
    c = windows.shape[-1]
    x = windows.view(-1, *(n // w for n, w in zip(grid, window)), *window, c)
    order = (0, *(v for i in range(d) for v in (1 + i, 1 + d + i)), 2 * d + 1)
    return x.permute(order).reshape(-1, *grid, c)


def relative_position_index(window: tuple[int, ...]) -> Tensor:
    """Index ``(N, N)`` into the ``∏(2w_i-1)`` table of offsets between window cells.

    Offset ``Δ`` maps to ``Σ_i (Δ_i + w_i - 1) ∏_{j>i} (2w_j - 1)`` (row-major).
    """
    coords = torch.stack(torch.meshgrid(*(torch.arange(n) for n in window), indexing="ij"))
    coords = coords.flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]
    index = rel[0] + window[0] - 1
    for i in range(1, len(window)):
        index = index * (2 * window[i] - 1) + (rel[i] + window[i] - 1)
    return index


def log_spaced_offsets(window: tuple[int, ...]) -> Tensor:
    """Log-CPB inputs ``(∏(2w_i-1), d)``: ``sign(Δ) log2(1 + 8|Δ|/(w-1)) / log2(8)``."""
    axes = []
    for n in window:
        d = torch.arange(-(n - 1), n, dtype=torch.float32)
        d = d / (n - 1) * 8.0 if n > 1 else d
        axes.append(torch.sign(d) * torch.log2(1.0 + d.abs()) / math.log2(8.0))
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    return grid.reshape(-1, len(window))


def region_mask(grid: tuple[int, ...], window: tuple[int, ...], shift: tuple[int, ...],
                device: torch.device) -> Tensor:
    """Additive mask ``(nW, N, N)`` of a grid rolled by ``-shift``: 0 within a region,
    ``MASK_VALUE`` across regions.

    After the cyclic roll the last window along a shifted axis holds cells that
    are not neighbours in the original grid; cells are labelled by region
    (bands ``[0, n-w)``, ``[n-w, n-s)``, ``[n-s, n)`` per shifted axis) and
    attention between different labels is suppressed.
    """
    label = torch.zeros(1, *grid, 1, device=device)
    bands = [(slice(0, n - wn), slice(n - wn, n - s), slice(n - s, n)) if s else (slice(0, n),)
             for n, wn, s in zip(grid, window, shift)]
    for count, region in enumerate(itertools.product(*bands)):
        label[(slice(None), *region, slice(None))] = count
    lw = window_partition(label, window).squeeze(-1)
    diff = lw[:, None, :] - lw[:, :, None]
    return torch.where(diff != 0, MASK_VALUE, 0.0)


def shifted_window_mask(h: int, w: int, window: tuple[int, int], shift: tuple[int, int],
                        device: torch.device) -> Tensor:
    """:func:`region_mask` of an ``h × w`` grid (the 2-D form)."""
    return region_mask((h, w), window, shift, device)


class WindowAttention(nn.Module):
    """Swin-v2 scaled-cosine multi-head attention inside windows with log-CPB bias.

    ``head_h = softmax(τ_h · q̂ k̂ᵀ + 16 σ(B_h) + mask) v`` where ``q̂, k̂`` are
    unit-normalised per head and ``τ_h = exp(min(s_h, log 100))``.
    Parameters: ``qkv (3C² + 3C) + proj (C² + C) + s (heads)
    + CPB (d·512 + 512 + 512·heads)`` on a ``d``-D grid.
    """

    def __init__(self, dim: int, num_heads: int, ndim: int = 2) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.ndim = _check_ndim(ndim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.full((num_heads,), math.log(10.0)))
        self.cpb_mlp = nn.Sequential(nn.Linear(self.ndim, CPB_HIDDEN), nn.ReLU(inplace=True),
                                     nn.Linear(CPB_HIDDEN, num_heads, bias=False))
        self._geometry: dict[tuple[int, ...], tuple[Tensor, Tensor]] = {}

    def _tables(self, window: tuple[int, ...], device: torch.device) -> tuple[Tensor, Tensor]:
        if len(window) != self.ndim:
            raise ValueError(f"a {self.ndim}-D attention got the window {window}")
        if window not in self._geometry:
            self._geometry[window] = (log_spaced_offsets(window), relative_position_index(window))
        offsets, index = self._geometry[window]
        return offsets.to(device), index.to(device)

    def position_bias(self, window: tuple[int, ...], device: torch.device) -> Tensor:
        """Continuous relative position bias ``(heads, N, N)`` in ``(0, 16)``."""
        offsets, index = self._tables(window, device)
        table = self.cpb_mlp(offsets.to(self.proj.weight.dtype))   # (T, heads)
        n = math.prod(window)
        bias = table[index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)
        return 16.0 * torch.sigmoid(bias)

    def forward(self, x: Tensor, window: tuple[int, ...], mask: Tensor | None = None) -> Tensor:
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

    The window is clipped to the grid (``w_eff = min(w, n)`` per axis), and no
    shift is used on an axis the window already covers. Every grid axis must be
    a multiple of its ``w_eff``.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, shifted: bool,
                 mlp_ratio: float = 4.0, ndim: int = 2) -> None:
        super().__init__()
        self.window_size = window_size
        self.shifted = shifted
        self.ndim = _check_ndim(ndim)
        self.attn = WindowAttention(dim, num_heads, ndim)
        self.norm1 = TimeLayerNorm(dim)
        hidden = int(round(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = TimeLayerNorm(dim)

    def geometry(self, *grid: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Effective window and shift for a token grid ``n_1 × … × n_d``."""
        window = tuple(min(self.window_size, n) for n in grid)
        if any(n % wn for n, wn in zip(grid, window)):
            raise ValueError(f"token grid {'x'.join(map(str, grid))} is not a multiple of the "
                             f"window {window}")
        shift = tuple(wn // 2 if self.shifted and n > wn else 0 for n, wn in zip(grid, window))
        return window, shift

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        grid = tuple(x.shape[1:-1])
        window, shift = self.geometry(*grid)
        axes = tuple(range(1, 1 + len(grid)))
        mask = None
        y = x
        if any(shift):
            y = torch.roll(y, shifts=tuple(-s for s in shift), dims=axes)
            mask = region_mask(grid, window, shift, x.device).to(x.dtype)
        y = self.attn(window_partition(y, window), window, mask)
        y = window_reverse(y, window, *grid)
        if any(shift):
            y = torch.roll(y, shifts=shift, dims=axes)
        x = x + self.norm1(y, t)
        return x + self.norm2(self.mlp(x), t)


class PatchMerging(nn.Module):
    """Merge 2 tokens per axis: concatenate the ``2^d`` neighbours, ``Linear(2^d C → 2C)``,
    then LN_t (Swin v2)."""

    def __init__(self, dim: int, ndim: int = 2) -> None:
        super().__init__()
        self.ndim = _check_ndim(ndim)
        self.reduction = nn.Linear(2 ** self.ndim * dim, 2 * dim, bias=False)
        self.norm = TimeLayerNorm(2 * dim)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        b, *grid, c = x.shape
        d = len(grid)
        split = [v for n in grid for v in (n // 2, 2)]
        # coarse axes first, then the fine offsets with the last axis varying slowest
        order = (0, *range(1, 2 * d, 2), *range(2 * d, 0, -2), 2 * d + 1)
        x = x.view(b, *split, c).permute(order).reshape(b, *(n // 2 for n in grid), 2 ** d * c)
        return self.norm(self.reduction(x), t)


class PatchExpanding(nn.Module):
    """Split each token into 2 per axis: ``Linear(C → 2^(d-1) C)``, pixel shuffle to
    ``(2n_1, …, 2n_d, C/2)``, then LN_t."""

    def __init__(self, dim: int, ndim: int = 2) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"cannot expand an odd width {dim}")
        self.ndim = _check_ndim(ndim)
        self.expand = nn.Linear(dim, 2 ** (self.ndim - 1) * dim, bias=False)
        self.norm = TimeLayerNorm(dim // 2)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        b, *grid, c = x.shape
        d = len(grid)
        x = self.expand(x).view(b, *grid, *(2,) * d, c // 2)
        order = (0, *(v for i in range(d) for v in (1 + i, 1 + d + i)), 2 * d + 1)
        return self.norm(x.permute(order).reshape(b, *(2 * n for n in grid), c // 2), t)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block on channels-last maps: ``x + λ ⊙ W₂ GELU(W₁ LN_t(DWConv₇(x)))``.

    Parameters: ``7^d C + C`` (depthwise conv) ``+ 4C`` (LN_t) ``+ 8C² + 5C`` (MLP)
    ``+ C`` (layer scale λ, initialised to ``layer_scale``).
    """

    def __init__(self, dim: int, layer_scale: float = 1e-1, ndim: int = 2) -> None:
        super().__init__()
        self.ndim = _check_ndim(ndim)
        self.dwconv = _CONV[self.ndim](dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = TimeLayerNorm(dim)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.pw2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        y = self.dwconv(x.movedim(-1, 1)).movedim(1, -1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y, t))))
        return x + self.gamma * y
