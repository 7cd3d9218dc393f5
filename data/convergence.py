"""Unconverged samples: which they are, the one-line summary, and who refuses them.

A sample is *unconverged* when it was solved (``done``) but one of its linear
solves missed the solver tolerance ``||b - A x|| <= max(rtol ||b||, atol)``
(``/stats/converged`` false; see ``docs/format.md``). Such a sample is kept in
the dataset, since nothing is lost, but it is not a solution to the requested
accuracy, so:

* ``rom generate`` ends non-zero with :func:`convergence_summary` unless told to
  allow them (:class:`UnconvergedSamples`);
* ``rom info --check`` reports them as a problem;
* training uses :func:`training_samples`: the solved samples, refusing
  unconverged ones, or, with ``exclude_unconverged``, leaving them out.
  :data:`ALLOW_UNCONVERGED` is the training option that asks for that.

A file that records no convergence flag (imported data) counts as converged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data.model_kinds import Option

#: the training option of every kind that trains on dataset samples
ALLOW_UNCONVERGED = Option(
    "allow_unconverged", bool, False,
    "Train on the converged samples only, leaving out those whose solver missed its "
    "tolerance (default: refuse a dataset that has any).")


class UnconvergedSamples(ValueError):
    """Solved samples whose solver did not reach its tolerance (one-line message)."""


def unconverged_index(ds: Any) -> np.ndarray:
    """Indices of the solved samples of ``ds`` (a :class:`~data.dataset.Dataset`) that did
    not converge."""
    return np.flatnonzero(ds.done & ~ds.converged)


def convergence_summary(ds: Any) -> str | None:
    """``"N of M samples did not converge (solver S, worst relative residual R at sample
    i; samples i, j, ...)"``, or ``None`` when every solved sample converged."""
    bad = unconverged_index(ds)
    if not bad.size:
        return None
    res = np.asarray(ds.stats.get("residual", np.full(ds.n_samples, np.nan)), dtype=float)
    worst = res[bad]
    finite = np.isfinite(worst)
    if finite.any():
        k = bad[finite][int(np.argmax(worst[finite]))]
        where = f"worst relative residual {res[k]:.3g} at sample {k}"
    else:
        where = "residual not finite"
    listed = ", ".join(map(str, bad[:8])) + (", ..." if bad.size > 8 else "")
    return (f"{bad.size} of {int(ds.done.sum())} samples did not converge (solver "
            f"{ds.solver or '?'}, {where}; samples {listed})")


def require_converged(ds: Any) -> None:
    """Raise :class:`UnconvergedSamples` naming how many and which samples did not converge."""
    summary = convergence_summary(ds)
    if summary is not None:
        raise UnconvergedSamples(f"{ds.path}: {summary}")


def training_samples(ds: Any, exclude_unconverged: bool = False) -> np.ndarray:
    """The samples a model may be trained on: the solved ones, all converged.

    Unconverged samples are an :class:`UnconvergedSamples` error, or with
    ``exclude_unconverged`` are left out; no sample left is a ``ValueError``.
    """
    if not exclude_unconverged:
        summary = convergence_summary(ds)
        if summary is not None:
            raise UnconvergedSamples(f"{ds.path}: {summary}; regenerate them with a solver "
                                     "that converges, or exclude them from training")
    idx = np.flatnonzero(ds.done & ds.converged)
    if idx.size == 0:
        raise ValueError(f"{ds.path}: dataset has no solved samples"
                         + (" that converged" if ds.done.any() else ""))
    return idx
