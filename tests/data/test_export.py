"""XDMF/VTU export: meshio reads back the grid and the field values of the dataset."""

from __future__ import annotations

import meshio
import numpy as np
import pytest

from cli.main import main
from data.dataset import Dataset
from data.export import EXPORTERS, export, exporter
from tests.helpers.toys import Heat1D, Poisson1D, Poisson2D, write_toy


@pytest.fixture
def steady2d(tmp_path):
    path = tmp_path / "d.h5"
    write_toy(path, n=3, problem=Poisson2D(6))
    return path


@pytest.mark.parametrize("fmt, suffix", [("vtu", ".vtu"), ("xdmf", ".xdmf")])
def test_steady_all_samples(steady2d, tmp_path, fmt, suffix):
    out = export(steady2d, tmp_path / f"out{suffix}", fmt)
    mesh = meshio.read(out)
    with Dataset(steady2d) as ds:
        assert np.allclose(mesh.points, ds.grid.points())
        assert mesh.cells[0].type == "quad" and len(mesh.cells[0].data) == 25
        u, grad, f = ds.outputs()["u"], ds.outputs()["grad"], ds.inputs()["f"]
        for i in range(3):
            assert np.array_equal(mesh.point_data[f"u_{i}"], u[i].ravel())
            assert np.array_equal(mesh.point_data[f"f_{i}"], f[i].ravel())
            assert np.array_equal(mesh.point_data[f"grad_{i}"], grad[i].reshape(-1, 2))
    # the value at node (x_j, y_k) is u[j, k]: check one off-diagonal node
    x, y = mesh.points[8, :2]
    axes = ds.grid.axes
    j, k = np.argmin(abs(axes[0] - x)), np.argmin(abs(axes[1] - y))
    assert mesh.point_data["u_1"][8] == u[1][j, k]


def test_steady_one_sample_and_field(steady2d, tmp_path, capsys):
    out = tmp_path / "one.vtu"
    main(["export", str(steady2d), "--format", "vtu", "-o", str(out), "--sample", "2",
          "--field", "u"])
    assert "wrote" in capsys.readouterr().out
    mesh = meshio.read(out)
    with Dataset(steady2d) as ds:
        assert set(mesh.point_data) == {"u"}
        assert np.array_equal(mesh.point_data["u"], ds.outputs(2)["u"].ravel())


def test_one_dimensional_lines(tmp_path):
    write_toy(tmp_path / "d.h5", n=2, problem=Poisson1D(7))
    mesh = meshio.read(export(tmp_path / "d.h5", tmp_path / "o.vtu", "vtu"))
    assert mesh.cells[0].type == "line" and len(mesh.cells[0].data) == 6
    with Dataset(tmp_path / "d.h5") as ds:
        assert np.array_equal(mesh.point_data["u_1"], ds.outputs(1)["u"])


def test_trajectory_xdmf_time_series(tmp_path, monkeypatch):
    write_toy(tmp_path / "t.h5", n=2, problem=Heat1D(9, n_out=4))
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)  # the heavy data must land beside the .xdmf, not in the cwd
    out = export(tmp_path / "t.h5", tmp_path / "out" / "series.xdmf", "xdmf", sample=1)
    assert (tmp_path / "out" / "series.h5").exists() and not (tmp_path / "series.h5").exists()
    monkeypatch.chdir(tmp_path / "out")
    with Dataset(tmp_path / "t.h5") as ds:
        u, times = ds.outputs(1)["u"], ds.times
    with meshio.xdmf.TimeSeriesReader(out.name) as reader:
        points, cells = reader.read_points_cells()
        assert points.shape == (9, 3) and reader.num_steps == 4
        for k in range(reader.num_steps):
            t, pdata, _ = reader.read_data(k)
            assert t == pytest.approx(times[k])
            assert np.array_equal(pdata["u"], u[k])


def test_trajectory_vtu_series_with_pvd(tmp_path):
    write_toy(tmp_path / "t.h5", n=2, problem=Heat1D(9, n_out=3))
    out = export(tmp_path / "t.h5", tmp_path / "s.pvd", "vtu")
    text = out.read_text()
    assert text.count("<DataSet") == 3 and 's_0002.vtu' in text
    with Dataset(tmp_path / "t.h5") as ds:
        u = ds.outputs(0)["u"]
    for k in range(3):
        mesh = meshio.read(tmp_path / f"s_{k:04d}.vtu")
        assert np.array_equal(mesh.point_data["u"], u[k])


