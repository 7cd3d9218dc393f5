"""Assertions on generated datasets."""

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
