"""FNO MATLAB files (v5 via scipy, v7.3 via h5py), .npz archives and format detection."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from data.check import check_dataset
from data.dataset import Dataset, write_dataset
from data.formats import detect_format, import_file, read_foreign
from data.formats.matfile import write_mat_v73
from solvers.problems import Grid, ParameterSpace

RNG = np.random.default_rng(3)


def _matlab_v73_by_hand(path, arrays):
    """A v7.3 file as MATLAB writes it: 512-byte header block, column-major (reversed) axes."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, a in arrays.items():
            f.create_dataset(name, data=np.asarray(a).T)  # .T reverses every axis
            f[name].attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + bytes(8) + b"\x00\x02IM")


def test_darcy_v5(tmp_path):
    coeff, sol = RNG.random((4, 7, 7)), RNG.random((4, 7, 7))
    scipy.io.savemat(tmp_path / "piececonst_r7_N4.mat", {"coeff": coeff, "sol": sol,
                                                         "Kcoeff": coeff * 2})
    assert detect_format(tmp_path / "piececonst_r7_N4.mat") == "fno-mat"
    with Dataset(import_file(tmp_path / "piececonst_r7_N4.mat", tmp_path / "d.h5")) as ds:
        assert ds.input_names == ["coeff"] and ds.output_names == ["sol"]
        np.testing.assert_array_equal(ds.inputs()["coeff"], coeff)
        np.testing.assert_array_equal(ds.outputs()["sol"], sol)
        assert ds.times is None and ds.grid.periodic == (False, False)
        np.testing.assert_allclose(ds.grid.axes[0], np.linspace(0, 1, 7))  # boundary included
        assert ds.config["source"]["mat_version"] == "5"


def test_burgers_v5_is_periodic(tmp_path):
    a, u = RNG.random((5, 16)), RNG.random((5, 16))
    scipy.io.savemat(tmp_path / "burgers_data_R10.mat", {"a": a, "u": u})
    with Dataset(import_file(tmp_path / "burgers_data_R10.mat", tmp_path / "b.h5")) as ds:
        assert ds.grid.periodic == (True,) and ds.grid.shape == (16,)
        np.testing.assert_allclose(ds.grid.axes[0], np.arange(16) / 16)
        np.testing.assert_array_equal(ds.outputs()["u"], u)


@pytest.mark.parametrize("writer", [_matlab_v73_by_hand, write_mat_v73])
def test_navier_stokes_v73_axes_reversed_and_time_moved(tmp_path, writer):
    n, s, nt = 5, 6, 4
    a, u = RNG.random((n, s, s)), RNG.random((n, s, s, nt))
    u[:, 1, 2, 3] = 42.0  # a marker that a wrong axis order would move
    t = np.linspace(0.1, 0.4, nt)[None]
    path = tmp_path / "ns_V1e-3_N5_T4.mat"
    writer(path, {"a": a, "u": u, "t": t})
    assert detect_format(path) == "fno-mat"
    out = import_file(path, tmp_path / "ns.h5", chunk_bytes=s * s * nt * 8 * 2)  # 2 per block
    with Dataset(out) as ds:
        assert ds.field("u").shape == (n, nt, s, s)
        got = ds.outputs()["u"]
        np.testing.assert_array_equal(got, np.moveaxis(u, -1, 1))
        assert np.all(got[:, 3, 1, 2] == 42.0)
        np.testing.assert_array_equal(ds.inputs()["a"], a)
        np.testing.assert_allclose(ds.times, t.ravel())
        assert ds.config["source"]["mat_version"] == "7.3"
    assert check_dataset(out) == ([], [])


def test_npz_chunked_and_named(tmp_path):
    x, y, mu = RNG.random((9, 5, 4)), RNG.random((9, 5, 4, 2)), RNG.random((9, 3))
    np.savez(tmp_path / "plain.npz", forcing=x, response=y, mu=mu)
    np.savez_compressed(tmp_path / "packed.npz", forcing=x, response=y, mu=mu)
    for name in ("plain.npz", "packed.npz"):
        assert detect_format(tmp_path / name) == "npz"
        with pytest.raises(ValueError, match="no output array"):
            import_file(tmp_path / name, tmp_path / "o.h5")
        out = import_file(tmp_path / name, tmp_path / f"{name}.h5", inputs=["forcing"],
                          outputs=["response"], chunk_bytes=200)  # 1 sample per block
        with Dataset(out) as ds:
            np.testing.assert_array_equal(ds.inputs()["forcing"], x)
            np.testing.assert_array_equal(ds.outputs()["response"], y)  # channels kept
            assert ds.parameter_names == ["mu_0", "mu_1", "mu_2"]
            np.testing.assert_array_equal(ds.parameters, mu)
            assert ds.problem == f"imported:{name[:-4]}"


def test_npz_reader_reads_blocks_not_the_whole_member(tmp_path):
    u = np.arange(10 * 3 * 2, dtype=np.float64).reshape(10, 3, 2)
    np.savez_compressed(tmp_path / "u.npz", u=u, a=u[..., 0])
    with read_foreign(tmp_path / "u.npz") as plan:
        (field,) = [f for f in plan.fields if f.name == "u"]
        np.testing.assert_array_equal(field.read(0, 4), u[0:4])
        np.testing.assert_array_equal(field.read(4, 10), u[4:10])  # sequential
        np.testing.assert_array_equal(field.read(2, 3), u[2:3])  # seek back


def test_npz_refuses_object_arrays(tmp_path):
    np.savez(tmp_path / "obj.npz", u=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="does not unpickle"):
        import_file(tmp_path / "obj.npz", tmp_path / "o.h5")


def test_input_and_output_on_different_grids(tmp_path):
    np.savez(tmp_path / "bad.npz", a=np.zeros((3, 4)), u=np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"field 'u' has per-sample shape \(5,\), which does "
                                         r"not match the grid \(4,\)"):
        import_file(tmp_path / "bad.npz", tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists()


def test_mismatched_sample_counts(tmp_path):
    np.savez(tmp_path / "bad.npz", a=np.zeros((3, 4)), u=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="array 'a' has 3 samples, 'u' has 2"):
        import_file(tmp_path / "bad.npz", tmp_path / "o.h5")


def test_detect_format_negatives(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert detect_format(tmp_path / "notes.txt") is None
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["something"] = np.zeros(3)
    assert detect_format(tmp_path / "other.h5") is None
    write_dataset(tmp_path / "rom.h5", problem="toy", config={}, grid=Grid.uniform(4, 1),
                  times=None, parameters=np.zeros((2, 0)),
                  parameter_space=ParameterSpace((), (), ()), sampler="none", inputs={},
                  outputs={"u": np.zeros((2, 4))}, stats=None, seed=None)
    assert detect_format(tmp_path / "rom.h5") is None
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="cannot tell the format"):
        import_file(tmp_path / "other.h5", tmp_path / "o.h5")
