"""SKR ordering: permutations, locality of the chain and of the Hilbert curve, chunks."""

import numpy as np
import pytest

from solvers.ordering import (
    curve_order,
    features,
    greedy_order,
    hilbert_index,
    order_systems,
    path_length,
    split_chunks,
)


class FieldProblem:
    """A stand-in problem whose input field is a smooth bump located at mu (2 parameters)."""

    def input_fields(self, mu):
        x = np.linspace(0, 1, 24)
        X, Y = np.meshgrid(x, x, indexing="ij")
        return {"a": np.exp(-((X - mu[0]) ** 2 + (Y - mu[1]) ** 2) / 0.05)}


class NoFields:
    def input_fields(self, mu):
        return {}


def is_perm(o, n):
    return sorted(np.asarray(o).tolist()) == list(range(n))


def test_hilbert_curve_is_a_bijection_through_adjacent_cells():
    bits = 5
    n = 1 << bits
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    d = hilbert_index(ix, iy, bits)
    assert sorted(d.tolist()) == list(range(n * n))
    o = np.argsort(d)
    assert np.all(np.abs(np.diff(ix[o])) + np.abs(np.diff(iy[o])) == 1)


def test_greedy_on_a_line_is_the_sorted_order():
    t = np.random.default_rng(0).permutation(50).astype(float)
    o = greedy_order(t[:, None])
    assert np.all(np.diff(t[o]) == 1) or np.all(np.diff(t[o]) == -1)


@pytest.mark.parametrize("method", ["greedy", "curve", "auto"])
def test_orders_shorten_the_path_through_fields(method):
    mus = np.random.default_rng(1).random((150, 2))
    prob = FieldProblem()
    o = order_systems(prob, mus, method)
    assert is_perm(o, 150)
    X = features(prob, mus)
    assert path_length(X, o) < 0.6 * path_length(X, np.arange(150))


def test_parameters_are_the_features_without_input_fields():
    mus = np.random.default_rng(2).random((80, 3)) * [1, 10, 100]
    X = features(NoFields(), mus)
    assert X.shape == (80, 3) and X.min() >= 0 and X.max() <= 1
    o = order_systems(NoFields(), mus, "greedy")
    assert is_perm(o, 80) and path_length(X, o) < 0.5 * path_length(X, np.arange(80))
    assert is_perm(curve_order(X), 80)


def test_darcy_fields_order():
    from solvers.problems import make_problem

    prob = make_problem("darcy", 16)
    mus = prob.parameter_space.from_unit(np.random.default_rng(3).random((40, prob.parameter_space.dim)))
    for method in ("greedy", "curve"):
        o = order_systems(prob, mus, method)
        assert is_perm(o, 40)


def test_split_chunks_contiguous_and_complete():
    o = np.random.default_rng(4).permutation(23)
    chunks = split_chunks(o, 5)
    assert len(chunks) == 5 and np.array_equal(np.concatenate(chunks), o)
    assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    with pytest.raises(ValueError):
        split_chunks(o, 0)
    with pytest.raises(ValueError, match="ordering method"):
        order_systems(NoFields(), np.zeros((3, 1)), "zigzag")
