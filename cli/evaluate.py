"""``rom evaluate MODEL DATA.h5 [--json] [-o DIR]``: metrics of any model kind on a dataset.

The model directory's kind (:func:`data.model_kinds.kind_of`) evaluates it;
with ``-o DIR`` the metrics are written to ``DIR/metrics.json``. Both that
file and ``--json`` are strict JSON (non-finite numbers as ``null``,
:func:`data.evaluation.metrics_json`). When DATA is the model's own training
data (the record's ``on_training_data``) a warning line goes to stderr.
Progress over the samples goes to stderr (a bar on a terminal, a line every
``ROM_PROGRESS_INTERVAL`` seconds when piped) for kinds whose ``evaluate`` takes
``progress``; ``--quiet`` silences it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for metrics.json, predictions.h5 and figures.")
@click.option("--resolution", type=int, default=None,
              help="Evaluate at another grid resolution (neural operators).")
@click.option("--batch-size", type=int, default=None, help="Samples per batch [default: model's].")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda (neural operators).")
@click.option("--quiet", is_flag=True, help="No progress output.")
def evaluate(model: Path, data: Path, as_json: bool, out_dir: Path | None, resolution: int | None,
             batch_size: int | None, device: str, quiet: bool) -> None:
    """Compare MODEL's predictions on DATA with the solver's solutions.

    Reports relative L2 errors (mean, median, max), time per sample of the
    model and of the reference solver, the speedup, and for certified ROMs the
    error bound's violations and effectivities.
    """
    if not data.exists():
        raise click.BadParameter(f"{data}: no such file", param_hint="DATA")
    from data.evaluation import metrics_json, write_metrics
    from data.model_kinds import kind_of

    _, kind = kind_of(model)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    kw = {}
    if accepts(kind.evaluate, "progress") and not quiet:   # progress lines on stderr
        kw["progress"] = lambda line: click.echo(line, err=True)
    metrics = kind.evaluate(model, data, out_dir=out_dir, resolution=resolution,
                            batch_size=batch_size, device=device, **kw)
    if out_dir is not None:
        write_metrics(out_dir, metrics)
    if metrics.get("on_training_data"):
        click.echo(f"rom: warning: {data} is the model's training data: these are training "
                   "errors, not errors on unseen samples", err=True)
    if as_json:
        click.echo(metrics_json(metrics, indent=None))
        return
    _print_summary(metrics)


def accepts(function: Callable[..., Any], keyword: str) -> bool:
    """Whether ``function`` takes ``keyword`` (by name or through ``**kwargs``)."""
    params = inspect.signature(function).parameters.values()
    return any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in params)


def _print_summary(m: dict) -> None:
    r, t = m.get("rel_l2", {}), m.get("time_per_sample_s", {})
    click.echo(f"model {m.get('model')} on {m.get('n_samples')} samples")
    click.echo(f"  relative L2   mean {r.get('mean', float('nan')):.3e}  "
               f"median {r.get('median', float('nan')):.3e}  max {r.get('max', float('nan')):.3e}")
    click.echo(f"  time/sample   model {t.get('model', float('nan')):.3e} s  "
               f"solver {t.get('solver', float('nan')):.3e} s  speedup {m.get('speedup', float('nan')):.3g}x")
    if "bound" in m:
        b = m["bound"]
        click.echo(f"  error bound   violations {b.get('violations')}  effectivity "
                   f"{b.get('min_effectivity', float('nan')):.3g} .. "
                   f"{b.get('max_effectivity', float('nan')):.3g}")
