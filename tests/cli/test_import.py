"""``rom import`` through click's CliRunner and the installed ``rom`` executable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from cli.main import cli, main
from data.dataset import Dataset

ROM = Path(sys.executable).with_name("rom")
RNG = np.random.default_rng(5)


def _darcy(path, n=4, s=6):
    with h5py.File(path, "w") as f:
        f["tensor"] = RNG.random((n, 1, s, s)).astype(np.float32)
        f["nu"] = RNG.random((n, s, s)).astype(np.float32)
        f["x-coordinate"] = np.linspace(0, 1, s)
        f["y-coordinate"] = np.linspace(0, 1, s)
        f["t-coordinate"] = np.zeros(1)
    return path


def test_import_auto_then_info(tmp_path):
    src = _darcy(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    out = tmp_path / "darcy.h5"
    res = CliRunner().invoke(cli, ["import", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "pdebench: 4 samples" in res.output
    info = CliRunner().invoke(cli, ["info", str(out), "--json"])
    assert info.exit_code == 0, info.output
    record = json.loads(info.output)
    assert record["problem"] == "pdebench:2D_DarcyFlow" and record["n_samples"] == 4
    assert record["complete"] is True
    assert {tuple(v) for v in record["fields"].values()} == {(4, 6, 6)}


def test_import_named_arrays_and_quiet(tmp_path):
    scipy.io.savemat(tmp_path / "x.mat", {"inp": RNG.random((3, 8)), "out": RNG.random((3, 8))})
    out = tmp_path / "x.h5"
    res = CliRunner().invoke(cli, ["import", str(tmp_path / "x.mat"), "-o", str(out),
                                   "--format", "mat", "--input", "inp", "--output", "out",
                                   "--periodic", "no", "--problem", "my_problem", "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.output == ""
    with Dataset(out) as ds:
        assert ds.problem == "my_problem" and ds.grid.periodic == (False,)
        assert ds.input_names == ["inp"] and ds.output_names == ["out"]


def test_export_then_import_round_trip_through_the_cli(tmp_path):
    src = _darcy(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    rom_file = tmp_path / "d.h5"
    assert CliRunner().invoke(cli, ["import", str(src), "-o", str(rom_file)]).exit_code == 0
    for fmt in ("pdebench", "the-well"):
        foreign = tmp_path / f"d.{fmt}.hdf5"
        res = CliRunner().invoke(cli, ["export", str(rom_file), "--format", fmt, "-o",
                                       str(foreign)])
        assert res.exit_code == 0, res.output
        back = tmp_path / f"back.{fmt}.h5"
        res = CliRunner().invoke(cli, ["import", str(foreign), "-o", str(back)])
        assert res.exit_code == 0, res.output
        with Dataset(rom_file) as a, Dataset(back) as b:
            assert a.grid == b.grid and a.problem == b.problem
            for name in a.input_names + a.output_names:
                np.testing.assert_array_equal(a.field(name)[()], b.field(name)[()])


def _run(*args):
    return subprocess.run([str(ROM), *args], capture_output=True, text=True, timeout=120)


def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    bad = tmp_path / "bad.hdf5"
    with h5py.File(bad, "w") as f:
        f["tensor"] = np.zeros((2, 3, 4))
        f["x-coordinate"] = np.arange(4.0)
    res = _run("import", str(bad), "-o", str(tmp_path / "o.h5"))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rom: error:")
    assert "missing dataset 't-coordinate'" in lines[0]
    assert not (tmp_path / "o.h5").exists()

    res = _run("import", str(tmp_path / "nope.mat"), "-o", str(tmp_path / "o.h5"))
    assert res.returncode == 1 and "no such file" in res.stderr

    res = _run("import", str(bad), "-o", str(tmp_path / "o.h5"), "--format", "hdf4")
    assert res.returncode == 2 and "hdf4" in res.stderr


def test_a_foreign_file_given_as_a_dataset_names_its_format_and_the_import(tmp_path, capsys):
    src = _darcy(tmp_path / "darcy.hdf5")
    hint = (f"{src}: not a rom dataset; looks like a PDEBench file; convert it with "
            f"`rom import {src} --format pdebench -o OUT.h5`")
    with pytest.raises(SystemExit) as exit_:
        main(["info", str(src)])
    assert exit_.value.code == 1
    assert capsys.readouterr().err == f"rom: error: {hint}\n"
    with pytest.raises(SystemExit):
        main(["info", str(src), "--check", "--json"])
    out, err = capsys.readouterr()
    assert json.loads(out)["problems"] == [hint] and hint in err
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(SystemExit):
        main(["info", str(plain)])
    assert capsys.readouterr().err == (f"rom: error: {plain}: not a rom dataset "
                                       "(no format='rom-dataset' attribute)\n")


def test_imported_npz_trains_a_pod_model(tmp_path):
    """An imported file is usable by `rom train` (inputs/outputs named, grid, parameters)."""
    n, x = 24, np.linspace(0, 1, 32)
    mu = RNG.random((n, 2))
    u = np.sin(np.pi * x[None] * (1 + mu[:, :1])) * mu[:, 1:]
    np.savez(tmp_path / "param.npz", sol=u, mu=mu)
    data = tmp_path / "param.h5"
    assert CliRunner().invoke(cli, ["import", str(tmp_path / "param.npz"), "-o", str(data),
                                    "--quiet"]).exit_code == 0
    res = CliRunner().invoke(cli, ["train", "pod", str(data), "-o", str(tmp_path / "pod"),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "pod" / "model.json").is_file()
