"""The HDF5 dataset format: round trips, layout, index reads, clear errors on bad files.

The toy problems below are fixtures shared with test_generate.py, test_cli_generate.py
and test_export.py (imported as ``test_dataset``; tests/ is on sys.path under pytest).
"""

from __future__ import annotations

import json
import sys
import time
import types

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from data.dataset import FORMAT_VERSION, Dataset, write_dataset
from solvers.problems import PROBLEMS, Grid, LinearSystem, ParameterSpace, Problem, Solution


# --------------------------------------------------------------------------- toy problems
class Poisson1D(Problem):
    """Toy ``-a u'' = s`` on (0,1), ``u(0)=u(1)=0`` (exact: ``u = s x (1-x) / (2a)``)."""

    name = "toy_poisson1d"
    input_names = ("f",)
    output_names = ("u",)
    defaults = {"delay": 0.0, "interrupt_at": -1}

    def __init__(self, resolution, **options):
        super().__init__(resolution, **options)
        self.calls = 0

    @property
    def parameter_space(self) -> ParameterSpace:
        return ParameterSpace(("a", "s"), ("uniform", "loguniform"), ((1.0, 2.0), (0.1, 10.0)))

    @property
    def grid(self) -> Grid:
        return Grid.uniform(self.resolution, ndim=1)

    def input_fields(self, mu):
        return {"f": np.full(self.resolution, mu[1])}

    def assemble(self, mu) -> LinearSystem:
        n, h = self.resolution - 2, 1.0 / (self.resolution - 1)
        A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * (mu[0] / h**2)
        return LinearSystem(sp.csr_matrix(A), np.full(n, mu[1]), True, True)

    def to_fields(self, mu, x):
        return {"u": np.pad(x, 1)}

    def solve(self, mu, solver=None) -> Solution:
        if self.calls == self.options["interrupt_at"]:
            raise KeyboardInterrupt
        self.calls += 1
        if self.options["delay"]:
            time.sleep(self.options["delay"])
        return super().solve(mu, solver)


class Poisson2D(Problem):
    """Toy ``-a Lap u = s sin(pi x) sin(pi y)`` on the unit square; outputs ``u`` and ``grad`` (2 channels)."""

    name = "toy_poisson2d"
    input_names = ("f",)
    output_names = ("u", "grad")

    @property
    def parameter_space(self) -> ParameterSpace:
        return ParameterSpace(("a", "s"), ("uniform", "uniform"), ((1.0, 2.0), (-1.0, 1.0)))

    @property
    def grid(self) -> Grid:
        return Grid.uniform(self.resolution, ndim=2)

    def _f(self, mu):
        x, y = self.grid.mesh()
        return mu[1] * np.sin(np.pi * x) * np.sin(np.pi * y)

    def input_fields(self, mu):
        return {"f": self._f(mu)}

    def assemble(self, mu) -> LinearSystem:
        m, h = self.resolution - 2, 1.0 / (self.resolution - 1)
        T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m)) / h**2
        A = mu[0] * (sp.kron(T, sp.eye(m)) + sp.kron(sp.eye(m), T))
        return LinearSystem(sp.csr_matrix(A), self._f(mu)[1:-1, 1:-1].ravel(), True, True)

    def to_fields(self, mu, x):
        m = self.resolution - 2
        u = np.pad(x.reshape(m, m), 1)
        h = self.grid.spacing
        return {"u": u, "grad": np.stack(np.gradient(u, *h), axis=-1)}


class Heat1D(Problem):
    """Toy ``u_t = u_xx`` on (0,1), Dirichlet, backward Euler; ``u0 = c1 sin(pi x) + c2 sin(2 pi x)``."""

    name = "toy_heat1d"
    time_dependent = True
    input_names = ("u0",)
    output_names = ("u",)
    defaults = {"n_out": 5}

    @property
    def parameter_space(self) -> ParameterSpace:
        return ParameterSpace(("c1", "c2"), ("normal", "normal"), ((-3.09, 3.09),) * 2)

    @property
    def grid(self) -> Grid:
        return Grid.uniform(self.resolution, ndim=1)

    @property
    def times(self):
        return np.linspace(0.0, 0.05, self.options["n_out"])

    def solve(self, mu, solver=None) -> Solution:
        from solvers.linear import make_solver

        solver = solver or make_solver("direct")
        x = self.grid.axes[0]
        u = mu[0] * np.sin(np.pi * x) + mu[1] * np.sin(2 * np.pi * x)
        n, h = self.resolution - 2, x[1] - x[0]
        dt = self.times[1] - self.times[0]
        A = sp.csr_matrix(sp.eye(n) + dt / h**2 * sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1],
                                                            shape=(n, n)))
        out, stats = [u.copy()], []
        for _ in self.times[1:]:
            y, st = solver.solve(LinearSystem(A, u[1:-1].copy(), True, True))
            u = np.pad(y, 1)
            out.append(u)
            stats.append(st.as_dict())
        return Solution({"u0": out[0]}, {"u": np.stack(out)}, stats)


TOYS = {"toy_poisson1d": "test_dataset:Poisson1D", "toy_poisson2d": "test_dataset:Poisson2D",
        "toy_heat1d": "test_dataset:Heat1D"}


@pytest.fixture
def toys(monkeypatch):
    """Register the toy problems in the problem registry for one test."""
    for k, v in TOYS.items():
        monkeypatch.setitem(PROBLEMS, k, v)
    return TOYS


def write_toy(path, n=4, problem=None, **kw):
    """A small complete dataset of ``problem`` (default Poisson1D at 9 nodes) via write_dataset."""
    problem = problem or Poisson1D(9)
    rng = np.random.default_rng(1)
    mus = problem.parameter_space.from_unit(rng.random((n, 2)))
    sols = [problem.solve(m) for m in mus]
    inputs = {k: np.stack([s.inputs[k] for s in sols]) for k in problem.input_names}
    outputs = {k: np.stack([s.outputs[k] for s in sols]) for k in problem.output_names}
    stats = {"iterations": np.arange(n), "seconds": np.linspace(1, 2, n),
             "converged": np.ones(n, bool), "residual": np.full(n, 1e-14),
             "info": [{"omega": 1.5 + i} for i in range(n)]}
    config = {**problem.config(), "solver": "direct", "solver_settings": {"rtol": 1e-8}}
    args = dict(problem=problem, config=config, grid=problem.grid, times=problem.times,
                parameters=mus, parameter_space=problem.parameter_space, sampler="random",
                inputs=inputs, outputs=outputs, stats=stats, seed=7)
    write_dataset(path, **{**args, **kw})
    return mus, inputs, outputs


# --------------------------------------------------------------------------- round trips
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
        assert f["grid/points"].shape == (25, 3)
        assert f["grid/cells"].attrs["cell_type"] == "quad"
        assert f["grid/cells"].shape == (16, 4)
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


def test_foreign_hdf5_is_named(tmp_path, monkeypatch):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["tensor"] = np.zeros((2, 3))
    monkeypatch.setitem(sys.modules, "data.formats.detect",
                        types.SimpleNamespace(detect_format=lambda p: None))
    with pytest.raises(ValueError, match="not a rom dataset"):
        Dataset(tmp_path / "f.h5")
    monkeypatch.setitem(sys.modules, "data.formats.detect",
                        types.SimpleNamespace(detect_format=lambda p: "pdebench"))
    with pytest.raises(ValueError, match=r"looks like a PDEBench file; convert it with "
                                         r"`rom import .*f.h5 --format pdebench -o OUT.h5`"):
        Dataset(tmp_path / "f.h5")


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
