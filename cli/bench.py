"""``rom bench``: side-by-side benchmarks (a click group; ``solvers`` is the first kind).

``rom bench solvers PROBLEM --resolution R -n N`` assembles ``N`` systems of a
steady linear problem and solves the same sequence with several strategies,
baselines included (sparse LU, pyamg smoothed-aggregation CG with the setup
reused, IC(0)-CG, scipy's GMRES with ILU), printing one table: seconds per
system, iterations, matvecs and the largest true relative residual. The
strategies, the interleaved runs and the table are :mod:`solvers.benchmarking`.
"""

from __future__ import annotations

import json
import os

# One BLAS thread, so that timings compare methods rather than thread counts; it is read
# when numpy is first loaded, which the import below does (commands load lazily).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import click  # noqa: E402

from cli.params import KeyValue, pairs_dict  # noqa: E402
from solvers.benchmarking import STRATEGIES  # noqa: E402


@click.group()
def bench() -> None:
    """Side-by-side benchmarks."""


@bench.command("solvers")
@click.argument("problem")
@click.option("--resolution", "-r", type=int, default=64, help="Grid resolution.")
@click.option("-n", "n", type=int, default=20, help="Number of systems in the sequence.")
@click.option("--param", "params", type=KeyValue("raw"), multiple=True, metavar="KEY=VALUE",
              help="Problem option (repeatable).")
@click.option("--seed", type=int, default=0, help="Seed of the parameter samples.")
@click.option("--strategies", default="", metavar="A,B,...",
              help=f"Strategies to compare (default by SPD-ness); valid: {', '.join(STRATEGIES)}.")
@click.option("--order", type=click.Choice(["given", "sorted"]), default="given",
              help="Solve in sample order or SKR-sorted.")
@click.option("--rtol", type=float, default=1e-8, help="Relative true-residual tolerance.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def solvers_cmd(problem: str, resolution: int, n: int, params: tuple[tuple[str, str], ...],
                seed: int, strategies: str, order: str, rtol: float, as_json: bool) -> None:
    """Solve the same sequence of PROBLEM's systems with several strategies, side by side."""
    from solvers.benchmarking import compare_on_problem, format_table

    if n < 1:
        raise click.BadParameter("must be at least 1", param_hint="-n")
    names = [s.strip() for s in strategies.split(",") if s.strip()] or None
    from data.progress import Progress

    bar: list[Progress] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(Progress(total, desc=f"bench solvers {problem}", unit="solve"))
        bar[0].update(done - bar[0].n)

    try:
        record = compare_on_problem(problem, resolution, n, pairs_dict(params), seed, names,
                                    order, rtol, progress)
    finally:
        if bar:
            bar[0].close()
    click.echo(json.dumps(record) if as_json else format_table(record))
