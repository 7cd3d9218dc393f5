"""Declared solver options (solvers.linear.options): defaults, unknown names, types, text."""

import pytest

from solvers.linear import SOLVERS, make_solver, register_solver, solver_options
from solvers.linear.base import SequenceSolver


def test_every_solver_declares_its_options_with_their_defaults():
    for name in SOLVERS:
        declared = solver_options(name)
        assert {"rtol", "atol", "maxiter"} <= set(declared), name
        # the declared defaults are the ones the solver uses
        assert make_solver(name, **declared).settings() == make_solver(name).settings(), name
    assert solver_options("amg-cg")["precond"] == "amg"
    assert solver_options("gcrodr")["strategy"] == "recycle"
    assert solver_options("def-cg")["strategy"] == "recycle"
    assert solver_options("cg")["strategy"] == "reuse-preconditioner"
    assert (solver_options("gmres")["k"], solver_options("cg")["k"]) == (20, 10)
    assert solver_options("auto")["spd_max_iterations"] == 150
    with pytest.raises(ValueError, match="unknown solver 'nope'"):
        solver_options("nope")


def test_unknown_option_names_the_option_the_solver_and_the_valid_ones():
    valid = ", ".join(sorted(solver_options("cg")))
    with pytest.raises(ValueError) as err:
        make_solver("cg", bogus=1)
    assert str(err.value) == f"unknown option 'bogus' for solver 'cg'; valid: {valid}"
    # options are the method's own: CG does not relax, SOR has no restart
    for name, option in (("cg", "omega"), ("sor", "restart"), ("direct", "precond"),
                         ("auto", "amg_max"), ("gmres", "name")):
        with pytest.raises(ValueError, match=f"unknown option '{option}' for solver '{name}'"):
            make_solver(name, **{option: 1})


def test_wrongly_typed_option_is_an_error_naming_it():
    for name, option, value in (("cg", "maxiter", "abc"), ("gmres", "restart", 2.5),
                                ("auto", "warm_start", "maybe"), ("cg", "rtol", None),
                                ("cg", "precond_options", "drop_tol=1"),
                                ("sor", "context_range", "1:2:3"), ("ssor-cg", "omega", True)):
        with pytest.raises(ValueError, match=f"option '{option}' of solver '{name}' must be"):
            make_solver(name, **{option: value})


def test_option_text_reads_as_the_declared_type():
    """``--solver-opt`` hands text or literals; each is read as the option's type."""
    assert make_solver("gmres", restart="30").settings()["restart"] == 30
    assert make_solver("cg", maxiter="100", rtol="1e-6").settings()["maxiter"] == 100
    assert make_solver("auto", warm_start="false").settings()["warm_start"] is False
    s = make_solver("sor", omega="bandit", omegas="1,1.5", context_range="0:1").settings()
    assert s["omegas"] == [1.0, 1.5] and s["context_range"] == [0.0, 1.0]
    assert make_solver("ssor-cg", omega="1.25").settings()["omega"] == 1.25


def test_register_solver_requires_declared_options():
    class Undeclared:
        pass

    with pytest.raises(ValueError, match="declare its options"):
        register_solver("undeclared", Undeclared)
    assert "undeclared" not in SOLVERS
    register_solver("direct-copy", type("DirectCopy", (SequenceSolver,), {"name": "direct-copy"}))
    try:
        assert solver_options("direct-copy") == {"rtol": 1e-8, "atol": 0.0, "maxiter": None}
        with pytest.raises(ValueError, match="unknown option 'k' for solver 'direct-copy'"):
            make_solver("direct-copy", k=3)
    finally:
        del SOLVERS["direct-copy"]
