"""The strategy comparison harness: interleaving, totals, baselines and the table."""

import numpy as np
import pytest

from solvers.benchmarking import (
    STRATEGIES,
    compare_on_problem,
    format_rows,
    format_table,
    make_strategy,
    run_interleaved,
    sample_parameters,
)
from solvers.linear.base import SolveStats
from solvers.problems import make_problem
from solvers.problems.sampling import sample_unit


class Recorder:
    """Counts as its cost the index of the system it solves; logs the global call order."""

    def __init__(self, name, log, converge=True):
        self.name, self.log, self.converge = name, log, converge

    def solve(self, system, x0=None):
        self.log.append((self.name, system))
        return None, SolveStats(self.name, iterations=system, matvecs=2 * system,
                                residual=1e-9 * system, converged=self.converge)


def test_run_interleaved_is_round_robin_and_sums_per_strategy():
    log = []
    rows = run_interleaved({"a": Recorder("a", log), "b": Recorder("b", log, converge=False)},
                           {"a": [1, 2, 3], "b": [10, 20]})
    assert log == [("a", 1), ("b", 10), ("a", 2), ("b", 20), ("a", 3)]
    assert rows["a"]["iterations"] == 6 and rows["a"]["matvecs"] == 12
    assert rows["a"]["iterations_per_system"] == 2.0 and rows["a"]["all_converged"]
    assert rows["b"]["max_residual"] == pytest.approx(2e-8) and not rows["b"]["all_converged"]
    assert rows["b"]["seconds_per_system"] == pytest.approx(rows["b"]["seconds"] / 2)


def test_format_rows_ratio_to_fastest_and_skipped_rows():
    rows = {"fast": {"seconds": 1.0, "seconds_per_system": 0.5, "iterations_per_system": 3.0,
                     "matvecs": 8, "max_residual": 1e-9, "all_converged": True},
            "slow": {"seconds": 3.0, "seconds_per_system": 1.5, "iterations_per_system": 9.0,
                     "matvecs": 20, "max_residual": 2e-9, "all_converged": False},
            "a-very-long-strategy-name": {"skipped": "too big"}}
    lines = format_rows(rows).splitlines()
    assert lines[0].split() == ["strategy", "s/system", "vs", "best", "iters/sys", "matvecs",
                                "max", "res", "ok"]
    assert "1.00x" in lines[1] and lines[1].endswith("yes")
    assert "3.00x" in lines[2] and lines[2].endswith("NO")
    assert lines[3].split(None, 1) == ["a-very-long-strategy-name", "skipped: too big"]


def test_sample_parameters_is_the_random_design_of_the_parameter_space():
    problem = make_problem("darcy", 12)
    space = problem.parameter_space
    expected = space.from_unit(sample_unit(5, space.dim, "random", 3))
    assert np.array_equal(sample_parameters(problem, 5, 3), expected)


def test_compare_on_problem_defaults_baselines_and_errors():
    rec = compare_on_problem("darcy", 12, 2, {}, 0, None, "sorted", 1e-8)
    assert rec["spd"] and rec["order"] == "sorted" and rec["unknowns"] == 100
    assert list(rec["strategies"]) == ["splu", "pyamg-cg", "pyamg-cg-fresh", "ic-cg", "amg-cg",
                                       "def-cg-amg", "auto"]
    assert all(r["all_converged"] for r in rec["strategies"].values())
    assert format_table(rec).splitlines()[0] == ("darcy: 2 systems, 100 unknowns, order sorted, "
                                                 "rtol 1e-08")
    rec = compare_on_problem("advection_diffusion", 10, 2, {}, 0, ["scipy-gmres-ilu", "gcrodr"],
                             "given", 1e-8)
    assert not rec["spd"] and all(r["all_converged"] for r in rec["strategies"].values())
    with pytest.raises(ValueError, match="unknown strategy 'bogus'; valid: splu"):
        compare_on_problem("darcy", 12, 2, {}, 0, ["splu", "bogus"], "given", 1e-8)
    with pytest.raises(ValueError, match="time-dependent"):
        compare_on_problem("heat", 12, 1, {}, 0, None, "given", 1e-8)
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("nope")
    assert make_strategy("auto-cold").settings()["warm_start"] is False
    assert {make_strategy(n).name for n in ("pyamg-cg", "pyamg-cg-fresh")} == {
        "pyamg-cg", "pyamg-cg-fresh"}
    assert set(STRATEGIES) >= {"splu", "auto", "scipy-gmres-ilu"}
