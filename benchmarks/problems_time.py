"""Time integrators of the trajectory problems against the baselines a scipy/torch user would pick.

Each section integrates the *same* semi-discrete system with our scheme and
with the baseline, side by side in one run, and reports wall time and the
error against a reference solution (so the speed ratio is taken at matched or
better accuracy):

* heat: Crank–Nicolson, one sparse LU for the whole run (the `direct`
  sequence solver) vs `scipy.integrate.solve_ivp(method="BDF")` with the
  sparse Jacobian, and vs `scipy.sparse.linalg.expm_multiply` (exact for a
  constant source). Reference: `expm_multiply`.
* burgers: integrating-factor RK4 (CFL 1) vs `solve_ivp` RK45 / DOP853 / BDF
  on the same finite-difference right-hand side. Reference: IF-RK4 with a
  100x smaller step.
* navier_stokes: the FNO scheme at the FNO step `dt = 1e-4` vs our `cnab2` at
  larger steps (equal or better accuracy), and the per-step cost of our numpy
  step vs the same algorithm written with `torch.fft` (CPU, float64), the
  library of the FNO reference generator. Reference: `cnab2` at `dt = 2.5e-5`.
* wave: leapfrog (CFL 0.5) vs `solve_ivp` DOP853 / RK45 on the first-order
  system. Reference: DOP853 at `rtol = 1e-12`.

Usage: ``.venv/bin/python benchmarks/problems_time.py [--quick]``
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402
from scipy.sparse.linalg import expm_multiply, spsolve  # noqa: E402

from solvers.problems import make_problem  # noqa: E402
from solvers.problems.burgers import BurgersSolver, flux_divergence  # noqa: E402
from solvers.problems.fd import (  # noqa: E402
    diffusion_operator,
    full_to_interior,
    interior_to_full,
    laplacian,
)
from solvers.problems.heat import integrate_heat  # noqa: E402
from solvers.problems.navier_stokes import VorticitySolver  # noqa: E402
from solvers.problems.wave import cfl_step, leapfrog  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def row(name: str, seconds: float, err: float, ref_seconds: float) -> str:
    return f"| {name} | {seconds:.3f} | {err:.2e} | {seconds / ref_seconds:.2f} |"


def table(title: str, rows: list[str]) -> None:
    print(f"\n### {title}\n\n| method | seconds | rel. error | time / ours |\n|---|---|---|---|")
    print("\n".join(rows))


def bench_heat(n: int) -> None:
    p = make_problem("heat", n)
    mu = np.random.default_rng(0).standard_normal(p.parameter_space.dim)
    inp = p.input_fields(mu)
    A = diffusion_operator(p.grid, inp["kappa"], "dirichlet")
    u0 = full_to_interior(p.grid, inp["u0"])
    T, f = 0.5, np.ones(u0.size)
    steady = spsolve(A.tocsc(), f)
    ref = steady + expm_multiply(-T * A, u0 - steady)
    rows = []
    (U, _), t_cn = timed(lambda: integrate_heat(A, u0, T, 2, 2.5e-3, "cn", source=1.0))
    rows.append(row("CN, dt=2.5e-3, one LU (ours)", t_cn, rel(U[-1], ref), t_cn))
    for dt in (1e-2, 1e-3):
        (U, _), t = timed(lambda dt=dt: integrate_heat(A, u0, T, 2, dt, "cn", source=1.0))
        rows.append(row(f"CN, dt={dt:g}, one LU (ours)", t, rel(U[-1], ref), t_cn))
    J = sp.csr_matrix(-A)
    for rtol in (1e-5, 1e-7):
        sol, t = timed(lambda rtol=rtol: solve_ivp(lambda _t, u: f - A @ u, (0, T), u0,
                                                   method="BDF", jac=J, rtol=rtol,
                                                   atol=rtol * 1e-2, t_eval=[T]))
        rows.append(row(f"solve_ivp BDF, sparse jac, rtol={rtol:g}", t, rel(sol.y[:, -1], ref), t_cn))

    def exact():
        s = spsolve(A.tocsc(), f)
        return s + expm_multiply(-T * A, u0 - s)

    u, t = timed(exact)
    rows.append(row("spsolve + expm_multiply (exact, constant f only)", t, rel(u, ref), t_cn))
    table(f"heat, {n}x{n} nodes ({u0.size} unknowns), lognormal kappa, T={T}", rows)


def bench_burgers(n: int, nu: float) -> None:
    p = make_problem("burgers", n, nu=nu)
    u0 = p.input_fields(np.random.default_rng(1).standard_normal(p.parameter_space.dim))["u0"]
    T, times = 1.0, np.array([0.0, 1.0])
    solver = BurgersSolver(n, nu)
    h = 1.0 / n
    dt_cfl = h / np.abs(u0).max()
    ref = solver.integrate(u0, times, dt=dt_cfl / 100)[-1]
    ours, t_ours = timed(lambda: solver.integrate(u0, times)[-1])
    rows = [row("IF-RK4, CFL 1 (ours, default)", t_ours, rel(ours, ref), t_ours)]
    fast, t = timed(lambda: BurgersSolver(n, nu, cfl=2.5).integrate(u0, times)[-1])
    rows.append(row("IF-RK4, CFL 2.5 (ours)", t, rel(fast, ref), t_ours))

    def rhs(_t, u):
        return -flux_divergence(u, h) + nu * (np.roll(u, 1) - 2 * u + np.roll(u, -1)) / h ** 2

    L = nu * laplacian(p.grid, "periodic")
    for method, rtol in (("RK45", 1e-6), ("DOP853", 1e-8), ("BDF", 1e-6), ("BDF", 1e-8),
                         ("BDF", 1e-10)):
        kw = {"jac_sparsity": (L != 0).astype(float)} if method == "BDF" else {}
        sol, t = timed(lambda m=method, r=rtol, kw=kw: solve_ivp(rhs, (0, T), u0, method=m, rtol=r,
                                                                 atol=r * 1e-2, t_eval=[T], **kw))
        rows.append(row(f"solve_ivp {method}, rtol={rtol:g}", t, rel(sol.y[:, -1], ref), t_ours))
    table(f"burgers, N={n}, nu={nu}, T={T}, random u0", rows)


def torch_step_time(n: int, nu: float, dt: float, w0: np.ndarray, f: np.ndarray, steps: int
                    ) -> float:
    """Seconds per step of the FNO scheme written with torch.fft (CPU, float64)."""
    import torch

    torch.set_num_threads(1)
    kx = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)[:, None]
    ky = torch.fft.rfftfreq(n, 1.0 / n, dtype=torch.float64)[None, :]
    L = 4 * math.pi ** 2 * (kx ** 2 + ky ** 2)
    inv = 1.0 / torch.where(L == 0, torch.ones_like(L), L)
    inv[0, 0] = 0.0
    dx, dy = 2j * math.pi * kx, 2j * math.pi * ky
    dealias = ((kx.abs() <= n / 3) & (ky <= n / 3)).to(torch.float64)
    a = (1 - 0.5 * dt * nu * L) / (1 + 0.5 * dt * nu * L)
    b = dt / (1 + 0.5 * dt * nu * L)
    w_h = torch.fft.rfft2(torch.from_numpy(w0))
    f_h = torch.fft.rfft2(torch.from_numpy(f))
    t0 = time.perf_counter()
    for _ in range(steps):
        psi = w_h * inv
        g = torch.fft.irfft2(torch.stack([dy * psi, -dx * psi, dx * w_h, dy * w_h]), s=(n, n))
        F = torch.fft.rfft2(g[0] * g[2] + g[1] * g[3]) * dealias
        w_h = a * w_h + b * (f_h - F)
    return (time.perf_counter() - t0) / steps


def bench_navier_stokes(n: int, T: float) -> None:
    nu = 1e-3
    p = make_problem("navier_stokes", n, nu=nu)
    inp = p.input_fields(np.random.default_rng(2).standard_normal(p.parameter_space.dim))
    w0, f, times = inp["w0"], inp["f"], np.array([T])
    ref = VorticitySolver(n, nu, "cnab2").integrate(w0, f, times, 2.5e-5)[-1]
    fno, t_fno = timed(lambda: VorticitySolver(n, nu, "fno").integrate(w0, f, times, 1e-4)[-1])
    rows = [row("FNO scheme (CN + Euler), dt=1e-4", t_fno, rel(fno, ref), t_fno)]
    for dt in (1e-3, 4e-3):
        w, t = timed(lambda dt=dt: VorticitySolver(n, nu, "cnab2").integrate(w0, f, times, dt)[-1])
        rows.append(row(f"CN + AB2 (ours, scheme=cnab2), dt={dt:g}", t, rel(w, ref), t_fno))
    table(f"navier_stokes {n}x{n}, nu={nu}, T={T} (time / FNO-scheme run)", rows)
    steps = 2000
    ours = t_fno / round(T / 1e-4)
    try:
        tt = torch_step_time(n, nu, 1e-4, w0, f, steps)
        print(f"\nper step at {n}x{n}: numpy/scipy.fft (ours) {ours * 1e6:.0f} us, "
              f"torch.fft CPU float64 {tt * 1e6:.0f} us (torch / ours = {tt / ours:.2f})")
    except ImportError:
        print("\ntorch not installed: per-step comparison skipped")


def bench_wave(n: int) -> None:
    p = make_problem("wave", n, cfl=0.5)
    mu = p.parameter_space.from_unit(np.full(p.parameter_space.dim, 0.35))[0]
    inp = p.input_fields(mu)
    K = sp.csr_matrix(-laplacian(p.grid, "dirichlet"))
    c2 = full_to_interior(p.grid, inp["c"]) ** 2
    u0 = full_to_interior(p.grid, inp["u0"])
    T, m = 1.0, u0.size

    def rhs(_t, y):
        return np.concatenate([y[m:], -c2 * (K @ y[:m])])

    y0 = np.concatenate([u0, np.zeros(m)])
    ref = solve_ivp(rhs, (0, T), y0, method="DOP853", rtol=1e-12, atol=1e-14, t_eval=[T]).y[:m, -1]
    dt = 0.5 * cfl_step(float(inp["c"].max()), p.grid.spacing)
    (U, _), t_ours = timed(lambda: leapfrog(K, c2, u0, T, 2, dt))
    rows = [row("leapfrog, CFL 0.5 (ours)", t_ours, rel(U[-1], ref), t_ours)]
    (U, _), t = timed(lambda: leapfrog(K, c2, u0, T, 2, dt / 4))
    rows.append(row("leapfrog, CFL 0.125 (ours)", t, rel(U[-1], ref), t_ours))
    for method, rtol in (("RK45", 1e-5), ("DOP853", 1e-6)):
        sol, t = timed(lambda m_=method, r=rtol: solve_ivp(rhs, (0, T), y0, method=m_, rtol=r,
                                                            atol=r * 1e-3, t_eval=[T]))
        rows.append(row(f"solve_ivp {method}, rtol={rtol:g}", t, rel(sol.y[:m, -1], ref), t_ours))
    table(f"wave {n}x{n}, variable c, Gaussian pulse, T={T}", rows)
    # context: the spatial error at this resolution (leapfrog, CFL 0.125, on the nested 2n-1 grid)
    fine = make_problem("wave", 2 * n - 1)
    fin = fine.input_fields(mu)
    Kf = sp.csr_matrix(-laplacian(fine.grid, "dirichlet"))
    uf, _ = leapfrog(Kf, full_to_interior(fine.grid, fin["c"]) ** 2,
                     full_to_interior(fine.grid, fin["u0"]), T, 2, dt / 8)
    coarse = full_to_interior(p.grid, interior_to_full(fine.grid, uf[-1])[::2, ::2])
    print(f"\nspatial error of the {n}x{n} grid (vs the nested {2 * n - 1}^2 grid): "
          f"{rel(ref, coarse):.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    args = ap.parse_args()
    q = args.quick
    print(f"# time-dependent problems benchmark ({'quick' if q else 'full'})")
    bench_heat(33 if q else 65)
    bench_burgers(256 if q else 1024, 0.01)
    bench_navier_stokes(32 if q else 64, 0.5 if q else 2.0)
    bench_wave(65 if q else 129)


if __name__ == "__main__":
    main()
