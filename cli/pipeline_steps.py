"""Steps of ``rom pipeline``: generate → train → evaluate → report, with up-to-date checks.

A pipeline config (YAML or TOML) names datasets, models, the evaluation
dataset and the report (see ``cli/examples/demo.yaml``). Each step is a ``rom``
command line. A step is *up to date* when its stamp file
``RUN/.pipeline/<step>.json`` records the same command line and the same
fingerprints (size, modification time) of its inputs, and its output exists;
such steps are skipped. A changed config or a regenerated input re-runs the
step and everything downstream. An interrupted ``generate`` step resumes from
its journal, because it is re-run with the same command line. The config is
checked against its schema (:mod:`cli.pipeline_config`: keys, names, problems,
solvers, model kinds and their options) when the plan is made, before any
step runs.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.atomic import atomic_write_text
from data.model_kinds import model_kind

from .pipeline_config import validate_config

DEMO_CONFIG = Path(__file__).parent / "examples" / "demo.yaml"


@dataclass(frozen=True)
class Step:
    name: str                  # e.g. "generate:train"
    args: tuple[str, ...]      # rom command line (without "rom")
    inputs: tuple[Path, ...]   # files/dirs whose change invalidates the step
    output: Path               # file or directory the step produces


def _flags(kind: str, options: dict[str, Any]) -> list[str]:
    """Command-line flags of a kind's training options (names as declared, see
    :class:`data.model_kinds.Option`): ``{"max_basis": 30}`` -> ``["--max-basis", "30"]``;
    a flag option is given when true, ``--no-X`` turns off one that defaults to true; a list
    is joined by commas; a
    ``pairs`` option takes a mapping (values as JSON)."""
    declared = {o.name: o for o in model_kind(kind).options}
    out: list[str] = []
    for name, value in options.items():
        opt = declared[name]
        if value is None:
            continue
        if opt.type is bool:
            if value or opt.default:
                out.append(opt.cli_flag if value else "--no-" + opt.cli_flag[2:])
        elif opt.type == "pairs":
            for k, v in (value.items() if isinstance(value, dict) else []):
                out += [opt.cli_flag, f"{k}={json.dumps(v)}"]
        elif isinstance(value, (list, tuple)):
            out += [opt.cli_flag, ",".join(str(v) for v in value)]
        else:
            out += [opt.cli_flag, str(value)]
    return out


def plan(cfg: dict[str, Any], run_dir: Path) -> list[Step]:
    """The ordered list of steps a config asks for (checked first: :func:`validate_config`)."""
    cfg = validate_config(cfg)
    steps: list[Step] = []
    data_paths: dict[str, Path] = {}
    for name, d in cfg["datasets"].items():
        out = run_dir / "data" / f"{name}.h5"
        args = ["generate", d["problem"], "-n", str(d["n"]), "--resolution", str(d["resolution"]),
                "--seed", str(d["seed"]), "--sampler", d["sampler"], "--solver", d["solver"],
                "--quiet", "-o", str(out)]
        for k, v in d["params"].items():
            args += ["--param", f"{k}={v}"]
        for k, v in d["solver_options"].items():
            args += ["--solver-opt", f"{k}={v}"]
        steps.append(Step(f"generate:{name}", tuple(args), (), out))
        data_paths[name] = out
    evaluate = cfg["evaluate"]
    for name, m in cfg["models"].items():
        model_dir = run_dir / "models" / name
        args = ["train", m["kind"], str(data_paths[m["data"]]), "-o", str(model_dir),
                *_flags(m["kind"], m["options"])]
        steps.append(Step(f"train:{name}", tuple(args), (data_paths[m["data"]],), model_dir))
        if evaluate is not None:
            test = data_paths[evaluate["data"]]
            eval_dir = run_dir / "eval" / name
            args = ["evaluate", str(model_dir), str(test), "-o", str(eval_dir)]
            steps.append(Step(f"evaluate:{name}", tuple(args), (model_dir, test),
                              eval_dir / "metrics.json"))
    report = run_dir / cfg["report"]["output"]
    upstream = tuple(s.output for s in steps)
    steps.append(Step("report", ("report", str(run_dir), "-o", str(report)), upstream, report))
    return steps


def fingerprint(path: Path) -> list[Any]:
    """(relative name, size, mtime_ns) of a file, or of every file below a directory."""
    if path.is_file():
        st = path.stat()
        return [[path.name, st.st_size, st.st_mtime_ns]]
    if path.is_dir():
        return [[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns]
                for p in sorted(path.rglob("*")) if p.is_file()]
    return []


def _stamp_path(run_dir: Path, step: Step) -> Path:
    return run_dir / ".pipeline" / (step.name.replace(":", "__") + ".json")


def _record(step: Step) -> dict[str, Any]:
    return {"args": list(step.args), "inputs": {str(p): fingerprint(p) for p in step.inputs}}


def is_up_to_date(run_dir: Path, step: Step) -> bool:
    stamp = _stamp_path(run_dir, step)
    if not stamp.is_file() or not step.output.exists():
        return False
    try:
        return json.loads(stamp.read_text()) == _record(step)
    except json.JSONDecodeError:
        return False


def previous_args(run_dir: Path, step: Step) -> list[str] | None:
    stamp = _stamp_path(run_dir, step)
    try:
        return json.loads(stamp.read_text())["args"]
    except (OSError, json.JSONDecodeError, KeyError):
        return None


def prepare(run_dir: Path, step: Step) -> list[str]:
    """Command line to run a step that is not up to date, clearing stale outputs.

    ``generate`` keeps a half-written run (its journal resumes it) unless the
    command changed; a complete stale file is overwritten.
    """
    args = list(step.args)
    changed = previous_args(run_dir, step) not in (None, args)
    if step.name.startswith("generate:"):
        if changed or _complete(step.output):
            args.append("--overwrite")
    elif step.name.startswith("train:") and step.output.exists():
        shutil.rmtree(step.output)
    return args


def _complete(path: Path) -> bool:
    """Whether ``path`` is a finished rom dataset (an unfinished one is resumed instead)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("complete", False))
    except OSError:
        return False


def mark_done(run_dir: Path, step: Step) -> None:
    stamp = _stamp_path(run_dir, step)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stamp, json.dumps(_record(step), indent=1))
