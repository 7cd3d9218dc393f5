"""The report of ``benchmarks/operators_burgers.py``: one Markdown section per run (JSON)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path

#: FNO paper (Li et al., ICLR 2021, arXiv:2010.08895) Table 1, FNO row, relative L2 test error
PAPER = {256: 0.0149, 512: 0.0158, 1024: 0.0160, 2048: 0.0146, 4096: 0.0142, 8192: 0.0139}
#: the paper's solve resolution
FULL_N = 8192


def fmt(v: float | None, spec: str = ".4f") -> str:
    return "-" if v is None else format(v, spec)


def data_time(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 1 else "the file of an earlier run reused"


def render(result: dict, args: argparse.Namespace) -> list[str]:
    """The Markdown section of one run."""
    s = result["setting"]
    lines = [f"## s = {', '.join(map(str, args.resolutions))}: {args.epochs} epochs", "",
             f"Command: `{s['command']}`  ", f"Machine: {s['machine']}; torch {s['torch']}, "
             f"neuraloperator {s['neuraloperator']}; torch threads {args.threads} for both  ",
             f"Load average before / after: {s['load_before']} / {s['load_after']} "
             "(2 cores shared with other jobs)  ",
             f"Run: {args.epochs} epochs per resolution, lr halved every "
             f"{max(1, args.epochs // 5)} epochs (the paper: 500 / 100), {args.n_train} train / "
             f"{args.n_test} test samples, batch {args.batch_size}; one process, the two libraries "
             "interleaved epoch by epoch (module docstring of benchmarks/operators_burgers.py).", ""]
    c = result["solver_check"]
    lines += [f"Data: `rom generate burgers` at {c['nodes']} nodes (cfl {c['stored_cfl']}), "
              f"{data_time(result['data_seconds'])}; stored u(T) vs a solve at "
              f"{c['reference_nodes']} "
              f"nodes, cfl {c['reference_cfl']} ({c['samples']} samples): max relative L2 "
              f"{c['max_rel_l2']:.2e}." + ("" if c["nodes"] == FULL_N else
              f" Deviation: solved at {c['nodes']} nodes, not the paper's {FULL_N} (the cost "
              f"of the solve grows as N²; the s ≤ {c['nodes']} subsamples are the same "
              "functions to the solver's accuracy)."), ""]
    lines += ["| s | library | parameters | test rel. L2 | mean of the last 10 epochs | paper "
              "(FNO) | train wall s | samples/s | time to target s | target |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s_, run in result["runs"].items():
        for name, side in run["sides"].items():
            lines.append(f"| {s_} | {name} | {run['parameters'].get(name, '-')} | "
                         f"{side['test_rel_l2']:.4f} | {fmt(side.get('test_rel_l2_last10'))} | "
                         f"{fmt(PAPER.get(int(s_)))} | "
                         f"{side['train_seconds']:.0f} | {side['samples_per_s']:.0f} | "
                         f"{fmt(side.get('time_to_accuracy_s'), '.0f')} | "
                         f"{fmt(run.get('target'))} |")
        if "tta_ratio_neuralop_over_rom" in run:
            lines.append(f"| {s_} | ratio neuraloperator / rom | | | | | "
                         f"{run['sides']['neuraloperator']['train_seconds'] / run['sides']['rom']['train_seconds']:.2f}"
                         f" | | {run['tta_ratio_neuralop_over_rom']:.2f} | |")
    for s_, run in result["runs"].items():
        if "tta_ratio_neuralop_over_rom" in run:
            r, n = run["sides"]["rom"]["test_rel_l2"], run["sides"]["neuraloperator"]["test_rel_l2"]
            p = PAPER.get(int(s_))
            lines.append(f"\nTargets at s = {s_}: error ≤ the paper's: "
                         f"{'yes' if p and r <= p else 'no'}; error ≤ neuraloperator's: "
                         f"{'yes' if r <= n else 'no'} (rom / neuraloperator {r / n:.2f}); "
                         f"time-to-accuracy ≥ 1.5× faster: "
                         f"{'yes' if run['tta_ratio_neuralop_over_rom'] >= 1.5 else 'no'} "
                         f"({run['tta_ratio_neuralop_over_rom']:.2f}×).")
    lines += ["", "Paper: Li et al., *Fourier Neural Operator for Parametric PDEs*, ICLR 2021 "
              "(arXiv:2010.08895), Table 1, FNO row (0.0160 at s = 1024 is also quoted in "
              "neuraloperator issue #30, where the paper's own code reaches ~0.0025 at 500 "
              "epochs).", ""]
    if result.get("zero_shot"):
        first = args.resolutions[0]
        lines += [f"### Zero-shot super-resolution (trained at s = {first}, test rel. L2)", "",
                  "| eval resolution | rom (`rom evaluate --resolution`) | neuraloperator |",
                  "|---:|---:|---:|"]
        if result.get("zero_shot_data"):
            lines[-2:-2] = [result["zero_shot_data"], ""]
        for row in result["zero_shot"]:
            lines.append(f"| {row['resolution']} | {row['rom']:.4f} | "
                         f"{fmt(row.get('neuraloperator'))} |")
    return lines + [""]


def write_report(results: list[dict], path: Path,
                 parse_args: Callable[[list[str]], argparse.Namespace]) -> None:
    """One file of the runs' sections (each result carries its command line, parsed back
    by the benchmark's ``parse_args``)."""
    lines = ["# FNO-1D Burgers: the FNO paper's protocol, rom vs neuraloperator (CPU)", ""]
    for result in results:
        argv = shlex.split(result["setting"]["command"])[2:]
        lines += render(result, parse_args(argv))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}", flush=True)
