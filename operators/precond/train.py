"""Training loop of the learned preconditioners (AdamW, cosine schedule, best-on-validation).

Each training system is a Jacobi-scaled matrix ``Â`` with its graph and a bank
of probe vectors (Gaussian for ``loss="probe"``, the scaled dataset solution
``x̂ = D^{1/2} x`` for ``loss="supervised"``), coarse-projected when the model
uses a coarse correction (:func:`operators.precond.coarse.project_probes`).
A step collates ``batch_size`` systems into one graph, runs the network once
and minimises the variant's loss (:mod:`operators.precond.losses`) on
``probes`` random columns of each bank. The weights with the lowest
validation loss are kept.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from .coarse import project_probes
from .gnn import PrecondGNN
from .graph import MatrixGraph, build_graph, collate, scale_matrix
from .model import LearnedPreconditioner

LOSSES = ("probe", "supervised")


@dataclass
class TrainSystem:
    graph: MatrixGraph
    bank: torch.Tensor  # (n, m) scaled probe vectors


def prepare_system(A: sp.spmatrix, x: np.ndarray | None, *, power: int, coarse_levels: int,
                   loss: str, n_bank: int, rng: np.random.Generator) -> TrainSystem:
    """Graph + probe bank of one system (``x`` the solution, needed for ``supervised``)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
    A = sp.csr_matrix(A, dtype=np.float64)
    As, s = scale_matrix(A)
    if loss == "supervised":
        if x is None:
            raise ValueError("supervised loss needs the solutions")
        bank = (np.asarray(x, dtype=np.float64) / s)[:, None]
    else:
        bank = rng.standard_normal((A.shape[0], n_bank))
    bank = project_probes(A, s, bank, coarse_levels)
    return TrainSystem(build_graph(As, s, power), torch.as_tensor(bank, dtype=torch.float32))


def _batch(systems: list[TrainSystem], probes: int, gen: torch.Generator | None
           ) -> tuple[MatrixGraph, torch.Tensor]:
    g = collate([s.graph for s in systems])
    cols = []
    for s in systems:
        m = s.bank.shape[1]
        if gen is None or m <= probes:
            idx = torch.arange(min(m, probes))
        else:
            idx = torch.randperm(m, generator=gen)[:probes]
        cols.append(s.bank[:, idx])
    k = min(c.shape[1] for c in cols)
    return g, torch.cat([c[:, :k] for c in cols])


def evaluate_loss(model: LearnedPreconditioner, systems: list[TrainSystem], probes: int,
                  batch_size: int) -> float:
    """Mean loss over ``systems`` with their first ``probes`` bank columns (no gradients)."""
    if not systems:
        return float("nan")
    total, count = 0.0, 0
    model.net.eval()
    with torch.no_grad():
        for i in range(0, len(systems), batch_size):
            chunk = systems[i:i + batch_size]
            g, c = _batch(chunk, probes, None)
            g, c = g.to(model.device), c.to(model.device)
            vals = model.variant.values(model.net(g), g)
            total += float(model.variant.loss(vals, g, c)) * len(chunk)
            count += len(chunk)
    return total / count


