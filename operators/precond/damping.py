"""Learned per-row damping of the multilevel V-cycle's Jacobi smoother (same apply cost as Jacobi).

The finest level of :class:`solvers.linear.twolevel.MultilevelJacobi` smooths
with ``S = ω D⁻¹``, ``ω = 4 / (3 g)``, ``g = max_i Σ_j |a_ij| / a_ii``. Here a
small network maps cheap per-row features of the Jacobi-scaled matrix
``Â = D^{-1/2} A D^{-1/2}`` (off-diagonal row sums, largest and smallest
off-diagonal magnitude, log-diagonal contrast to the neighbours, row length)
to one raw number ``r_i`` per row, and

    S = diag(w),   w_i = (ω / a_ii) (1 + ρ tanh r_i),   ρ = min(0.9, 0.995 (2 / (ω g) − 1)).

**SPD for any network output.** ``w_i Σ_j |a_ij| ≤ ω (1 + ρ) g < 2`` for every
row, so by Gershgorin ``λ(S A) ⊂ (0, 2)``, ``‖I − S A‖_A < 1`` and the
symmetric V-cycle stays SPD (``MultilevelJacobi``'s induction). At ``r = 0``
the smoother is the default Jacobi smoother bit for bit (``1 + ρ tanh 0 = 1``).
Applying ``S`` costs one vector product, exactly what Jacobi costs; the
inference is the features (a few CSR reductions) and a row-wise MLP.

**Training** (:func:`train_damping`): the two-grid error propagation of the
finest level, ``E = (I − S A)(I − Q A)(I − S A)`` with the smoothed-aggregation
``Q = P (Pᵀ A P)⁻¹ Pᵀ`` of ``MultilevelJacobi``, is ``A``-self-adjoint and
positive semi-definite, and CG on ``B A = I − E`` converges with
``κ = 1 / (1 − λ_max(E))``. The loss is a power-iteration estimate of
``λ_max(E)``: ``‖E v‖_A² / ‖v‖_A²`` for probes ``v`` after three (detached)
applications of ``E`` (learned-smoother losses of this kind: Katrutsa, Daulbaev
& Oseledets, *Black-box learning of multigrid parameters*, J. Comput. Appl.
Math. 368, 2020; Greenfeld et al., ICML 2019).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.linear.twolevel import CoarseSpace, MultilevelJacobi, gershgorin_jacobi_bound

N_FEATURES = 6


def row_features(A: sp.csr_matrix) -> np.ndarray:
    """``(n, 6)`` features of each row of ``Â = D^{-1/2} A D^{-1/2}`` (off-diagonal entries only):
    ``[Σ_j |â_ij|, Σ_j â_ij, max_j |â_ij|, min_j |â_ij|, log a_ii − mean_j log a_jj, m_i / 5]``
    (``m_i`` the number of off-diagonal entries of row ``i``)."""
    A = sp.csr_matrix(A, dtype=float)
    n = A.shape[0]
    d = A.diagonal()
    if np.any(d <= 0):
        raise ValueError("learned damping needs a positive diagonal (is the matrix SPD?)")
    rows = np.repeat(np.arange(n), np.diff(A.indptr))
    off = A.indices != rows
    r, c = rows[off], A.indices[off]
    s = 1.0 / np.sqrt(d)
    v = A.data[off] * s[r] * s[c]
    av = np.abs(v)
    cnt = np.bincount(r, minlength=n)
    f = np.zeros((n, N_FEATURES))
    f[:, 0] = np.bincount(r, weights=av, minlength=n)
    f[:, 1] = np.bincount(r, weights=v, minlength=n)
    has = cnt > 0
    starts = (np.cumsum(cnt) - cnt)[has]  # rows are sorted: reduce over each row's segment
    if av.size:
        f[has, 2] = np.maximum.reduceat(av, starts)
        f[has, 3] = np.minimum.reduceat(av, starts)
    ld = np.log(d)
    f[:, 4] = ld - np.bincount(r, weights=ld[c], minlength=n) / np.maximum(cnt, 1)
    f[:, 5] = cnt / 5.0
    return f


def damping_bounds(A: sp.csr_matrix, omega: float | None = None) -> tuple[float, float]:
    """``(ω, ρ)`` of the damping (module docstring); ``ω`` defaults to ``4 / (3 g)``."""
    g = gershgorin_jacobi_bound(A)
    om = 4.0 / (3.0 * g) if omega is None else float(omega)
    if not 0 < om * g < 2:
        raise ValueError(f"damping omega={om} needs omega * {g:.3g} < 2")
    return om, min(0.9, 0.995 * (2.0 / (om * g) - 1.0))


def damping_weights(A: sp.csr_matrix, raw: np.ndarray, omega: float | None = None) -> np.ndarray:
    """The smoother diagonal ``w_i = (ω / a_ii)(1 + ρ tanh r_i)`` for raw outputs ``r``."""
    om, rho = damping_bounds(A, omega)
    raw = np.asarray(raw, dtype=float)
    if raw.shape != (A.shape[0],) or not np.all(np.isfinite(raw)):
        raise ValueError("raw damping outputs must be a finite vector, one per row")
    return (om * (1.0 + rho * np.tanh(raw))) / A.diagonal()


class LearnedDamping:
    """A row-wise MLP ``features -> r`` (numpy inference) and the V-cycle it builds."""

    name = "learned-damping"

    def __init__(self, hidden: int = 16, seed: int = 0):
        import torch

        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, 1))
        torch.nn.init.zeros_(self.net[-1].weight)  # starts at r = 0: the Jacobi smoother
        torch.nn.init.zeros_(self.net[-1].bias)
        self.freeze()
        self.timings: dict[str, float] = {}
        self.last_raw: np.ndarray | None = None

    def freeze(self) -> None:
        """Copy the weights to numpy for inference."""
        self.W = [(m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy())
                  for m in self.net if hasattr(m, "weight")]

    def raw(self, A: sp.csr_matrix) -> np.ndarray:
        """The network's raw output ``r`` (one per row)."""
        h = row_features(A)
        for k, (W, c) in enumerate(self.W):
            h = h @ W + c
            if k + 1 < len(self.W):
                np.tanh(h, out=h)
        return h[:, 0]

    def weights(self, A: sp.csr_matrix) -> np.ndarray:
        return damping_weights(A, self.raw(A))

    def build(self, A: sp.csr_matrix, all_levels: bool = False, raw: np.ndarray | None = None,
              **options: Any) -> MultilevelJacobi:
        """The multilevel V-cycle of ``A`` with the learned finest-level smoother
        (``all_levels``: the same network sets every level's damping, each SPD by the
        same bound on that level's matrix).

        ``raw``: network outputs computed for an earlier matrix of a slowly changing
        sequence on the same unknowns (``self.last_raw``), reused without inference;
        the weights are recomputed from ``A``'s own diagonal and bound, so the cycle
        stays SPD for the new matrix."""
        t0 = time.perf_counter()
        if raw is None:
            raw = self.raw(A)
        self.last_raw = raw
        w = damping_weights(A, raw)
        t1 = time.perf_counter()
        M = MultilevelJacobi(A, smoother=w, **options)
        t2 = time.perf_counter()
        if all_levels:
            for lev in M.levels[1:]:
                lev.set_smoother(self.weights(lev.A))
        self.timings = {"inference_s": t1 - t0 + time.perf_counter() - t2,
                        "assembly_s": t2 - t1}
        return M


