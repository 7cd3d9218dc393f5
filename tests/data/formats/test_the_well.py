"""The Well import/export: the published layout, broadcasting flags, round trips, bad files."""

from __future__ import annotations

import itertools

import h5py
import numpy as np
import pytest

from data.check import check_dataset
from data.dataset import Dataset, write_dataset
from data.formats import detect_format, export_the_well, import_file
from solvers.problems import Grid, ParameterSpace
from tests.helpers.runs import assert_holds

RNG = np.random.default_rng(11)
STR = h5py.string_dtype()


def _flags(obj, sample, time):
    obj.attrs["sample_varying"] = sample
    obj.attrs["time_varying"] = time


def well_2d(path, b=3, t=4, nx=6, ny=5):
    """A 2-D trajectory file following The Well's specification (B x T x nx x ny)."""
    pressure = RNG.random((b, t, nx, ny)).astype(np.float32)
    velocity = RNG.random((b, t, nx, ny, 2)).astype(np.float32)
    stress = RNG.random((b, t, nx, ny, 2, 2)).astype(np.float32)
    mask_x = (RNG.random(nx) > 0.5).astype(np.float32)  # varies along x only, all samples
    reynolds = np.array([10.0, 20.0, 30.0])[:b]
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": "shear_flow", "grid_type": "cartesian",
                        "n_spatial_dims": 2, "n_trajectories": b})
        f.attrs["simulation_parameters"] = np.array(["Schmidt"], dtype=STR)
        f.attrs["Schmidt"] = 0.5
        d = f.create_group("dimensions")
        d.attrs["spatial_dims"] = np.array(["x", "y"], dtype=STR)
        d["time"] = np.linspace(0, 1.5, t).astype(np.float32)
        d["time"].attrs["sample_varying"] = False
        for name, n in (("x", nx), ("y", ny)):
            d[name] = np.linspace(0, 1, n, endpoint=(name == "y")).astype(np.float32)
            _flags(d[name], False, False)
        bc = f.create_group("boundary_conditions")
        for name, kind, n in (("x_periodic", "periodic", nx), ("y_wall", "wall", ny)):
            g = bc.create_group(name)
            g.attrs["associated_dims"] = np.array([name[0]], dtype=STR)
            g.attrs["associated_fields"] = np.array([], dtype=STR)
            g.attrs["bc_type"] = kind
            _flags(g, False, False)
            g["mask"] = np.r_[True, np.zeros(n - 2, bool), True]
            g["values"] = np.zeros(2, np.float32)
        s = f.create_group("scalars")
        s.attrs["field_names"] = np.array(["Reynolds", "energy"], dtype=STR)
        s["Reynolds"] = reynolds
        _flags(s["Reynolds"], True, False)
        s["energy"] = RNG.random((b, t))
        _flags(s["energy"], True, True)
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = np.array(["pressure", "mask"], dtype=STR)
        t0["pressure"] = pressure
        _flags(t0["pressure"], True, True)
        t0["pressure"].attrs["dim_varying"] = [True, True]
        t0["mask"] = mask_x
        _flags(t0["mask"], False, False)
        t0["mask"].attrs["dim_varying"] = [True, False]
        t1 = f.create_group("t1_fields")
        t1.attrs["field_names"] = np.array(["velocity"], dtype=STR)
        t1["velocity"] = velocity
        _flags(t1["velocity"], True, True)
        t1["velocity"].attrs["dim_varying"] = [True, True]
        t2 = f.create_group("t2_fields")
        t2.attrs["field_names"] = np.array(["stress"], dtype=STR)
        t2["stress"] = stress
        _flags(t2["stress"], True, True)
        t2["stress"].attrs.update({"dim_varying": [True, True], "symmetric": False,
                                   "antisymmetric": False})
    return dict(pressure=pressure, velocity=velocity, stress=stress, mask=mask_x,
                reynolds=reynolds)


def test_import_2d_trajectory_file(tmp_path):
    src = tmp_path / "shear_flow_Reynolds_1e4.hdf5"
    ref = well_2d(src)
    assert detect_format(src) == "the-well"
    out = import_file(src, tmp_path / "w.h5", chunk_bytes=1)
    with Dataset(out) as ds:
        assert ds.problem == "the-well:shear_flow"
        assert ds.grid.shape == (6, 5) and ds.grid.periodic == (True, False)
        np.testing.assert_allclose(ds.times, np.linspace(0, 1.5, 4), rtol=1e-6)
        assert sorted(ds.output_names) == ["pressure", "stress", "velocity"]
        assert ds.input_names == ["mask"]
        np.testing.assert_array_equal(ds.outputs()["pressure"], ref["pressure"])
        np.testing.assert_array_equal(ds.outputs()["velocity"], ref["velocity"])
        np.testing.assert_array_equal(ds.outputs()["stress"], ref["stress"].reshape(3, 4, 6, 5, 4))
        # constant in samples and along y: broadcast to (N, nx, ny)
        mask = ds.inputs()["mask"]
        assert mask.shape == (3, 6, 5)
        for i, j in itertools.product(range(3), range(5)):
            np.testing.assert_array_equal(mask[i, :, j], ref["mask"])
        params = dict(zip(ds.parameter_names, ds.parameters.T))
        np.testing.assert_array_equal(params["Reynolds"], ref["reynolds"])
        np.testing.assert_array_equal(params["Schmidt"], 0.5)
        assert "energy" not in params  # time-varying scalar: recorded, not a parameter
        assert ds.config["source"]["time_varying_scalars"] == ["energy"]
    assert check_dataset(out) == ([], [])


