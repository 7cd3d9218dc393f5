"""``rom train precond DATA.h5 -o MODEL``: a graph network that predicts a PCG preconditioner."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model directory to write (model.json, weights.safetensors).")
@click.option("--variant", type=click.Choice(["factor", "inverse"]), default="inverse",
              help="factor: M = (L L^T)^-1 (triangular solves); inverse: M = G G^T + eps I (matvecs).")
@click.option("--epochs", type=click.IntRange(min=1), default=50, help="Training epochs.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=3e-3,
              help="AdamW learning rate.")
@click.option("--hidden", type=click.IntRange(min=1), default=8, help="Hidden width of the network.")
@click.option("--layers", type=click.IntRange(min=0), default=1, help="Message-passing rounds.")
@click.option("--edge-states", is_flag=True,
              help="Edge-state message passing (Li et al.) instead of entry-weighted node messages.")
@click.option("--loss", type=click.Choice(["probe", "supervised"]), default="probe",
              help="probe: Gaussian probe vectors; supervised: the dataset's solutions.")
@click.option("--pattern-power", type=click.IntRange(min=0), default=None,
              help="Sparsity pattern tril(A^k) of the factor (0: diagonal only; default 1: the pattern of A).")
@click.option("--coarse-levels", type=click.IntRange(min=0), default=2,
              help="Aggregation passes of the coarse correction (0: one-level preconditioner).")
@click.option("--coarse-mode", type=click.Choice(["additive", "multiplicative"]), default="additive",
              help="Combine smoother and coarse correction additively (B = S + Q) or "
                   "multiplicatively (symmetric two-level cycle).")
@click.option("--eps", type=click.FloatRange(min=0), default=1e-4, help="Shift of the inverse variant.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, help="Systems per step.")
@click.option("--probes", type=click.IntRange(min=1), default=8, help="Probe vectors per system and step.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2,
              help="Systems held out for validation.")
@click.option("--max-samples", type=click.IntRange(min=1), default=None, help="Use the first N samples.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu")
@click.option("--seed", type=int, default=0, help="Seed of the split, probes and initialisation.")
@click.option("--quiet", is_flag=True, help="No per-epoch output.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def precond(data: Path, out: Path, variant: str, epochs: int, lr: float, hidden: int, layers: int,
            edge_states: bool, loss: str, pattern_power: int | None, coarse_levels: int,
            coarse_mode: str, eps: float, batch_size: int,
            probes: int, val_fraction: float, max_samples: int | None, device: str, seed: int,
            quiet: bool, as_json: bool) -> None:
    """Train a learned PCG preconditioner on the SPD systems of DATA."""
    from operators.precond.train import train_from_dataset

    def log(r: dict) -> None:
        click.echo(f"epoch {r['epoch']:4d}  train {r['train_loss']:.4e}  val {r['val_loss']:.4e}"
                   f"  ({r['seconds']:.2f} s)", err=True)

    meta = train_from_dataset(data, out, variant=variant, epochs=epochs, lr=lr, hidden=hidden,
                              layers=layers, edge_states=edge_states, device=device, loss=loss, power=pattern_power,
                              coarse_levels=coarse_levels, coarse_mode=coarse_mode, eps=eps, batch_size=batch_size,
                              probes=probes, val_fraction=val_fraction, seed=seed,
                              max_samples=max_samples, log=None if quiet else log)
    if as_json:
        click.echo(json.dumps(meta, default=float))
    else:
        click.echo(f"wrote {out} ({meta['variant']}, tril(A^{meta['pattern_power']}), "
                   f"{meta['coarse_levels']} coarse levels, best val loss "
                   f"{meta['best_val_loss']:.3e} at epoch {meta['best_epoch']})")
