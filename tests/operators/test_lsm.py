"""Latent Spectral Model: shapes, patching, masking, basis exactness, gradients, fitting."""

from __future__ import annotations

import json
import math

import pytest
import torch

from operators.lsm import DEFAULTS, LSM, DoubleConv, NeuralSpectralBlock, patchify, unpatchify
from tests.helpers.training import overfit, smooth_batch


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("shape", [(32, 32), (24, 24), (85, 85), (20, 37), (5, 7)])
def test_output_shape_2d_any_resolution(shape):
    torch.manual_seed(0)
    model = LSM(3, 2, 2, width=8, num_token=3, num_basis=3, patch_size=4, levels=3)
    out = model(torch.randn(2, 3, *shape))
    assert out.shape == (2, 2, *shape)
    assert torch.isfinite(out).all()


def test_output_shape_1d_and_3d():
    torch.manual_seed(0)
    assert LSM(2, 1, 1, width=8, levels=2)(torch.randn(3, 2, 50)).shape == (3, 1, 50)
    m3 = LSM(2, 4, 3, width=4, num_token=2, num_basis=2, patch_size=2, levels=1)
    assert m3(torch.randn(1, 2, 6, 5, 7)).shape == (1, 4, 6, 5, 7)


def test_lead_time_is_ignored():
    torch.manual_seed(0)
    model = LSM(1, 1, 2, width=8, levels=2)
    x = torch.randn(2, 1, 16, 16)
    assert torch.equal(model(x), model(x, torch.tensor([0.3, 2.0])))


