"""Output functionals: plain output bounds (steady, parabolic) and the primal-dual correction."""

import numpy as np
import pytest

from rom.outputs import PrimalDualOutput, make_output, output_statistics
from rom.parabolic import ParabolicRB
from rom.reduced_basis import ReducedBasis
from solvers.problems import make_problem
from solvers.problems.sampling import sample_unit
from tests.helpers.reduced_basis import thermal_block_terms

BOX = (np.full(4, 0.1), np.ones(4))


def uniform(n, seed):
    return 0.1 + 0.9 * np.random.default_rng(seed).random((n, 4))


@pytest.fixture(scope="module")
def steady():
    aff = thermal_block_terms(n=10, b=2)
    n = aff.A_terms[0].shape[0]
    l = np.zeros(n)
    l[: n // 3] = 1.0 / n          # the mean over a region (the first rows of the grid)
    primal = ReducedBasis(aff, np.ones(4), BOX)
    primal.greedy(uniform(80, 0), tol=1e-4, max_basis=8)
    dual = ReducedBasis(PrimalDualOutput.dual_decomposition(aff, l), np.ones(4), BOX)
    dual.greedy(uniform(80, 1), tol=1e-4, max_basis=8)
    return aff, l, primal, dual


def test_steady_output_bounds_and_primal_dual_correction(steady):
    aff, l, primal, dual = steady
    out = make_output("mean", l.size, l.size, primal.X)
    pd = PrimalDualOutput(l, primal, dual)
    mus = uniform(20, 2)
    r = pd(mus)
    s = np.array([l @ primal.truth_solve(m) for m in mus])
    _, delta = primal.online()(mus)
    # plain bound |l^T e| <= ||l||_{X'} Delta for the mean over the whole grid
    s_mean = np.array([out(primal.truth_solve(m)) for m in mus])
    c, _ = primal.online()(mus)
    st = output_statistics(s_mean, out(c @ primal.basis.T), out.bound(delta))
    assert st["violations"] == 0 and st["min_effectivity"] >= 1.0
    err_plain, err_pd = np.abs(s - r["s_N"]), np.abs(s - r["s_corrected"])
    assert np.all(r["bound_corrected"] >= err_pd)
    assert np.median(err_pd / err_plain) < 1e-2          # the correction is second order


def test_dual_norm_of_the_mean_is_exact(steady):
    aff, l, primal, _ = steady
    n = l.size
    out = make_output("mean", n, 2 * n, primal.X)
    ref = np.sqrt(out.l @ np.linalg.solve(primal.X.toarray(), out.l))
    assert out.dual_norm == pytest.approx(ref, rel=1e-12)
    assert make_output("none", n, n) is None
    with pytest.raises(ValueError, match="unknown output functional"):
        make_output("max", n, n)


def test_parabolic_output_bound_at_every_time():
    p = make_problem("heat_block", 9, scheme="cn", n_out=6, dt=0.02)
    rb = ParabolicRB(p.affine_decomposition(), p.initial_state(), p.times, 0.02, "cn")
    space = p.parameter_space
    rb.greedy(space.from_unit(sample_unit(10, 4, "lhs", 0)), tol=1e-5, max_basis=12,
              pod_modes=2)
    out = make_output("mean", rb.u0.size, 81)
    on = rb.online()
    for mu in space.from_unit(sample_unit(6, 4, "random", 3)):
        C, delta = on.solve(mu)
        U = rb.truth_stepper(mu).integrate(rb.u0)
        err = np.abs(out(U) - out(C @ rb.basis.T))
        assert np.all(out.bound(delta) >= err)


def test_rb_evaluate_reports_the_output_bound(tmp_path):
    from click.testing import CliRunner

    from cli.main import cli
    from data.model_kinds import kind_of

    def run(*a):
        return CliRunner().invoke(cli, [str(x) for x in a], catch_exceptions=True)

    res = run("generate", "thermal_block", "-n", 6, "--resolution", 9, "-o", tmp_path / "tb.h5")
    assert res.exit_code == 0, res.output
    res = run("train", "rb", tmp_path / "tb.h5", "-o", tmp_path / "rb", "--train-size", 40,
              "--max-basis", 4, "--quiet")
    assert res.exit_code == 0, res.output
    rec = kind_of(tmp_path / "rb")[1].evaluate(tmp_path / "rb", tmp_path / "tb.h5")
    assert rec["output"]["functional"] == "mean" and rec["output"]["violations"] == 0
    assert rec["output"]["min_effectivity"] >= 1.0 and len(rec["report_rows"]) == 2
