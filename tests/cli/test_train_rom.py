"""CLI round trips of `rom train rb|pod|eim` + the kinds' evaluate on a tiny thermal block."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from data.model_kinds import kind_of, model_kind


def evaluate(model_dir, data, **options):
    """``evaluate`` of the model directory's kind (what `rom evaluate` calls)."""
    return kind_of(model_dir)[1].evaluate(model_dir, data, **options)


def run(*args):
    res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    return res


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    d = tmp_path_factory.mktemp("tb")
    res = run("generate", "thermal_block", "-n", 40, "--resolution", 13, "--seed", 3,
              "-o", d / "tb.h5")
    assert res.exit_code == 0, res.output
    return d, d / "tb.h5"


def test_rb_round_trip_is_certified(tb):
    d, data = tb
    res = run("train", "rb", data, "-o", d / "rb", "--train-size", 100, "--tol", 1e-9,
              "--quiet", "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert meta["N"] >= 2 and meta["estimator"] == "stable"
    rec = evaluate(d / "rb", data, out_dir=d / "ev_rb")
    assert rec["model"] == "rb" and rec["n_samples"] == 40
    assert rec["rel_l2"]["max"] < 1e-7
    assert rec["bound"]["violations"] == 0 and rec["bound"]["min_effectivity"] >= 1.0
    assert rec["time_per_sample_s"]["model"] > 0 and rec["speedup"] > 0
    conv = rec["convergence"]
    assert conv["N"][-1] == rec["N"] and conv["max_rel_error_x"][0] > conv["max_rel_error_x"][-1]
    assert all(b >= e for b, e in zip(conv["max_rel_bound"], conv["max_rel_error_x"]))
    for name in ("metrics.json", "predictions.h5", "greedy.png", "effectivities.png",
                 "error_vs_N.png"):
        assert (d / "ev_rb" / name).is_file()
    info = kind_of(d / "rb")[1].describe(d / "rb")
    assert info["kind"] == "rb" and info["N"] == meta["N"]
    res = run("evaluate", d / "rb", data, "--json")   # the public command, same record
    assert res.exit_code == 0, res.output
    cli_rec = json.loads(res.output.strip().splitlines()[-1])
    assert cli_rec["bound"]["violations"] == 0 and cli_rec["n_samples"] == 40


def test_rb_standard_estimator_option(tb):
    d, data = tb
    res = run("train", "rb", data, "-o", d / "rb_std", "--train-size", 50, "--max-basis", 4,
              "--estimator", "standard", "--quiet")
    assert res.exit_code == 0, res.output
    rec = evaluate(d / "rb_std", data)
    assert rec["N"] == 4 and rec["bound"]["violations"] == 0
    assert rec["bound"]["estimator"] == "standard"


@pytest.mark.parametrize("reg,train_tol", [("rbf", 1e-5), ("gp", 0.1)])
def test_pod_round_trip(tb, reg, train_tol):
    d, data = tb
    res = run("train", "pod", data, "-o", d / f"pod_{reg}", "--tol", 1e-6, "--regressor", reg)
    assert res.exit_code == 0, res.output
    rec = evaluate(d / f"pod_{reg}", data, out_dir=d / f"ev_pod_{reg}")
    assert rec["model"] == "pod" and rec["n_modes"] >= 1
    assert rec["rel_l2"]["max"] < train_tol     # RBF interpolates; the GP has a nugget
    held_out = d / "held_out.h5"
    if not held_out.exists():
        run("generate", "thermal_block", "-n", 6, "--resolution", 13, "--seed", 99,
            "-o", held_out)
    assert evaluate(d / f"pod_{reg}", held_out)["rel_l2"]["max"] < 0.2
    assert (d / f"ev_pod_{reg}" / "singular_values.png").is_file()


def test_eim_of_affine_input_field_is_exact(tb):
    d, data = tb
    res = run("train", "eim", data, "-o", d / "eim", "--tol", 1e-12, "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert meta["field"] == "mu_field" and meta["M"] == 4   # four blocks: four terms
    rec = evaluate(d / "eim", data)
    assert rec["rel_l2"]["max"] < 1e-12 and rec["generalises"]


def test_rb_needs_affine_problem(tmp_path):
    data = tmp_path / "d.h5"
    assert run("generate", "darcy", "-n", 2, "--resolution", 8, "-o", data).exit_code == 0
    res = run("train", "rb", data, "-o", tmp_path / "m")
    assert res.exit_code != 0
    assert "affine decomposition" in str(res.exception) and "pod" in str(res.exception)


def test_bad_inputs(tb, tmp_path):
    d, data = tb
    res = run("train", "rb", tmp_path / "missing.h5", "-o", tmp_path / "m")
    assert res.exit_code != 0 and "no such file" in str(res.exception)
    res = run("train", "pod", data, "-o", tmp_path / "m", "--field", "nope")
    assert res.exit_code != 0 and "no field" in str(res.exception)
    with pytest.raises(FileNotFoundError):
        evaluate(tmp_path / "nomodel", data)


def test_model_on_other_grid_is_rejected(tb, tmp_path):
    d, data = tb
    other = tmp_path / "other.h5"
    assert run("generate", "thermal_block", "-n", 2, "--resolution", 9, "-o", other).exit_code == 0
    if not (d / "rb").exists():
        run("train", "rb", data, "-o", d / "rb", "--train-size", 30, "--max-basis", 3, "--quiet")
    with pytest.raises(ValueError, match="does not match"):
        evaluate(d / "rb", other)


def test_pod_warns_outside_training_box(tb, tmp_path):
    """The POD model's box is the training parameters' range; a wider dataset warns."""
    d, data = tb
    narrow = tmp_path / "narrow.h5"
    assert run("generate", "thermal_block", "-n", 6, "--resolution", 13, "--param",
               "mu_min=0.4", "--param", "mu_max=0.6", "-o", narrow).exit_code == 0
    res = run("train", "pod", narrow, "-o", tmp_path / "pn")
    assert res.exit_code == 0, res.output
    with pytest.warns(RuntimeWarning, match="outside"):
        evaluate(tmp_path / "pn", data)
    assert np.isfinite(evaluate(tmp_path / "pn", narrow)["rel_l2"]["max"])


def test_pod_on_time_dependent_dataset(tmp_path):
    """A trajectory (n_times, *grid) is one flattened snapshot per sample."""
    data = tmp_path / "heat.h5"
    assert run("generate", "heat", "-n", 5, "--resolution", 8, "-o", data).exit_code == 0
    res = run("train", "pod", data, "-o", tmp_path / "p", "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert len(meta["field_shape"]) == 3          # (n_times, nx, ny)
    rec = evaluate(tmp_path / "p", data, out_dir=tmp_path / "ev")
    assert rec["rel_l2"]["max"] < 1e-6             # interpolation at the training samples
    import h5py

    with h5py.File(tmp_path / "ev" / "predictions.h5") as f:
        assert f[meta["field"]].shape == (5, *meta["field_shape"])


def test_eim_operator_recovers_affine_structure_non_intrusively(tmp_path):
    """Matrix EIM finds advection_diffusion's 3 terms from the assembled systems alone
    (non-intrusively, without its affine_decomposition())."""
    data = tmp_path / "ad.h5"
    assert run("generate", "advection_diffusion", "-n", 4, "--resolution", 12, "--param",
               "eps_min=0.2", "-o", data).exit_code == 0
    res = run("train", "eim", data, "-o", tmp_path / "m", "--target", "operator", "--tol",
              1e-12, "--train-size", 20, "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert meta["M"] == 3 and meta["M_rhs"] == 1 and meta["eim_train_error_rel_sup"] < 1e-13
    rec = evaluate(tmp_path / "m", data)
    assert rec["target"] == "operator" and rec["bound"]["violations"] == 0
    assert rec["rel_l2"]["max"] < 1e-3


def test_rb_without_min_theta_uses_scm(tb, tmp_path, monkeypatch):
    """A decomposition without a min-theta reference is certified by SCM end to end."""
    from dataclasses import replace

    from solvers.problems.thermal_block import ThermalBlock

    original = ThermalBlock.affine_decomposition
    monkeypatch.setattr(ThermalBlock, "affine_decomposition",
                        lambda self: replace(original(self), min_theta_ref=None))
    d, data = tb
    meta = model_kind("rb").train(data, tmp_path / "scm", tol=1e-6, max_basis=10, train_size=30)
    assert meta["coercivity"]["kind"] == "scm" and meta["train"]["greedy_train_size"] == 30
    rec = evaluate(tmp_path / "scm", data)
    assert rec["bound"]["violations"] == 0 and np.isfinite(rec["bound"]["max_effectivity"])


def test_damaged_model_directories(tb, tmp_path):
    import shutil

    d, data = tb
    res = run("train", "eim", data, "-o", tmp_path / "m", "--max-terms", 2)
    assert res.exit_code == 0, res.output
    shutil.copytree(tmp_path / "m", tmp_path / "no_tensors")
    (tmp_path / "no_tensors" / "tensors.h5").unlink()
    with pytest.raises(FileNotFoundError, match="tensors.h5"):
        evaluate(tmp_path / "no_tensors", data)
    (tmp_path / "m" / "tensors.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="corrupt"):
        evaluate(tmp_path / "m", data)
