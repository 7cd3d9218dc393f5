"""Assertions on generated datasets, and an interrupted generation."""

import numpy as np

from data.dataset import Dataset


def assert_same_run(a_path, b_path):
    """Same config, parameters, fields (bitwise), stats (but wall times) and info."""
    with Dataset(a_path) as a, Dataset(b_path) as b:
        assert a.complete and b.complete
        assert a.config == b.config and a.n_samples == b.n_samples and a.seed == b.seed
        assert np.array_equal(a.parameters, b.parameters)
        assert a.input_names == b.input_names and a.output_names == b.output_names
        for name in a.input_names + a.output_names:
            assert np.array_equal(a.field(name)[()], b.field(name)[()]), name
        for k in a.stats:
            if k not in ("seconds", "solve_seconds"):
                assert np.array_equal(a.stats[k], b.stats[k]), k
        assert a.info == b.info


def interrupt_at_call(problem, k):
    """``problem`` whose ``solve`` raises KeyboardInterrupt (as Ctrl-C) on its ``k``-th call."""
    solve, calls = problem.solve, []

    def stop(mu, solver=None):
        calls.append(1)
        if len(calls) == k:
            raise KeyboardInterrupt
        return solve(mu, solver)

    problem.solve = stop
    return problem


def assert_holds(ds, grid, times, inputs, outputs):
    """``ds`` has this grid, these output times (``None``: steady) and exactly these input and
    output fields, bitwise."""
    assert ds.grid == grid
    if times is None:
        assert ds.times is None
    else:
        np.testing.assert_array_equal(ds.times, times)
    assert sorted(ds.input_names) == sorted(inputs)
    assert sorted(ds.output_names) == sorted(outputs)
    for k, v in {**inputs, **outputs}.items():
        np.testing.assert_array_equal(ds.field(k)[()], v)
