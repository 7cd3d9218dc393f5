"""scOT on 1-D grids: shapes, 1-D windows and their shifted-window masks, log-CPB in 1-D,
patch merging/expanding by 2, exact locality of (shifted) window attention, gradients,
parameter counts, time conditioning, and ``rom train scot`` on a 1-D dataset."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from operators.scot import ScOT
from operators.swin import (
    ConvNeXtBlock,
    PatchExpanding,
    PatchMerging,
    SwinBlock,
    TimeLayerNorm,
    WindowAttention,
    log_spaced_offsets,
    region_mask,
    relative_position_index,
    window_partition,
    window_reverse,
)
from tests.helpers.fields import write_heat, write_steady

TINY = {"embed_dim": 8, "depths": [1, 2], "num_heads": [2, 2], "window_size": 4,
        "patch_size": 2, "mlp_ratio": 2.0, "skip_blocks": 1}


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("n", [64, 40, 17, 5, 1])
def test_output_shape_any_length(n):
    torch.manual_seed(0)
    model = ScOT(3, 2, 1, **TINY)
    out = model(torch.randn(2, 3, n), torch.tensor([0.0, 0.7]))
    assert out.shape == (2, 2, n) and torch.isfinite(out).all()


def test_three_stages_pad_and_crop_in_1d():
    torch.manual_seed(0)
    model = ScOT(1, 1, 1, embed_dim=8, depths=[2, 1, 2], num_heads=[1, 2, 4], window_size=8,
                 patch_size=2)
    assert model.padded_shape((100,)) == (128,)
    assert model(torch.randn(1, 1, 100)).shape == (1, 1, 100)
    # the padded tail never leaks into the cropped output: inputs equal on [0, 100) agree
    x = torch.randn(1, 1, 128)
    with torch.no_grad():
        assert torch.equal(model(x[..., :100]), model(F.pad(x[..., :100], (0, 28)))[..., :100])


def test_window_partition_roundtrip_1d():
    x = torch.randn(2, 12, 3)
    win = window_partition(x, (4,))
    assert win.shape == (2 * 3, 4, 3)
    assert torch.equal(win[1], x[0, 4:8]) and torch.equal(win[3], x[1, 0:4])
    assert torch.equal(window_reverse(win, (4,), 12), x)


@pytest.mark.parametrize("length,w,s", [(16, 4, 2), (12, 6, 3), (8, 8, 0), (20, 4, 1)])
def test_shifted_mask_allows_exactly_original_neighbours_1d(length, w, s):
    """After rolling by -s, two tokens of a window may attend iff they are < w apart in the
    original (non-periodic) order: none attends across the wrap boundary."""
    mask = region_mask((length,), (w,), (s,), torch.device("cpu"))
    orig = ((torch.arange(length) + s) % length).float()[None, :, None]   # rolled -> original
    pos = window_partition(orig, (w,))[..., 0]                           # (nW, w)
    near = (pos[:, :, None] - pos[:, None, :]).abs() < w
    assert mask.shape == (length // w, w, w)
    assert torch.equal(mask == 0, near)


@pytest.mark.parametrize("shifted", [False, True])
def test_window_attention_is_exactly_local_in_1d(shifted):
    """Perturbing token 0 changes only the tokens of its window: [0, w) without a shift;
    with the shift w/2 only {0, .., w/2-1}, never the tokens rolled next to it from the
    other end of the grid (L-w/2 .. L-1)."""
    torch.manual_seed(0)
    length, w = 16, 4
    block = SwinBlock(8, 2, w, shifted=shifted, ndim=1)
    x = torch.randn(1, length, 8)
    y = x.clone()
    y[0, 0] += 1.0
    with torch.no_grad():
        changed = (block(x, None) - block(y, None)).abs().amax(-1)[0] > 0
    reach = w // 2 if shifted else w
    assert changed[:reach].all() and not changed[reach:].any()
    assert block.geometry(length) == ((w,), (w // 2 if shifted else 0,))
    assert block.geometry(2) == ((2,), (0,))       # a window clipped to the grid: no shift


def test_relative_position_tables_1d():
    idx = relative_position_index((3,))
    assert torch.equal(idx, torch.arange(3)[:, None] - torch.arange(3)[None, :] + 2)
    offs = log_spaced_offsets((4,))
    assert offs.shape == (7, 1)
    assert float(offs.abs().max()) == pytest.approx(math.log2(9) / 3)   # Δ = ±(w-1)
    assert torch.allclose(offs, -offs.flip(0)) and offs[3, 0] == 0


def test_window_attention_covering_the_line_is_global_cosine_attention():
    torch.manual_seed(0)
    dim, heads, n = 6, 2, 5
    attn = WindowAttention(dim, heads, ndim=1)
    x = torch.randn(3, n, dim)
    q, k, v = attn.qkv(x).reshape(3, n, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    pos = torch.arange(n).float()
    delta = (pos[:, None] - pos[None]) / (n - 1) * 8
    delta = torch.sign(delta) * torch.log2(1 + delta.abs()) / 3
    bias = 16 * torch.sigmoid(attn.cpb_mlp(delta[..., None])).permute(2, 0, 1)
    logits = 10.0 * F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-1, -2) + bias
    ref = (logits.softmax(-1) @ v).transpose(1, 2).reshape(3, n, dim)
    assert torch.allclose(attn(x, (n,)), attn.proj(ref), atol=1e-5)
    with pytest.raises(ValueError, match="1-D attention"):
        attn(x.reshape(3, n, dim), (n, 1))


def test_patch_merging_and_expanding_by_two_in_1d():
    torch.manual_seed(0)
    c = 6
    x = torch.randn(2, 10, c)
    merge = PatchMerging(c, ndim=1)
    pairs = torch.cat([x[:, 0::2], x[:, 1::2]], dim=-1)              # [x_{2i}, x_{2i+1}]
    assert torch.allclose(merge(x, None), merge.norm(merge.reduction(pairs), None))
    expand = PatchExpanding(c, ndim=1)
    y = expand(x, None)
    e = expand.expand(x)                                              # (B, L, C)
    assert y.shape == (2, 20, c // 2)
    assert torch.allclose(y[:, 0::2], expand.norm(e[..., :c // 2], None))
    assert torch.allclose(y[:, 1::2], expand.norm(e[..., c // 2:], None))


def test_parameter_counts_match_formulas_1d():
    c, h, r = 12, 3, 2.0
    hidden = int(c * r)
    attn = 3 * c * c + 3 * c + c * c + c + h + (1 * 512 + 512 + 512 * h)
    mlp = c * hidden + hidden + hidden * c + c
    assert _n_params(WindowAttention(c, h, ndim=1)) == attn
    assert _n_params(SwinBlock(c, h, 4, True, r, ndim=1)) == attn + mlp + 2 * 4 * c
    assert _n_params(PatchMerging(c, ndim=1)) == 2 * c * 2 * c + 4 * 2 * c
    assert _n_params(PatchExpanding(c, ndim=1)) == c * c + 4 * c // 2
    assert _n_params(ConvNeXtBlock(c, ndim=1)) == 7 * c + c + 4 * c + 8 * c * c + 5 * c + c


def test_gradient_reaches_every_parameter_1d():
    torch.manual_seed(0)
    model = ScOT(2, 1, 1, **TINY)
    model(torch.randn(2, 2, 40), torch.tensor([0.3, 1.0])).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_time_conditioning_in_1d():
    torch.manual_seed(0)
    model = ScOT(1, 1, 1, **TINY)
    x = torch.randn(2, 1, 32)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        assert torch.equal(model(x, None), model(x, torch.zeros(2)))
        for mod in model.modules():
            if isinstance(mod, TimeLayerNorm):
                mod.shift_slope.copy_(0.3 * torch.randn(mod.shift_slope.shape, generator=gen))
        assert (model(x, torch.zeros(2)) - model(x, torch.ones(2))).norm() > 1e-3


def test_bad_1d_input_is_rejected():
    model = ScOT(2, 1, 1, **TINY)
    with pytest.raises(ValueError, match=r"expects input \(B, 2, L\)"):
        model(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        PatchMerging(4, ndim=3)


def _rom(capsys, *args) -> tuple[int, str, str]:
    from cli.main import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rom_train_scot_on_a_1d_dataset(tmp_path, capsys):
    """`rom train scot` on 1-D steady and time-dependent data; `rom info` reports ndim 1 and
    the 1-D layers; evaluation at another resolution is refused (not resolution-invariant)."""
    from operators.evaluation import evaluate

    data = write_steady(tmp_path / "s.h5", n=10, res=32, ndim=1)
    code, out, err = _rom(capsys, "train", "scot", data, "-o", tmp_path / "m", "--epochs", "2",
                          "--batch-size", "4", "--outputs", "u", "--embed-dim", "8",
                          "--depths", "1,1", "--num-heads", "2,2", "--window-size", "4",
                          "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["model"] == "scot"
    code, out, err = _rom(capsys, "info", tmp_path / "m", "--json")
    assert code == 0, err
    desc = json.loads(out)
    assert desc["ndim"] == 1 and desc["arch"]["depths"] == [1, 1]
    assert desc["parameters"] == sum(desc["blocks"].values()) > 0
    rec = evaluate(tmp_path / "m", data)
    assert rec["n_samples"] >= 1 and math.isfinite(rec["rel_l2"]["mean"])
    with pytest.raises(ValueError):
        evaluate(tmp_path / "m", data, resolution=64)
    heat = write_heat(tmp_path / "h.h5", n=6, res=16, n_times=3)
    code, _, err = _rom(capsys, "train", "scot", heat, "-o", tmp_path / "t", "--epochs", "1",
                        "--batch-size", "8", "--embed-dim", "8", "--depths", "1,1",
                        "--num-heads", "2,2", "-q")
    assert code == 0, err
    with open(tmp_path / "t" / "model.json") as f:
        meta = json.load(f)
    assert meta["ndim"] == 1 and not meta["time_channel"]
