"""The model-kind contract and the registry of kinds.

A *model kind* (``pod``, ``rb``, ``eim``, ``fno``, ...) turns a dataset into a
trained model directory (``model.json`` + tensors/weights, see
:mod:`data.model_dir`) and serves it. Every kind implements :class:`ModelKind`:

* ``train(data_path, out_dir, *, progress, **options) -> meta`` writes the
  model directory and returns its ``model.json`` record or training summary
  (``None`` on a process that does not report: a DDP rank other than 0); ``options`` are the
  names of :attr:`ModelKind.options` (declared as data, so the command line
  builds ``rom train KIND`` from them and checks them at parse time);
* ``load(model_dir, device) -> model`` rebuilds the online model;
* ``evaluate(model_dir, data_path, *, out_dir, resolution, batch_size, device,
  progress) -> metrics`` compares the model with a dataset's truth solutions: at least
  :func:`data.metrics.evaluation_record`'s keys and ``on_training_data``
  (whether the samples scored are ones the model was fitted to, see
  :mod:`data.evaluation`; ``precond`` does not report it yet); NaN or infinite
  data are a one-line error naming the field and sample; with ``out_dir`` it
  also writes ``metrics.json``, ``predictions.h5`` and figures there; ``progress``
  given (a line callback, or ``True``) shows progress over the samples on stderr
  (:class:`data.progress.Progress`: a bar on a terminal, periodic lines when piped),
  ``None`` is silent (a kind written before this keyword is called without it);
* ``describe(model_dir) -> dict`` sizes and settings for ``rom info MODEL``;
* ``summary(meta) -> str`` one line for ``rom train``'s closing message.

From Python, train through :func:`train_model` (it refuses an output directory
holding another model or foreign files, like ``rom train``); a kind's own
``train`` does not check its output directory.

The registry maps a kind's name to ``"module:attribute"`` of an object that
implements the contract, imported on first use (so ``rom --help`` stays fast
and the data layer never imports the model packages at import time). Adding a
kind means writing its module and adding one line to :data:`MODEL_KINDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: kind -> "module:attribute" of its :class:`ModelKind` implementation.
MODEL_KINDS: dict[str, str] = {
    "pod": "rom.kinds.pod:KIND",
    "rb": "rom.kinds.rb:KIND",
    "eim": "rom.kinds.eim:KIND",
    "galerkin": "rom.kinds.galerkin:KIND",
    "opinf": "rom.kinds.opinf:KIND",
    "local": "rom.kinds.local:KIND",
    "fno": "operators.kinds:FNO",
    "lsm": "operators.kinds:LSM",
    "scot": "operators.kinds:SCOT",
    "precond": "operators.precond.kind:KIND",
}

#: how reports group kinds (``family`` of a kind)
FAMILIES = ("rom", "operator", "precond")


@dataclass(frozen=True)
class Option:
    """One training option of a kind, declared as data.

    ``type`` is ``bool`` (a flag, or ``--x/--no-x`` when the default is true),
    ``int``, ``float``, ``str``, ``Path`` (a directory), ``"pairs"`` (a
    repeatable ``KEY=VALUE``, VALUE read as JSON) or a tuple of choices.
    ``minimum`` bounds an ``int``/``float`` from below; ``maximum`` from above;
    ``min_open``/``max_open`` exclude the bound itself.
    ``flag`` overrides the command-line spelling (default ``--name-with-dashes``).
    """

    name: str
    type: Any
    default: Any = None
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    max_open: bool = False
    flag: str | None = None
    required: bool = False

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


@runtime_checkable
class ModelKind(Protocol):
    """What every model kind provides (see the module docstring)."""

    name: str
    family: str
    help: str
    options: Sequence[Option]

    def train(self, data_path: str | Path, out_dir: str | Path, *,
              progress: Callable[[str], None] | None = None, **options: Any
              ) -> dict[str, Any] | None:
        ...

    def load(self, model_dir: str | Path, device: str = "cpu") -> Any:
        ...

    def evaluate(self, model_dir: str | Path, data_path: str | Path, *,
                 out_dir: str | Path | None = None, resolution: int | None = None,
                 batch_size: int | None = None, device: str = "cpu",
                 progress: Callable[[str], None] | bool | None = None) -> dict[str, Any]:
        ...

    def describe(self, model_dir: str | Path) -> dict[str, Any]:
        ...

    def summary(self, meta: dict[str, Any]) -> str:
        ...


def option_values(kind: ModelKind, options: dict[str, Any]) -> dict[str, Any]:
    """Every declared training option of ``kind``: ``options`` over the declared defaults
    (for a ``train`` called from Python with only some options); an undeclared name is an
    error listing the valid ones."""
    declared = {o.name: o.default for o in kind.options}
    unknown = sorted(set(options) - set(declared))
    if unknown:
        raise ValueError(f"unknown {kind.name} training option(s) {unknown}; "
                         f"valid: {', '.join(sorted(declared))}")
    return {**declared, **options}


def train_model(kind_name: str, data_path: str | Path, out_dir: str | Path, *,
                overwrite: bool = False, resume: bool = False,
                progress: Callable[[str], None] | None = None, **options: Any
                ) -> dict[str, Any] | None:
    """Train a model of ``kind_name`` on ``data_path`` into ``out_dir``: the Python entry
    point, with the checks ``rom train`` makes.

    The dataset must exist; the output directory must be new or empty, or (``resume``,
    for kinds that declare it) a run of the same kind; anything else raises
    :class:`data.model_dir.OutputInUse` before training starts unless ``overwrite``
    replaces it (:func:`data.model_dir.prepare_model_dir`). ``options`` are the kind's
    declared training options (an undeclared name is an error listing the valid ones).
    Returns what the kind's ``train`` returns; a run that fails before writing anything
    removes the output directory it created.
    """
    from data.model_dir import prepare_model_dir

    kind = model_kind(kind_name)
    declared = {o.name for o in kind.options}
    option_values(kind, options)  # unknown names fail before anything is written
    if resume and "resume" not in declared:
        raise ValueError(f"a {kind.name} training run cannot be resumed")
    if not Path(data_path).exists():
        raise FileNotFoundError(f"{data_path}: no such file")
    created = not Path(out_dir).exists()
    prepare_model_dir(out_dir, kind.name, overwrite=overwrite, resume=resume)
    if "resume" in declared:
        options["resume"] = resume
    try:
        return kind.train(data_path, out_dir, progress=progress, **options)
    except BaseException:
        if created and Path(out_dir).is_dir() and not any(Path(out_dir).iterdir()):
            Path(out_dir).rmdir()   # a failed run leaves no empty model directory behind
        raise


def model_kind(name: str) -> ModelKind:
    """The implementation of kind ``name``; an unknown name lists the valid ones."""
    if name not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {name!r}; valid: {', '.join(sorted(MODEL_KINDS))}")
    module, _, attr = MODEL_KINDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def kind_of(model_dir: str | Path) -> tuple[dict[str, Any], ModelKind]:
    """``model.json`` of a model directory and the implementation of its kind."""
    from data.model_dir import read_model_meta

    meta = read_model_meta(model_dir)
    kind = meta.get("kind")
    if kind not in MODEL_KINDS:
        raise ValueError(f"{model_dir}: unknown model kind {kind!r}; "
                         f"valid: {', '.join(sorted(MODEL_KINDS))}")
    return meta, model_kind(kind)
