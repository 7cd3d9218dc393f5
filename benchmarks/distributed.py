"""Parallel efficiency of Dask-distributed generation, and the engine's overhead per task.

One run, side by side on the same machine:

1. **one process** (the baseline a user would pick without a cluster):
   ``data.generate.generate`` in this process, one recycling chain through all
   samples in ``--order sorted``;
2. **Dask, 1 worker** and **Dask, 2 workers**: ``data.distributed.generate_distributed``
   on a ``LocalCluster`` (processes, one thread each), one task per worker,
   i.e. the sorted chain cut into 1 or 2 contiguous chunks; each run includes
   planning (ordering), the tasks, the merge of the shards into one file.
   Cluster start-up is timed separately.

Parallel efficiency ``E2 = T(one process) / (2 T(2 workers))`` (and the same
against the 1-worker Dask run). Cutting the chain costs some recycling: the
total iteration counts are printed too.

Overhead: (a) empty tasks through ``map_chunks`` (per-task round trip);
(b) tiny generation chunks: Darcy 16^2 split into many shards vs 2 shards,
``(T(many) - T(2)) / (many - 2)`` per extra task (shard file + merge share).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/distributed.py [--quick]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# run as a script, benchmarks/ is sys.path[0], and this file would shadow the `distributed`
# package (a benchmark script named like a package the `solvers` package): use the repository root instead
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


def noop(chunk: object) -> None:
    return None


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cluster(n: int) -> tuple[contextlib.ExitStack, object, float]:
    """A local cluster of ``n`` workers exactly as ``rom generate --workers n`` starts it."""
    from data.distributed import dask_client

    t0 = time.perf_counter()
    stack = contextlib.ExitStack()
    client = stack.enter_context(dask_client(workers=n))
    client.run(lambda: __import__("data.generate"))  # warm imports, as a long run would
    return stack, client, time.perf_counter() - t0


def iterations(path: Path) -> int:
    from data.dataset import Dataset

    with Dataset(path) as ds:
        return int(ds.stats["iterations"].sum())


def efficiency(args: argparse.Namespace, tmp: Path) -> list[str]:
    from data.distributed import generate_distributed
    from data.generate import generate
    from solvers.problems import make_problem

    p = make_problem("darcy", args.resolution)
    kw = dict(seed=0, solver_name=args.solver, precond=args.precond, order=args.order,
              progress=False)
    rows = []
    print(f"load before: {load()}", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    generate(p, args.n, tmp / "one.h5", **kw)
    t_one, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows.append(("one process", t_one, iterations(tmp / "one.h5"), cpu, cpu / t_one, load()))
    print(rows[-1], flush=True)
    starts = {}
    times = {}
    for w in (1, 2):
        c, client, starts[w] = cluster(w)
        try:
            c0 = client.run(time.process_time)
            t0 = time.perf_counter()
            generate_distributed(p, args.n, tmp / f"w{w}.h5", client=client, **kw)
            times[w] = time.perf_counter() - t0
            c1 = client.run(time.process_time)
            cpu = sum(c1[k] - c0[k] for k in c0)
        finally:
            c.close()
        rows.append((f"Dask, {w} worker{'s' if w > 1 else ''}", times[w],
                     iterations(tmp / f"w{w}.h5"), cpu, cpu / (w * times[w]), load()))
        print(rows[-1], f"cluster start {starts[w]:.1f} s", flush=True)
    out = ["| run | wall s | samples/s | total iterations | CPU s of the solving processes "
           "| CPU share per process | load after (1/5/15 min) |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| {r[0]} | {r[1]:.1f} | {args.n / r[1]:.3f} | {r[2]} | {r[3]:.1f} | {r[4]:.2f} "
            f"| {r[5]} |" for r in rows]
    out += ["", f"* parallel efficiency E2 = T(one process) / (2 T(2 workers)) = "
            f"**{t_one / (2 * times[2]):.2f}**",
            f"* against the 1-worker Dask run: T(1 worker) / (2 T(2 workers)) = "
            f"{times[1] / (2 * times[2]):.2f}",
            f"* Dask 1 worker vs one process: {times[1] / t_one:.2f}x the time",
            f"* CPU work, 2 workers vs one process: {rows[2][3] / rows[0][3]:.2f}x "
            "(1.00 = no extra work from splitting the chain)",
            f"* cluster start-up (not included above): 1 worker {starts[1]:.1f} s, "
            f"2 workers {starts[2]:.1f} s"]
    return out


def overhead(args: argparse.Namespace, tmp: Path) -> list[str]:
    from data.distributed import generate_distributed, map_chunks
    from solvers.problems import make_problem

    c, client, _ = cluster(2)
    try:
        map_chunks(noop, list(range(20)), chunks=20, client=client)  # warm
        t0 = time.perf_counter()
        map_chunks(noop, list(range(args.tasks)), chunks=args.tasks, client=client)
        empty = (time.perf_counter() - t0) / args.tasks
        p = make_problem("darcy", 16)
        n = args.tiny
        t = {}
        for chunks in (2, n):
            t0 = time.perf_counter()
            generate_distributed(p, n, tmp / f"tiny{chunks}.h5", client=client, chunks=chunks,
                                 progress=False, seed=1)
            t[chunks] = time.perf_counter() - t0
    finally:
        c.close()
    per = (t[n] - t[2]) / (n - 2)
    return [f"* empty tasks (`map_chunks`, 2 workers, {args.tasks} tasks): "
            f"**{empty * 1e3:.1f} ms per task** (throughput)",
            f"* Darcy 16², {n} samples: 2 shards {t[2]:.2f} s, {n} shards {t[n]:.2f} s -> "
            f"**{per * 1e3:.0f} ms per extra task** (task + shard file + its share of the merge)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (about 2 minutes)")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("-n", type=int, default=None, help="samples [32; quick: 12]")
    ap.add_argument("--solver", default="amg-cg")
    ap.add_argument("--precond", default=None)
    ap.add_argument("--order", default="sorted")
    ap.add_argument("--tasks", type=int, default=200, help="empty tasks for the overhead")
    ap.add_argument("--tiny", type=int, default=None, help="samples of the tiny run [48; 24]")
    args = ap.parse_args()
    args.n = args.n or (12 if args.quick else 32)
    args.tiny = args.tiny or (24 if args.quick else 48)
    with tempfile.TemporaryDirectory() as d:
        lines = [f"darcy {args.resolution}², {args.n} samples, --solver {args.solver}"
                 f"{' --precond ' + args.precond if args.precond else ''} --order {args.order}",
                 ""]
        lines += efficiency(args, Path(d))
        lines += ["", "Overhead:", ""] + overhead(args, Path(d))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
