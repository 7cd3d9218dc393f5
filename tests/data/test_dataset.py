"""The HDF5 dataset format: round trips, layout, index reads, clear errors on bad files.

The toy problems below are fixtures shared with test_generate.py, test_cli_generate.py
and test_export.py (imported as ``test_dataset``; tests/ is on sys.path under pytest).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spla

from data.dataset import FORMAT_VERSION, Dataset, NotARomDataset, describe
from solvers.problems import Grid
from tests.helpers.toys import Heat1D, Poisson1D, Poisson2D, write_toy


# --------------------------------------------------------------------------- toy problems
def test_round_trip_is_bitwise(tmp_path):
    p = Poisson2D(6)
    mus, inputs, outputs = write_toy(tmp_path / "d.h5", n=3, problem=p)
    with Dataset(tmp_path / "d.h5") as ds:
        assert ds.problem == "toy_poisson2d" and ds.n_samples == 3 and ds.complete
        assert ds.seed == 7 and ds.sampler == "random"
        assert ds.grid == p.grid and ds.times is None
        assert np.array_equal(ds.parameters, mus)
        assert ds.parameter_names == ["a", "s"] and ds.parameter_space == p.parameter_space
        assert ds.input_names == ["f"] and sorted(ds.output_names) == ["grad", "u"]
        for k in outputs:
            assert np.array_equal(ds.outputs()[k], outputs[k])
        assert np.array_equal(ds.inputs()["f"], inputs["f"])
        assert ds.fields["grad"] == (3, 6, 6, 2)
        assert ds.solver == "direct" and ds.solver_settings == {"rtol": 1e-8}
        assert ds.info[2] == {"omega": 3.5}
        assert np.array_equal(ds.stats["iterations"], np.arange(3))
        assert ds.solver_seconds_per_sample() == pytest.approx(1.5)
        assert ds.done.all() and ds.config["resolution"] == 6
        assert ds.attrs["format_version"] == FORMAT_VERSION


def test_layout_chunks_compression_and_meshio_grid(tmp_path):
    write_toy(tmp_path / "d.h5", n=3, problem=Poisson2D(5))
    with h5py.File(tmp_path / "d.h5") as f:
        d = f["outputs/grad"]
        assert d.chunks == (1, 5, 5, 2) and d.compression == "gzip" and d.shuffle
        assert d.dtype == np.float64
        assert "points" not in f["grid"] and "cells" not in f["grid"]  # derived from the axes
        assert f["grid"].attrs["cell_type"] == "quad"
        assert json.loads(f["parameters"].attrs["names"]) == ["a", "s"]
        assert json.loads(f.attrs["config"])["problem"] == "toy_poisson2d"
        assert f["stats/info"].shape == (3,)


def test_trajectory_times_round_trip(tmp_path):
    h = Heat1D(7)
    write_toy(tmp_path / "t.h5", n=2, problem=h)
    with Dataset(tmp_path / "t.h5") as ds:
        assert np.array_equal(ds.times, h.times)
        assert ds.field("u").shape == (2, 5, 7)


@pytest.mark.parametrize("idx", [[3, 0, 3], np.array([True, False, True, False, True]), 2,
                                 slice(1, 4), [-1, 1], []])
def test_index_reads_match_numpy(tmp_path, idx):
    _, _, outputs = write_toy(tmp_path / "d.h5", n=5)
    with Dataset(tmp_path / "d.h5") as ds:
        assert np.array_equal(ds.outputs(idx)["u"], outputs["u"][idx])


def test_field_is_lazy_and_unknown_field_lists_names(tmp_path):
    write_toy(tmp_path / "d.h5")
    with Dataset(tmp_path / "d.h5") as ds:
        assert isinstance(ds.field("u"), h5py.Dataset)
        with pytest.raises(KeyError, match="fields: f, u"):
            ds.field("v")


def test_make_problem_rebuilds_the_problem(tmp_path, toys):
    write_toy(tmp_path / "d.h5", problem=Poisson1D(11, delay=0.5))
    with Dataset(tmp_path / "d.h5") as ds:
        p = ds.make_problem()
    assert isinstance(p, Poisson1D) and p.resolution == 11 and p.options["delay"] == 0.5


def test_incomplete_file_with_done_mask(tmp_path):
    done = np.array([True, False, True, False])
    write_toy(tmp_path / "d.h5", complete=False, done=done)
    with Dataset(tmp_path / "d.h5") as ds:
        assert not ds.complete and np.array_equal(ds.done, done)
        assert ds.solver_seconds_per_sample() == pytest.approx(np.mean([1, 5 / 3]))


# --------------------------------------------------------------------------- writer errors
def test_writer_rejects_bad_shapes_and_leaves_nothing(tmp_path):
    write_toy(tmp_path / "d.h5")
    before = (tmp_path / "d.h5").read_bytes()
    with pytest.raises(ValueError, match="expected 4 samples first"):
        write_toy(tmp_path / "d.h5", outputs={"u": np.zeros((3, 9))})
    with pytest.raises(ValueError, match=r"stats\['iterations'\] has shape"):
        write_toy(tmp_path / "d.h5", stats={"iterations": np.zeros(2)})
    with pytest.raises(ValueError, match="both inputs and outputs"):
        write_toy(tmp_path / "d.h5", inputs={"u": np.zeros((4, 9))})
    assert (tmp_path / "d.h5").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


# --------------------------------------------------------------------------- reader errors
def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        Dataset(tmp_path / "nope.h5")
    (tmp_path / "x.h5").write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        Dataset(tmp_path / "x.h5")
    with pytest.raises(ValueError, match="is a directory"):
        Dataset(tmp_path)


def test_truncated_file(tmp_path):
    write_toy(tmp_path / "d.h5")
    data = (tmp_path / "d.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        Dataset(tmp_path / "t.h5")


def test_wrong_version(tmp_path):
    write_toy(tmp_path / "d.h5")
    with h5py.File(tmp_path / "d.h5", "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ValueError, match="format_version 99 is not supported"):
        Dataset(tmp_path / "d.h5")


def test_foreign_hdf5_is_not_a_rom_dataset(tmp_path):
    """The reader names the file and the missing attribute; which foreign format it is
    (and the `rom import` hint, tests/cli/test_import.py) is the importers' business."""
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["tensor"] = np.zeros((2, 3))
    with pytest.raises(NotARomDataset, match=r"f.h5: not a rom dataset \(no format='rom-dataset'"
                                             r" attribute\)") as err:
        Dataset(tmp_path / "f.h5")
    assert err.value.path == tmp_path / "f.h5" and isinstance(err.value, ValueError)
    again = pickle.loads(pickle.dumps(err.value))  # errors cross process boundaries (Dask)
    assert str(again) == str(err.value) and again.path == err.value.path


