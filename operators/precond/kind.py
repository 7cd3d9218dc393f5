"""The ``precond`` model kind: a graph network that predicts a PCG preconditioner.

Implements :class:`data.model_kinds.ModelKind` over
:func:`operators.precond.train.train_from_dataset` (training),
:func:`operators.precond.model.load` (the :class:`LearnedPreconditioner`) and
:func:`operators.precond.evaluation.evaluate` (learned PCG against the
classical preconditioners). The options' choices come from the modules that
define them, read (with torch) when the options are first needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from data.model_dir import read_model_meta
from data.model_kinds import Option, option_values


class PrecondKind:
    """Learned PCG preconditioners (variants ``factor`` and ``inverse``, optional coarse space)."""

    name = "precond"
    family = "precond"
    help = "Train a learned PCG preconditioner on the SPD systems of DATA."

    @cached_property
    def options(self) -> Sequence[Option]:
        from .coarse import MODES
        from .model import VARIANTS
        from .train import LOSSES

        return [
            Option("variant", VARIANTS, "inverse", "factor: M = (L L^T)^-1 (triangular solves); "
                   "inverse: M = G G^T + eps I (matvecs)."),
            Option("epochs", int, 50, "Training epochs.", minimum=1),
            Option("lr", float, 3e-3, "AdamW learning rate.", minimum=0, min_open=True),
            Option("hidden", int, 8, "Hidden width of the network.", minimum=1),
            Option("layers", int, 1, "Message-passing rounds.", minimum=0),
            Option("edge_states", bool, False, "Edge-state message passing (Li et al.) instead "
                   "of entry-weighted node messages."),
            Option("loss", LOSSES, "probe",
                   "probe: Gaussian probe vectors; supervised: the dataset's solutions."),
            Option("pattern_power", int, None, "Sparsity pattern tril(A^k) of the factor "
                   "(0: diagonal only; default 1: the pattern of A).", minimum=0),
            Option("coarse_levels", int, 2, "Aggregation passes of the coarse correction "
                   "(0: one-level preconditioner).", minimum=0),
            Option("coarse_mode", MODES, "additive", "Combine smoother and coarse correction "
                   "additively (B = S + Q) or multiplicatively (symmetric two-level cycle)."),
            Option("eps", float, 1e-4, "Shift of the inverse variant.", minimum=0),
            Option("batch_size", int, 4, "Systems per step.", minimum=1),
            Option("probes", int, 8, "Probe vectors per system and step.", minimum=1),
            Option("val_fraction", float, 0.2, "Systems held out for validation.",
                   minimum=0, maximum=1, max_open=True),
            Option("max_samples", int, None, "Use the first N samples.", minimum=1),
            Option("device", ("cpu", "cuda"), "cpu"),
            Option("seed", int, 0, "Seed of the split, probes and initialisation."),
        ]

    def train(self, data_path: str | Path, out_dir: str | Path, *,
              progress: Callable[[str], None] | None = None, **options: Any) -> dict[str, Any]:
        """Train on the dataset's systems; returns the summary of
        :func:`~operators.precond.train.train_from_dataset` (one ``progress`` line per epoch)."""
        from .train import train_from_dataset

        v = option_values(self, options)

        def log(r: dict[str, Any]) -> None:
            progress(f"epoch {r['epoch']:4d}  train {r['train_loss']:.4e}  "
                     f"val {r['val_loss']:.4e}  ({r['seconds']:.2f} s)")

        return train_from_dataset(data_path, out_dir, log=None if progress is None else log, **v)

    def load(self, model_dir: str | Path, device: str = "cpu") -> Any:
        """The :class:`~operators.precond.model.LearnedPreconditioner` of ``model_dir``."""
        from .model import load

        return load(model_dir, device=device)

    def evaluate(self, model_dir: str | Path, data_path: str | Path, *,
                 out_dir: str | Path | None = None, resolution: int | None = None,
                 batch_size: int | None = None, device: str = "cpu") -> dict[str, Any]:
        """:func:`operators.precond.evaluation.evaluate` (the settings it takes are named, so
        the CLI passes no others, e.g. no ``progress``)."""
        from .evaluation import evaluate

        return evaluate(model_dir, data_path, out_dir=out_dir, resolution=resolution,
                        batch_size=batch_size, device=device)

    def describe(self, model_dir: str | Path) -> dict[str, Any]:
        """Variant, pattern, coarse levels, architecture and parameter count."""
        meta = read_model_meta(model_dir, "precond")
        model = self.load(model_dir)
        return {"kind": "precond", "variant": meta["variant"],
                "pattern_power": meta["pattern_power"], "coarse_levels": meta["coarse_levels"],
                "eps": meta["eps"], "arch": meta["arch"],
                "parameters": int(sum(p.numel() for p in model.net.parameters())),
                "dataset": meta.get("dataset", {}), "training": meta.get("training", {})}

    def summary(self, meta: dict[str, Any]) -> str:
        """``factor, tril(A^1), 2 coarse levels, best val loss 1.2e-01 at epoch 40``."""
        return (f"{meta['variant']}, tril(A^{meta['pattern_power']}), "
                f"{meta['coarse_levels']} coarse levels, best val loss "
                f"{meta['best_val_loss']:.3e} at epoch {meta['best_epoch']}")


KIND = PrecondKind()
