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
    pd = PrimalDualOutput.from_bases(l, primal, dual)
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


def test_rb_primal_dual_round_trip(tmp_path, capsys):
    """`rom train rb --output-correction primal-dual`: the dual RB is stored, reloaded and the
    corrected output is certified and far more accurate than the plain one."""
    from click.testing import CliRunner

    from cli.main import cli
    from data.model_kinds import kind_of

    def run(*a):
        return CliRunner().invoke(cli, [str(x) for x in a], catch_exceptions=True)

    res = run("generate", "thermal_block", "-n", 8, "--resolution", 12, "-o", tmp_path / "tb.h5")
    assert res.exit_code == 0, res.output
    # the mean over the whole grid is compliant here (f = const: the dual solution is a
    # multiple of the primal one, so the plain output is already second order); a box is not
    res = run("train", "rb", tmp_path / "tb.h5", "-o", tmp_path / "rb", "--train-size", 60,
              "--max-basis", 12, "--functional", "mean:0:0.5,0:0.5",
              "--output-correction", "primal-dual", "--quiet")
    assert res.exit_code == 0, res.output
    kind = kind_of(tmp_path / "rb")[1]
    assert "dual N=12" in kind.summary(kind.load(tmp_path / "rb").meta)
    rec = kind.evaluate(tmp_path / "rb", tmp_path / "tb.h5")
    pd, plain = rec["output"]["primal_dual"], rec["output"]
    assert pd["dual_N"] == 12 and pd["violations"] == 0 and pd["min_effectivity"] >= 1.0
    assert pd["max_abs_error"] < 0.1 * plain["max_abs_error"] and pd["error_reduction"] > 10
    assert pd["max_bound"] < plain["max_bound"]          # the product bound is second order too
    assert len(rec["report_rows"]) == 4
    from tests.helpers.cli import rom

    for functional, message in [("none", "needs an output functional"),
                                ("mean:0:2", "1 ranges for a 2-D grid"),
                                ("mean:0.5:0.2,0:1", "unknown output functional")]:
        code, _, err = rom(capsys, "train", "rb", tmp_path / "tb.h5", "-o", tmp_path / "rb2",
                           "--functional", functional, "--output-correction", "primal-dual",
                           "--train-size", 20, "--max-basis", 2, "--quiet")
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "rb2").exists()


def test_primal_dual_rejects_mismatched_tensors(steady):
    aff, l, primal, dual = steady
    pd = PrimalDualOutput.from_bases(l, primal, dual)
    t = pd.tensors()
    with pytest.raises(ValueError, match="do not match"):
        PrimalDualOutput(t["lV"][:-1], t["Wf"], t["WAV"], pd.on_pr, pd.on_du)
    r4 = pd(uniform(5, 7), N=4, M=4)        # truncated bases: still certified
    s = np.array([l @ primal.truth_solve(m) for m in uniform(5, 7)])
    assert np.all(r4["bound_corrected"] >= np.abs(s - r4["s_corrected"]))


def test_rb_on_advection_diffusion_certified_with_primal_dual(tmp_path, capsys):
    """The non-symmetric problem through `rom train rb`: its affine decomposition and
    min-theta bound certify the state, and the dual (A^T, a different problem) certifies
    the whole-grid mean, which is not compliant here, far more tightly."""
    import json

    from data.model_kinds import kind_of
    from tests.helpers.cli import rom

    data = tmp_path / "ad.h5"
    code, _, err = rom(capsys, "generate", "advection_diffusion", "-n", 6, "--resolution", 14,
                       "--param", "eps_min=0.05", "-o", data, "--quiet")
    assert code == 0, err
    code, out, err = rom(capsys, "train", "rb", data, "-o", tmp_path / "rb", "--train-size", 80,
                         "--max-basis", 10, "--output-correction", "primal-dual", "--json")
    assert code == 0, err
    assert json.loads(out)["coercivity"]["kind"] == "min-theta"
    rec = kind_of(tmp_path / "rb")[1].evaluate(tmp_path / "rb", data)
    assert rec["bound"]["violations"] == 0 and rec["bound"]["min_effectivity"] >= 1.0
    pd = rec["output"]["primal_dual"]
    # the product bound ||r_pr|| ||r_du|| / alpha is second order: far below the plain
    # ||l|| Delta (measured 1.6e-3 against 3.0e-2), and it certifies the corrected output
    assert pd["violations"] == 0 and pd["min_effectivity"] >= 1.0
    assert pd["max_bound"] < 0.1 * rec["output"]["max_bound"]


def test_primal_dual_bound_holds_at_round_off():
    """With (nearly) complete bases the corrected error is round-off; the bound still covers
    it (the product of the residual norms alone would be ~1e-24, below eps |s|)."""
    import warnings

    aff = thermal_block_terms(n=8, b=2)
    n = aff.A_terms[0].shape[0]
    l = np.zeros(n)
    l[: n // 3] = 1.0 / n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        primal = ReducedBasis(aff, np.ones(4), BOX)
        primal.greedy(uniform(200, 0), tol=1e-15, max_basis=n)
        dual = ReducedBasis(PrimalDualOutput.dual_decomposition(aff, l), np.ones(4), BOX)
        dual.greedy(uniform(200, 1), tol=1e-15, max_basis=n)
        pd = PrimalDualOutput.from_bases(l, primal, dual)
        mus = uniform(30, 9)
        r = pd(mus)
    s = np.array([l @ primal.truth_solve(m) for m in mus])
    err = np.abs(s - r["s_corrected"])
    assert err.max() < 1e-14 and np.all(r["bound_corrected"] >= err)
    assert r["bound_corrected"].max() < 1e-12          # and it stays a round-off bound


def test_primal_dual_is_refused_for_time_dependent_data(tmp_path, capsys):
    from tests.helpers.cli import rom

    data = tmp_path / "hb.h5"
    code, _, err = rom(capsys, "generate", "heat_block", "-n", 2, "--resolution", 9,
                       "--param", "n_out=3", "--param", "dt=0.05", "-o", data, "--quiet")
    assert code == 0, err
    code, _, err = rom(capsys, "train", "rb", data, "-o", tmp_path / "m",
                       "--output-correction", "primal-dual", "--quiet")
    assert code != 0 and "for steady datasets" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()
