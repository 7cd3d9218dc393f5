"""Output functionals of certified RB: the plain output bound against the primal-dual correction.

For each problem a test dataset is generated (``rom generate``), then for each
basis size N two ``rb`` models are trained through the library entry point
``rom train rb`` runs (:func:`data.model_kinds.train_model`), on the same
training set and greedy: ``--output-correction none`` and ``primal-dual`` (the
dual problem ``A(mu)^T psi = -l`` reduced by its own greedy, ``M = N``). Both
are evaluated by ``rom evaluate``'s record on the same test parameters
(truth: LU with extended-precision refinement):

* plain output ``s_N = l^T V c`` with ``|s - s_N| <= ||l||_{X'} Delta``;
* corrected ``s~_N = s_N - (W d)^T r_pr`` with
  ``|s - s~_N| <= ||r_pr||_{X'} ||r_du||_{X'} / alpha_LB``.

Reported: max absolute output error and bound of both, violations, the
effectivity range, offline seconds (primal only / primal + dual) and the online
seconds per parameter of the corrected output (two reduced solves, two residual
norms and the correction) against the plain one.

Problems: ``thermal_block`` (symmetric) with the mean over the lower-left
quarter, a non-compliant output (the whole-grid mean with a constant source is
compliant-like and needs no correction), and ``advection_diffusion``
(non-symmetric: ``A^T`` is the opposite wind) with the whole-grid mean.

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rom_outputs.py [--quick]``
(writes ``benchmarks/results/rom_outputs.md``; ``--quick``: ``rom_outputs_quick.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import platform
import subprocess
import tempfile
import time

from data.model_kinds import model_kind, train_model

ROOT = Path(__file__).resolve().parents[1]
ROM = str(ROOT / ".venv" / "bin" / "rom")


def generate(problem: str, n: int, res: int, params: list[str], out: Path) -> None:
    cmd = [ROM, "generate", problem, "-n", str(n), "--resolution", str(res), "--seed", "3",
           "-o", str(out), "--quiet"] + [a for p in params for a in ("--param", p)]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def run_case(data: Path, tmp: Path, N: int, functional: str, train_size: int) -> dict:
    kind = model_kind("rb")
    out = {}
    for corr in ("none", "primal-dual"):
        d = tmp / f"{data.stem}_{N}_{corr}"
        meta = train_model("rb", data, d, overwrite=True, max_basis=N, tol=1e-10,
                           train_size=train_size, functional=functional,
                           output_correction=corr)
        rec = kind.evaluate(d, data)
        out[corr] = {"offline": meta["train"]["offline_seconds"], "N": meta["N"],
                     "output": rec["output"], "single_s": rec["online"]["single_s"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    q = a.quick
    cases = [("thermal_block", 33 if q else 101, [], "mean:0:0.5,0:0.5", (5, 10) if q else
              (5, 10, 20, 30)),
             ("advection_diffusion", 25 if q else 51, ["eps_min=0.05"], "mean",
              (5, 10) if q else (10, 20, 40, 60))]
    n_test, train_size = (10, 100) if q else (100, 500)
    load0 = os.getloadavg()
    lines = ["# Output functionals: plain bound vs primal-dual correction", "",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rom_outputs.py"
             f"{' --quick' if q else ''}`  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, one BLAS thread; load average before "
             f"{' '.join(f'{x:.2f}' for x in load0)}.", "",
             f"Each row: two `rom train rb` models on the same {train_size} LHS training "
             "parameters (weak greedy to N, stable estimator), `--output-correction none` and "
             f"`primal-dual` (dual basis M = N), evaluated on {n_test} test parameters. "
             "Errors and bounds are absolute, in the output's units; effectivity = bound / "
             "error. Online: seconds per parameter, one parameter per call (plain: the "
             "reduced solve and its bound; corrected: both solves, both residual norms and "
             "the correction).", ""]
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for prob, res, params, functional, Ns in cases:
            data = tmp / f"{prob}.h5"
            generate(prob, n_test, res, params, data)
            lines += [f"## {prob} at resolution {res} {' '.join(params)}, output "
                      f"`{functional}`", "",
                      "| N | plain max error | plain max bound | plain eff. | corrected max "
                      "error | corrected max bound | corrected eff. | violations | offline s "
                      "(plain / +dual) | online us (plain / corrected) |",
                      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for N in Ns:
                t0 = time.perf_counter()
                r = run_case(data, tmp, N, functional, train_size)
                o, c = r["none"]["output"], r["primal-dual"]["output"]["primal_dual"]
                viol = o["violations"] + c["violations"]
                lines.append(
                    f"| {r['none']['N']} | {o['max_abs_error']:.2e} | {o['max_bound']:.2e} | "
                    f"{o['min_effectivity']:.3g}-{o['max_effectivity']:.3g} | "
                    f"{c['max_abs_error']:.2e} | {c['max_bound']:.2e} | "
                    f"{c['min_effectivity']:.3g}-{c['max_effectivity']:.3g} | {viol} | "
                    f"{r['none']['offline']:.1f} / {r['primal-dual']['offline']:.1f} | "
                    f"{1e6 * r['none']['single_s']:.0f} / {1e6 * c['single_s']:.0f} |")
                print(f"{prob} N={N} done in {time.perf_counter() - t0:.0f} s", flush=True)
            lines.append("")
    lines += [f"Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.", ""]
    out = ROOT / "benchmarks" / "results" / ("rom_outputs_quick.md" if q else "rom_outputs.md")
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