def _two_grid(A: sp.csr_matrix) -> dict[str, Any]:
    """Torch tensors of the finest level of ``MultilevelJacobi``: ``A``, ``P``, ``(PᵀAP)⁻¹``."""
    import torch

    cs = CoarseSpace(A, 1, smooth=1, factor=False)
    Ad = torch.tensor(A.toarray())
    P = torch.tensor(cs.P.toarray())
    om, rho = damping_bounds(A)
    return {"A": Ad, "P": P, "Aci": torch.linalg.inv(P.T @ Ad @ P),
            "f": torch.tensor(row_features(A)), "base": torch.tensor(om / A.diagonal()),
            "rho": rho}


def _apply_E(t: dict[str, Any], w: Any, V: Any) -> Any:
    A, P, Aci = t["A"], t["P"], t["Aci"]
    V = V - w[:, None] * (A @ V)
    V = V - P @ (Aci @ (P.T @ (A @ V)))
    return V - w[:, None] * (A @ V)


def train_damping(matrices: list[sp.csr_matrix], *, hidden: int = 16, epochs: int = 60,
                  lr: float = 1e-2, probes: int = 8, seed: int = 0) -> tuple[LearnedDamping, list]:
    """Fit :class:`LearnedDamping` on small SPD matrices (dense two-grid, module docstring).

    Returns the model (weights with the lowest mean loss over the matrices) and the
    per-epoch mean loss (the estimate of ``λ_max(E)``).
    """
    import torch

    model = LearnedDamping(hidden, seed)
    data = [_two_grid(sp.csr_matrix(A)) for A in matrices]
    opt = torch.optim.Adam(model.net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    best, best_state, hist = np.inf, None, []
    for _ in range(epochs):
        total = 0.0
        for t in data:
            n = t["A"].shape[0]
            r = model.net(t["f"].float()).double()[:, 0]
            w = t["base"] * (1 + t["rho"] * torch.tanh(r))
            with torch.no_grad():
                V = torch.randn(n, probes, generator=gen, dtype=torch.float64)
                for _ in range(3):
                    V = _apply_E(t, w, V)
                    V = V / torch.sqrt((V * (t["A"] @ V)).sum(0, keepdim=True))
            EV = _apply_E(t, w, V)
            loss = ((EV * (t["A"] @ EV)).sum(0)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        hist.append(total / len(data))
        if hist[-1] < best:
            best, best_state = hist[-1], {k: v.clone() for k, v in model.net.state_dict().items()}
    if best_state is not None:
        model.net.load_state_dict(best_state)
    model.freeze()
    return model, hist
