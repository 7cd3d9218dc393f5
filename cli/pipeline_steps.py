"""Steps of ``rom pipeline``: generate → train → evaluate → report, with up-to-date checks.

A pipeline config (YAML or TOML) names datasets, models, the evaluation
dataset and the report (see ``cli/examples/demo.yaml``). Each step is a ``rom``
command line. A step is *up to date* when its stamp file
``RUN/.pipeline/<step>.json`` records the same command line and the same
fingerprints (size, modification time) of its inputs, and its output exists;
such steps are skipped. A changed config or a regenerated input re-runs the
step and everything downstream. An interrupted ``generate`` step resumes from
its journal, because it is re-run with the same command line. Model kinds
are checked against the registry (:data:`data.model_kinds.MODEL_KINDS`) when
the plan is made, before any step runs.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from data.atomic import atomic_write_text
from data.model_kinds import MODEL_KINDS

DEMO_CONFIG = Path(__file__).parent / "examples" / "demo.yaml"


@dataclass(frozen=True)
class Step:
    name: str                  # e.g. "generate:train"
    args: tuple[str, ...]      # rom command line (without "rom")
    inputs: tuple[Path, ...]   # files/dirs whose change invalidates the step
    output: Path               # file or directory the step produces


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) pipeline config."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    text = path.read_text()
    try:
        cfg = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not a valid config ({' '.join(str(exc).split())})") from None
    if not isinstance(cfg, dict) or "datasets" not in cfg:
        raise ValueError(f"{path}: a pipeline config needs a 'datasets' section")
    return cfg


def _flags(options: dict[str, Any]) -> list[str]:
    """``{"max-basis": 30, "amp": True}`` → ``["--max-basis", "30", "--amp"]``."""
    out: list[str] = []
    for key, value in (options or {}).items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


def plan(cfg: dict[str, Any], run_dir: Path) -> list[Step]:
    """The ordered list of steps a config asks for."""
    steps: list[Step] = []
    data_paths: dict[str, Path] = {}
    for name, d in cfg["datasets"].items():
        for key in ("problem", "n", "resolution"):
            if key not in d:
                raise ValueError(f"dataset {name!r}: missing {key!r}")
        out = run_dir / "data" / f"{name}.h5"
        args = ["generate", str(d["problem"]), "-n", str(d["n"]),
                "--resolution", str(d["resolution"]), "--seed", str(d.get("seed", 0)),
                "--sampler", str(d.get("sampler", "random")), "--solver", str(d.get("solver", "direct")),
                "--quiet", "-o", str(out)]
        for k, v in (d.get("params") or {}).items():
            args += ["--param", f"{k}={v}"]
        for k, v in (d.get("solver_options") or {}).items():
            args += ["--solver-opt", f"{k}={v}"]
        steps.append(Step(f"generate:{name}", tuple(args), (), out))
        data_paths[name] = out
    eval_name = (cfg.get("evaluate") or {}).get("data")
    for name, m in (cfg.get("models") or {}).items():
        src = m.get("data")
        if src not in data_paths:
            raise ValueError(f"model {name!r}: unknown dataset {src!r}; valid: {sorted(data_paths)}")
        if "kind" not in m:
            raise ValueError(f"model {name!r}: missing 'kind'")
        if m["kind"] not in MODEL_KINDS:
            raise ValueError(f"model {name!r}: unknown kind {m['kind']!r}; "
                             f"valid: {', '.join(sorted(MODEL_KINDS))}")
        model_dir = run_dir / "models" / name
        args = ["train", str(m["kind"]), str(data_paths[src]), "-o", str(model_dir),
                *_flags(m.get("options", {}))]
        steps.append(Step(f"train:{name}", tuple(args), (data_paths[src],), model_dir))
        if eval_name is not None:
            if eval_name not in data_paths:
                raise ValueError(f"evaluate: unknown dataset {eval_name!r}")
            eval_dir = run_dir / "eval" / name
            args = ["evaluate", str(model_dir), str(data_paths[eval_name]), "-o", str(eval_dir)]
            steps.append(Step(f"evaluate:{name}", tuple(args),
                              (model_dir, data_paths[eval_name]), eval_dir / "metrics.json"))
    report = run_dir / (cfg.get("report") or {}).get("output", "report.html")
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