def test_export_errors(steady2d, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'png'; valid:"):
        exporter("png")
    with pytest.raises(ValueError, match="out of range"):
        export(steady2d, tmp_path / "o.vtu", "vtu", sample=3)
    with pytest.raises(ValueError, match="no field 'v'"):
        export(steady2d, tmp_path / "o.vtu", "vtu", fields=["v"])
    with pytest.raises(ValueError, match="would overwrite"):
        export(steady2d, tmp_path / "d.xdmf", "xdmf")
    with pytest.raises(FileNotFoundError):
        export(tmp_path / "nope.h5", tmp_path / "o.vtu", "vtu")
    with Dataset(steady2d):
        pass  # the dataset survived
    assert set(EXPORTERS) == {"xdmf", "vtu", "pdebench", "the-well"}


def test_incomplete_dataset_exports_solved_samples_only(tmp_path):
    write_toy(tmp_path / "d.h5", n=3, problem=Poisson1D(5), complete=False,
              done=np.array([True, False, True]))
    mesh = meshio.read(export(tmp_path / "d.h5", tmp_path / "o.vtu", "vtu"))
    assert {"u_0", "u_2"} <= set(mesh.point_data) and "u_1" not in mesh.point_data
    with pytest.raises(ValueError, match="has not been solved"):
        export(tmp_path / "d.h5", tmp_path / "o.vtu", "vtu", sample=1)


# --------------------------------------------------------------------------- issue 15, item 8
def test_export_refuses_to_overwrite_any_file_it_would_write(steady2d, tmp_path, capsys):
    unrelated = tmp_path / "a.h5"
    unrelated.write_bytes(b"someone else's data")
    with pytest.raises(SystemExit) as e:
        main(["export", str(steady2d), "--format", "xdmf", "-o", str(tmp_path / "a.xdmf")])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a.h5 already exists" in err and "--overwrite" in err
    assert unrelated.read_bytes() == b"someone else's data"
    assert not (tmp_path / "a.xdmf").exists()
    main(["export", str(steady2d), "--format", "xdmf", "-o", str(tmp_path / "a.xdmf"),
          "--overwrite"])
    assert "u_0" in meshio.read(tmp_path / "a.xdmf").point_data
    with pytest.raises(ValueError, match="s.pvd already exists"):
        (tmp_path / "s.pvd").write_text("x")
        write_toy(tmp_path / "t.h5", n=1, problem=Heat1D(9, n_out=2))
        export(tmp_path / "t.h5", tmp_path / "s.pvd", "vtu")
    assert not (tmp_path / "s_0000.vtu").exists()


@pytest.mark.parametrize("channels", [4, 5, 7, 8])
def test_xdmf_splits_channel_counts_it_cannot_type(tmp_path, channels):
    p = Poisson2D(6)
    mus, inputs, outputs = write_toy(tmp_path / "d.h5", n=2, problem=p)
    wide = np.random.default_rng(0).random((2, *p.grid.shape, channels))
    write_toy(tmp_path / "w.h5", n=2, problem=p, outputs={**outputs, "w": wide})
    mesh = meshio.read(export(tmp_path / "w.h5", tmp_path / "x.xdmf", "xdmf", sample=1))
    for c in range(channels):
        assert np.array_equal(mesh.point_data[f"w_{c}"], wide[1].reshape(-1, channels)[:, c])
    assert mesh.point_data["grad"].shape[1] == 2  # widths XDMF types stay whole


def test_failed_export_leaves_no_files(steady2d, tmp_path, monkeypatch):
    def broken(path, *a, **k):
        path.with_suffix(".h5").write_bytes(b"half")   # meshio wrote part, then failed
        raise RuntimeError("disk full")

    monkeypatch.setattr(meshio, "write", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export(steady2d, tmp_path / "w.xdmf", "xdmf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_time_series_xdmf_is_one_temporal_collection(tmp_path):
    import xml.etree.ElementTree as ET

    write_toy(tmp_path / "t.h5", n=1, problem=Heat1D(9, n_out=3))
    out = export(tmp_path / "t.h5", tmp_path / "s.xdmf", "xdmf")
    domain = ET.parse(out).getroot().find("Domain")
    grids = domain.findall("Grid")
    assert [g.get("GridType") for g in grids] == ["Collection"]
    for step in grids[0].findall("Grid"):
        assert step.get("GridType") == "Uniform"
        assert {c.tag for c in step} >= {"Topology", "Geometry", "Time", "Attribute"}
    with meshio.xdmf.TimeSeriesReader(out) as reader:
        points, _ = reader.read_points_cells()
        assert points.shape == (9, 3) and reader.num_steps == 3
