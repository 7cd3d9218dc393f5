"""The ``rom pipeline`` config: reading it and checking it against its schema.

A config (YAML or TOML) has four sections; only ``datasets`` is required::

    datasets: {NAME: {problem, n, resolution, seed, sampler, solver, params,
                      solver_options}}
    models:   {NAME: {kind, data, options}}
    evaluate: {data}
    report:   {output}

The whole config is checked before any step runs (:func:`validate_config`):
an unknown key is an error naming the nearest valid key (``difflib``); a
missing required key or a value of the wrong type is an error naming where
it is; problems, samplers, solvers, model kinds and the datasets a model or
the evaluation refers to must exist, and so must each problem option
(``params``), solver option (``solver_options``) and training option of the
model's kind (``options``, spelt with ``-`` or ``_``). Dataset and model names
become file names inside the run directory, so they must be plain names
(letters, digits, ``_``, ``-``, ``.``; no path), and ``report.output`` must be
a relative path that stays inside the run directory. The values of the
options are checked by the commands' own parsers when the plan is made
(``cli/pipeline.py``), also before anything runs.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from data.model_kinds import MODEL_KINDS, model_kind
from solvers.linear import SOLVERS, solver_options
from solvers.problems import PROBLEMS, problem_class
from solvers.problems.sampling import SAMPLERS


@dataclass(frozen=True)
class Key:
    """One key of a section: accepted Python types, whether required, its default."""

    types: tuple[type, ...]
    required: bool = False
    default: Any = None


_MAPPING = (dict,)
SECTIONS: dict[str, Key] = {
    "datasets": Key(_MAPPING, required=True),
    "models": Key(_MAPPING, default={}),
    "evaluate": Key(_MAPPING, default=None),
    "report": Key(_MAPPING, default={}),
}
DATASET: dict[str, Key] = {
    "problem": Key((str,), required=True),
    "n": Key((int,), required=True),
    "resolution": Key((int,), required=True),
    "seed": Key((int,), default=0),
    "sampler": Key((str,), default="random"),
    "solver": Key((str,), default="direct"),
    "params": Key(_MAPPING, default={}),
    "solver_options": Key(_MAPPING, default={}),
}
MODEL: dict[str, Key] = {
    "kind": Key((str,), required=True),
    "data": Key((str,), required=True),
    "options": Key(_MAPPING, default={}),
}
EVALUATE: dict[str, Key] = {"data": Key((str,), required=True)}
REPORT: dict[str, Key] = {"output": Key((str,), default="report.html")}

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_TYPE_NAMES = {dict: "a mapping", str: "a string", int: "an integer"}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) pipeline config and check it
    (:func:`validate_config`); errors start with the file name."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    text = path.read_text()
    try:
        cfg = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not a valid config ({' '.join(str(exc).split())})") from None
    try:
        return validate_config(cfg)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def validate_config(cfg: Any) -> dict[str, Any]:
    """The config with defaults filled in, names as strings and option names as declared
    (``_``); a ``ValueError`` saying where and what is wrong otherwise."""
    if not isinstance(cfg, dict) or "datasets" not in cfg:
        raise ValueError("a pipeline config needs a 'datasets' section")
    top = _section(cfg, SECTIONS, "")
    datasets = {_name(name, "dataset"): _dataset(_name(name, "dataset"), d)
                for name, d in top["datasets"].items()}
    if not datasets:
        raise ValueError("'datasets' is empty: a pipeline needs at least one dataset")
    models = {_name(name, "model"): _model(_name(name, "model"), m, datasets)
              for name, m in (top["models"] or {}).items()}
    evaluate = None
    if top["evaluate"] is not None:
        evaluate = _section(top["evaluate"], EVALUATE, "evaluate")
        _refers(evaluate["data"], datasets, "evaluate")
    report = _section(top["report"] or {}, REPORT, "report")
    _inside_run_dir(report["output"])
    return {"datasets": datasets, "models": models, "evaluate": evaluate, "report": report}


def _section(d: Any, schema: dict[str, Key], where: str) -> dict[str, Any]:
    """``d`` checked against ``schema``: keys known, required ones present, types right."""
    if not isinstance(d, dict):
        raise ValueError(f"{_at(where)}expected a mapping of keys to values, got {d!r}")
    _known(d, schema, where, "key")
    out = {}
    for key, spec in schema.items():
        if key not in d or (d[key] is None and not spec.required):
            if spec.required:
                raise ValueError(f"{_at(where)}missing {key!r}")
            out[key] = spec.default
            continue
        value = d[key]
        if isinstance(value, bool) or not isinstance(value, spec.types):
            raise ValueError(f"{_at(where)}{key!r} must be {_TYPE_NAMES[spec.types[0]]}, "
                             f"got {value!r}")
        out[key] = value
    return out


def _known(d: dict, valid: Any, where: str, what: str,
           spell: Callable[[str], str] = str) -> None:
    """Every key of ``d`` (spelt by ``spell``) is in ``valid``; else the nearest one."""
    valid = sorted(valid)
    for key in d:
        name = spell(str(key))
        if name not in valid:
            near = difflib.get_close_matches(name, valid, n=1)
            if near and "-" in str(key):
                near[0] = near[0].replace("_", "-")
            listed = ", ".join(valid) or "none"
            hint = f"did you mean {near[0]!r}? (valid: {listed})" if near else f"valid: {listed}"
            raise ValueError(f"{_at(where)}unknown {what} {str(key)!r}; {hint}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _choice(value: str, valid: Any, where: str, what: str) -> None:
    if value not in valid:
        _known({value: None}, valid, where, what)


def _name(name: Any, what: str) -> str:
    """A dataset or model name: a plain file name, so its files stay in the run directory."""
    name = str(name)
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} name {name!r} must be a plain name (letters, digits, '_', "
                         "'-', '.', not starting with '.'): it names files inside the run "
                         "directory")
    return name


def _refers(data: str, datasets: dict[str, Any], where: str) -> None:
    if data not in datasets:
        raise ValueError(f"{where}: unknown dataset {data!r}; valid: {sorted(datasets)}")


def _inside_run_dir(output: str) -> None:
    p = PurePosixPath(output.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts or Path(output).is_absolute():
        raise ValueError(f"report: output {output!r} must be a relative path inside the run "
                         "directory")


def _dataset(name: str, d: Any) -> dict[str, Any]:
    where = f"dataset {name!r}"
    d = _section(d, DATASET, where)
    _choice(d["problem"], PROBLEMS, where, "problem")
    _choice(d["sampler"], SAMPLERS, where, "sampler")
    _choice(d["solver"], SOLVERS, where, "solver")
    cls = problem_class(d["problem"])
    if d["n"] < 1:
        raise ValueError(f"{where}: 'n' (number of samples) must be positive, got {d['n']}")
    if d["resolution"] < cls.min_resolution:
        raise ValueError(f"{where}: 'resolution' {d['resolution']} is below the least "
                         f"resolution of {d['problem']} ({cls.min_resolution})")
    _known(d["params"], cls.defaults, f"{where} params", f"{d['problem']} option")
    _known(d["solver_options"], solver_options(d["solver"]), f"{where} solver_options",
           f"{d['solver']} solver option")
    return d


def _model(name: str, m: Any, datasets: dict[str, Any]) -> dict[str, Any]:
    where = f"model {name!r}"
    m = _section(m, MODEL, where)
    if m["kind"] not in MODEL_KINDS:
        raise ValueError(f"{where}: unknown kind {m['kind']!r}; "
                         f"valid: {', '.join(sorted(MODEL_KINDS))}")
    _refers(m["data"], datasets, where)
    declared = {o.name for o in model_kind(m["kind"]).options}

    def spell(key: str) -> str:
        return key.replace("-", "_")
    _known(m["options"], declared, f"{where} options", f"{m['kind']} option", spell)
    m["options"] = {spell(str(k)): v for k, v in m["options"].items()}
    return m
