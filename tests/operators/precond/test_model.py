"""Learned PCG preconditioners: structure (SPD by construction), exactness of the losses and
applications, two-level SPD-ness, PCG convergence, the effect of training, files and the CLI."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from click.testing import CliRunner

from operators.precond.coarse import CoarseSpace, TwoLevel, project_probes
from operators.precond.factor import FactorVariant
from operators.precond.gnn import PrecondGNN
from operators.precond.graph import build_graph, collate, scale_matrix, spmv
from operators.precond.losses import factor_loss, inverse_loss
from operators.precond.model import LearnedPreconditioner, load
from operators.precond.train import fit, prepare_system, sampled_systems
from solvers.linear.krylov import cg

torch.set_num_threads(1)


def darcy_systems(n, seed, coefficient="lognormal", resolution=18):
    """``n`` Darcy systems with 16² unknowns (resolution 18 incl. boundary)."""
    return sampled_systems("darcy", resolution, n, seed, coefficient=coefficient)


def random_net(hidden=8, layers=2, seed=0, scale=0.1, edge_states=False):
    """A network with all weights random (the zero-initialised head too): generic outputs."""
    torch.manual_seed(seed)
    net = PrecondGNN(hidden, layers, edge_states)
    with torch.no_grad():
        for prm in net.parameters():
            prm.normal_(0.0, scale)
    return net.eval()


@pytest.fixture(scope="module")
def system():
    return darcy_systems(1, 0)[0]


def test_sampled_systems_are_reproducible_and_need_normal_parameters():
    (A1, b1), (A2, _) = darcy_systems(2, 4)
    (B1, c1), _ = darcy_systems(2, 4)
    assert abs(A1 - B1).max() == 0 and np.array_equal(b1, c1)  # same seed, same systems
    assert abs(A1 - A2).max() > 0  # independent draws
    with pytest.raises(ValueError, match="standard-normal parameters"):
        sampled_systems("thermal_block", 9, 1, 0)


# ---------------------------------------------------------------- graph
def test_scaling_and_graph_shapes(system):
    A, _ = system
    As, s = scale_matrix(A)
    assert np.allclose(As.diagonal(), 1.0)
    assert abs(As - As.T).max() < 1e-14
    g = build_graph(As, s, power=2)
    n = A.shape[0]
    assert g.x.shape[0] == n and g.edge_index.shape[1] == A.nnz - n
    pi, pj = g.pair_index.numpy()
    assert np.all(pi >= pj)
    P = sp.tril(As @ As)
    assert g.pair_index.shape[1] == P.nnz
    # the pair feature 0 is A-hat on the pattern (zero where A has no entry)
    dense = As.toarray()
    assert np.allclose(g.pair_attr[:, 0].numpy(), dense[pi, pj], atol=1e-6)


def test_spmv_and_collate_agree_with_scipy(system):
    A, _ = system
    B, _ = darcy_systems(1, 5, "piecewise")[0]
    ga = build_graph(*scale_matrix(A), dtype=torch.float64)
    gb = build_graph(*scale_matrix(B), dtype=torch.float64)
    g = collate([ga, gb])
    big = sp.block_diag([scale_matrix(A)[0], scale_matrix(B)[0]]).tocsr()
    z = np.random.default_rng(1).standard_normal((g.n, 3))
    y = spmv(g.a_index, g.a_value, torch.as_tensor(z), g.n).numpy()
    assert np.allclose(y, big @ z, atol=1e-12)
    L = sp.csr_matrix((g.pair_attr[:, 0].numpy(), g.pair_index.numpy()), shape=big.shape)
    yt = spmv(g.pair_index, g.pair_attr[:, 0], torch.as_tensor(z), g.n, transpose=True).numpy()
    assert np.allclose(yt, L.T @ z, atol=1e-12)
    assert g.node_graph().tolist() == [0] * A.shape[0] + [1] * B.shape[0]


def test_scale_rejects_nonpositive_diagonal():
    with pytest.raises(ValueError, match="positive diagonal"):
        scale_matrix(sp.diags([1.0, -1.0]))


@pytest.mark.parametrize("edge_states", [False, True])
def test_network_inference_path_matches_training_path(system, edge_states):
    """No-grad (torch CSR products) and grad (scatter-add) forwards agree; batching is exact."""
    A, _ = system
    B, _ = darcy_systems(1, 3, "piecewise")[0]
    net = random_net(edge_states=edge_states)
    ga, gb = (build_graph(*scale_matrix(M), power=2) for M in (A, B))
    g = collate([ga, gb])
    with torch.no_grad():
        fast = net(g)
    slow = net(g).detach()
    assert torch.allclose(fast, slow, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        alone = torch.cat([net(ga), net(gb)])
    assert torch.allclose(fast, alone, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- variants
@pytest.mark.parametrize("power", [0, 1, 2])
def test_factor_is_lower_with_positive_diagonal_and_spd(system, power):
    A, _ = system
    model = LearnedPreconditioner(random_net(), "factor", power=power, coarse_levels=0)
    M = model.build(A)
    L = M.L.toarray()
    assert np.allclose(L, np.tril(L)) and np.all(np.diag(L) > 0)
    np.linalg.cholesky(L @ L.T)  # SPD: succeeds
    r = np.random.default_rng(0).standard_normal(A.shape[0])
    exact = np.linalg.solve(M.matrix().toarray(), r)
    assert np.allclose(M.apply(r), exact, rtol=1e-6)  # limited by cond(L) of a random net
    assert M.lu is not None  # the compiled SuperLU route is taken
    y = spla.spsolve_triangular(M.L, r * M.s, lower=True)
    ref = M.s * spla.spsolve_triangular(sp.csr_matrix(M.L.T), y, lower=False)
    assert np.allclose(M.apply(r), ref, rtol=1e-10)
    assert np.allclose(M.apply(np.stack([r, 2 * r], 1))[:, 1], 2 * M.apply(r))


def test_inverse_is_spd_and_untrained_is_jacobi(system):
    A, _ = system
    M = LearnedPreconditioner(random_net(), "inverse", coarse_levels=0, eps=1e-3).build(A)
    B = M.matrix().toarray()
    assert np.allclose(B, B.T, atol=1e-12) and np.linalg.eigvalsh(B).min() > 0
    r = np.random.default_rng(0).standard_normal(A.shape[0])
    assert np.allclose(M.apply(r), B @ r)
    fresh = LearnedPreconditioner(PrecondGNN(8, 2), "inverse", coarse_levels=0, eps=1e-3).build(A)
    assert np.allclose(fresh.apply(r), (1 + 1e-3) * r / A.diagonal())


def _dense_graph(A, power):
    As, s = scale_matrix(A)
    return As, build_graph(As, s, power, dtype=torch.float64)


def test_losses_match_dense_formulas(system):
    A, _ = system
    As, g = _dense_graph(A, 2)
    rng = np.random.default_rng(2)
    vals = torch.as_tensor(rng.standard_normal(g.pair_index.shape[1]) * 0.1 + g.pair_attr[:, 2].numpy())
    c = rng.standard_normal((A.shape[0], 4))
    L = sp.csr_matrix((vals.numpy(), g.pair_index.numpy()), shape=A.shape).toarray()
    Ad = As.toarray()
    num = np.sum(((L @ L.T - Ad) @ c) ** 2, 0) / np.sum((Ad @ c) ** 2, 0)
    assert float(factor_loss(vals, g, torch.as_tensor(c))) == pytest.approx(num.mean(), rel=1e-10)
    eps = 1e-2
    num = np.sum(((L @ L.T + eps * np.eye(len(c))) @ Ad @ c - c) ** 2, 0) / np.sum(c ** 2, 0)
    assert float(inverse_loss(vals, g, torch.as_tensor(c), eps)) == pytest.approx(num.mean(),
                                                                                   rel=1e-10)


def test_supervised_probe_is_the_scaled_solution(system):
    """With c = x̂ = D^{1/2} x the factor loss is ‖L Lᵀ x̂ − b̂‖²/‖b̂‖² (b̂ = D^{-1/2} b)."""
    A, b = system
    x = spla.spsolve(A.tocsc(), b)
    ts = prepare_system(A, x, power=1, coarse_levels=0, loss="supervised", n_bank=4,
                        rng=np.random.default_rng(0))
    s = 1 / np.sqrt(A.diagonal())
    assert np.allclose(ts.bank[:, 0].numpy(), x / s, rtol=1e-6)
    As, g = _dense_graph(A, 1)
    vals = FactorVariant().values(torch.zeros(g.pair_index.shape[1], dtype=torch.float64), g)
    L = sp.csr_matrix((vals.numpy(), g.pair_index.numpy()), shape=A.shape)
    bh = s * b
    want = np.sum((L @ (L.T @ (x / s)) - bh) ** 2) / np.sum(bh ** 2)
    got = float(factor_loss(vals, g, torch.as_tensor((x / s)[:, None])))
    assert got == pytest.approx(want, rel=1e-8)
    with pytest.raises(ValueError, match="needs the solutions"):
        prepare_system(A, None, power=1, coarse_levels=0, loss="supervised", n_bank=4,
                       rng=np.random.default_rng(0))


def test_factor_loss_vanishes_at_exact_cholesky():
    """Tridiagonal SPD: Cholesky has no fill, so the exact factor lies on tril(A)."""
    n = 30
    a = 1.0 + np.random.default_rng(3).random(n + 1)
    A = sp.diags([a[:-1] + a[1:], -a[1:-1], -a[1:-1]], [0, -1, 1], format="csr")
    As, g = _dense_graph(A, 1)
    Lc = np.linalg.cholesky(As.toarray())
    pi, pj = g.pair_index.numpy()
    c = torch.as_tensor(np.random.default_rng(4).standard_normal((n, 3)))
    assert float(factor_loss(torch.as_tensor(Lc[pi, pj]), g, c)) < 1e-24
    # and the variant's parametrisation reaches it: softplus^-1 on the diagonal
    d = pi == pj
    raw = np.zeros(pi.size)
    raw[~d] = np.arctanh(Lc[pi, pj][~d]) - np.arctanh(g.pair_attr[:, 0].numpy()[~d])
    raw[d] = np.log(np.expm1(Lc[pi, pj][d] - 0.05)) - np.log(np.expm1(0.95))
    vals = FactorVariant().values(torch.as_tensor(raw), g)
    assert np.allclose(vals.numpy(), Lc[pi, pj], atol=1e-12)


# ---------------------------------------------------------------- coarse / two-level
def test_coarse_space_is_galerkin_projector(system):
    A, _ = system
    cs = CoarseSpace(A, 1)
    assert 1 < cs.size < A.shape[0] / 2
    assert np.allclose(cs.apply(A @ cs.P.toarray()), cs.P.toarray(), atol=1e-10)  # Q A P = P
    # projected probes are A-orthogonal to the coarse space (in original variables)
    As, s = scale_matrix(A)
    c_hat = project_probes(A, s, np.random.default_rng(0).standard_normal((A.shape[0], 2)), 1)
    assert np.abs(cs.P.T @ (A @ (c_hat * s[:, None]))).max() < 1e-10


@pytest.mark.parametrize("variant,mode", [("factor", "multiplicative"), ("inverse", "additive"),
                                          ("inverse", "multiplicative")])
def test_two_level_preconditioner_is_spd(system, variant, mode):
    A, _ = system
    M = LearnedPreconditioner(random_net(), variant, coarse_levels=2, coarse_mode=mode).build(A)
    assert isinstance(M, TwoLevel) and 0 < M.omega <= 1
    B = np.stack([M.apply(e) for e in np.eye(A.shape[0])], 1)
    assert np.allclose(B, B.T, atol=1e-10 * np.abs(B).max())
    assert np.linalg.eigvalsh(0.5 * (B + B.T)).min() > 0


@pytest.mark.parametrize("max_diagonals", [16, 0])  # banded (DIA) and fused CSR forms
def test_fused_additive_apply_equals_smoother_plus_coarse(system, max_diagonals, monkeypatch):
    import operators.precond.coarse as coarse

    monkeypatch.setattr(coarse, "MAX_DIAGONALS", max_diagonals)
    A, _ = system
    S = LearnedPreconditioner(random_net(), "inverse", coarse_levels=0, eps=1e-2).build(A)
    B = TwoLevel(A, S, 1, "additive")
    assert (B.banded is not None) == (max_diagonals > 0) and (B.W is None) == (max_diagonals > 0)
    r = np.random.default_rng(5).standard_normal((A.shape[0], 2))
    assert np.allclose(B.apply(r), S.apply(r) + B.coarse.apply(r), rtol=1e-12, atol=1e-14)
    assert np.allclose(B.apply(r[:, 0]), S.matrix() @ r[:, 0] + B.coarse.apply(r[:, 0]))


def test_banded_form_is_exact_and_refuses_scattered_patterns(system):
    from operators.precond.coarse import banded

    A, _ = system
    G = sp.csr_matrix(sp.tril(A) + sp.diags(np.arange(A.shape[0], dtype=float)))
    D, DT = banded(G)
    assert sorted(D.offsets) == [-16, -1, 0]
    assert np.array_equal(D.toarray(), G.toarray()) and np.array_equal(DT.toarray(), G.T.toarray())
    rng = np.random.default_rng(0)
    n = 40
    scattered = sp.csr_matrix((rng.standard_normal(n), (np.arange(n), rng.permutation(n))))
    assert banded(scattered) is None  # n distinct diagonals, one entry each
    assert banded(G, max_diagonals=2) is None


# ---------------------------------------------------------------- PCG
@pytest.mark.parametrize("variant,coarse", [("factor", 0), ("inverse", 0), ("factor", 1),
                                            ("inverse", 2)])
def test_pcg_with_learned_preconditioner_converges(variant, coarse):
    for A, b in darcy_systems(2, 7, "piecewise"):
        M = LearnedPreconditioner(random_net(), variant, coarse_levels=coarse).build(A)
        x, st = cg(A, b, rtol=1e-10, M=M)
        assert st.converged
        assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)


def _train(variant, coarse, epochs, power=None, seed=0):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = LearnedPreconditioner(PrecondGNN(16, 2), variant, power=power, coarse_levels=coarse)
    data = darcy_systems(8, 10) + darcy_systems(8, 11, "piecewise")
    systems = [prepare_system(A, None, power=model.power, coarse_levels=coarse, loss="probe",
                              n_bank=16, rng=rng) for A, _ in data]
    hist = fit(model, systems[2:-2], systems[:2] + systems[-2:], epochs=epochs, lr=1e-2,
               batch_size=4, probes=8, seed=seed)
    return model, hist


def _mean_iterations(M_of, systems):
    return np.mean([cg(A, b, rtol=1e-8, M=M_of(A))[1].iterations for A, b in systems])


def test_short_training_beats_cg_and_jacobi_on_held_out_systems():
    model, hist = _train("inverse", 0, epochs=15, power=2)
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    held_out = darcy_systems(3, 99) + darcy_systems(3, 98, "piecewise")
    plain = _mean_iterations(lambda A: None, held_out)
    jacobi = _mean_iterations(lambda A: sp.diags(1 / A.diagonal()), held_out)
    learned = _mean_iterations(model.build, held_out)
    print(f"held-out mean iterations: learned {learned}, jacobi {jacobi}, cg {plain}")
    assert learned < plain and learned < jacobi, (learned, jacobi, plain)


# ---------------------------------------------------------------- files / hook / CLI
def test_save_load_round_trip_and_hook(tmp_path, system):
    from safetensors.torch import load_file

    import operators.precond  # noqa: F401 - registers learned:
    from solvers.linear.precond import make_precond

    A, b = system
    model = LearnedPreconditioner(random_net(), "factor", coarse_levels=1)
    model.save(tmp_path / "m", note="test")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "weights.safetensors"]
    state = load_file(str(tmp_path / "m" / "weights.safetensors"))  # no pickle anywhere
    assert set(state) == set(model.net.state_dict())
    again = load(tmp_path / "m")
    r = np.random.default_rng(0).standard_normal(A.shape[0])
    assert np.allclose(again.build(A).apply(r), model.build(A).apply(r))
    M = make_precond(f"learned:{tmp_path / 'm'}", A)
    x, st = cg(A, b, rtol=1e-8, M=M)
    assert st.converged
    # a training state saved as a torch state dict loads with weights_only=True
    torch.save(model.net.state_dict(), tmp_path / "sd.pt")
    sd = torch.load(tmp_path / "sd.pt", weights_only=True)
    assert all(torch.equal(sd[k], v) for k, v in model.net.state_dict().items())


def test_loader_rejects_other_kinds_and_missing_models(tmp_path, system):
    from data.model_dir import write_model_meta

    write_model_meta(tmp_path / "fno", "fno", arch={})
    with pytest.raises(ValueError, match="expected precond"):
        load(tmp_path / "fno")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing")
    write_model_meta(tmp_path / "bad", "precond", variant="inverse")
    with pytest.raises(ValueError, match="incomplete"):
        load(tmp_path / "bad")
    with pytest.raises(ValueError, match="unknown preconditioner variant"):
        LearnedPreconditioner(PrecondGNN(4, 1), "cholesky")


def test_cli_train_and_evaluate(tmp_path):
    from cli.main import cli

    run = lambda *a: CliRunner().invoke(cli, [str(x) for x in a])  # noqa: E731
    res = run("generate", "darcy", "-n", 6, "--resolution", 12, "--seed", 1, "-o", tmp_path / "d.h5")
    assert res.exit_code == 0, res.output
    res = run("train", "precond", tmp_path / "d.h5", "-o", tmp_path / "m", "--epochs", 2,
              "--variant", "factor", "--coarse-levels", 1, "--quiet", "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output.strip().splitlines()[-1])
    assert meta["variant"] == "factor" and meta["n_train"] + meta["n_val"] == 6
    res = run("evaluate", tmp_path / "m", tmp_path / "d.h5", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.output.strip().splitlines()[-1])
    assert rec["model"] == "precond" and rec["n_samples"] == 6
    assert rec["residual"]["max"] <= 1e-8 and rec["rel_l2"]["max"] < 1e-6
    assert set(rec["iterations"]) == {"none", "jacobi", "ic0", "amg", "learned"}
    assert rec["converged"]["learned"] == 6
    res = run("train", "precond", tmp_path / "d.h5", "-o", tmp_path / "m2", "--variant", "qr")
    assert res.exit_code != 0 and "qr" in res.output
    res = run("evaluate", tmp_path / "m", tmp_path / "missing.h5", "--json")
    assert res.exit_code != 0 and "missing.h5" in res.output + str(res.exception)


def test_evaluate_at_another_resolution_and_non_spd_data(tmp_path):
    from cli.main import cli
    from operators.precond.evaluation import evaluate
    from operators.precond.kind import KIND

    run = lambda *a: CliRunner().invoke(cli, [str(x) for x in a])  # noqa: E731
    res = run("generate", "darcy", "-n", 4, "--resolution", 10, "-o", tmp_path / "d.h5")
    assert res.exit_code == 0, res.output
    res = run("train", "precond", tmp_path / "d.h5", "-o", tmp_path / "m", "--epochs", 1,
              "--loss", "supervised", "--quiet")
    assert res.exit_code == 0, res.output
    rec = evaluate(tmp_path / "m", tmp_path / "d.h5", resolution=14, baselines=("jacobi",),
                   out_dir=tmp_path / "ev")
    assert rec["n_unknowns"] == 144 and rec["best_baseline"] == "jacobi"
    assert rec["rel_l2"]["max"] < 1e-6 and rec["converged"]["learned"] == 4
    assert (tmp_path / "ev" / "metrics.json").is_file() and (tmp_path / "ev" / "iterations.png").is_file()
    info = KIND.describe(tmp_path / "m")
    assert info["variant"] == "inverse" and info["parameters"] > 0
    res = run("generate", "darcy", "-n", 2, "--resolution", 8, "--param", "scheme=nonconservative",
              "-o", tmp_path / "nc.h5")
    assert res.exit_code == 0, res.output
    res = run("train", "precond", tmp_path / "nc.h5", "-o", tmp_path / "m3", "--epochs", 1)
    assert res.exit_code != 0 and "not SPD" in res.output + str(res.exception)
