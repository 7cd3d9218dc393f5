"""``rom train pod|rb|eim``: reduced-order models (thin wrappers over :mod:`rom.api`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

_DATA = click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
_OUT = click.option("-o", "--output", "out", required=True,
                    type=click.Path(file_okay=False, path_type=Path), help="Model directory.")
_QUIET = click.option("--quiet", is_flag=True, help="No progress output.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the model summary as JSON.")


def _done(meta: dict, out: Path, as_json: bool, summary: str) -> None:
    if as_json:
        click.echo(json.dumps(meta, default=float))
    else:
        click.echo(f"wrote {out} ({summary})")


@click.command(context_settings={"show_default": True})
@_DATA
@_OUT
@click.option("--tol", type=float, default=1e-6, help="Greedy tolerance on the relative bound.")
@click.option("--max-basis", type=click.IntRange(min=1), default=50, help="Largest basis size N.")
@click.option("--train-size", type=click.IntRange(min=1), default=1000,
              help="Size of the greedy training set.")
@click.option("--sampler", type=click.Choice(["random", "lhs", "sobol"]), default="lhs",
              help="Design of the training set in the problem's parameter space.")
@click.option("--estimator", type=click.Choice(["stable", "standard"]), default="stable",
              help="Residual-norm evaluation: stable (accurate to ~1e-12) or standard "
                   "(expanded quadratic form, floor ~1e-8).")
@click.option("--seed", type=int, default=0, help="Seed of the training set.")
@_QUIET
@_JSON
def rb(data: Path, out: Path, tol: float, max_basis: int, train_size: int, sampler: str,
       estimator: str, seed: int, quiet: bool, as_json: bool) -> None:
    """Certified reduced basis (weak greedy) of DATA's problem (needs an affine decomposition)."""
    from rom.api import train_rb

    meta = train_rb(data, out, tol=tol, max_basis=max_basis, train_size=train_size,
                    sampler=sampler, estimator=estimator, seed=seed,
                    progress=None if quiet else lambda s: click.echo(s, err=True))
    last = meta["greedy"][-1]["max_rel_bound"] if meta["greedy"] else float("nan")
    _done(meta, out, as_json, f"N={meta['N']}, max relative bound {last:.2e} on the "
          f"training set, {meta['estimator']} estimator")


@click.command(context_settings={"show_default": True})
@_DATA
@_OUT
@click.option("--tol", type=float, default=1e-4,
              help="POD truncation: relative l2 tail of the singular values.")
@click.option("--max-modes", type=click.IntRange(min=1), default=None, help="Cap on the modes.")
@click.option("--field", default=None, help="Field to reduce (default: the first output).")
@click.option("--regressor", type=click.Choice(["rbf", "gp"]), default="rbf",
              help="Regression of the POD coefficients on the parameters.")
@_QUIET
@_JSON
def pod(data: Path, out: Path, tol: float, max_modes: int | None, field: str | None,
        regressor: str, quiet: bool, as_json: bool) -> None:
    """Non-intrusive POD of a DATA field with RBF/GP regression of the coefficients."""
    from rom.api import train_pod

    meta = train_pod(data, out, tol=tol, max_modes=max_modes, field=field, regressor=regressor)
    _done(meta, out, as_json, f"{meta['n_modes']} modes of {meta['field']!r}, {regressor}")


@click.command(context_settings={"show_default": True})
@_DATA
@_OUT
@click.option("--target", type=click.Choice(["field", "operator"]), default="field",
              help="field: EIM of a dataset field; operator: matrix EIM of the assembled "
                   "systems A(mu), b(mu) + certified reduced basis (steady linear problems).")
@click.option("--field", default=None, help="Field to interpolate (default: the first input).")
@click.option("--tol", type=float, default=1e-6, help="Relative sup-norm EIM training tolerance.")
@click.option("--max-terms", type=click.IntRange(min=1), default=100, help="Largest M.")
@click.option("--train-size", type=click.IntRange(min=2), default=60,
              help="operator: parameters assembled for the EIM, SCM and greedy.")
@click.option("--max-basis", type=click.IntRange(min=1), default=40, help="operator: largest N.")
@click.option("--rb-tol", type=float, default=1e-6, help="operator: greedy tolerance.")
@_QUIET
@_JSON
def eim(data: Path, out: Path, target: str, field: str | None, tol: float, max_terms: int,
        train_size: int, max_basis: int, rb_tol: float, quiet: bool, as_json: bool) -> None:
    """Empirical interpolation: of a DATA field (M magic points reconstruct each sample) or of
    the problem's assembled matrices (non-intrusive affine form for a reduced basis)."""
    from rom.api import train_eim

    if target == "operator":
        meta = train_eim(data, out, tol=tol, max_terms=max_terms, target="operator",
                         train_size=train_size, max_basis=max_basis, rb_tol=rb_tol)
        _done(meta, out, as_json, f"matrix EIM M={meta['M']} (rhs {meta['M_rhs']}), "
              f"training error {meta['eim_train_error_rel_sup']:.1e}, RB N={meta['N']}")
        return
    meta = train_eim(data, out, field=field, tol=tol, max_terms=max_terms)
    _done(meta, out, as_json, f"M={meta['M']} magic points of {meta['field']!r}, training "
          f"error {meta['train_error_rel_sup'][-1]:.2e}")
