"""A trained preconditioner network: build preconditioners for matrices, save and load.

``LearnedPreconditioner(net, variant, power, coarse_levels)`` turns SPD
matrices into preconditioner objects with ``apply(r)``: scale
(``Â = D^{-1/2} A D^{-1/2}``), one batched forward pass of the network over the
collated graphs, the variant's values -> ``L`` (factor) or ``G G^T + εI``
(inverse), and, with ``coarse_levels > 0``, the two-level wrapper of
:mod:`operators.precond.coarse`.

Model directory: ``model.json`` (``kind: precond``, variant, architecture,
pattern power, coarse levels, ε, training summary) and
``weights.safetensors``; nothing is unpickled.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from data.model_meta import read_model_meta, write_model_meta

from .coarse import MODES, TwoLevel
from .factor import FactorVariant
from .gnn import PrecondGNN
from .graph import build_graph, collate, scale_matrix
from .inverse import InverseVariant

VARIANTS = ("factor", "inverse")
WEIGHTS = "weights.safetensors"


def make_variant(name: str, eps: float = 1e-4) -> FactorVariant | InverseVariant:
    if name == "factor":
        return FactorVariant()
    if name == "inverse":
        return InverseVariant(eps)
    raise ValueError(f"unknown preconditioner variant {name!r}; valid: {', '.join(VARIANTS)}")


class LearnedPreconditioner:
    """Network + variant + options; :meth:`build` returns preconditioner objects."""

    def __init__(self, net: PrecondGNN, variant: str = "inverse", *, power: int | None = None,
                 coarse_levels: int = 2, coarse_mode: str = "additive", eps: float = 1e-4,
                 device: str = "cpu"):
        self.net = net.to(device).eval()
        self.variant = make_variant(variant, eps)
        self.power = int(power if power is not None else self.variant.default_power)
        if self.power < 0:
            raise ValueError(f"pattern power must be >= 0, got {self.power}")
        if coarse_levels < 0:
            raise ValueError(f"coarse levels must be >= 0, got {coarse_levels}")
        if coarse_mode not in MODES:
            raise ValueError(f"unknown coarse mode {coarse_mode!r}; valid: {', '.join(MODES)}")
        self.coarse_levels, self.coarse_mode = int(coarse_levels), coarse_mode
        self.eps, self.device = float(eps), device
        self.timings: dict[str, float] = {}

    def options(self) -> dict[str, Any]:
        return {"variant": self.variant.name, "pattern_power": self.power,
                "coarse_levels": self.coarse_levels, "coarse_mode": self.coarse_mode,
                "eps": self.eps}

    @torch.no_grad()
    def values(self, matrices: list[sp.spmatrix]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(values, pair_index, d^{-1/2})`` per matrix from one batched forward pass."""
        scaled = [scale_matrix(A) for A in matrices]
        graphs = [build_graph(As, s, self.power) for As, s in scaled]
        g = collate(graphs).to(self.device)
        vals = self.variant.values(self.net(g), g).double().cpu().numpy()
        out, start = [], 0
        for gr, (_, s) in zip(graphs, scaled):
            q = gr.pair_counts[0]
            out.append((vals[start:start + q], gr.pair_index.numpy(), s))
            start += q
        return out

    def build_many(self, matrices: list[sp.spmatrix]) -> list[Any]:
        """Preconditioners for several matrices (network inference batched)."""
        t0 = time.perf_counter()
        vals = self.values(matrices)
        t1 = time.perf_counter()
        out = []
        for A, (v, pairs, s) in zip(matrices, vals):
            M = self.variant.build(v, pairs, s)
            if self.coarse_levels:
                M = TwoLevel(sp.csr_matrix(A), M, self.coarse_levels, self.coarse_mode)
            out.append(M)
        t2 = time.perf_counter()
        self.timings = {"inference_s": t1 - t0, "assembly_s": t2 - t1}
        return out

    def build(self, A: sp.spmatrix) -> Any:
        return self.build_many([A])[0]

    # -- files ----------------------------------------------------------------
    def save(self, model_dir: str | os.PathLike, **meta: Any) -> Path:
        from operators.checkpoint import save_weights

        save_weights(model_dir, self.net.state_dict())
        return write_model_meta(model_dir, "precond", arch=self.net.config(), **self.options(),
                                **meta)


def load(model_dir: str | os.PathLike, device: str = "cpu") -> LearnedPreconditioner:
    """Rebuild a trained preconditioner from ``model.json`` + ``weights.safetensors``."""
    from operators.checkpoint import load_weights

    meta = read_model_meta(model_dir, "precond")
    try:
        arch = meta["arch"]
        net = PrecondGNN(int(arch["hidden"]), int(arch["layers"]), bool(arch.get("edge_states")))
        model = LearnedPreconditioner(net, meta["variant"], power=int(meta["pattern_power"]),
                                      coarse_levels=int(meta["coarse_levels"]),
                                      coarse_mode=str(meta.get("coarse_mode", "additive")),
                                      eps=float(meta["eps"]), device=device)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{model_dir}: incomplete precond model.json (missing {exc})") from None
    state = load_weights(model_dir, device=device)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{model_dir}: weights do not match the architecture ({exc})") from None
    return model


_CACHE: dict[tuple[str, float], LearnedPreconditioner] = {}


def cached_load(model_dir: str | os.PathLike) -> LearnedPreconditioner:
    """:func:`load`, memoised on the path and the modification time of its weights."""
    path = Path(model_dir).resolve()
    w = path / WEIGHTS
    key = (str(path), w.stat().st_mtime if w.exists() else 0.0)
    if key not in _CACHE:
        _CACHE[key] = load(path)
    return _CACHE[key]


def solver_loader(arg: str, A: sp.csr_matrix) -> Any:
    """The ``learned:MODEL`` hook of :func:`solvers.linear.precond.register_precond_loader`."""
    if not arg:
        raise ValueError("learned preconditioner needs a model directory: learned:MODEL")
    return cached_load(arg).build(A)
