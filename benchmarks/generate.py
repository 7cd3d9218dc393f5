"""Dataset generation throughput and the cost of crash safety, side by side.

For Darcy flow at several resolutions, with the sparse direct solver, this runs
in one process, alternating:

* ``rom``: :func:`data.generate.generate` -- journal every sample, then stream the
  journal into the compressed HDF5 file (gzip-1 + shuffle, one chunk per sample);
* ``rom`` without the background journal thread (every record appended at once);
* ``baseline``: what a user writes by hand -- the same solves in a loop, fields
  kept in memory, one uncompressed ``h5py`` write at the end (no crash safety).

It reports samples/s of the three (best of ``--repeats``), rom / baseline, the share of ``rom``'s wall time
the main thread spends waiting on I/O (queueing journal records, draining the
queue, the final HDF5 write; target < 5%) and, for honesty, the seconds the
background journal thread spent compressing and appending (overlapped with the
solves, as a share of wall time). A second table
compares HDF5 filters (gzip-1+shuffle, lzf, lzf+shuffle, none) on the generated
fields: write time, read time and file size.

    .venv/bin/python benchmarks/generate.py --quick     # ~1 min
    .venv/bin/python benchmarks/generate.py             # 64^2, 128^2, 256^2, a few minutes
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import h5py
import numpy as np

import data.generate as gen
from data.dataset import Dataset
from data.journal import Journal, JournalWriter
from solvers.linear import make_solver
from solvers.problems import make_problem
from solvers.problems.sampling import sample_unit


class IOTimer:
    """Accumulates the seconds spent in wrapped calls (optionally only off the main thread)."""

    def __init__(self, background_only: bool = False) -> None:
        self.seconds = 0.0
        self.background_only = background_only

    def wrap(self, fn):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                if not (self.background_only
                        and threading.current_thread() is threading.main_thread()):
                    self.seconds += time.perf_counter() - t0
        return timed


def run_rom(problem, n: int, out: Path, seed: int, threaded: bool = True
            ) -> tuple[float, float, float]:
    """Wall seconds of ``generate``, the part the main thread waits on I/O, and the
    seconds the background journal thread spent compressing/appending (overlapped).
    ``threaded=False`` appends every record synchronously."""
    blocking, background = IOTimer(), IOTimer(background_only=True)
    W = JournalWriter if threaded else InlineJournalWriter
    saved = (gen.JournalWriter, W.submit, W.close, gen.write_from_journal, Journal.append)
    gen.JournalWriter = W
    W.submit, W.close = blocking.wrap(W.submit), blocking.wrap(W.close)
    gen.write_from_journal = blocking.wrap(gen.write_from_journal)
    Journal.append = background.wrap(Journal.append)
    try:
        t0 = time.perf_counter()
        gen.generate(problem, n, out, seed=seed, overwrite=True, progress=False)
        wall = time.perf_counter() - t0
    finally:
        gen.JournalWriter, W.submit, W.close, gen.write_from_journal, Journal.append = saved
    return wall, blocking.seconds, background.seconds


class InlineJournalWriter:
    """``data.journal.JournalWriter`` without the thread: every record appended at once."""

    def __init__(self, journal: Journal, depth: int = 2) -> None:
        self.journal = journal

    def submit(self, meta, arrays, compress) -> None:
        self.journal.append(meta, arrays, compress)

    def close(self) -> None:
        pass


def run_baseline(problem, n: int, out: Path, seed: int) -> float:
    """Wall seconds of a hand-written loop: solve, keep in memory, one plain h5py write."""
    t0 = time.perf_counter()
    space = problem.parameter_space
    mu = space.from_unit(sample_unit(n, space.dim, "random", seed))
    solver = make_solver("direct")
    sols = [problem.solve(m, solver) for m in mu]
    with h5py.File(out, "w") as f:
        f["parameters"] = mu
        for k in problem.input_names:
            f[f"inputs/{k}"] = np.stack([s.inputs[k] for s in sols])
        for k in problem.output_names:
            f[f"outputs/{k}"] = np.stack([s.outputs[k] for s in sols])
    return time.perf_counter() - t0


FILTERS = {"gzip-1+shuffle": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
           "lzf": {"compression": "lzf"}, "lzf+shuffle": {"compression": "lzf", "shuffle": True},
           "none": {}}


def compare_filters(path: Path, tmp: Path) -> list[tuple[str, float, float, float]]:
    """(filter, write s, read s, MiB) for the fields of a dataset, one chunk per sample."""
    with Dataset(path) as ds:
        fields = {k: ds.field(k)[()] for k in ds.input_names + ds.output_names}
    rows = []
    for name, opts in FILTERS.items():
        out = tmp / f"filter-{name}.h5"
        t0 = time.perf_counter()
        with h5py.File(out, "w") as f:
            for k, a in fields.items():
                d = f.create_dataset(k, shape=a.shape, dtype=a.dtype,
                                     chunks=(1, *a.shape[1:]), **opts)
                for i in range(a.shape[0]):  # as generation writes: sample by sample
                    d[i] = a[i]
        tw = time.perf_counter() - t0
        t0 = time.perf_counter()
        with h5py.File(out, "r") as f:
            for k in fields:
                f[k][()]
        tr = time.perf_counter() - t0
        rows.append((name, tw, tr, out.stat().st_size / 2**20))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64^2 and 128^2 only, fewer samples")
    ap.add_argument("--repeats", type=int, default=3, help="alternating repeats per size")
    args = ap.parse_args()
    sizes = {64: 16, 128: 8} if args.quick else {64: 64, 128: 32, 256: 8}
    print(f"machine: {os.cpu_count()} CPU cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print("| grid | samples | rom samples/s | rom (no journal thread) samples/s "
          "| baseline samples/s | rom / baseline | rom blocking I/O share "
          "| journal thread work |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for res, n in sizes.items():
            problem = make_problem("darcy", res)
            walls, ios, bgs, syncs, bases = [], [], [], [], []
            for r in range(args.repeats):  # alternate so that machine noise hits all three
                w, io, bg = run_rom(problem, n, tmp / f"rom-{res}.h5", seed=r)
                walls.append(w)
                ios.append(io)
                bgs.append(bg)
                syncs.append(run_rom(problem, n, tmp / f"sync-{res}.h5", seed=r,
                                     threaded=False)[0])
                bases.append(run_baseline(problem, n, tmp / f"base-{res}.h5", seed=r))
            best = int(np.argmin(walls))
            w, b = walls[best], min(bases)
            print(f"| {res}² | {n} | {n / w:.2f} | {n / min(syncs):.2f} | {n / b:.2f} "
                  f"| {b / w:.3f} | {100 * ios[best] / w:.1f}% | {100 * bgs[best] / w:.1f}% |",
                  flush=True)
        res = max(sizes)
        print(f"\nHDF5 filters on the darcy {res}² fields ({sizes[res]} samples, a and u):\n")
        print("| filter | write s | read s | MiB |")
        print("|---|---|---|---|")
        for name, tw, tr, mib in compare_filters(tmp / f"rom-{res}.h5", tmp):
            print(f"| {name} | {tw:.3f} | {tr:.3f} | {mib:.2f} |")


if __name__ == "__main__":
    main()