def test_role_override(tmp_path):
    src = tmp_path / "w.hdf5"
    well_2d(src)
    out = import_file(src, tmp_path / "w.h5", inputs=["pressure"])
    with Dataset(out) as ds:
        assert "pressure" in ds.input_names and ds.field("pressure").shape == (3, 4, 6, 5)


@pytest.mark.parametrize("attr", ["n_spatial_dims", "n_trajectories", "grid_type"])
def test_missing_root_attribute_is_named(tmp_path, attr):
    src = tmp_path / "w.hdf5"
    well_2d(src)
    with h5py.File(src, "a") as f:
        del f.attrs[attr]
    with pytest.raises(ValueError, match=f"missing attribute '{attr}' on root"):
        import_file(src, tmp_path / "o.h5", fmt="the-well")


def test_missing_time_is_named(tmp_path):
    src = tmp_path / "w.hdf5"
    well_2d(src)
    with h5py.File(src, "a") as f:
        del f["dimensions/time"]
    with pytest.raises(ValueError, match="missing dataset 'dimensions/time'"):
        import_file(src, tmp_path / "o.h5", fmt="the-well")


def test_field_shape_inconsistent_with_flags(tmp_path):
    src = tmp_path / "w.hdf5"
    well_2d(src)
    with h5py.File(src, "a") as f:
        f["t0_fields/mask"].attrs["dim_varying"] = [True, True]
    with pytest.raises(ValueError, match="'t0_fields/mask' has shape"):
        import_file(src, tmp_path / "o.h5")


def test_spherical_grid_refused(tmp_path):
    src = tmp_path / "w.hdf5"
    well_2d(src)
    with h5py.File(src, "a") as f:
        f.attrs["grid_type"] = "spherical"
    with pytest.raises(ValueError, match="grid_type 'spherical' is not supported"):
        import_file(src, tmp_path / "o.h5")


# --------------------------------------------------------------------------- export
def rom_dataset(path, steady, n=4, shape=(8, 6), nt=3):
    grid = Grid.uniform(shape, 2, periodic=not steady)
    params = np.c_[RNG.random(n), np.full(n, 2.0)]
    space = ParameterSpace(("mu", "Re"), ("uniform", "uniform"), ((0, 1), (1, 3)))
    if steady:
        inputs, outputs, times = {"a": RNG.random((n, *shape))}, {"u": RNG.random((n, *shape))}, None
    else:
        times = np.linspace(0, 0.3, nt)
        inputs = {"w0": RNG.random((n, *shape))}
        outputs = {"w": RNG.random((n, nt, *shape)), "vel": RNG.random((n, nt, *shape, 2)),
                   "sigma": RNG.random((n, nt, *shape, 4))}
    write_dataset(path, problem="toy", config={"problem": "toy"}, grid=grid, times=times,
                  parameters=params, parameter_space=space, sampler="lhs", inputs=inputs,
                  outputs=outputs, stats=None, seed=3)
    return grid, params, inputs, outputs, times


@pytest.mark.parametrize("steady", [True, False])
def test_round_trip(tmp_path, steady):
    grid, params, inputs, outputs, times = rom_dataset(tmp_path / "r.h5", steady)
    w = export_the_well(tmp_path / "r.h5", tmp_path / "w.hdf5", dtype=None)
    back = import_file(w, tmp_path / "back.h5")
    with Dataset(back) as ds:
        assert ds.problem == "toy"
        assert_holds(ds, grid, None if steady else times, inputs, outputs)
        assert sorted(ds.parameter_names) == ["Re", "mu"]
        got = dict(zip(ds.parameter_names, ds.parameters.T))
        np.testing.assert_array_equal(got["mu"], params[:, 0])
        np.testing.assert_array_equal(got["Re"], params[:, 1])


