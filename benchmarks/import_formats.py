"""Importing and exporting foreign formats: wall time and peak memory, side by side.

Each measurement runs in a fresh child process (so peak RSS, ``VmHWM``, is
that of one method alone); the methods alternate, ``--repeat`` times each, and
the medians are reported with their ratios. The cases:

* **import PDEBench 2-D Darcy** (``tensor`` + ``nu``, float32):
  ``rom``: :func:`data.formats.import_file` (blocks of ``--chunk-mb`` MiB);
  ``baseline``: what a user writes by hand -- ``f["tensor"][()]``,
  ``f["nu"][()]`` into memory, then :func:`data.dataset.write_dataset` (the
  same file format, filters and chunks).
* **import PDEBench 1-D Burgers** (``tensor`` ``(N, T, nx)``): same pair.
* **export rom -> PDEBench** (the Darcy dataset back): ``rom``:
  :func:`data.formats.export_pdebench`; ``baseline``: ``Dataset.inputs()`` /
  ``outputs()`` into memory, cast to float32, one ``h5py`` write.

An ``idle`` child (imports only) gives the interpreter's own RSS, subtracted
to report the memory each method adds.

    .venv/bin/python benchmarks/import_formats.py --quick    # ~1 min
    .venv/bin/python benchmarks/import_formats.py            # ~0.5 GB sources, a few minutes
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

# run as a script, benchmarks/ is sys.path[0]; a benchmark module named like a package
# (a benchmark script named like a package) would shadow it, so import the project from the repository root
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import h5py, numpy as np
from data.dataset import Dataset, write_dataset
from data.formats import export_pdebench, import_file
from data.formats.common import parameter_space_of
from data.formats.pdebench import read_pdebench

method, case, src, out, chunk_mb = sys.argv[1:6]
t0 = time.perf_counter()
if method == "idle":
    pass
elif method == "rom" and case.startswith("import"):
    import_file(src, out, chunk_bytes=int(float(chunk_mb) * 2**20), overwrite=True)
elif method == "baseline" and case.startswith("import"):
    with read_pdebench(src) as plan:  # grid/times/names only; data read whole below
        with h5py.File(src, "r") as f:
            t = f["tensor"][()]
            if "nu" in f:
                inputs, outputs = {"nu": f["nu"][()]}, {"u": t[:, 0]}
            else:
                inputs, outputs = {"u0": t[:, 0]}, {"u": t}
        n = t.shape[0]
        p = plan.parameter_matrix()
        write_dataset(out, problem=plan.problem, config={"problem": plan.problem},
                      grid=plan.grid, times=plan.times, parameters=p,
                      parameter_space=parameter_space_of(plan.parameter_names, p),
                      sampler="imported", inputs=inputs, outputs=outputs, stats=None, seed=None)
elif method == "rom" and case == "export":
    export_pdebench(src, out, chunk_bytes=int(float(chunk_mb) * 2**20))
elif method == "baseline" and case == "export":
    with Dataset(src) as ds, h5py.File(out, "w") as f:
        f["nu"] = ds.inputs()["nu"].astype(np.float32)
        f["tensor"] = ds.outputs()["u"][:, None].astype(np.float32)
        for k, axis in enumerate(ds.grid.axes):
            f["xyz"[k] + "-coordinate"] = axis.astype(np.float32)
        f["t-coordinate"] = np.zeros(1, np.float32)
seconds = time.perf_counter() - t0
# VmHWM: peak RSS of this process image (ru_maxrss would keep the forking parent's peak)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
peak = int(hwm[0].split()[1]) / 1024 if hwm else \
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": peak}))
"""


def make_sources(root: Path, quick: bool) -> dict[str, Path]:
    """PDEBench-layout source files of the size chosen (float32, as published)."""
    rng = np.random.default_rng(0)
    n_darcy, s = (200, 128) if quick else (1000, 128)
    n_burg, nt, nx = (100, 101, 256) if quick else (400, 201, 512)
    darcy = root / "2D_DarcyFlow_beta1.0_Train.hdf5"
    with h5py.File(darcy, "w") as f:
        u = f.create_dataset("tensor", (n_darcy, 1, s, s), np.float32)
        nu = f.create_dataset("nu", (n_darcy, s, s), np.float32)
        for lo in range(0, n_darcy, 100):
            hi = min(n_darcy, lo + 100)
            nu[lo:hi] = rng.random((hi - lo, s, s), dtype=np.float32)
            u[lo:hi] = rng.random((hi - lo, 1, s, s), dtype=np.float32)
        f["x-coordinate"] = np.linspace(0, 1, s, dtype=np.float32)
        f["y-coordinate"] = np.linspace(0, 1, s, dtype=np.float32)
        f["t-coordinate"] = np.zeros(1, np.float32)
    burgers = root / "1D_Burgers_Sols_Nu0.01.hdf5"
    with h5py.File(burgers, "w") as f:
        u = f.create_dataset("tensor", (n_burg, nt, nx), np.float32)
        for lo in range(0, n_burg, 50):
            hi = min(n_burg, lo + 50)
            u[lo:hi] = rng.random((hi - lo, nt, nx), dtype=np.float32)
        f["x-coordinate"] = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
        f["t-coordinate"] = np.linspace(0, 2, nt + 1, dtype=np.float32)
    return {"import darcy": darcy, "import burgers": burgers}


def child(method: str, case: str, src: Path, out: Path, chunk_mb: float) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, method, case, str(src), str(out),
                          str(chunk_mb)], capture_output=True, text=True, check=False,
                         cwd=_HERE.parent)
    if res.returncode != 0:
        raise SystemExit(f"{method} {case} failed:\n{res.stderr}")
    out.unlink(missing_ok=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sources (~40 MB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk-mb", type=float, default=16.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sources = make_sources(root, args.quick)
        rom_darcy = root / "darcy_rom.h5"
        from data.formats import import_file

        import_file(sources["import darcy"], rom_darcy)
        sources["export"] = rom_darcy
        idle = statistics.median(child("idle", "import", rom_darcy, root / "x", 1)["rss_mb"]
                                 for _ in range(args.repeat))
        print("source sizes: " + ", ".join(f"{k}: {p.stat().st_size / 2**20:.0f} MiB"
                                            for k, p in sources.items()))
        print(f"idle interpreter RSS: {idle:.0f} MiB; chunk budget {args.chunk_mb} MiB; "
              f"repeat {args.repeat}")
        print(f"{'case':16s} {'rom s':>7s} {'base s':>7s} {'time ratio':>10s} "
              f"{'rom +MiB':>9s} {'base +MiB':>9s} {'memory ratio':>12s}")
        for case, src in sources.items():
            runs = {"rom": [], "baseline": []}
            for _ in range(args.repeat):
                for method in ("rom", "baseline"):
                    runs[method].append(child(method, case, src, root / "out.h5", args.chunk_mb))
            sec = {m: statistics.median(r["seconds"] for r in v) for m, v in runs.items()}
            mem = {m: statistics.median(r["rss_mb"] for r in v) - idle for m, v in runs.items()}
            print(f"{case:16s} {sec['rom']:7.2f} {sec['baseline']:7.2f} "
                  f"{sec['baseline'] / sec['rom']:9.2f}x {mem['rom']:9.0f} "
                  f"{mem['baseline']:9.0f} {mem['baseline'] / max(mem['rom'], 1):11.1f}x")
        print("(time ratio = baseline/rom, >1 means rom is faster; memory ratio = "
              "baseline/rom of the peak RSS each adds to the idle interpreter)")


if __name__ == "__main__":
    main()
