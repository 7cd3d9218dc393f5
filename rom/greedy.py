"""The weak greedy algorithm, generic over a surrogate (Binev et al. 2011; Buffa et al. 2012).

Given a training set ``Xi`` of parameters and a reduced model whose error at
``mu`` is bounded (up to a constant) by a cheap estimate ``eta(mu)``, the weak
greedy grows the reduced space one extension at a time:

    repeat:  mu* = argmax_{mu in Xi} eta(mu)
             stop if eta(mu*) <= tol, or after max_extensions extensions
             extend the reduced space with the truth solution at mu*

With a *surrogate* ``eta`` instead of the true error (the "weak" greedy) the
basis is quasi-optimal: its error decays at the rate of the Kolmogorov
n-widths of the solution manifold whenever ``eta`` is equivalent to the
error. The loop does not know what the space is or how it is extended, only
the :class:`GreedySurrogate` interface, as in pyMOR's
``pymor.algorithms.greedy.weak_greedy``:

* the certified reduced basis (:class:`rom.reduced_basis.RBSurrogate`,
  ``eta`` = relative a-posteriori bound, extension = one truth snapshot),
  also behind the matrix-EIM reduced basis;
* a POD-greedy for parabolic problems fits the same interface (``eta`` =
  bound over the trajectory, extension = the leading POD modes of the
  projection error of the trajectory at ``mu*``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class GreedySurrogate(Protocol):
    """What :func:`weak_greedy` needs of a reduced model."""

    @property
    def size(self) -> int:
        """Current dimension of the reduced space (0 before the first extension)."""
        ...

    def evaluate(self, training_set: np.ndarray) -> tuple[float, int]:
        """``(max_mu eta(mu), index of the parameter to extend at)`` over the training set.

        The index is normally the argmax; a surrogate may rank parameters
        whose estimate is infinite (e.g. not yet certified) by other means.
        """
        ...

    def extend(self, mu: np.ndarray) -> int:
        """Extend the reduced space at ``mu``; the number of basis vectors added (0: none)."""
        ...


@dataclass
class GreedyStep:
    """One evaluation of the surrogate: basis size ``N``, the largest (relative) estimate
    over the training set, the parameter chosen next and the seconds the evaluation took."""

    N: int
    max_rel_bound: float
    mu: list[float]
    seconds: float


@dataclass
class GreedyResult:
    """Steps (one per evaluation with a non-empty basis), extensions made and why it stopped:
    ``"tolerance"``, ``"max_extensions"`` or ``"no_extension"`` (nothing left to add)."""

    steps: list[GreedyStep] = field(default_factory=list)
    extensions: int = 0
    stopped: str = ""


def weak_greedy(surrogate: GreedySurrogate, training_set: np.ndarray, *, tol: float,
                max_extensions: int,
                progress: Callable[[GreedyStep], None] | None = None) -> GreedyResult:
    """Run the weak greedy loop (see the module docstring) until the largest estimate is at
    most ``tol`` or ``max_extensions`` extensions have been made.

    An estimate of the empty space is not a step (it only picks the first
    parameter). ``progress`` receives every step as it is taken. If an
    extension adds nothing, the loop stops with a ``RuntimeWarning``.
    """
    training_set = np.atleast_2d(np.asarray(training_set, dtype=float))
    result = GreedyResult()
    while True:
        t0 = time.perf_counter()
        worst, j = surrogate.evaluate(training_set)
        if surrogate.size > 0:
            step = GreedyStep(surrogate.size, float(worst), training_set[j].tolist(),
                              time.perf_counter() - t0)
            result.steps.append(step)
            if progress:
                progress(step)
            if worst <= tol:
                result.stopped = "tolerance"
                return result
        if result.extensions >= max_extensions:
            result.stopped = "max_extensions"
            return result
        if surrogate.extend(training_set[j]) == 0:
            warnings.warn(f"greedy stopped at N={surrogate.size}: the extension at the worst "
                          "parameter added nothing (its snapshot is already in the basis; "
                          "estimator floor reached)", RuntimeWarning, stacklevel=3)
            result.stopped = "no_extension"
            return result
        result.extensions += 1
