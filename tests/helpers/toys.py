"""Toy problems (1-D/2-D Poisson, 1-D heat) and a writer of small complete datasets."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from data.dataset import write_dataset
from solvers.problems import Grid, LinearSystem, ParameterSpace, Problem, Solution


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


TOYS = {"toy_poisson1d": "tests.helpers.toys:Poisson1D", "toy_poisson2d": "tests.helpers.toys:Poisson2D",
        "toy_heat1d": "tests.helpers.toys:Heat1D"}


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
