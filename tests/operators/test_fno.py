"""FNO and spectral convolution: shapes, exactness against explicit Fourier multipliers,
resolution invariance, factorised weights, losses, and fitting a small batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from operators.fno import FNO
from operators.losses import h1_norm_sq, relative_h1, relative_l2
from operators.registry import arch_defaults, build_model, count_parameters
from operators.spectral import SpectralConv


def _periodic_field(n: int, ndim: int, channels: int = 1) -> torch.Tensor:
    """Band-limited periodic test field ``(1, C, n, ..., n)`` in float64."""
    x = torch.arange(n, dtype=torch.float64) / n
    mesh = torch.meshgrid(*([x] * ndim), indexing="ij")
    s = sum((d + 1) * m for d, m in enumerate(mesh))
    f = [torch.sin(2 * math.pi * s) + 0.5 * torch.cos(2 * math.pi * (c + 1) * mesh[0])
         * torch.cos(4 * math.pi * mesh[-1]) for c in range(channels)]
    return torch.stack(f)[None]


@pytest.mark.parametrize("ndim,n", [(1, 32), (2, 16), (3, 8)])
@pytest.mark.parametrize("factorization", ["dense", "cp", "tucker"])
def test_fno_shapes(ndim, n, factorization):
    model = build_model("fno", 3, 2, ndim, width=8, modes=3, layers=2,
                        projection_channels=16, factorization=factorization)
    out = model(torch.randn(4, 3, *([n] * ndim)))
    assert out.shape == (4, 2, *([n] * ndim))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(4, 2, *([n] * ndim)))


def test_spectral_conv_is_the_truncated_fourier_multiplier():
    """1-D: out_hat(k) = sum_i R[i, o, k] x_hat_i(k) for k < m, 0 above (direct DFT check)."""
    torch.manual_seed(0)
    conv = SpectralConv(2, 3, [5]).double()
    x = torch.randn(1, 2, 24, dtype=torch.float64)
    xh = torch.fft.rfft(x, norm="forward")
    R = torch.view_as_complex(conv.weight)
    expected = torch.zeros(1, 3, 13, dtype=torch.complex128)
    for k in range(5):
        expected[0, :, k] = xh[0, :, k] @ R[:, :, k]
    torch.testing.assert_close(conv(x), torch.fft.irfft(expected, n=24, norm="forward"))


@pytest.mark.parametrize("factorization", ["dense", "cp", "tucker"])
def test_spectral_conv_resolution_invariant_on_band_limited_input(factorization):
    """Same weights on 32^2 and 64^2 samples of one band-limited field: identical outputs."""
    conv = SpectralConv(2, 3, [5, 4], factorization=factorization).double()
    coarse, fine = _periodic_field(32, 2, 2), _periodic_field(64, 2, 2)
    torch.testing.assert_close(conv(coarse), conv(fine)[..., ::2, ::2], rtol=1e-10, atol=1e-12)


def test_fno_same_weights_at_two_resolutions():
    torch.manual_seed(1)
    model = FNO(1, 1, 2, width=16, modes=6, layers=3, grid_embedding=False).double()
    a, b = model(_periodic_field(32, 2)), model(_periodic_field(64, 2))
    assert ((a - b[..., ::2, ::2]).norm() / a.norm()) < 1e-8
    # with grid embedding (coordinates j/n: equal at the shared nodes, but the sawtooth they
    # form aliases differently on the two grids) the agreement is approximate and first
    # order in 1/n: the discrepancy halves as n doubles
    model = FNO(1, 1, 2, width=16, modes=6, layers=3).double()
    errs = []
    for n in (32, 64, 128):
        a, b = model(_periodic_field(n, 2)), model(_periodic_field(2 * n, 2))
        errs.append(float(((a - b[..., ::2, ::2]).norm() / a.norm()).detach()))
    assert errs[0] < 0.1 and all(0.4 < e1 / e0 < 0.6 for e0, e1 in zip(errs, errs[1:])), errs
    # coarser than 2 * modes: the model still runs on the modes the grid can hold
    assert model(_periodic_field(8, 2)).shape == (1, 1, 8, 8)


def test_cp_factorization_matches_its_dense_reconstruction():
    torch.manual_seed(2)
    cp = SpectralConv(3, 2, [4, 3], factorization="cp", rank=5).double()
    dense = SpectralConv(3, 2, [4, 3]).double()
    lam = torch.view_as_complex(cp.weights_lambda)
    A, B = (torch.view_as_complex(p) for p in (cp.factor_in, cp.factor_out))
    K1, K2 = (torch.view_as_complex(p) for p in cp.factor_modes)
    W = torch.einsum("r,ir,or,xr,yr->ioxy", lam, A, B, K1, K2)
    dense.weight.data = torch.view_as_real(W).contiguous()
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64)
    torch.testing.assert_close(cp(x), dense(x))
    assert count_parameters(cp) < count_parameters(dense)


def test_losses_exact_values():
    u = _periodic_field(64, 1).float()
    assert relative_l2(u, u).item() == 0.0
    assert abs(relative_l2(1.1 * u, u).item() - 0.1) < 1e-6
    # |sin(2 pi k x)|_{H1}^2 = mean(v^2) + mean(v'^2) = 1/2 (1 + (2 pi k)^2)
    x = torch.arange(64, dtype=torch.float64) / 64
    for k in (1, 3, 7):
        v = torch.sin(2 * math.pi * k * x)[None, None]
        exact = 0.5 * (1 + (2 * math.pi * k) ** 2)
        assert abs(h1_norm_sq(v, 1).item() - exact) < 1e-9 * exact
    # the H1 error weighs a high-frequency perturbation more than the L2 error does
    w = u + 0.01 * torch.sin(2 * math.pi * 12 * x.float())[None, None]
    assert relative_h1(w, u).item() > 5 * relative_l2(w, u).item()


def test_overfit_one_small_batch():
    """A tiny FNO fits one batch of a Fourier-multiplier map to < 1e-3 relative L2."""
    torch.manual_seed(0)
    n, res = 4, 32
    x = torch.arange(res) / res
    k = torch.arange(1, 5)
    coef = torch.randn(n, 4, 2)
    a = (coef[..., 0, None] * torch.sin(2 * math.pi * k[:, None] * x)
         + coef[..., 1, None] * torch.cos(2 * math.pi * k[:, None] * x)).sum(1)[:, None]
    ah = torch.fft.rfft(a)
    u = torch.fft.irfft(ah / (1 + (2 * math.pi * torch.arange(17)) ** 2 / 40), n=res)
    model = FNO(1, 1, 1, width=16, modes=8, layers=2, projection_channels=32,
                grid_embedding=False)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 600)
    for _ in range(600):
        opt.zero_grad()
        loss = relative_l2(model(a), u)
        loss.backward()
        opt.step()
        sched.step()
    assert relative_l2(model(a), u).item() < 1e-3


def test_registry_contract():
    defaults = arch_defaults("fno")
    assert defaults["width"] == 32 and defaults["modes"] == 12
    with pytest.raises(ValueError, match="unknown architecture option"):
        build_model("fno", 1, 1, 2, depth=3)
    with pytest.raises(ValueError, match="unknown operator kind"):
        build_model("unet", 1, 1, 2)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        FNO(1, 1, 4)
    # the paper's Darcy FNO (width 32, 12 modes, 4 layers) has about 2.37 M parameters
    paper = build_model("fno", 1, 1, 2)
    assert abs(count_parameters(paper) - 2.37e6) / 2.37e6 < 0.01


def test_replace_io_keeps_the_body():
    model = FNO(2, 1, 2, width=8, modes=3, layers=2)
    before = model.spectral[0].weight.detach().clone()
    model.replace_io(4, 3)
    assert model(torch.randn(1, 4, 8, 8)).shape == (1, 3, 8, 8)
    torch.testing.assert_close(model.spectral[0].weight, before)


def test_autocast_bf16_keeps_fft_in_fp32():
    model = FNO(1, 1, 2, width=8, modes=3, layers=2)
    x = torch.randn(2, 1, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert torch.isfinite(out).all()
    ref = model(x)
    assert (out.float() - ref).norm() / ref.norm() < 0.1
    np.testing.assert_equal(out.shape, ref.shape)


@pytest.mark.parametrize("shape,modes", [((40,), (4,)), ((16,), (6,)), ((40, 18), (4, 6)),
                                         ((18, 40), (6, 4)), ((20, 12, 24), (3, 4, 5))])
def test_truncated_transforms_equal_full_fft(shape, modes):
    """Pruned FFT / truncated-DFT products give exactly the low block of rfftn and its inverse."""
    from operators.spectral import truncated_irfftn, truncated_rfftn, use_dft_matmul

    assert use_dft_matmul(40, 4) and not use_dft_matmul(16, 6)
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    full = torch.fft.rfftn(x, dim=tuple(range(2, x.dim())), norm="forward")
    block = full[..., :modes[-1]]
    for d in range(len(shape) - 1):
        ax = 2 + d
        n, m = shape[d], modes[d]
        block = torch.cat([block.narrow(ax, 0, m), block.narrow(ax, n - m, m)], dim=ax)
    torch.testing.assert_close(truncated_rfftn(x, modes), block, rtol=1e-10, atol=1e-12)
    padded = torch.zeros_like(full)
    idx = [slice(None), slice(None)] + [slice(None)] * len(shape)
    idx[-1] = slice(0, modes[-1])
    sub = full[tuple(idx)]
    for d in range(len(shape) - 1):  # zero the middle (unkept) modes of the full axes
        ax, n, m = 2 + d, shape[d], modes[d]
        keep = torch.zeros(n, dtype=torch.bool)
        keep[:m], keep[n - m:] = True, True
        sub = sub * keep.reshape([-1 if a == ax else 1 for a in range(sub.dim())])
    padded[tuple(idx)] = sub
    expected = torch.fft.irfftn(padded, s=shape, dim=tuple(range(2, x.dim())), norm="forward")
    torch.testing.assert_close(truncated_irfftn(truncated_rfftn(x, modes), shape), expected,
                               rtol=1e-10, atol=1e-12)


def test_grid_coordinates_are_the_periodic_grid_and_old_models_keep_theirs():
    from operators.fno import grid_embedding
    from operators.registry import stored_arch

    g = grid_embedding((8,), 1, torch.device("cpu"), torch.float64)
    torch.testing.assert_close(g[0, 0], torch.arange(8, dtype=torch.float64) / 8)
    fine = grid_embedding((16,), 1, torch.device("cpu"), torch.float64)
    torch.testing.assert_close(fine[0, 0, ::2], g[0, 0])           # nested grids: same x
    old = grid_embedding((8,), 1, torch.device("cpu"), torch.float64, endpoint=True)
    assert float(old[0, 0, -1]) == 1.0
    # a model.json written before `grid_endpoint` existed rebuilds with linspace(0, 1, n)
    assert stored_arch("fno", {"width": 8})["grid_endpoint"] is True
    assert stored_arch("fno", {"grid_endpoint": False})["grid_endpoint"] is False
    torch.manual_seed(0)
    a = FNO(1, 1, 1, width=8, modes=4, layers=2, grid_endpoint=True).double()
    b = FNO(1, 1, 1, width=8, modes=4, layers=2).double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 16, dtype=torch.float64)
    assert (a(x) - b(x)).abs().max() > 1e-6                         # the keyword matters
