"""The fast CPU inference path of the learned preconditioners (operators/precond/infer.py,
pattern.py) against the reference path (graph tensors + PrecondGNN.forward): same network
outputs to float32 round-off, same preconditioner, on M-matrices and on mixed-sign SPD
matrices, for every layer count, pattern power and row-block size."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from operators.precond.coarse import TwoLevel
from operators.precond.gnn import PrecondGNN
from operators.precond.graph import build_graph, csr_rows, scale_matrix
from operators.precond.infer import FastNet, node_features
from operators.precond.model import LearnedPreconditioner
from operators.precond.pattern import split_pattern
from operators.precond.train import sampled_systems
from solvers.linear.krylov import cg

torch.set_num_threads(1)


def darcy(seed=0, resolution=14, coefficient="piecewise"):
    return sampled_systems("darcy", resolution, 1, seed, coefficient=coefficient)[0]


def mixed_sign_spd(n=50, seed=1):
    """``B Bᵀ + 3I`` with a sparse Gaussian ``B``: off-diagonal entries of both signs."""
    rng = np.random.default_rng(seed)
    B = sp.random(n, n, density=0.06, random_state=seed, format="csr")
    B.data = rng.standard_normal(B.nnz)
    A = sp.csr_matrix(B @ B.T + 3 * sp.identity(n))
    off = A - sp.diags(A.diagonal())
    assert off.data.max() > 0 and off.data.min() < 0
    return A


def random_net(hidden, layers, seed=0):
    torch.manual_seed(seed)
    net = PrecondGNN(hidden, layers)
    with torch.no_grad():
        for prm in net.parameters():
            prm.normal_(0.0, 0.3)
    return net.eval()


MATRICES = {"darcy": lambda: darcy()[0], "mixed": mixed_sign_spd}


@pytest.mark.parametrize("kind", sorted(MATRICES))
@pytest.mark.parametrize("layers", [0, 1, 2])
@pytest.mark.parametrize("power", [0, 1, 2])
def test_fast_raw_values_equal_reference_forward(kind, layers, power):
    A = MATRICES[kind]()
    As, s = scale_matrix(A)
    g = build_graph(As, s, power)
    net = random_net(8, layers, seed=layers)
    with torch.no_grad():
        ref = net(g).numpy()
    pattern = split_pattern(As, power, csr_rows(As))
    assert np.array_equal(pattern.indptr[1:], np.cumsum(np.bincount(g.pair_index[0], minlength=A.shape[0])))
    assert np.array_equal(pattern.indices, g.pair_index[1].numpy())
    assert np.array_equal(pattern.attr(), g.pair_attr.numpy())
    for block in (5, 4096):  # many row blocks, and one
        raw = pattern.assemble(*FastNet(net, block).raw_values(As, s, pattern))
        assert np.abs(raw - ref).max() <= 2e-6 * np.abs(ref).max()


def test_node_features_equal_graph_features():
    A = darcy(3)[0]
    As, s = scale_matrix(A)
    assert np.allclose(node_features(As, s), build_graph(As, s, 1).x.numpy(), atol=1e-6)


def test_scaling_of_non_canonical_input_equals_canonical():
    A = darcy(1)[0]
    coo = A.tocoo()
    half = np.arange(coo.nnz) % 2 == 0  # every entry split into two duplicates, shuffled
    order = np.random.default_rng(0).permutation(2 * coo.nnz)
    r = np.concatenate([coo.row, coo.row])[order]
    c = np.concatenate([coo.col, coo.col])[order]
    v = np.concatenate([np.where(half, coo.data, 0.25 * coo.data),
                        np.where(half, 0.0, 0.75 * coo.data)])[order]
    by_row = np.argsort(r, kind="stable")  # CSR arrays by hand: duplicates kept, columns unsorted
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=A.shape[0]))])
    messy = sp.csr_matrix((v[by_row], c[by_row], indptr), shape=A.shape)
    assert messy.nnz == 2 * A.nnz and not messy.has_canonical_format
    Am, sm = scale_matrix(messy)
    Ac, sc = scale_matrix(A)
    assert np.allclose(sm, sc) and abs(Am - Ac).max() < 1e-14
    assert np.array_equal(Am.indices, Ac.indices)


@pytest.mark.parametrize("variant", ["inverse", "factor"])
@pytest.mark.parametrize("kind", sorted(MATRICES))
def test_fast_and_reference_build_the_same_spd_preconditioner(variant, kind):
    A = MATRICES[kind]()
    model = LearnedPreconditioner(random_net(8, 1), variant, coarse_levels=0, eps=1e-3)
    assert model.fast
    fast, = model.build_many([A])
    ref, = model.build_many([A], reference=True)
    Mf, Mr = fast.matrix().toarray(), ref.matrix().toarray()
    assert np.abs(Mf - Mr).max() <= 1e-5 * np.abs(Mr).max()
    assert np.allclose(Mf, Mf.T, atol=1e-12 * np.abs(Mf).max())
    assert np.linalg.eigvalsh(Mf).min() > 0
    r = np.random.default_rng(2).standard_normal(A.shape[0])
    want = Mf @ r if variant == "inverse" else np.linalg.solve(Mf, r)
    assert np.allclose(fast.apply(r), want, rtol=1e-8, atol=1e-10 * np.abs(want).max())


def test_fast_path_follows_weight_updates_and_edge_states_use_reference():
    A, b = darcy(4)
    model = LearnedPreconditioner(random_net(8, 1), "inverse", coarse_levels=0)
    before = model.values([A])[0][0]
    with torch.no_grad():
        model.net.head[2].bias.add_(0.5)  # an in-place update, as an optimiser step does
    after = model.values([A])[0][0]
    ref = model.values([A], reference=True)[0][0]
    assert not np.allclose(before, after)
    assert np.allclose(after, ref, rtol=1e-5, atol=1e-6)
    edge = LearnedPreconditioner(PrecondGNN(4, 1, edge_states=True), "inverse", coarse_levels=0)
    assert not edge.fast
    with pytest.raises(ValueError, match="node layers only"):
        FastNet(edge.net)


def test_fast_two_level_pcg_converges_with_reference_iterations():
    for A, b in (darcy(5), darcy(6, coefficient="lognormal")):
        model = LearnedPreconditioner(random_net(8, 1), "inverse", coarse_levels=2)
        fast, = model.build_many([A])
        ref, = model.build_many([A], reference=True)
        assert isinstance(fast, TwoLevel) and fast.banded is not None  # grid stencil: DIA form
        x, st = cg(A, b, rtol=1e-10, M=fast)
        _, st_ref = cg(A, b, rtol=1e-10, M=ref)
        assert st.converged and np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
        assert abs(st.iterations - st_ref.iterations) <= 1
