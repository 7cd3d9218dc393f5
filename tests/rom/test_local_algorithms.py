"""Local ROM dictionaries: dissimilarities, k-medoids, local POD, selectors, criterion."""

import numpy as np
import pytest
import scipy.sparse as sp

from rom.clustering import cluster
from rom.dissimilarity import dissimilarity_matrix, principal_angles
from rom.local_criterion import in_sample_gain, sweep_k
from rom.local_pod import LocalPOD
from rom.selectors import (
    BoostingSelector,
    CNNSelector,
    KNNSelector,
    SurrogateSelector,
    confusion,
)


def test_sine_is_scale_invariant_and_zero_for_collinear():
    rng = np.random.default_rng(0)
    S = rng.standard_normal((6, 20))
    D = dissimilarity_matrix(S, "sine")
    scaled = S * np.array([3.0, -0.5, 1e4, 1.0, -2.0, 7.0])[:, None]
    assert np.allclose(dissimilarity_matrix(scaled, "sine"), D, atol=1e-12)
    col = np.stack([S[0], -4.0 * S[0], 0.1 * S[0]])
    assert np.allclose(dissimilarity_matrix(col, "sine"), 0.0, atol=1e-7)
    # the closed form: sin of the angle, |u - P_v u| = |u| sin
    u, v = S[0], S[1]
    resid = u - (u @ v) / (v @ v) * v
    assert D[0, 1] == pytest.approx(np.linalg.norm(resid) / np.linalg.norm(u), rel=1e-12)
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0) and D.max() <= 1.0


def test_sine_in_an_spd_product_is_the_euclidean_one_of_the_cholesky_factor():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((10, 10))
    X = A @ A.T + 10 * np.eye(10)
    S = rng.standard_normal((5, 10))
    L = np.linalg.cholesky(X)
    assert np.allclose(dissimilarity_matrix(S, "sine", product=sp.csr_matrix(X)),
                       dissimilarity_matrix(S @ L, "sine"), atol=1e-10)


def _plane(theta1, theta2, n=6):
    """Span{e1, e2} rotated by theta1 towards e3 and theta2 towards e4 (principal angles)."""
    Q = np.zeros((n, 2))
    Q[[0, 2], 0] = np.cos(theta1), np.sin(theta1)
    Q[[1, 3], 1] = np.cos(theta2), np.sin(theta2)
    return Q


def test_grassmann_closed_form_for_planes_at_known_angles():
    t1, t2 = 0.3, 1.1
    P0, P1 = _plane(0, 0), _plane(t1, t2)
    rng = np.random.default_rng(2)
    # trajectories whose snapshots span each plane (5 random combinations)
    T = np.stack([(P0 @ rng.standard_normal((2, 5))).T, (P1 @ rng.standard_normal((2, 5))).T,
                  (P0 @ rng.standard_normal((2, 5))).T])
    Dc = dissimilarity_matrix(T, "grassmann", trajectory_modes=2)
    Dp = dissimilarity_matrix(T, "grassmann_projection", trajectory_modes=2)
    assert Dc[0, 1] == pytest.approx(np.sqrt(np.sin(t1) ** 2 + np.sin(t2) ** 2), rel=1e-10)
    assert Dp[0, 1] == pytest.approx(np.sin(t2), rel=1e-10)
    assert Dc[0, 2] == pytest.approx(0.0, abs=1e-7) and np.allclose(Dc, Dc.T)
    assert np.allclose(principal_angles(P0, P1), [t1, t2])


def union_of_subspaces(K=3, d=2, n=40, per=12, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, K * d)))
    labels = np.repeat(np.arange(K), per)
    S = np.stack([Q[:, c * d:(c + 1) * d] @ rng.standard_normal(d) for c in labels])
    return S, labels


def test_union_of_subspaces_is_recovered_and_reproduced_locally():
    K, d = 3, 2
    S, truth = union_of_subspaces(K, d)
    cl = cluster(dissimilarity_matrix(S, "sine"), K, seed=0)
    # the same partition up to a renaming of clusters
    M = confusion(truth, cl.labels, K)
    assert np.all((M > 0).sum(axis=1) == 1) and np.all((M > 0).sum(axis=0) == 1)
    params = np.random.default_rng(3).uniform(size=(len(S), 2))
    # local bases of dimension d (uncentred span = d; the affine model centres, so d modes
    # of the centred cluster also span it)
    loc = LocalPOD.fit(params, S, cl.labels, cl.medoids, tol=None, max_modes=d)
    err = loc.projection_error(S, cl.labels) / np.linalg.norm(S, axis=1)
    assert err.max() < 1e-12
    glob = LocalPOD.fit(params, S, np.zeros(len(S), int), np.array([0]), tol=None, max_modes=d)
    gerr = glob.projection_error(S, np.zeros(len(S), int)) / np.linalg.norm(S, axis=1)
    assert gerr.mean() > 0.1
    assert in_sample_gain(S, cl.labels, d) > 1e12     # round-off local tails


def test_criterion_picks_the_true_number_of_subspaces():
    S, _ = union_of_subspaces(4, 2, per=15, seed=4)
    k, sweep = sweep_k(S, dissimilarity_matrix(S, "sine"), range(1, 7), 2)
    assert k == 4
    assert sweep[3].cv_local < 1e-10 < sweep[2].cv_local