def test_dataset_module_does_not_import_the_formats():
    code = "import sys, data.dataset; print('data.formats' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert res.stdout.strip() == "False"


def test_missing_group_is_reported(tmp_path):
    write_toy(tmp_path / "d.h5")
    with h5py.File(tmp_path / "d.h5", "a") as f:
        del f["parameters"]
    with pytest.raises(ValueError, match="missing group /parameters"):
        Dataset(tmp_path / "d.h5")


def test_toy_problems_are_right():
    """The fixtures themselves: 1-D Poisson is exact for a quadratic, 2-D agrees with spsolve."""
    p = Poisson1D(17)
    mu = np.array([1.5, 3.0])
    x = p.grid.axes[0]
    u = p.solve(mu).outputs["u"]
    assert np.allclose(u, 3.0 * x * (1 - x) / 3.0, atol=1e-12)
    q = Poisson2D(7)
    s = q.assemble(mu)
    sol = q.solve(mu)
    assert np.allclose(sol.outputs["u"][1:-1, 1:-1].ravel(), spla.spsolve(s.A.tocsc(), s.b))


def test_complex_fields_round_trip_and_fill_with_nan(tmp_path):
    from data.check import check_dataset

    p = Poisson1D(6)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))
    write_toy(tmp_path / "c.h5", n=3, problem=p, outputs={"w": w})
    with Dataset(tmp_path / "c.h5") as ds:
        assert ds.field("w").dtype == np.complex128
        assert np.array_equal(ds.outputs([2, 0])["w"], w[[2, 0]])
    assert check_dataset(tmp_path / "c.h5") == ([], [])
    with h5py.File(tmp_path / "e.h5", "w") as f:
        from data.dataset import create_field

        d = create_field(f, "w", (2, 4), np.complex128)
        assert np.isnan(d[1]).all() and d.chunks == (1, 4)