def fit(model: LearnedPreconditioner, train: list[TrainSystem], val: list[TrainSystem], *,
        epochs: int = 50, lr: float = 3e-3, weight_decay: float = 1e-4, batch_size: int = 4,
        probes: int = 8, grad_clip: float = 1.0, seed: int = 0,
        log: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Train ``model.net`` in place; keeps the best validation weights. Returns the history."""
    if not train:
        raise ValueError("no training systems")
    if epochs < 1 or lr <= 0 or batch_size < 1 or probes < 1:
        raise ValueError("epochs, lr, batch size and probes must be positive")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = model.net
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(train) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps)) * 0.95 + 0.05)
    best, best_state, history = float("inf"), None, []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(len(train), generator=gen).tolist()
        losses = []
        for i in range(0, len(order), batch_size):
            g, c = _batch([train[k] for k in order[i:i + batch_size]], probes, gen)
            g, c = g.to(model.device), c.to(model.device)
            loss = model.variant.loss(model.variant.values(net(g), g), g, c)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        v = evaluate_loss(model, val, probes, batch_size) if val else float(np.mean(losses))
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": v,
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        if log is not None:
            log(record)
        if v < best:
            best = v
            best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return history


# ---------------------------------------------------------------- sampled or from a dataset
def sampled_systems(problem: str, resolution: int, n: int, seed: int, **options: Any
                    ) -> list[tuple[sp.csr_matrix, np.ndarray]]:
    """``n`` systems ``(A, b)`` of ``make_problem(problem, resolution, **options)`` at
    parameters drawn i.i.d. standard normal (``numpy`` generator ``seed``): the prior of a
    problem whose parameters are all ``normal`` (e.g. Darcy's KL coefficients)."""
    from solvers.problems import make_problem

    p = make_problem(problem, resolution, **options)
    if set(p.parameter_space.kinds) != {"normal"}:
        raise ValueError(f"{problem}: sampled systems need standard-normal parameters, "
                         f"got kinds {sorted(set(p.parameter_space.kinds))}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = p.assemble(rng.standard_normal(p.parameter_space.dim))
        out.append((sp.csr_matrix(s.A), np.asarray(s.b, dtype=float)))
    return out


def dataset_systems(data_path: str | os.PathLike, max_samples: int | None = None,
                    resolution: int | None = None
                    ) -> tuple[list[sp.csr_matrix], list[np.ndarray], list[np.ndarray], Any]:
    """``(matrices, right-hand sides, solutions, dataset info)`` of a steady SPD dataset.

    The matrices are rebuilt with ``problem.assemble(mu)``; solutions are the
    dataset's outputs mapped to the unknowns (``fd.full_to_interior``) when that
    reproduces the system to 1e-6 relative residual, otherwise a sparse direct
    solve. ``resolution`` rebuilds the problem at another resolution with the
    same parameters (the references are then direct solves).
    """
    from data.dataset import Dataset
    from solvers.problems import fd, problem_from_config

    with Dataset(data_path) as ds:
        if ds.times is not None:
            raise ValueError(f"{data_path}: precond needs a steady problem, "
                             f"{ds.problem!r} is time-dependent")
        problem = ds.make_problem()
        rebuilt = resolution is not None and int(resolution) != problem.resolution
        if rebuilt:
            problem = problem_from_config({**ds.config, "resolution": int(resolution)})
        if not hasattr(problem, "assemble"):
            raise ValueError(f"{data_path}: problem {ds.problem!r} has no linear system to precondition")
        n = ds.n_samples if max_samples is None else min(ds.n_samples, int(max_samples))
        if n < 1:
            raise ValueError(f"{data_path}: dataset has no samples")
        params = np.asarray(ds.parameters[:n], dtype=float)
        outs = ds.outputs(slice(0, n)) if not rebuilt else {}
        info = {"path": str(data_path), "problem": ds.problem, "n_samples": int(n),
                "resolution": problem.resolution}
    mats, rhs, sols = [], [], []
    out = outs[list(outs)[0]] if len(outs) == 1 else None
    for i, mu in enumerate(params):
        system = problem.assemble(mu)
        if not getattr(system, "spd", False):
            raise ValueError(f"{data_path}: the systems are not SPD; learned PCG preconditioners "
                             "need symmetric positive definite matrices")
        A, b = sp.csr_matrix(system.A, dtype=np.float64), np.asarray(system.b, dtype=np.float64)
        x = None
        if out is not None:
            try:
                x = fd.full_to_interior(problem.grid, np.asarray(out[i], dtype=np.float64))
            except (ValueError, IndexError):
                x = None
        if x is None or x.shape != b.shape or \
                np.linalg.norm(b - A @ x) > 1e-6 * max(np.linalg.norm(b), 1e-300):
            x = spla.spsolve(A.tocsc(), b)
        mats.append(A)
        rhs.append(b)
        sols.append(x)
    return mats, rhs, sols, info


def train_from_dataset(data_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                       variant: str = "inverse", epochs: int = 50, lr: float = 3e-3,
                       hidden: int = 8, layers: int = 1, edge_states: bool = False,
                       device: str = "cpu", loss: str = "probe",
                       pattern_power: int | None = None, coarse_levels: int = 2,
                       coarse_mode: str = "additive",
                       eps: float = 1e-4, batch_size: int = 4, probes: int = 8,
                       val_fraction: float = 0.2, seed: int = 0, max_samples: int | None = None,
                       log: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train on a dataset's systems and write the model directory; returns a summary."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("a CUDA device was requested but CUDA is not available")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val fraction must be in [0, 1), got {val_fraction}")
    t0 = time.perf_counter()
    mats, _, sols, info = dataset_systems(data_path, max_samples)
    torch.manual_seed(seed)
    model = LearnedPreconditioner(PrecondGNN(hidden, layers, edge_states), variant,
                                  power=pattern_power, coarse_levels=coarse_levels,
                                  coarse_mode=coarse_mode, eps=eps, device=device)
    rng = np.random.default_rng(seed)
    systems = [prepare_system(A, x, power=model.power, coarse_levels=coarse_levels, loss=loss,
                              n_bank=4 * probes, rng=rng) for A, x in zip(mats, sols)]
    perm = rng.permutation(len(systems))
    n_val = int(round(val_fraction * len(systems))) if len(systems) > 1 else 0
    val = [systems[i] for i in perm[:n_val]]
    train = [systems[i] for i in perm[n_val:]]
    history = fit(model, train, val, epochs=epochs, lr=lr, batch_size=batch_size, probes=probes,
                  seed=seed, log=log)
    best = min(history, key=lambda r: r["val_loss"])
    summary = {"epochs": epochs, "lr": lr, "loss": loss, "batch_size": batch_size,
               "probes": probes, "seed": seed, "n_train": len(train), "n_val": len(val),
               "best_epoch": best["epoch"], "best_val_loss": best["val_loss"],
               "final_train_loss": history[-1]["train_loss"],
               "seconds": time.perf_counter() - t0,
               "parameters": int(sum(p.numel() for p in model.net.parameters()))}
    model.save(out_dir, dataset=info, training=summary)
    return {"model_dir": str(out_dir), **model.options(), "arch": model.net.config(), **summary}
