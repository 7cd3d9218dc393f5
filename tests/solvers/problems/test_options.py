"""Problem options are checked when the problem is built: a bad value is one ValueError
that names it, for every problem of the zoo (``solvers.problems.make_problem``)."""

import pytest

from solvers.problems import make_problem


@pytest.mark.parametrize("name, options, msg", [
    ("darcy", {"scheme": "upwind"}, "unknown scheme"),
    ("darcy", {"face": "geometric"}, "unknown face average"),
    ("thermal_block", {"blocks_x": 0}, "at least 1"),
    ("thermal_block", {"mu_min": 2.0}, "mu_min < mu_max"),
    ("helmholtz", {"bc": "pml"}, "unknown bc"),
    ("helmholtz", {"delta_max": 1.5}, "delta_max"),
    ("advection_diffusion", {"eps_min": 0.0}, "eps_min"),
    ("heat", {"scheme": "rk4"}, "unknown scheme"),
    ("heat", {"dt": -1.0}, "dt must be positive"),
    ("heat", {"n_out": 1}, "n_out must be at least 2"),
    ("navier_stokes", {"scheme": "euler"}, "unknown scheme"),
    ("burgers", {"nu": 0.0}, "nu must be positive"),
    ("wave", {"bc": "neumann"}, "unknown bc"),
    ("wave", {"cfl": 1.5}, "cfl must be at most 1"),
])
def test_bad_options_give_one_line_errors(name, options, msg):
    with pytest.raises(ValueError, match=msg) as exc:
        make_problem(name, 16, **options)
    assert "\n" not in str(exc.value)
