"""scOT: shapes and padding, Swin-v2 attention exactness, shifted-window masks,
time conditioning, fine-tuning I/O replacement, gradients, parameter counts, fitting."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from operators.scot import DEFAULTS, ScOT, body_state_dict, padded_length
from operators.swin import (
    ConvNeXtBlock,
    PatchExpanding,
    PatchMerging,
    SwinBlock,
    TimeLayerNorm,
    WindowAttention,
    log_spaced_offsets,
    relative_position_index,
    shifted_window_mask,
    window_partition,
    window_reverse,
)
from tests.helpers.training import overfit, smooth_batch

TINY = {"embed_dim": 8, "depths": [1, 1], "num_heads": [2, 2], "window_size": 4,
        "patch_size": 2, "mlp_ratio": 2.0, "skip_blocks": 1}


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _perturb_time_norms(model: torch.nn.Module, scale: float = 0.3) -> None:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, TimeLayerNorm):
                mod.weight_slope.copy_(scale * torch.randn(mod.weight_slope.shape, generator=gen))
                mod.shift_slope.copy_(scale * torch.randn(mod.shift_slope.shape, generator=gen))


@pytest.mark.parametrize("shape", [(32, 32), (24, 24), (85, 85), (16, 40), (7, 9)])
def test_output_shape_any_resolution(shape):
    torch.manual_seed(0)
    model = ScOT(3, 2, 2, **TINY)
    out = model(torch.randn(2, 3, *shape), torch.tensor([0.0, 0.7]))
    assert out.shape == (2, 2, *shape)
    assert torch.isfinite(out).all()


def test_three_stage_model_with_clipped_windows():
    torch.manual_seed(0)
    model = ScOT(1, 1, 2, embed_dim=8, depths=[2, 1, 2], num_heads=[1, 2, 4], window_size=8,
                 patch_size=2)
    assert model.padded_shape((24, 40)) == (32, 64)
    assert model(torch.randn(1, 1, 24, 40)).shape == (1, 1, 24, 40)


@pytest.mark.parametrize("n", [1, 7, 24, 85, 100, 128])
@pytest.mark.parametrize("p,w,s", [(2, 4, 2), (4, 16, 4), (4, 8, 3), (1, 3, 1)])
def test_padded_length_is_minimal_and_admissible(n, p, w, s):
    def ok(m):
        grids = [m // (p * 2 ** i) for i in range(s)]
        return m % (p * 2 ** (s - 1)) == 0 and all(g % min(w, g) == 0 for g in grids)

    size = padded_length(n, p, w, s)
    assert size >= n and ok(size)
    assert not any(ok(m) for m in range(n, size))


def test_window_partition_roundtrip():
    x = torch.randn(2, 8, 12, 3)
    win = window_partition(x, (4, 3))
    assert win.shape == (2 * 2 * 4, 12, 3)
    assert torch.equal(win[1], x[0, :4, 3:6].reshape(12, 3))
    assert torch.equal(window_reverse(win, (4, 3), 8, 12), x)


def test_shifted_mask_allows_exactly_original_neighbours():
    """Two cells of one rolled window may attend iff they are < w apart in the original grid."""
    h, w, win, shift = 8, 12, (4, 4), (2, 2)
    mask = shifted_window_mask(h, w, win, shift, torch.device("cpu"))
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    orig = torch.stack([(rows + shift[0]) % h, (cols + shift[1]) % w], dim=-1)  # rolled -> orig
    pos = window_partition(orig[None].float(), win)                            # (nW, N, 2)
    near = ((pos[:, :, None, :] - pos[:, None, :, :]).abs() < torch.tensor(win)).all(-1)
    assert torch.equal(mask == 0, near)


def test_relative_position_tables():
    idx = relative_position_index((2, 2))
    # cells (0,0),(0,1),(1,0),(1,1); table index (dy+1)*3 + (dx+1)
    assert idx[0].tolist() == [4, 3, 1, 0] and idx[3].tolist() == [8, 7, 5, 4]
    offs = log_spaced_offsets((4, 4))
    assert offs.shape == (49, 2)
    assert float(offs.abs().max()) == pytest.approx(math.log2(9) / 3)   # Δ = ±(w-1)
    assert torch.allclose(offs, -offs.flip(0))                  # odd in the offset
    assert offs[24].abs().sum() == 0                             # zero offset in the centre


def test_window_attention_covering_the_grid_is_global_cosine_attention():
    torch.manual_seed(0)
    dim, heads, n = 6, 2, 3
    attn = WindowAttention(dim, heads)
    x = torch.randn(2, n * n, dim)
    out = attn(x, (n, n))
    q, k, v = attn.qkv(x).reshape(2, n * n, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    pos = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1)
    pos = pos.reshape(-1, 2).float()
    delta = (pos[:, None] - pos[None]) / (n - 1) * 8
    delta = torch.sign(delta) * torch.log2(1 + delta.abs()) / 3
    bias = 16 * torch.sigmoid(attn.cpb_mlp(delta)).permute(2, 0, 1)
    logits = 10.0 * F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-1, -2) + bias
    ref = (logits.softmax(-1) @ v).transpose(1, 2).reshape(2, n * n, dim)
    assert torch.allclose(out, attn.proj(ref), atol=1e-5)


def test_time_layer_norm_is_affine_in_t():
    torch.manual_seed(0)
    norm = TimeLayerNorm(5)
    x = torch.randn(3, 4, 5)
    assert torch.allclose(norm(x, None), F.layer_norm(x, (5,)), atol=1e-6)
    _perturb_time_norms(norm)
    t = torch.tensor([0.0, 0.4, 2.5])
    y0, y1, yt = norm(x, torch.zeros(3)), norm(x, torch.ones(3)), norm(x, t)
    assert torch.allclose(yt, y0 + t[:, None, None] * (y1 - y0), atol=1e-5)
    assert torch.equal(norm(x, None), y0)


def test_output_varies_continuously_with_lead_time():
    torch.manual_seed(0)
    model = ScOT(1, 1, 2, **TINY)
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x, None), model(x, torch.zeros(2)))
        # at initialisation the slopes are zero: the model starts as t-independent
        assert torch.allclose(model(x, torch.zeros(2)), model(x, torch.ones(2)), atol=1e-6)
        _perturb_time_norms(model)
        f = lambda s: model(x, torch.full((2,), s))  # noqa: E731
        base = f(0.5)
        scale = float(base.norm())
        assert (f(0.0) - f(1.0)).norm() > 1e-2 * scale          # a genuine change
        d3, d4 = float((f(0.5 + 1e-3) - base).norm()), float((f(0.5 + 1e-4) - base).norm())
        assert d3 < 1e-2 * scale                                 # small dt, small change
        assert d4 == pytest.approx(d3 / 10, rel=0.2)             # locally linear (smooth)


def test_replace_io_keeps_the_body():
    torch.manual_seed(0)
    model = ScOT(3, 2, 2, **TINY)
    body = {k: v.clone() for k, v in body_state_dict(model).items()}
    model.replace_io(5, 4)
    assert model.IO_MODULES == ("embedding", "recovery")
    assert model.embedding.in_channels == 5 and model.recovery[-1].out_channels == 4
    after = body_state_dict(model)
    assert after.keys() == body.keys()
    assert all(torch.equal(after[k], body[k]) for k in body)
    assert model(torch.randn(1, 5, 16, 16), torch.ones(1)).shape == (1, 4, 16, 16)
    fresh = ScOT(5, 4, 2, **TINY)
    missing, unexpected = fresh.load_state_dict(body, strict=False)
    assert not unexpected
    assert missing and all(k.split(".")[0] in model.IO_MODULES for k in missing)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = ScOT(2, 1, 2, **TINY)
    model(torch.randn(2, 2, 20, 20), torch.tensor([0.3, 1.0])).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_parameter_counts_match_formulas():
    c, h, r = 12, 3, 2.0
    hidden = int(c * r)
    cpb = 2 * 512 + 512 + 512 * h
    attn = 3 * c * c + 3 * c + c * c + c + h + cpb
    mlp = c * hidden + hidden + hidden * c + c
    assert _n_params(TimeLayerNorm(c)) == 4 * c
    assert _n_params(WindowAttention(c, h)) == attn
    assert _n_params(SwinBlock(c, h, 4, True, r)) == attn + mlp + 2 * 4 * c
    assert _n_params(PatchMerging(c)) == 4 * c * 2 * c + 4 * 2 * c
    assert _n_params(PatchExpanding(c)) == c * 2 * c + 4 * c // 2
    assert _n_params(ConvNeXtBlock(c)) == 49 * c + c + 4 * c + 8 * c * c + 5 * c + c


def test_overfits_one_smooth_batch():
    torch.manual_seed(0)
    a, u = smooth_batch(16)
    model = ScOT(1, 1, 2, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4,
                 patch_size=2, mlp_ratio=2.0)
    assert overfit(model, a, u, steps=400, t=torch.tensor([0.5, 0.5])) < 1e-2


def test_defaults_are_json_and_bad_configs_are_rejected():
    from operators.registry import arch_defaults

    assert json.loads(json.dumps(arch_defaults("scot"))) == DEFAULTS == ScOT.ARCH_DEFAULTS
    with pytest.raises(ValueError, match="1-D and 2-D"):
        ScOT(1, 1, 3)
    with pytest.raises(ValueError, match="same length"):
        ScOT(1, 1, 2, depths=[2, 2], num_heads=[2])
    with pytest.raises(ValueError, match="not divisible"):
        ScOT(1, 1, 2, embed_dim=10, num_heads=[3, 3])
    model = ScOT(2, 1, 2, **TINY)
    with pytest.raises(ValueError, match="expects input"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="lead time"):
        model(torch.randn(2, 2, 8, 8), torch.ones(3))
    with torch.no_grad():
        assert math.isfinite(float(model(torch.randn(1, 2, 8, 8)).sum()))


def _write_heat_2d(path, n: int = 6, res: int = 8, n_times: int = 3):
    """2-D periodic heat equation, exact mode by mode: ``û_k(t) = exp(-ν|2πk|² t) û_k(0)``."""
    from data.dataset import write_dataset
    from solvers.problems import Grid, ParameterSpace

    rng = np.random.default_rng(0)
    grid = Grid.uniform(res, ndim=2, periodic=True)
    u0 = rng.standard_normal((n, res, res))
    k = 2 * np.pi * np.fft.fftfreq(res, 1.0 / res)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    times = 0.1 * np.arange(1, n_times + 1)
    uh = np.fft.fft2(u0)
    u = np.stack([np.fft.ifft2(uh * np.exp(-0.01 * k2 * t)).real for t in times], axis=1)
    space = ParameterSpace(("m0",), ("normal",), ((-3.0, 3.0),))
    return write_dataset(path, problem="heat2d_synthetic", config={"problem": "heat2d"},
                         grid=grid, times=times, parameters=rng.standard_normal((n, 1)),
                         parameter_space=space, sampler="normal", inputs={"u0": u0},
                         outputs={"u": u, "v": u ** 2}, stats={"seconds": np.full(n, 0.01)},
                         seed=0)


def test_trains_and_fine_tunes_through_the_shared_trainer(tmp_path):
    """Registry build, two trainer steps on lead-time pairs, then fine-tuning with new outputs."""
    from operators import checkpoint as ckpt
    from operators.registry import build_model
    from operators.trainer import TrainConfig, read_log
    from operators.training import load_model, train_operator

    torch.manual_seed(0)
    registered = build_model("scot", 1, 1, 2, **TINY)
    torch.manual_seed(0)
    direct = ScOT(1, 1, 2, **TINY)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([0.0, 0.5])
    with torch.no_grad():  # the registry builds the same network (defaults, initialisation)
        assert torch.equal(registered(x, t), direct(x, t))
    path = _write_heat_2d(tmp_path / "h.h5")
    config = TrainConfig(epochs=2, batch_size=64, lr=1e-3, quiet=True)
    train_operator("scot", path, tmp_path / "base", arch=TINY, outputs="u", config=config,
                   val_fraction=0.2, test_fraction=0.0)
    assert len(read_log(tmp_path / "base")) == 2
    wrapper, meta = load_model(tmp_path / "base")
    assert not meta["time_channel"] and meta["in_channels"] == 1   # t goes to the norms
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert wrapper(x, torch.full((2,), 0.2)).shape == (2, 1, 8, 8)
    # fine-tune with two outputs: replace_io swaps the I/O layers, the body is kept
    tuned_cfg = TrainConfig(epochs=1, batch_size=64, lr=1e-12, quiet=True)
    train_operator("scot", path, tmp_path / "ft", init=tmp_path / "base", outputs="u,v",
                   config=tuned_cfg, val_fraction=0.2, test_fraction=0.0)
    meta = json.loads((tmp_path / "ft" / "model.json").read_text())
    assert meta["out_channels"] == 2
    assert meta["init"]["reinitialised"] and all(
        k.split(".")[0] in ScOT.IO_MODULES for k in meta["init"]["reinitialised"])
    base, tuned = ckpt.load_weights(tmp_path / "base"), ckpt.load_weights(tmp_path / "ft")
    key = "model.encoder.0.0.attn.qkv.weight"
    torch.testing.assert_close(tuned[key], base[key], rtol=1e-6, atol=1e-9)
