"""Shared test settings: one BLAS/torch thread per pytest-xdist worker (2 cores)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


import pytest  # noqa: E402

from solvers.problems import PROBLEMS  # noqa: E402
from tests.helpers.toys import TOYS  # noqa: E402


@pytest.fixture
def toys(monkeypatch):
    """Register the toy problems in the problem registry for one test."""
    for k, v in TOYS.items():
        monkeypatch.setitem(PROBLEMS, k, v)
    return TOYS
