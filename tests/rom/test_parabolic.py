"""Parabolic RB (POD-greedy, space-time bound) on a small heat_block, and `rom train rb` on it."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli, main
from data.model_kinds import kind_of
from rom.parabolic import ParabolicRB
from solvers.problems import make_problem
from solvers.problems.sampling import sample_unit


def build(scheme, res=9, tol=1e-12, max_basis=60, modes=3, n_train=12):
    p = make_problem("heat_block", res, scheme=scheme, n_out=6, dt=0.02)
    space = p.parameter_space
    rb = ParabolicRB(p.affine_decomposition(), p.initial_state(), p.times, 0.02, scheme)
    train = space.from_unit(sample_unit(n_train, space.dim, "lhs", 0))
    rb.greedy(train, tol=tol, max_basis=max_basis, pod_modes=modes)
    return p, rb, train


@pytest.fixture(scope="module", params=["be", "cn"])
def model(request):
    return build(request.param)


def test_bound_exceeds_error_at_every_time_down_to_1e9(model):
    p, rb, _ = model
    on = rb.online()
    space = p.parameter_space
    test = space.from_unit(sample_unit(8, space.dim, "random", 5))
    smallest = np.inf
    for N in sorted({3, 8, 15, 25, on.N}):
        for mu in test:
            C, delta = on.solve(mu, N)
            U = rb.truth_stepper(mu).integrate(rb.u0)       # direct solve, same scheme
            err = np.linalg.norm(U - C @ rb.basis[:, :N].T, axis=1)
            assert np.all(delta >= err), (N, mu, delta / np.maximum(err, 1e-300))
            rel = err[1:] / np.linalg.norm(U, axis=1).max()
            smallest = min(smallest, rel.max())
    assert smallest < 1e-9                                  # the regime below sqrt(eps) is checked


def test_pod_greedy_reproduces_training_trajectories(model):
    p, rb, train = model
    assert rb.history[-1].max_rel_bound <= 1e-12 or rb.N >= 60
    on = rb.online()
    for mu in train:
        C, _ = on.solve(mu, bound=False)
        U = rb.truth_stepper(mu).integrate(rb.u0)
        assert np.linalg.norm(U - C @ rb.basis.T, axis=1).max() <= 1e-10 * np.abs(U).max()


def test_truncated_estimator_rows_give_the_same_bound(model):
    """Slicing T to N vectors drops only exact zero rows: same bound as the full-row form."""
    p, rb, _ = model
    on = rb.online()
    mu = p.parameter_space.from_unit(np.full((1, 4), 0.3))[0]
    _, d_sliced = on.solve(mu, 5)
    T5 = on.sliced(5)[4]
    assert T5.shape[0] < on.T.shape[0]
    assert np.all(on.T[T5.shape[0]:, :T5.shape[1]] == 0)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def hb(tmp_path_factory):
    d = tmp_path_factory.mktemp("hb")
    res = run("generate", "heat_block", "-n", 6, "--resolution", 9, "--seed", 1, "--param",
              "n_out=6", "--param", "dt=0.02", "-o", d / "hb.h5")
    assert res.exit_code == 0, res.output
    return d, d / "hb.h5"


def test_cli_round_trip(hb):
    d, data = hb
    res = run("train", "rb", data, "-o", d / "rb", "--train-size", 12, "--tol", 1e-7,
              "--pod-greedy-modes", 3, "--quiet", "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert meta["time_dependent"] and meta["train"]["pod_greedy_modes"] == 3
    rec = kind_of(d / "rb")[1].evaluate(d / "rb", data, out_dir=d / "ev")
    assert rec["n_samples"] == 6 and rec["bound"]["violations"] == 0
    assert rec["bound"]["min_effectivity"] >= 1.0 and rec["rel_l2"]["max"] < 1e-5
    assert len(rec["per_time_rel_l2"]["max"]) == 6 and rec["output"]["violations"] == 0
    assert any("violations" in row[0] for row in rec["report_rows"])
    for name in ("metrics.json", "error_vs_time.png", "final_time_panel.png"):
        assert (d / "ev" / name).is_file()


def _rom(capsys, *args):
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, capsys.readouterr().err


def test_cli_bad_input(hb, tmp_path, capsys):
    res = run("generate", "heat", "-n", 2, "--resolution", 8, "--param", "n_out=3",
              "-o", tmp_path / "heat.h5")
    assert res.exit_code == 0, res.output
    code, err = _rom(capsys, "train", "rb", tmp_path / "heat.h5", "-o", tmp_path / "m")
    assert code == 1 and err.startswith("rom: error:") and "no affine decomposition" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m" / "model.json").exists()
    res = run("generate", "thermal_block", "-n", 2, "--resolution", 7, "-o", tmp_path / "tb.h5")
    assert res.exit_code == 0, res.output
    code, err = _rom(capsys, "train", "rb", tmp_path / "tb.h5", "-o", tmp_path / "m2",
                     "--pod-greedy-modes", 2)
    assert code == 1 and "time-dependent datasets only" in err
    assert len(err.strip().splitlines()) == 1
