"""`rom train galerkin|opinf` and `rom evaluate` round trips through the CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.helpers.cli import rom

BURGERS = ["--resolution", "64", "--param", "nu=0.05", "--param", "nu_max=0.2",
           "--param", "n_out=21", "--param", "t_final=0.3", "--param", "n_modes=6"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("burgers")
    for name, n, seed in (("train.h5", 10, 0), ("test.h5", 5, 1)):
        res = run("generate", "burgers", "-n", n, "--seed", seed, *BURGERS, "-o", d / name)
        assert res.exit_code == 0, res.output
    return d


@pytest.mark.parametrize("hyper", ["none", "deim", "qdeim", "ecsw"])
def test_galerkin_round_trip(data, tmp_path, hyper):
    res = run("train", "galerkin", data / "train.h5", "-o", tmp_path / "m", "--hyper", hyper,
              "--modes", 8, "--hyper-points", 16, "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert meta["hyper"] == hyper and meta["train"]["rel_l2_mean"] < 0.05
    if hyper != "none":
        assert meta["sampled_entries"] <= 3 * 16
    res = run("evaluate", tmp_path / "m", data / "test.h5", "-o", tmp_path / "ev", "--json")
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["model"] == "galerkin" and m["n_samples"] == 5 and not m["on_training_data"]
    assert m["rel_l2"]["mean"] < 0.1
    assert len(m["rel_l2_per_time"]["mean"]) == 21
    assert len(m["indicator"]["values"]) == 5
    assert any(row[0].startswith("indicator corr.") for row in m["report_rows"])
    assert (tmp_path / "ev" / "error_vs_time.png").exists()
    assert (tmp_path / "ev" / "final_time.png").exists()
    assert run("info", tmp_path / "m").exit_code == 0


def test_opinf_round_trip(data, tmp_path):
    res = run("train", "opinf", data / "train.h5", "-o", tmp_path / "m", "--modes", 5, "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert meta["affine_nu"] and len(meta["reg_table"]) == 81
    res = run("evaluate", tmp_path / "m", data / "test.h5", "-o", tmp_path / "ev")
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["model"] == "opinf" and np.isfinite(m["rel_l2"]["mean"])
    res = run("train", "opinf", data / "train.h5", "-o", tmp_path / "m2", "--modes", 5,
              "--reg", "1e-3", "--operators", "AH", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["reg"] == [1e-3, 1e-3]


def test_bad_input_is_a_one_line_error(data, tmp_path, capsys):
    steady = tmp_path / "steady.h5"
    assert run("generate", "darcy", "-n", 2, "--resolution", 9, "-o", steady).exit_code == 0
    for kind in ("galerkin", "opinf"):
        code, _, err = rom(capsys, "train", kind, steady, "-o", tmp_path / kind)
        assert code != 0
        assert err.strip().splitlines() == [err.strip()] and err.startswith("rom: error:")
        assert "time-dependent dataset" in err
    code, _, err = rom(capsys, "train", "opinf", data / "train.h5", "-o", tmp_path / "o",
                       "--reg", "lots")
    assert code != 0 and "'auto' or a number" in err


def test_training_blow_up_writes_no_model(data, tmp_path, monkeypatch, capsys):
    import rom.kinds.galerkin as kind_module
    from rom.galerkin import diffusion_eigenbasis

    def anti_diffusion(Phi, h):
        Phi, kappa = diffusion_eigenbasis(Phi, h)
        return Phi, -kappa + 100.0
    monkeypatch.setattr(kind_module, "diffusion_eigenbasis", anti_diffusion)
    code, _, err = rom(capsys, "train", "galerkin", data / "train.h5", "-o", tmp_path / "m",
                       "--modes", 6)
    assert code != 0
    assert err.startswith("rom: error:") and "blew up at step" in err and err.count("\n") == 1
    assert not (tmp_path / "m" / "model.json").exists()
