"""Unconverged samples (issue 15, item 1): kept and marked, then refused by generate,
``info --check`` and training unless allowed or excluded."""

from __future__ import annotations

import numpy as np
import pytest

from data.check import check_dataset
from data.convergence import UnconvergedSamples, convergence_summary, training_samples
from data.dataset import Dataset
from data.generate import generate, journal_path
from tests.helpers.cli import rom
from tests.helpers.toys import Poisson1D, write_toy

CG1 = dict(solver_name="cg", solver_options={"maxiter": 1})


def test_generate_keeps_but_refuses_unconverged_samples(tmp_path):
    out = tmp_path / "d.h5"
    with pytest.raises(UnconvergedSamples,
                       match=r"3 of 3 samples did not converge \(solver cg, worst relative "
                             r"residual .* at sample \d; samples 0, 1, 2\)"):
        generate(Poisson1D(12), 3, out, progress=False, **CG1)
    with Dataset(out) as ds:  # written, complete, every sample marked
        assert ds.complete and not ds.converged.any()
    assert not journal_path(out).exists()
    again = generate(Poisson1D(12), 3, out, progress=False, allow_unconverged=True, **CG1)
    assert again == out   # the same run again: nothing to do, and allowed now


def test_generate_cli_exits_nonzero_with_one_line_summary(tmp_path, capsys, toys):
    args = ["generate", "toy_poisson1d", "-n", 2, "--resolution", 12, "--solver", "cg",
            "--solver-opt", "maxiter=1", "--quiet", "-o", tmp_path / "d.h5"]
    code, _, err = rom(capsys, *args)
    assert code == 1 and err.count("\n") == 1
    assert "2 of 2 samples did not converge (solver cg" in err and "--allow-unconverged" in err
    assert (tmp_path / "d.h5").exists()
    code, _, err = rom(capsys, "info", "--check", tmp_path / "d.h5")
    assert code == 1 and "2 of 2 samples did not converge" in err
    assert rom(capsys, *args, "--allow-unconverged")[0] == 0
    converged = ["generate", "toy_poisson1d", "-n", 2, "--resolution", 12, "--quiet",
                 "-o", tmp_path / "ok.h5"]
    assert rom(capsys, *converged)[0] == 0
    assert rom(capsys, "info", "--check", tmp_path / "ok.h5")[0] == 0


def _mixed(path):
    conv = np.array([True, False, True, False])
    write_toy(path, stats={"converged": conv, "residual": np.array([1e-9, 0.5, 1e-9, 0.2])})


def test_check_and_training_samples_name_the_unconverged(tmp_path):
    _mixed(tmp_path / "d.h5")
    problems, _ = check_dataset(tmp_path / "d.h5")
    assert problems == ["2 of 4 samples did not converge (solver direct, worst relative "
                        "residual 0.5 at sample 1; samples 1, 3)"]
    with Dataset(tmp_path / "d.h5") as ds:
        assert convergence_summary(ds) == problems[0]
        with pytest.raises(UnconvergedSamples, match="samples 1, 3"):
            training_samples(ds)
        assert training_samples(ds, exclude_unconverged=True).tolist() == [0, 2]


def test_train_refuses_or_excludes_unconverged_samples(tmp_path, capsys):
    _mixed(tmp_path / "d.h5")
    code, _, err = rom(capsys, "train", "pod", tmp_path / "d.h5", "-o", tmp_path / "m")
    assert code == 1 and err.count("\n") == 1
    assert "2 of 4 samples did not converge" in err and "--allow-unconverged" in err
    code, out, _ = rom(capsys, "train", "pod", tmp_path / "d.h5", "-o", tmp_path / "m",
                       "--allow-unconverged", "--json", "--overwrite")
    assert code == 0 and '"n_train": 2' in out
    code, _, err = rom(capsys, "train", "eim", tmp_path / "d.h5", "-o", tmp_path / "e")
    assert code == 1 and "2 of 4 samples did not converge" in err
