"""Kind ``opinf``: operator inference (non-intrusive quadratic reduced model) for ``burgers``.

Training: POD of the stored states (``modes``), projection of the stored
trajectories, time derivatives by second-order differences of the stored
trajectories, and the regularised least-squares fit of ``c``, ``A`` (+ ``ν A_ν``
when the dataset's viscosities differ: Burgers' diffusion is linear in ``ν``)
and ``H`` (:mod:`rom.opinf`). ``reg="auto"`` picks ``(λ_1, λ_2)`` on a
log grid by the error on held-out training trajectories; a number is used for
both. Every training trajectory is then integrated: a blow-up is a one-line
error and nothing is written. Evaluation as for ``galerkin``
(:func:`rom.kinds.galerkin.evaluate_trajectories`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from data.convergence import ALLOW_UNCONVERGED, training_samples
from data.dataset import Dataset
from data.evaluation import check_same_problem, dataset_record
from data.metrics import relative_l2
from data.model_dir import load_model, save_model
from data.model_kinds import Option

from ..opinf import OpInfModel, fit, select_regularisation
from . import RomKind
from .galerkin import burgers_trajectories, evaluate_trajectories, pod_basis


def parse_reg(reg: str | float) -> float | None:
    """``"auto"`` -> ``None``; otherwise a non-negative number."""
    if isinstance(reg, str) and reg.strip().lower() == "auto":
        return None
    try:
        value = float(reg)
    except ValueError:
        raise ValueError(f"the regularisation must be 'auto' or a number >= 0, got {reg!r}"
                         ) from None
    if not value >= 0:
        raise ValueError(f"the regularisation must be 'auto' or a number >= 0, got {reg!r}")
    return value


class OpInfKind(RomKind):
    name = "opinf"
    help = "Operator inference: non-intrusive quadratic reduced model of burgers trajectories."
    options = (
        Option("modes", int, 10, "POD modes N.", minimum=1),
        Option("operators", str, "cAH", "Terms: letters of c (constant), A (linear), "
                                        "H (quadratic)."),
        Option("reg", str, "auto", "Tikhonov weight: 'auto' (held-out grid search) or a number."),
        ALLOW_UNCONVERGED,
    )

    def train(self, data_path: str | Path, out_dir: str | Path, *, progress: Any = None,
              modes: int = 10, operators: str = "cAH", reg: str | float = "auto",
              allow_unconverged: bool = False) -> dict[str, Any]:
        """Fit the reduced operators and check the training trajectories; writes the model."""
        lam = parse_reg(reg)
        if not operators or set(operators) - set("cAH"):
            raise ValueError(f"operators must be letters of 'cAH', got {operators!r}")
        t0 = time.perf_counter()
        with Dataset(data_path) as ds:
            if ds.times is None:
                raise ValueError(f"{data_path}: is steady; opinf needs a time-dependent "
                                 "dataset (stored trajectories)")
            idx = training_samples(ds, allow_unconverged)
            U, nus, _, _ = burgers_trajectories(ds, idx, self.name)
            record, times = dataset_record(ds), np.asarray(ds.times, dtype=float)
        Phi, sigma = pod_basis(U, modes)
        trajs = [u @ Phi for u in U]
        table: list[tuple[float, float, float]] = []
        if lam is None:
            chosen, table = select_regularisation(trajs, nus, times, operators=operators)
        else:
            chosen = (lam, lam)
        model = fit(trajs, nus, times, operators=operators, reg=chosen)
        A = model.integrate_reduced(Phi.T @ U[:, 0].T, nus)      # raises ReducedBlowUp
        train_err = relative_l2(np.einsum("trb,nr->btn", A, Phi), U)
        meta = {"dataset": record, "field": "u", "n_modes": int(modes), "operators": operators,
                "affine_nu": bool(np.ptp(nus) > 0), "reg": list(chosen),
                "reg_table": [list(row) for row in table], "times": times.tolist(),
                "derivatives": "second-order finite differences of the stored trajectories",
                "train": {"offline_seconds": time.perf_counter() - t0, "n_train": int(len(U)),
                          "rel_l2_mean": float(np.mean(train_err)),
                          "rel_l2_max": float(np.max(train_err))}}
        save_model(out_dir, self.name, {"Phi": Phi, "sigma": sigma, **model.tensors()}, **meta)
        return meta

    def load(self, model_dir: str | Path, device: str = "cpu") -> tuple[OpInfModel, np.ndarray]:
        """``(model, Φ)``: the inferred reduced model and the POD basis."""
        meta, t = load_model(model_dir, self.name)
        return (OpInfModel(t["c"], t["A"], t["A_nu"], t["H"], np.asarray(meta["times"]),
                           meta["operators"]), t["Phi"])

    def summary(self, meta: dict[str, Any]) -> str:
        return (f"N={meta['n_modes']}, operators {meta['operators']}, reg "
                f"{meta['reg'][0]:.0e}/{meta['reg'][1]:.0e}, training rel. L2 "
                f"{meta['train']['rel_l2_mean']:.2e}")

    def _evaluate(self, meta: dict[str, Any], model_dir: Path, ds: Dataset,
                  out_dir: Path | None, resolution: int | None,
                  batch_size: int | None, bar: Any = None) -> dict[str, Any]:
        check_same_problem(meta, ds, resolution)
        model, Phi = self.load(model_dir)

        def rhs(a: np.ndarray, nu: float) -> np.ndarray:
            return model.rhs(a.T, nu).T

        rows = [["modes N", meta["n_modes"]], ["operators", meta["operators"]],
                ["regularisation (λ1, λ2)", f"{meta['reg'][0]:.0e}, {meta['reg'][1]:.0e}"]]
        return evaluate_trajectories(self.name, meta, ds, out_dir, batch_size, Phi,
                                     model.integrate_reduced, rhs, rows, bar=bar,
                                     n_modes=meta["n_modes"], operators=meta["operators"])


KIND = OpInfKind()