def test_kmedoids_errors_are_one_line():
    with pytest.raises(ValueError, match="5 clusters for 3 samples"):
        cluster(np.zeros((3, 3)), 5)
    with pytest.raises(ValueError, match="empty"):
        cluster(np.zeros((4, 4)), 2)      # four identical snapshots cannot make 2 clusters
    with pytest.raises(ValueError, match="is zero"):
        dissimilarity_matrix(np.zeros((2, 3)), "sine")


def test_selectors_learn_a_partition_of_parameters():
    rng = np.random.default_rng(5)
    P = rng.uniform(size=(200, 2))
    y = (P[:, 0] > 0.5).astype(int) + 2 * (P[:, 1] > 0.3).astype(int)
    Pt = rng.uniform(size=(100, 2))
    yt = (Pt[:, 0] > 0.5).astype(int) + 2 * (Pt[:, 1] > 0.3).astype(int)
    for sel in (KNNSelector.fit(P, y, 4), BoostingSelector.fit(P, y, 4, rounds=20)):
        assert np.mean(sel.predict(Pt) == yt) > 0.9
        t = sel.tensors()
        again = type(sel).from_tensors(t)
        assert np.array_equal(again.predict(Pt), sel.predict(Pt))
    # cnn on constant fields carrying the parameters (as advection_diffusion's inputs)
    F = np.broadcast_to(P[:, None, None, :], (200, 6, 6, 2)).copy()
    Ft = np.broadcast_to(Pt[:, None, None, :], (100, 6, 6, 2)).copy()
    cnn = CNNSelector.fit(F, y, 4, 2, epochs=50)
    assert np.mean(cnn.predict(fields=Ft) == yt) > 0.85
    assert np.array_equal(CNNSelector.from_tensors(cnn.tensors()).predict(fields=Ft),
                          cnn.predict(fields=Ft))


def test_surrogate_selector_assigns_the_prediction_to_its_nearest_medoid():
    """Predict, then assign: with an exact surrogate the selector returns the true cluster
    (the nearest medoid of the true snapshot) for every parameter and every dissimilarity;
    with a surrogate that is exact up to a positive scale, sine still does."""
    from rom.dissimilarity import cross_dissimilarity

    S, _ = union_of_subspaces(3, 2, per=12, seed=6)
    params = np.random.default_rng(7).uniform(size=(len(S), 2))
    lo, width = params.min(0), np.ptp(params, axis=0)

    class Lookup:      # the "surrogate" returns the stored snapshot of each parameter
        def __init__(self, scale):
            self.scale = scale

        def predict(self, mus):
            idx = [int(np.argmin(((params - m) ** 2).sum(1))) for m in np.atleast_2d(mus)]
            return self.scale * S[idx]

    for kind in ("sine", "euclidean", "params"):
        D = dissimilarity_matrix(S, kind, params=params)
        cl = cluster(D, 3, seed=0)
        true = np.argmin(cross_dissimilarity(S, S[cl.medoids], kind, params_a=params,
                                             params_b=params[cl.medoids], lo=lo, width=width),
                         axis=1)
        sel = SurrogateSelector(Lookup(1.0), S[cl.medoids], params[cl.medoids], kind, lo, width)
        assert np.array_equal(sel.predict(params), true)
        if kind == "sine":
            scaled = SurrogateSelector(Lookup(3.7), S[cl.medoids], params[cl.medoids], kind,
                                       lo, width)
            assert np.array_equal(scaled.predict(params), true)


def test_local_regression_on_all_parameters_interpolates_everywhere():
    """``regression="all"``: each local model's coefficient regression interpolates every
    training snapshot's coefficients in its basis, so a training parameter handed to any
    cluster is predicted as that snapshot's projection onto the cluster's basis (exact RBF
    interpolation); ``members`` only interpolates its own cluster."""
    from rom.local_pod import affine_projection_error

    S, truth = union_of_subspaces(3, 2, per=12, seed=8)
    params = np.random.default_rng(9).uniform(size=(len(S), 2))
    cl = cluster(dissimilarity_matrix(S, "sine"), 3, seed=0)
    loc = LocalPOD.fit(params, S, cl.labels, cl.medoids, tol=None, max_modes=2,
                       regression="all")
    other = (cl.labels + 1) % 3                      # every sample to a wrong cluster
    pred = loc.predict(params, other)
    m = loc.models
    proj = np.array([m[c].mean + m[c].modes @ (m[c].modes.T @ (s - m[c].mean))
                     for s, c in zip(S, other)])
    np.testing.assert_allclose(pred, proj, atol=1e-8 * np.abs(S).max())
    err = np.array([affine_projection_error(s[None], m[c].mean, m[c].modes)[0]
                    for s, c in zip(S, other)])
    assert np.allclose(np.linalg.norm(pred - S, axis=1), err, rtol=1e-6)
    own = LocalPOD.fit(params, S, cl.labels, cl.medoids, tol=None, max_modes=2,
                       regression="members")
    np.testing.assert_allclose(own.predict(params, cl.labels), S, atol=1e-8 * np.abs(S).max())
    with pytest.raises(ValueError, match="unknown coefficient regression"):
        LocalPOD.fit(params, S, cl.labels, cl.medoids, regression="some")


def test_trained_selector_names_are_checked():
    from rom.selectors import fit_selector, load_selector

    P, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="unknown selector 'surrogate' to train; valid: knn"):
        fit_selector("surrogate", P, y, 2)
    with pytest.raises(ValueError, match="unknown selector 'knnn' to load"):
        load_selector("knnn", {})