# --------------------------------------------------------------------------- summary
def test_describe_totals_only_solved_samples_and_is_strict_json(tmp_path):
    n = 5
    done = np.array([True, True, False, True, False])
    stats = {"iterations": np.array([3, 4, 100, 5, 100]), "matvecs": np.array([6, 8, 0, 10, 0]),
             "seconds": np.array([1.0, 2.0, 50.0, 4.0, 50.0]),
             "solve_seconds": np.array([0.5, 1.0, 9.0, 2.0, 9.0]),
             "residual": np.array([1e-9, np.nan, 1.0, 3e-9, 1.0]),
             "converged": np.array([True, False, False, True, False])}
    write_toy(tmp_path / "d.h5", n=n, stats=stats, done=done, complete=False)
    d = describe(tmp_path / "d.h5")
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert (d["kind"], d["problem"], d["n_samples"], d["n_done"], d["complete"]) == \
        ("dataset", "toy_poisson1d", 5, 3, False)
    assert d["solver_stats"] == {"iterations": 12, "matvecs": 24, "solve_seconds": 3.5,
                                 "wall_seconds": 7.0, "max_residual": 3e-9, "not_converged": 1}
    assert d["grid"] == {"shape": [9], "periodic": [False], "bounds": [[0.0, 1.0]]}
    assert d["fields"] == {"f": [5, 9], "u": [5, 9]} and d["inputs"] == ["f"]
    assert d["outputs"] == ["u"] and d["n_times"] is None
    assert list(d["parameters"]) == ["a", "s"] and d["seed"] == 7 and d["sampler"] == "random"
    assert d["solver"] == "direct" and d["solver_settings"] == {"rtol": 1e-8}
    assert d["size_bytes"] == (tmp_path / "d.h5").stat().st_size


def test_describe_without_statistics_says_none(tmp_path):
    write_toy(tmp_path / "d.h5", stats=None)
    s = describe(tmp_path / "d.h5")["solver_stats"]
    assert s == {"iterations": None, "matvecs": None, "solve_seconds": None,
                 "wall_seconds": None, "max_residual": None, "not_converged": None}


def _to_version_1(path):
    """Rewrite ``path`` in the version 1 layout: explicit /grid/points and /grid/cells."""
    with h5py.File(path, "a") as f:
        g = f["grid"]
        axes = [g[f"axis_{k}"][()] for k in range(int(g.attrs["ndim"]))]
        grid = Grid(tuple(axes), tuple(bool(b) for b in g.attrs["periodic"]))
        g.create_dataset("points", data=grid.points())
        cell_type, cells = grid.cells()
        g.create_dataset("cells", data=cells)
        g["cells"].attrs["cell_type"] = cell_type
        del g.attrs["cell_type"]
        f.attrs["format_version"] = 1


def test_version_1_files_with_explicit_mesh_still_read_check_and_export(tmp_path):
    import meshio

    from data.check import check_dataset
    from data.export import export

    _, _, outputs = write_toy(tmp_path / "d.h5", n=2, problem=Poisson2D(5))
    new_size = (tmp_path / "d.h5").stat().st_size
    _to_version_1(tmp_path / "d.h5")
    assert (tmp_path / "d.h5").stat().st_size > new_size
    with Dataset(tmp_path / "d.h5") as ds:
        assert ds.attrs["format_version"] == 1 and ds.grid.shape == (5, 5)
        assert np.array_equal(ds.outputs()["u"], outputs["u"])
    assert check_dataset(tmp_path / "d.h5") == ([], [])
    with h5py.File(tmp_path / "d.h5", "a") as f:
        f["grid/points"][0, 0] = 9.0
    assert check_dataset(tmp_path / "d.h5")[0] == ["/grid/points do not match the axes"]
    mesh = meshio.read(export(tmp_path / "d.h5", tmp_path / "o.vtu", "vtu"))
    assert mesh.cells[0].type == "quad" and len(mesh.cells[0].data) == 16
