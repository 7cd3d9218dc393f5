"""A trained preconditioner network: build preconditioners for matrices, save and load.

``LearnedPreconditioner(net, variant, power, coarse_levels)`` turns SPD
matrices into preconditioner objects with ``apply(r)``: scale
(``Â = D^{-1/2} A D^{-1/2}``), one batched forward pass of the network over the
collated graphs, the variant's values -> ``L`` (factor) or ``G G^T + εI``
(inverse), and, with ``coarse_levels > 0``, the two-level wrapper of
:mod:`operators.precond.coarse`. :func:`cached_load` serves the solvers'
``learned:MODEL`` hook (:mod:`operators.precond`).

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

from data.model_dir import read_model_meta, write_model_meta

from ..checkpoint import WEIGHTS, load_weights, save_weights
from .coarse import MODES, TwoLevel
from .factor import FactorVariant
from .gnn import PrecondGNN
from .graph import build_graph, collate, csr_rows, scale_matrix
from .infer import FastNet
from .inverse import InverseVariant
from .pattern import Pattern, split_pattern

VARIANTS = ("factor", "inverse")


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
        self._fast_net: FastNet | None = None
        self._fast_net_key: tuple = ()

    def options(self) -> dict[str, Any]:
        return {"variant": self.variant.name, "pattern_power": self.power,
                "coarse_levels": self.coarse_levels, "coarse_mode": self.coarse_mode,
                "eps": self.eps}

    @property
    def fast(self) -> bool:
        """Whether :meth:`values` takes the fused CPU path of :mod:`.infer`."""
        return not self.net.edge_states and torch.device(self.device).type == "cpu"

    def _folded(self) -> FastNet:
        """The :class:`FastNet` of the current weights (refolded after any in-place update)."""
        key = tuple((p.data_ptr(), p._version) for p in self.net.parameters())
        if self._fast_net is None or self._fast_net_key != key:
            self._fast_net, self._fast_net_key = FastNet(self.net), key
        return self._fast_net

    def values(self, matrices: list[sp.spmatrix], *, reference: bool = False
               ) -> list[tuple[np.ndarray, Pattern, np.ndarray]]:
        """``(values, pattern, d^{-1/2})`` per matrix, values in the pattern's CSR order.

        On the CPU with node layers each matrix goes through :class:`.infer.FastNet`
        on its own; otherwise (edge states, another device, or ``reference=True``)
        the graphs are collated into one batched forward pass of the network.
        Both give the same values to float32 round-off.
        """
        scaled = [scale_matrix(A) for A in matrices]
        out: list = [None] * len(matrices)
        if self.fast and not reference:
            fast_net = self._folded()
            for k, (As, s) in enumerate(scaled):
                rows = csr_rows(As)
                pattern = split_pattern(As, self.power, rows)
                if pattern is None:
                    continue  # a row of tril(Â^k) without its diagonal: reference path
                rd, ro = fast_net.raw_values(As, s, pattern, rows)
                vd, vo = self.variant.split_values(torch.from_numpy(rd), torch.from_numpy(ro),
                                                   torch.from_numpy(pattern.off_attr))
                out[k] = (pattern.assemble(vd.numpy(), vo.numpy()), pattern, s)
        todo = [k for k, o in enumerate(out) if o is None]
        if not todo:
            return out
        with torch.no_grad():
            graphs = [build_graph(*scaled[k], self.power) for k in todo]
            g = collate(graphs).to(self.device)
            vals = self.variant.values(self.net(g), g).double().cpu().numpy()
        start = 0
        for k, gr in zip(todo, graphs):
            q = gr.pair_counts[0]
            pr, pc = gr.pair_index.numpy()
            out[k] = (vals[start:start + q], Pattern.from_rows(gr.n, pr, pc), scaled[k][1])
            start += q
        return out

    def build_many(self, matrices: list[sp.spmatrix], *, reference: bool = False) -> list[Any]:
        """Preconditioners for several matrices (see :meth:`values` for the inference)."""
        t0 = time.perf_counter()
        vals = self.values(matrices, reference=reference)
        t1 = time.perf_counter()
        out = []
        for A, (v, pattern, s) in zip(matrices, vals):
            M = self.variant.build(v, pattern, s)
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
        save_weights(model_dir, self.net.state_dict())
        return write_model_meta(model_dir, "precond", arch=self.net.config(), **self.options(),
                                **meta)


def load(model_dir: str | os.PathLike, device: str = "cpu") -> LearnedPreconditioner:
    """Rebuild a trained preconditioner from ``model.json`` + ``weights.safetensors``."""
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
