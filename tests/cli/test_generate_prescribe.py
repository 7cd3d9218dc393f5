"""``rom generate PROBLEM --prescribe NAME=FILE[:ARRAY]``: data read from files, recorded in the config."""

from __future__ import annotations

import numpy as np

from data.dataset import Dataset
from solvers.problems import make_problem
from tests.helpers.cli import rom


def test_prescribed_source_and_boundary_data_from_files(tmp_path, capsys):
    X, Y = make_problem("darcy", 9).grid.mesh()
    np.savez(tmp_path / "data.npz", f=1 + X * Y, g=X - Y)
    out = tmp_path / "d.h5"
    code, _, err = rom(capsys, "generate", "darcy", "-n", 2, "--resolution", 9, "--quiet",
                       "--param", "n_modes=2", "--prescribe", f"source={tmp_path / 'data.npz'}:f",
                       "--prescribe", f"dirichlet={tmp_path / 'data.npz'}:g", "-o", out)
    assert code == 0, err
    with Dataset(out) as ds:
        rec = ds.config["prescribed"]
        assert set(rec) == {"source", "dirichlet"} and rec["source"]["name"] == "f"
        u = ds.outputs(1)["u"]
        np.testing.assert_array_equal(u[0], X[0] - Y[0])           # g on the boundary
        sol = ds.make_problem().solve(ds.parameters[1])             # re-read from the file
        np.testing.assert_array_equal(sol.outputs["u"], u)


def test_prescribed_array_of_the_wrong_shape_is_a_one_line_error(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.ones((4, 4)))
    code, _, err = rom(capsys, "generate", "darcy", "-n", 1, "--resolution", 9,
                       "--prescribe", f"source={tmp_path / 'f.npy'}", "-o", tmp_path / "d.h5")
    assert code != 0
    assert err.strip().splitlines() == [
        f"rom: error: source from {tmp_path / 'f.npy'} has shape (4, 4), "
        "expected the grid shape (9, 9)"]
    code, _, err = rom(capsys, "generate", "burgers", "-n", 1, "--resolution", 16,
                       "--prescribe", f"source={tmp_path / 'f.npy'}", "-o", tmp_path / "b.h5")
    assert code != 0 and "burgers takes no prescribed source; valid: initial" in err