def test_export_follows_the_well_specification(tmp_path):
    """What WellDataset reads: attrs, dimension names, per-field flags, BC types, shapes."""
    grid, params, inputs, outputs, times = rom_dataset(tmp_path / "r.h5", steady=False)
    w = export_the_well(tmp_path / "r.h5", tmp_path / "w.hdf5", chunk_bytes=64)
    assert detect_format(w) == "the-well"
    with h5py.File(w, "r") as f:
        assert f.attrs["n_spatial_dims"] == 2 and f.attrs["n_trajectories"] == 4
        assert f.attrs["grid_type"] == "cartesian" and f.attrs["dataset_name"] == "toy"
        assert list(f.attrs["simulation_parameters"]) == ["Re"] and f.attrs["Re"] == 2.0
        dims = [d.decode() if isinstance(d, bytes) else d for d in f["dimensions"].attrs["spatial_dims"]]
        size = tuple(f["dimensions"][d].shape[-1] for d in dims)
        assert size == grid.shape and f["dimensions/time"].shape[-1] == 3
        for bc in f["boundary_conditions"].values():
            assert bc.attrs["bc_type"].upper() in ("WALL", "OPEN", "PERIODIC")
            assert bc["mask"].shape == (grid.shape[dims.index(bc.attrs["associated_dims"][0])],)
        for order, g in enumerate(("t0_fields", "t1_fields", "t2_fields")):
            for name in f[g].attrs["field_names"]:
                ds = f[g][name]
                lead = (4,) * int(ds.attrs["sample_varying"]) + (3,) * int(ds.attrs["time_varying"])
                assert ds.shape == lead + grid.shape + (2,) * order
                assert ds.dtype == np.float32 and list(ds.attrs["dim_varying"]) == [True, True]
        assert list(f["t1_fields"].attrs["field_names"]) == ["vel"]
        assert list(f["t2_fields"].attrs["field_names"]) == ["sigma"]
        np.testing.assert_allclose(f["t2_fields/sigma"][()].reshape(4, 3, 8, 6, 4),
                                   outputs["sigma"], rtol=1e-6)
        assert f["scalars/mu"].attrs["sample_varying"] and not f["scalars/Re"].attrs["sample_varying"]


def test_export_refuses_odd_channel_counts(tmp_path):
    grid = Grid.uniform((4, 4), 2)
    write_dataset(tmp_path / "r.h5", problem="toy", config={}, grid=grid, times=None,
                  parameters=np.zeros((2, 0)), parameter_space=ParameterSpace((), (), ()),
                  sampler="none", inputs={}, outputs={"u": np.zeros((2, 4, 4, 3))}, stats=None,
                  seed=None)
    with pytest.raises(ValueError, match="has 3 channels"):
        export_the_well(tmp_path / "r.h5", tmp_path / "w.hdf5")
    assert not (tmp_path / "w.hdf5").exists()


def test_export_selected_fields_through_rom_export(tmp_path):
    from click.testing import CliRunner

    from cli.main import cli

    rom_dataset(tmp_path / "r.h5", steady=False)
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "r.h5"), "--format", "the-well",
                                   "-o", str(tmp_path / "w.hdf5"), "--field", "w",
                                   "--field", "w0"])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "w.hdf5", "r") as f:
        assert list(f["t0_fields"].attrs["field_names"]) == ["w0", "w"]
        assert len(f["t1_fields"].attrs["field_names"]) == 0


def test_directory_of_files_is_one_dataset(tmp_path):
    split = tmp_path / "shear_flow" / "data" / "train"
    split.mkdir(parents=True)
    first = well_2d(split / "shear_flow_Reynolds_1e4.hdf5")
    second = well_2d(split / "shear_flow_Reynolds_5e4.hdf5", b=2)
    (split / "README.txt").write_text("not data")
    sample = 4 * 6 * 5 * 4  # one float32 pressure trajectory
    out = import_file(split, tmp_path / "train.h5", chunk_bytes=2 * sample)  # spans files
    with Dataset(out) as ds:
        assert ds.n_samples == 5
        np.testing.assert_array_equal(
            ds.outputs()["pressure"], np.concatenate([first["pressure"], second["pressure"]]))
        np.testing.assert_array_equal(
            ds.outputs()["velocity"], np.concatenate([first["velocity"], second["velocity"]]))
        reynolds = ds.parameters[:, ds.parameter_names.index("Reynolds")]
        np.testing.assert_array_equal(reynolds, [10, 20, 30, 10, 20])
        assert len(ds.config["source"]["files"]) == 2


def test_directory_files_must_agree(tmp_path):
    well_2d(tmp_path / "a.hdf5")
    well_2d(tmp_path / "b.hdf5", nx=8)
    with pytest.raises(ValueError, match="b.hdf5: grid or times differ"):
        import_file(tmp_path, tmp_path / "o.h5")
    with pytest.raises(ValueError, match="only fmt='the-well' reads directories"):
        import_file(tmp_path, tmp_path / "o.h5", fmt="pdebench")
