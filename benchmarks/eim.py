"""EIM of g(x; mu) = 1 / sqrt((x1 - mu1)^2 + (x2 - mu2)^2), x in [0,1]^2, mu in [-1,-0.01]^2.

Greedy EIM in the relative sup norm on a tensor training grid of parameters
(geometrically graded towards the corner mu = (-0.01, -0.01)); max
relative sup error versus M on random test parameters, against the best
M-term approximation in the same norm family that a user would otherwise
pick: the l2-optimal POD (leading singular vectors of the training
snapshots, orthogonal projection; its sup-norm error on the test set is
reported side by side). Also DEIM and
Q-DEIM interpolation on the POD basis. Warns when the test error exceeds the
training error by more than 100x.

Usage: ``.venv/bin/python benchmarks/eim.py [--quick]``
"""

from __future__ import annotations

import sys
from pathlib import Path

# the repository root before benchmarks/ on the path: a benchmark script named like a package must not
# shadow the solvers package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import time

import numpy as np

from rom.eim import check_generalisation, deim, eim, qdeim, sup_errors


def g(mu: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Snapshots ``(n_points, n_mu)``."""
    return 1.0 / np.sqrt((pts[:, 0, None] - mu[None, :, 0]) ** 2
                         + (pts[:, 1, None] - mu[None, :, 1]) ** 2)


def leading_left_singular_vectors(G: np.ndarray, k: int, oversample: int = 40,
                                  power: int = 3, seed: int = 0) -> np.ndarray:
    """POD modes ``U[:, :k]`` of ``G`` by a randomized range finder with power iterations
    (Halko, Martinsson, Tropp 2011), re-orthonormalised at every step; exact to
    round-off here because the singular values decay geometrically."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(G @ rng.standard_normal((G.shape[1], k + oversample)))[0]
    for _ in range(power):
        Q = np.linalg.qr(G @ np.linalg.qr(G.T @ Q)[0])[0]
    Ub, _, _ = np.linalg.svd(Q.T @ G, full_matrices=False)
    return Q @ Ub[:, :k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    nx = 41 if args.quick else 81
    nt = 40 if args.quick else 60
    x = np.linspace(0, 1, nx)
    pts = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    # training grid graded towards the singular corner mu -> (-0.01, -0.01)
    t = -np.geomspace(0.01, 1.0, nt)
    train = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    test = -0.01 - 0.99 * np.random.default_rng(7).random((500, 2))
    G, Gt = g(train, pts), g(test, pts)
    print(f"{len(pts)} points, {len(train)} training and {len(test)} test parameters")

    t0 = time.perf_counter()
    I = eim(G, tol=1e-10, max_terms=80)
    t_eim = time.perf_counter() - t0
    t0 = time.perf_counter()
    U = leading_left_singular_vectors(G, 80)
    t_svd = time.perf_counter() - t0
    Ms = [m for m in (5, 10, 15, 20, 25, 30, 40, 45, 50, 55, 60, 70, 80) if m <= I.M]
    rows = []
    print(f"EIM offline {t_eim:.2f} s (M={I.M}), SVD {t_svd:.2f} s")
    print(f"{'M':>4} {'EIM train':>10} {'EIM test':>10} {'POD proj.':>10} "
          f"{'DEIM':>10} {'Q-DEIM':>10}  (max relative sup error on the test set)")
    for M in Ms:
        e_train = I.history_rel[M]
        e_test = float(sup_errors(Gt, I(Gt, M)).max())
        Um = U[:, :M]
        e_pod = float(sup_errors(Gt, Um @ (Um.T @ Gt)).max())
        e_deim = float(sup_errors(Gt, deim(Um)(Gt)).max())
        e_qdeim = float(sup_errors(Gt, qdeim(Um)(Gt)).max())
        check_generalisation(e_train, e_test)
        rows.append({"M": M, "eim_train": e_train, "eim_test": e_test, "pod_projection": e_pod,
                     "deim": e_deim, "qdeim": e_qdeim})
        print(f"{M:4d} {e_train:10.2e} {e_test:10.2e} {e_pod:10.2e} {e_deim:10.2e} "
              f"{e_qdeim:10.2e}")
    hit = [r["M"] for r in rows if r["eim_test"] <= 1e-6]
    print(f"\nsmallest M in the table with test error <= 1e-6: {hit[0] if hit else 'none'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"n_points": len(pts), "n_train": len(train), "n_test": len(test),
                       "eim_seconds": t_eim, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