@pytest.mark.parametrize("shape,patch", [((8, 8), 4), ((6, 10), 4), ((7,), 3), ((5, 4, 3), 2)])
def test_patchify_roundtrip_and_blocks(shape, patch):
    x = torch.randn(2, 3, *shape)
    tokens, valid, padded = patchify(x, patch)
    assert padded == tuple(-(-n // patch) * patch for n in shape)
    assert tokens.shape[1:] == (patch ** len(shape), 3)
    assert int(valid.sum()) == 2 * math.prod(shape)
    assert torch.equal(unpatchify(tokens, 2, padded, shape, patch), x)
    # the first patch of sample 0 is the block x[0, :, :p, :p, ...] (row-major)
    block = x[(0, slice(None)) + tuple(slice(0, min(patch, n)) for n in shape)]
    first = tokens[0][valid[0]]
    assert torch.equal(first, block.reshape(3, -1).T)


def _nsb_reference(block: NeuralSpectralBlock, pix: torch.Tensor) -> torch.Tensor:
    """NSB of one patch ``(L, C)`` written out: project, latent operator, reconstruct."""
    c = pix.shape[1]
    logits = block.tokens @ pix.T / math.sqrt(c)                    # (M, L)
    latent = torch.softmax(logits, dim=1) @ pix                      # (M, C)
    k = torch.arange(1, block.freqs.numel() + 1) * math.pi
    feats = torch.cat([latent[..., None], torch.sin(latent[..., None] * k),
                       torch.cos(latent[..., None] * k)], dim=-1).reshape(latent.shape[0], -1)
    g = feats @ block.operator.weight.T + block.operator.bias
    return pix + torch.softmax(logits.T, dim=1) @ g


def test_spectral_block_matches_formula_and_masks_padding():
    """A 6×6 map with 4×4 patches: the partial corner patch sees only its 2×2 real points."""
    torch.manual_seed(0)
    block = NeuralSpectralBlock(channels=5, num_token=3, num_basis=4, patch_size=4)
    x = torch.randn(1, 5, 6, 6)
    out = block(x)
    full = x[0, :, :4, :4].reshape(5, -1).T
    assert torch.allclose(out[0, :, :4, :4].reshape(5, -1).T, _nsb_reference(block, full),
                          atol=1e-5)
    corner = x[0, :, 4:, 4:].reshape(5, -1).T
    assert torch.allclose(out[0, :, 4:, 4:].reshape(5, -1).T, _nsb_reference(block, corner),
                          atol=1e-5)


def test_latent_operator_is_a_trigonometric_series():
    """With one non-zero coefficient, G(T) is exactly sin(kπT) / cos(kπT) of one coordinate."""
    block = NeuralSpectralBlock(channels=2, num_token=1, num_basis=3, patch_size=2)
    tokens = torch.linspace(-1.5, 1.5, 14).reshape(7, 1, 2)
    with torch.no_grad():
        block.operator.weight.zero_()
        block.operator.bias.zero_()
        # feature layout: channel c owns [T_c, sin(πT_c..3πT_c), cos(πT_c..3πT_c)]
        block.operator.weight[0, 1 * 7 + 1 + 1] = 1.0      # out0 = sin(2π T_1)
        block.operator.weight[1, 0 * 7 + 4 + 2] = 2.0      # out1 = 2 cos(3π T_0)
        block.operator.weight[1, 0 * 7 + 0] = 0.5          # + 0.5 T_0
    g = block.latent_operator(tokens)
    assert torch.allclose(g[..., 0], torch.sin(2 * math.pi * tokens[..., 1]), atol=1e-6)
    assert torch.allclose(g[..., 1], 2 * torch.cos(3 * math.pi * tokens[..., 0])
                          + 0.5 * tokens[..., 0], atol=1e-6)


def test_parameter_counts_match_formulas():
    c, m, k = 12, 5, 6
    assert _n_params(NeuralSpectralBlock(c, m, k, 4)) == m * c + c * c * (2 * k + 1) + c
    assert _n_params(DoubleConv(3, c, 2)) == 9 * (3 * c + c * c) + 6 * c
    assert _n_params(DoubleConv(3, c, 1)) == 3 * (3 * c + c * c) + 6 * c
    w, levels, cin, cout = 4, 2, 3, 2
    model = LSM(cin, cout, 2, width=w, num_token=m, num_basis=k, patch_size=4, levels=levels)
    widths = [w * 2 ** i for i in range(levels + 1)]

    def dconv(a: int, b: int) -> int:
        return 9 * (a * b + b * b) + 6 * b

    expected = dconv(cin, w)
    expected += sum(dconv(widths[i], widths[i + 1]) for i in range(levels))
    expected += sum(m * ch + ch * ch * (2 * k + 1) + ch for ch in widths)
    expected += sum(dconv(widths[i + 1] + widths[i], widths[i]) for i in range(levels))
    expected += (w * 2 * w + 2 * w) + (2 * w * cout + cout)
    assert _n_params(model) == expected


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = LSM(2, 1, 2, width=4, num_token=2, num_basis=2, patch_size=4, levels=2)
    model(torch.randn(2, 2, 23, 19)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_overfits_one_smooth_batch():
    torch.manual_seed(0)
    a, u = smooth_batch(16)
    model = LSM(1, 1, 2, width=8, num_token=4, num_basis=4, patch_size=4, levels=2)
    assert overfit(model, a, u, steps=400) < 1e-2


def test_defaults_are_json_and_bad_input_is_rejected():
    from operators.registry import arch_defaults

    assert json.loads(json.dumps(arch_defaults("lsm"))) == DEFAULTS == LSM.ARCH_DEFAULTS
    with pytest.raises(ValueError, match="1-, 2- or 3-D"):
        LSM(1, 1, 4)
    with pytest.raises(ValueError, match=">= 1"):
        LSM(1, 1, 2, width=0)
    with pytest.raises(ValueError, match="expects input"):
        LSM(2, 1, 2, width=4, levels=1)(torch.randn(1, 3, 8, 8))


def test_trains_through_the_shared_trainer(tmp_path):
    """``build_model("lsm", ...)`` via the registry, two optimiser steps with the trainer."""
    from operators import checkpoint as ckpt
    from operators.registry import build_model
    from operators.trainer import TrainConfig, read_log
    from operators.training import load_model, train_operator
    from tests.helpers.fields import write_steady

    torch.manual_seed(0)
    registered = build_model("lsm", 2, 1, 2, width=4)
    torch.manual_seed(0)
    direct = LSM(2, 1, 2, width=4)
    x = torch.randn(2, 2, 12, 12)
    with torch.no_grad():  # the registry builds the same network (defaults, initialisation)
        assert torch.equal(registered(x), direct(x))
    path = write_steady(tmp_path / "s.h5", n=6, res=12)
    arch = {"width": 4, "num_token": 2, "num_basis": 2, "patch_size": 4, "levels": 1}
    config = TrainConfig(epochs=2, batch_size=8, lr=1e-3, quiet=True)
    summary = train_operator("lsm", path, tmp_path / "m", arch=arch, outputs="u", config=config,
                             val_fraction=0.2, test_fraction=0.0)
    log = read_log(tmp_path / "m")
    assert summary["epochs"] == 2 and len(log) == 2
    assert all(math.isfinite(r["train_loss"]) for r in log)
    wrapper, meta = load_model(tmp_path / "m")
    assert meta["arch"] == {**DEFAULTS, **arch}
    saved = ckpt.load_weights(tmp_path / "m")  # the trained weights, not a fresh network
    assert all(torch.equal(v, saved[k]) for k, v in wrapper.state_dict().items())
    with torch.no_grad():
        assert wrapper(torch.randn(2, 1, 12, 12)).shape == (2, 1, 12, 12)
