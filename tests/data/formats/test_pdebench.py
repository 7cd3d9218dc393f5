"""PDEBench import/export: published layouts, round trips, chunked copies, bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from data.check import check_dataset
from data.dataset import Dataset, write_dataset
from data.formats import detect_format, export_pdebench, import_file, read_foreign
from data.formats.common import FieldSource, ImportPlan, write_plan
from solvers.problems import Grid, ParameterSpace
from tests.helpers.runs import assert_holds

RNG = np.random.default_rng(7)


# --------------------------------------------------------------------------- fixtures
def burgers_1d(path, n=5, nt=6, nx=16):
    """PDEBench's 1-D Burgers file: tensor (N, T, nx), x (cell centres), t with T+1 entries."""
    u = RNG.standard_normal((n, nt, nx)).astype(np.float32)
    x = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
    t = np.linspace(0.0, 2.0, nt + 1).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["tensor"], f["x-coordinate"], f["t-coordinate"] = u, x, t
    return u, x, t


def darcy_2d(path, n=4, nx=9, ny=7, beta_attr=False):
    """PDEBench's 2-D Darcy file: tensor (N, 1, nx, ny), nu (N, nx, ny), x/y/t coordinates."""
    u = RNG.random((n, 1, nx, ny)).astype(np.float32)
    nu = RNG.random((n, nx, ny)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["tensor"], f["nu"] = u, nu
        f["x-coordinate"] = np.linspace(0, 1, nx, dtype=np.float32)
        f["y-coordinate"] = np.linspace(0, 1, ny, dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 1, 10, dtype=np.float32)
        if beta_attr:
            f.attrs["beta"] = 1.0
    return u, nu


def seeds_2d(path, n=3, nt=4, nx=5, ny=6, c=2):
    """PDEBench's per-seed layout: "{seed}/data" (T, nx, ny, C), "{seed}/grid/x|y|t"."""
    data = RNG.random((n, nt, nx, ny, c)).astype(np.float32)
    with h5py.File(path, "w") as f:
        for s in range(n):
            g = f.create_group(f"{s:04d}")
            g["data"] = data[s]
            g["grid/x"] = np.linspace(-1, 1, nx, dtype=np.float32)
            g["grid/y"] = np.linspace(-1, 1, ny, dtype=np.float32)
            g["grid/t"] = np.linspace(0, 5, nt, dtype=np.float32)
    return data


def rom_dataset(path, *, steady=True, n=5, shape=(8, 6), nt=4, periodic=False):
    grid = Grid.uniform(shape, len(shape), periodic=periodic)
    params = np.c_[RNG.random(n), np.full(n, 0.25)]
    space = ParameterSpace(("mu", "beta"), ("uniform", "uniform"), ((0, 1), (0, 1)))
    if steady:
        inputs = {"a": RNG.random((n, *shape))}
        outputs = {"u": RNG.random((n, *shape))}
        times = None
    else:
        inputs = {"u0": RNG.random((n, *shape))}
        outputs = {"u": RNG.random((n, nt, *shape)), "v": RNG.random((n, nt, *shape, len(shape)))}
        times = np.linspace(0, 1, nt)
    write_dataset(path, problem="toy", config={"problem": "toy"}, grid=grid, times=times,
                  parameters=params, parameter_space=space, sampler="sobol", inputs=inputs,
                  outputs=outputs, stats=None, seed=0)
    return grid, params, inputs, outputs, times


# --------------------------------------------------------------------------- import
def test_burgers_1d_single_file(tmp_path):
    src = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    u, x, t = burgers_1d(src)
    assert detect_format(src) == "pdebench"
    out = import_file(src, tmp_path / "b.h5")
    with Dataset(out) as ds:
        assert ds.problem == "pdebench:1D_Burgers"
        assert ds.output_names == ["u"] and ds.input_names == ["u0"]
        np.testing.assert_array_equal(ds.outputs()["u"], u)
        np.testing.assert_array_equal(ds.inputs()["u0"], u[:, 0])
        np.testing.assert_allclose(ds.times, t[:-1])  # T+1 stored times -> T snapshots
        np.testing.assert_allclose(ds.grid.axes[0], x)
        assert ds.parameter_names == ["Nu"]
        np.testing.assert_allclose(ds.parameters, 0.01)
        assert ds.complete and ds.config["source"]["format"] == "pdebench"
    assert check_dataset(out) == ([], [])  # what `rom info --check` runs


def test_darcy_2d_with_nu_is_steady(tmp_path):
    src = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    u, nu = darcy_2d(src, beta_attr=True)
    out = import_file(src, tmp_path / "d.h5")
    with Dataset(out) as ds:
        assert ds.problem == "pdebench:2D_DarcyFlow"
        assert ds.times is None and ds.grid.shape == (9, 7)
        np.testing.assert_array_equal(ds.inputs()["nu"], nu)
        np.testing.assert_array_equal(ds.outputs()["u"], u[:, 0])
        assert ds.parameter_names == ["beta"]
    assert check_dataset(out) == ([], [])


def test_per_seed_group_layout(tmp_path):
    src = tmp_path / "2D_diff-react_NA_NA.h5"
    data = seeds_2d(src)
    assert detect_format(src) == "pdebench"
    out = import_file(src, tmp_path / "s.h5", chunk_bytes=1)  # one seed per block
    with Dataset(out) as ds:
        assert ds.n_samples == 3 and ds.grid.shape == (5, 6)
        assert ds.field("u").shape == (3, 4, 5, 6, 2)
        np.testing.assert_array_equal(ds.outputs()["u"], data)
        np.testing.assert_array_equal(ds.inputs()["u0"], data[:, 0])
        np.testing.assert_allclose(ds.times, np.linspace(0, 5, 4), rtol=1e-6)
        np.testing.assert_allclose(ds.grid.axes[1], np.linspace(-1, 1, 6), rtol=1e-6)
    assert check_dataset(out) == ([], [])


def test_cfd_layout(tmp_path):
    src = tmp_path / "1D_CFD_Rand_Eta0.1_Zeta0.1_periodic_Train.hdf5"
    n, nt, nx = 3, 4, 8
    arrays = {k: RNG.random((n, nt, nx)).astype(np.float32) for k in ("density", "pressure", "Vx")}
    with h5py.File(src, "w") as f:
        for k, v in arrays.items():
            f[k] = v
        f["x-coordinate"] = np.linspace(0, 1, nx)
        f["t-coordinate"] = np.linspace(0, 1, nt + 1)
    out = import_file(src, tmp_path / "c.h5", periodic=True)
    with Dataset(out) as ds:
        assert sorted(ds.output_names) == ["Vx", "density", "pressure"]
        assert sorted(ds.input_names) == ["Vx0", "density0", "pressure0"]
        np.testing.assert_array_equal(ds.outputs()["pressure"], arrays["pressure"])
        assert ds.grid.periodic == (True,)
        assert dict(zip(ds.parameter_names, ds.parameters[0])) == {"Eta": 0.1, "Zeta": 0.1}


def test_explicit_input_and_output_names(tmp_path):
    src = tmp_path / "2D_DarcyFlow_beta0.1_Train.hdf5"
    u, nu = darcy_2d(src)
    with read_foreign(src, inputs=["nu"], outputs=["tensor"]) as plan:
        assert [(f.name, f.role) for f in plan.fields] == [("u", "output"), ("nu", "input")]
    with pytest.raises(ValueError, match="no output array 'missing'"):
        read_foreign(src, outputs=["missing"])


# --------------------------------------------------------------------------- malformed
def test_missing_time_coordinate_is_named(tmp_path):
    src = tmp_path / "bad.hdf5"
    with h5py.File(src, "w") as f:
        f["tensor"] = np.zeros((2, 3, 4))
        f["x-coordinate"] = np.arange(4.0)
    with pytest.raises(ValueError, match="missing dataset 't-coordinate'"):
        import_file(src, tmp_path / "o.h5", fmt="pdebench")
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("datasets, message", [
    ({"tensor": np.zeros((2, 3, 4))}, "missing dataset 'x-coordinate'"),
    ({"tensor": np.zeros((2, 3, 4)), "x-coordinate": np.arange(5.0),
      "t-coordinate": np.arange(3.0)}, "'x-coordinate' has 5 entries but the data has 4"),
    ({"0000/data": np.zeros((3, 4, 1))}, "missing group '0000/grid'"),
])
def test_malformed_file_is_named(tmp_path, datasets, message):
    src = tmp_path / "bad.hdf5"
    with h5py.File(src, "w") as f:
        for name, value in datasets.items():
            f[name] = value
    assert detect_format(src) == "pdebench"  # "tensor" or "<seed>/data" alone is distinctive
    with pytest.raises(ValueError, match=message):
        import_file(src, tmp_path / "o.h5")


def test_existing_output_is_not_overwritten(tmp_path):
    src = tmp_path / "1D_Advection_Sols_beta0.1.hdf5"
    burgers_1d(src)
    (tmp_path / "o.h5").write_text("keep")
    with pytest.raises(ValueError, match="file exists"):
        import_file(src, tmp_path / "o.h5")
    assert (tmp_path / "o.h5").read_text() == "keep"


# --------------------------------------------------------------------------- export
@pytest.mark.parametrize("steady", [True, False])
def test_round_trip_exact_with_float64(tmp_path, steady):
    grid, params, inputs, outputs, times = rom_dataset(tmp_path / "r.h5", steady=steady)
    if not steady:  # PDEBench's tensor is scalar: export the scalar output
        p = export_pdebench(tmp_path / "r.h5", tmp_path / "p.hdf5", field="u", dtype=None)
    else:
        p = export_pdebench(tmp_path / "r.h5", tmp_path / "p.hdf5", dtype=None)
    back = import_file(p, tmp_path / "back.h5")
    with Dataset(back) as ds:
        assert ds.problem == "toy"
        assert_holds(ds, grid, None if steady else times, inputs, outputs)
        assert ds.parameter_names == ["mu", "beta"]
        np.testing.assert_array_equal(ds.parameters, params)


def test_export_layout_matches_pdebench(tmp_path):
    grid, params, inputs, outputs, _ = rom_dataset(tmp_path / "r.h5", steady=True)
    p = export_pdebench(tmp_path / "r.h5", tmp_path / "p.hdf5", chunk_bytes=100)
    assert detect_format(p) == "pdebench"
    with h5py.File(p, "r") as f:
        assert f["tensor"].shape == (5, 1, 8, 6) and f["tensor"].dtype == np.float32
        assert f["nu"].shape == (5, 8, 6) and f["nu"].dtype == np.float32
        assert f["x-coordinate"].shape == (8,) and f["y-coordinate"].shape == (6,)
        assert "t-coordinate" in f
        assert f.attrs["beta"] == 0.25 and "mu" not in f.attrs  # only constants as attributes
        np.testing.assert_allclose(f["tensor"][:, 0], outputs["u"], rtol=1e-6)
        np.testing.assert_allclose(f["nu"][()], inputs["a"], rtol=1e-6)
    back = import_file(p, tmp_path / "back.h5")
    with Dataset(back) as ds:  # float32 round trip: equal to single precision
        np.testing.assert_allclose(ds.outputs()["u"], outputs["u"], rtol=1e-6)
        assert ds.grid == grid  # float32 coordinates, exact values kept in @rom_exact
        assert ds.input_names == ["a"]


def test_export_refuses_vector_tensor(tmp_path):
    rom_dataset(tmp_path / "r.h5", steady=False)
    with pytest.raises(ValueError, match="scalar field"):
        export_pdebench(tmp_path / "r.h5", tmp_path / "p.hdf5", field="v", layout="tensor")
    p = export_pdebench(tmp_path / "r.h5", tmp_path / "p.hdf5", field="v")  # per-seed: channels
    with h5py.File(p, "r") as f:
        assert f["0000/data"].shape == (4, 8, 6, 2)


# --------------------------------------------------------------------------- chunking
def test_write_plan_reads_bounded_blocks(tmp_path):
    n, shape = 37, (4, 5)
    data = RNG.random((n, *shape))
    blocks = []

    def read(lo, hi):
        blocks.append(hi - lo)
        return data[lo:hi]

    sample_bytes = int(np.prod(shape)) * 8
    plan = ImportPlan("toy", n, Grid.uniform(shape, 2), None,
                      [FieldSource("u", "output", shape, np.dtype(float), read)])
    write_plan(plan, tmp_path / "o.h5", chunk_bytes=5 * sample_bytes)
    assert max(blocks) == 5 and sum(blocks) == n
    with Dataset(tmp_path / "o.h5") as ds:
        np.testing.assert_array_equal(ds.outputs()["u"], data)
        assert ds.field("u").chunks[0] == 1


def test_trajectories_in_2d_use_the_per_seed_layout(tmp_path):
    grid, params, inputs, outputs, times = rom_dataset(tmp_path / "r.h5", steady=False)
    p = export_pdebench(tmp_path / "r.h5", tmp_path / "2D_toy.h5", chunk_bytes=1)
    with h5py.File(p, "r") as f:  # FNODatasetMult: every root key is a seed group
        assert sorted(f.keys()) == [f"{i:04d}" for i in range(5)]
        g = f["0003"]
        assert g["data"].shape == (4, 8, 6, 1) and g["data"].dtype == np.float32
        np.testing.assert_allclose(g["data"][..., 0], outputs["u"][3], rtol=1e-6)
        np.testing.assert_allclose(g["grid/y"][()], grid.axes[1], rtol=1e-6)
        np.testing.assert_allclose(g["grid/t"][()], times, rtol=1e-6)
        assert g.attrs["mu"] == params[3, 0]
    with Dataset(import_file(p, tmp_path / "back.h5")) as ds:
        assert ds.parameter_names == ["mu", "beta"]
        np.testing.assert_array_equal(ds.parameters, params)
        assert ds.field("v").shape == (5, 4, 8, 6, 2)
        np.testing.assert_allclose(ds.outputs()["v"], outputs["v"], rtol=1e-6)
        assert ds.input_names == ["u0"] and ds.grid.periodic == grid.periodic


def test_one_dimensional_trajectories_use_the_tensor_layout(tmp_path):
    grid = Grid.uniform(16, 1, periodic=True)
    u = RNG.random((3, 5, 16))
    write_dataset(tmp_path / "r.h5", problem="burgers", config={}, grid=grid,
                  times=np.linspace(0, 1, 5), parameters=np.zeros((3, 0)),
                  parameter_space=ParameterSpace((), (), ()), sampler="none",
                  inputs={"u0": u[:, 0]}, outputs={"u": u}, stats=None, seed=None)
    p = export_pdebench(tmp_path / "r.h5", tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5")
    with h5py.File(p, "r") as f:
        assert f["tensor"].shape == (3, 5, 16) and f["t-coordinate"].shape == (5,)
    with Dataset(import_file(p, tmp_path / "back.h5")) as ds:
        assert ds.grid.periodic == (True,) and ds.parameter_names == []
        np.testing.assert_allclose(ds.outputs()["u"], u, rtol=1e-6)


def test_progress_counts_samples_of_every_field(tmp_path):
    src = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    burgers_1d(src, n=7)
    seen = []
    import_file(src, tmp_path / "o.h5", chunk_bytes=3 * 6 * 16 * 4, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 2 * 7  # fields u and u0, 7 samples each


def test_truncated_file_is_a_one_line_error(tmp_path):
    src = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    burgers_1d(src)
    (tmp_path / "cut.hdf5").write_bytes(src.read_bytes()[:3000])
    for fmt in ("auto", "pdebench", "the-well"):
        with pytest.raises(ValueError, match="cannot read HDF5 file \\(truncated or corrupt"):
            import_file(tmp_path / "cut.hdf5", tmp_path / "o.h5", fmt=fmt)


@pytest.mark.parametrize("exporter,p", [("pdebench", 6000), ("the-well", 200)])
def test_periodic_grid_and_many_parameters_survive(tmp_path, exporter, p):
    """KL coefficients: 6000 names exceed HDF5's 64 KiB compact attribute storage."""
    from data.formats import export_the_well

    grid = Grid.uniform((6, 4), 2, periodic=True)
    n = 3
    names = tuple(f"w0_xi{j}" for j in range(p))
    params = RNG.standard_normal((n, p))
    space = ParameterSpace(names, ("normal",) * p, ((-3.0, 3.0),) * p)
    w = RNG.random((n, 5, 6, 4))
    write_dataset(tmp_path / "r.h5", problem="ns", config={}, grid=grid,
                  times=np.linspace(0, 1, 5), parameters=params, parameter_space=space,
                  sampler="sobol", inputs={"w0": w[:, 0]}, outputs={"w": w}, stats=None,
                  seed=None)
    export = export_pdebench if exporter == "pdebench" else export_the_well
    out = export(tmp_path / "r.h5", tmp_path / "x.h5")
    with Dataset(import_file(out, tmp_path / "back.h5")) as ds:
        assert ds.grid == grid and tuple(ds.parameter_names) == names
        np.testing.assert_array_equal(ds.parameters, params)
