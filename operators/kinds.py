"""The neural-operator model kinds ``fno``, ``lsm`` and ``scot`` (:class:`data.model_kinds.ModelKind`).

One class, :class:`OperatorKind`, serves the three architectures of
:mod:`operators.registry`; they differ only in the network. Its training
options are

* the shared ones: optimisation (:class:`~operators.trainer.TrainConfig`),
  data selection (fields, time pairs, split) and the run (``resume``,
  ``init``) of :func:`operators.training.train_operator`;
* one option per architecture keyword, generated from the class's
  ``ARCH_DEFAULTS`` (help from ``ARCH_HELP`` when it has one), so that
  ``rom train KIND --help`` shows each with its default; a list-valued keyword
  (or ``modes``) is given as numbers separated by commas (``12`` or ``12,8``);
* ``arch``: any architecture keyword as ``KEY=VALUE`` (VALUE read as JSON),
  which overrides the generated options.

Only architecture values that differ from the defaults are passed on (and
count as "architecture options" for the resume / fine-tuning checks).
Under ``torchrun`` (see :mod:`operators.ddp`) every process trains and only
rank 0 reports: :meth:`OperatorKind.train` returns ``None`` on the others.

Importing this module is cheap (torch is imported when a kind's options are
first read or a model is trained, loaded or evaluated).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from data.model_kinds import Option, option_values

#: :class:`~operators.trainer.TrainConfig` fields that are training options of every kind
CONFIG_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "scheduler", "step_size", "gamma",
               "grad_clip", "loss", "patience", "device", "amp", "compile", "data_on_device",
               "sync_every", "seed", "num_workers", "log_every")


def training_options() -> list[Option]:
    """The options shared by every operator kind (optimisation, data, run)."""
    from data.convergence import ALLOW_UNCONVERGED
    from data.torch_dataset import TIME_MODES

    from .losses import LOSSES
    from .trainer import AMP_MODES, COMPILE_MODES, SCHEDULERS

    return [
        Option("epochs", int, 100, "Total number of epochs."),
        Option("batch_size", int, 16, "Samples per step (per process)."),
        Option("lr", float, 1e-3, "AdamW learning rate."),
        Option("weight_decay", float, 1e-4, "AdamW weight decay."),
        Option("scheduler", SCHEDULERS, "cosine",
               "Learning-rate schedule (cosine per step, step per epoch)."),
        Option("step_size", int, 50, "Epochs between lr decays (step)."),
        Option("gamma", float, 0.5, "lr decay factor (step)."),
        Option("grad_clip", float, 1.0, "Max gradient norm (0: off)."),
        Option("loss", LOSSES, "l2", "Relative L2 or relative spectral H1 loss."),
        Option("patience", int, 0,
               "Early stopping after this many epochs without val improvement (0: off)."),
        Option("device", ("cpu", "cuda"), "cpu"),
        Option("amp", AMP_MODES, "none", "Mixed precision autocast (FFTs stay fp32)."),
        Option("compile", COMPILE_MODES, "none",
               "torch.compile the network (reduce-overhead: CUDA graphs on a GPU)."),
        Option("data_on_device", bool, False,
               "Keep the whole training set on the device (GPU) when it fits."),
        Option("sync_every", int, 0, "Steps between host reads of the loss (0: once per epoch)."),
        Option("seed", int, 0, "Seed of split, init and shuffling."),
        Option("val_fraction", float, 0.1, "Samples held out for validation."),
        Option("test_fraction", float, 0.1, "Samples held out for testing."),
        ALLOW_UNCONVERGED,
        Option("resume", bool, False, "Continue from MODEL/checkpoint/last.pt."),
        Option("init", Path, None,
               "Fine-tune from this model (input/output layers replaced if needed)."),
        Option("inputs", str, None, "Input fields, e.g. 'a' or 'a,b:0,1' (default: all)."),
        Option("outputs", str, None, "Output fields (default: all)."),
        Option("time_mode", TIME_MODES, "auto",
               "Pairs: steady, all2all (t_i -> t_j, j >= i) or window (k -> k)."),
        Option("steps_in", int, 1, "Window mode: input time steps."),
        Option("steps_out", int, 1, "Window mode: output time steps."),
        Option("time_steps", str, None,
               "Use only these stored time steps ('start:stop[:step]' or '0,2,4')."),
        Option("num_workers", int, 0, "DataLoader worker processes."),
        Option("log_every", int, 0,
               "One progress line every N epochs (train/val loss, lr, samples/s) instead "
               "of the bar or timed lines (0: off)."),
    ]


def _listed(key: str, default: Any) -> bool:
    """Whether architecture keyword ``key`` is given as comma-separated numbers."""
    return isinstance(default, (list, tuple)) or key == "modes"


def arch_options(kind: str) -> list[Option]:
    """One option per architecture keyword of ``kind``, from ``ARCH_DEFAULTS`` / ``ARCH_HELP``."""
    from .registry import arch_defaults, model_class

    helps = getattr(model_class(kind), "ARCH_HELP", {})
    options = []
    for key, value in arch_defaults(kind).items():
        text = helps.get(key, "Architecture option.")
        if _listed(key, value):
            shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            options.append(Option(key, str, shown, text))
        else:
            options.append(Option(key, type(value), value, text))
    return options


def parse_numbers(key: str, text: str, default: Any) -> Any:
    """``"4,3"`` -> ``[4, 3]`` (ints, else floats); one number stays a scalar when the
    default is one (``modes=4`` means 4 modes on every axis)."""
    items = [s for s in str(text).replace("[", "").replace("]", "").split(",") if s.strip()]
    try:
        values: list[Any] = [int(s) for s in items]
    except ValueError:
        try:
            values = [float(s) for s in items]
        except ValueError:
            raise ValueError(f"architecture option {key}: expected numbers separated by "
                             f"commas, got {text!r}") from None
    if isinstance(default, (int, float)) and not isinstance(default, bool) and len(values) == 1:
        return values[0]
    return values


def architecture(kind: str, values: Mapping[str, Any], pairs: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """The architecture keywords that differ from ``kind``'s defaults: the generated
    options in ``values`` (lists parsed), then the ``KEY=VALUE`` ``pairs`` over them."""
    from .registry import arch_defaults

    arch = {}
    for key, default in arch_defaults(kind).items():
        if key not in values:
            continue
        value = values[key]
        if _listed(key, default) and isinstance(value, str):
            value = parse_numbers(key, value, default)
        if value != default:
            arch[key] = value
    return {**arch, **pairs}


class OperatorKind:
    """A neural-operator kind: the registry's architecture ``name`` trained by
    :func:`operators.training.train_operator` (see the module docstring)."""

    family = "operator"

    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help

    @cached_property
    def options(self) -> Sequence[Option]:
        return [*training_options(), *arch_options(self.name),
                Option("arch", "pairs", None, "Any architecture keyword, VALUE as JSON.")]

    def train(self, data_path: str | Path, out_dir: str | Path, *,
              progress: Callable[[str], None] | None = None, **options: Any
              ) -> dict[str, Any] | None:
        """Train into ``out_dir``; returns ``{"model", "output", **summary}`` of
        :meth:`operators.trainer.Trainer.fit` (``None`` on a DDP process other than rank 0).
        Progress is a bar on stderr unless ``progress`` is ``None``."""
        from .ddp import cleanup, env_info
        from .trainer import TrainConfig
        from .training import train_operator

        v = option_values(self, options)
        arch = architecture(self.name, v, dict(v["arch"] or {}))
        config = TrainConfig(**{k: v[k] for k in CONFIG_KEYS}, quiet=progress is None)
        summary = train_operator(
            self.name, data_path, out_dir, arch=arch, config=config, inputs=v["inputs"],
            outputs=v["outputs"], time_mode=v["time_mode"], steps_in=v["steps_in"],
            steps_out=v["steps_out"], time_steps=v["time_steps"],
            val_fraction=v["val_fraction"], test_fraction=v["test_fraction"],
            resume=v["resume"], init=v["init"], exclude_unconverged=v["allow_unconverged"])
        cleanup()
        if not env_info().is_main:
            return None
        return {"model": self.name, "output": str(out_dir), **summary}

    def load(self, model_dir: str | Path, device: str = "cpu") -> Any:
        """The trained :class:`~operators.normalization.NormalizedOperator` (eval mode)."""
        from .training import load_model

        return load_model(model_dir, device)[0]

    def evaluate(self, model_dir: str | Path, data_path: str | Path, **settings: Any
                 ) -> dict[str, Any]:
        """:func:`operators.evaluation.evaluate` (settings ``out_dir``, ``resolution``,
        ``batch_size``, ``device``; ``progress``: show progress on stderr when given)."""
        from .evaluation import evaluate

        progress = settings.pop("progress", None)  # a callback or flag: progress on stderr
        return evaluate(model_dir, data_path, progress=progress not in (None, False), **settings)

    def describe(self, model_dir: str | Path) -> dict[str, Any]:
        """Architecture, sizes, data selection and training summary for ``rom info MODEL``."""
        from .registry import count_parameters
        from .training import load_model

        wrapper, meta = load_model(model_dir)
        model = wrapper.model
        blocks = {name: count_parameters(child) for name, child in model.named_children()}
        data = meta["data"]
        return {"kind": meta["kind"], "class": type(model).__name__, "arch": meta["arch"],
                "in_channels": meta["in_channels"], "out_channels": meta["out_channels"],
                "ndim": meta["ndim"], "parameters": count_parameters(model), "blocks": blocks,
                "inputs": data["inputs"], "outputs": data["outputs"],
                "time_mode": data["time_mode"], "time_channel": meta["time_channel"],
                "grid_shape": data.get("grid_shape"),
                "split": {k: len(v) for k, v in meta["split"].items()},
                "dataset": meta.get("dataset"), "training": meta.get("training"),
                "result": meta.get("result"), "created": meta.get("created")}

    def summary(self, meta: dict[str, Any]) -> str:
        """``fno: 100 epochs (completed), best val rel. L2 0.012, 35.2 s``."""
        best = meta["best_val_rel_l2"]
        return (f"{self.name}: {meta['epochs']} epochs ({meta['stopped']}), best val rel. L2 "
                f"{'n/a' if best is None else f'{best:.4g}'}, {meta['seconds']:.1f} s")


FNO = OperatorKind("fno", "Train a Fourier neural operator (Li et al. 2021) on DATA.h5.")
LSM = OperatorKind("lsm", "Train a latent spectral model (Wu et al. 2023) on DATA.h5.")
SCOT = OperatorKind("scot",
                    "Train a Poseidon-style scalable operator transformer (scOT) on DATA.h5.")
