"""``rom train fno|lsm|scot DATA.h5 -o MODEL``: train a neural operator on a dataset.

Every command shares the data, optimisation and checkpoint options; the
architecture options are generated from the model class's ``ARCH_DEFAULTS``
(so ``--help`` shows each with its default). ``--arch KEY=VALUE`` sets any
architecture keyword as JSON (e.g. ``--arch depths=[2,2,2]``).
Under ``torchrun --nproc_per_node P`` the same command trains with DDP.
"""

from __future__ import annotations

import json
from typing import Any

import click

from operators.trainer import AMP_MODES, COMPILE_MODES, SCHEDULERS, TrainConfig

TIME_MODES = ("auto", "steady", "all2all", "window")


def _common_options(f):
    opts = [
        click.argument("data", type=click.Path(dir_okay=False)),
        click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
                     help="Model directory to write (model.json, weights, checkpoint, log)."),
        click.option("--epochs", default=100, type=int, help="Total number of epochs."),
        click.option("--batch-size", default=16, type=int, help="Samples per step (per process)."),
        click.option("--lr", default=1e-3, type=float, help="AdamW learning rate."),
        click.option("--weight-decay", default=1e-4, type=float, help="AdamW weight decay."),
        click.option("--scheduler", default="cosine", type=click.Choice(SCHEDULERS),
                     help="Learning-rate schedule (cosine per step, step per epoch)."),
        click.option("--step-size", default=50, type=int, help="Epochs between lr decays (step)."),
        click.option("--gamma", default=0.5, type=float, help="lr decay factor (step)."),
        click.option("--grad-clip", default=1.0, type=float, help="Max gradient norm (0: off)."),
        click.option("--loss", default="l2", type=click.Choice(["l2", "h1"]),
                     help="Relative L2 or relative spectral H1 loss."),
        click.option("--patience", default=0, type=int,
                     help="Early stopping after this many epochs without val improvement (0: off)."),
        click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"])),
        click.option("--amp", default="none", type=click.Choice(AMP_MODES),
                     help="Mixed precision autocast (FFTs stay fp32)."),
        click.option("--compile", "compile", default="none", type=click.Choice(COMPILE_MODES),
                     help="torch.compile the network (reduce-overhead: CUDA graphs on a GPU)."),
        click.option("--data-on-device", is_flag=True,
                     help="Keep the whole training set on the device (GPU) when it fits."),
        click.option("--sync-every", default=0, type=int,
                     help="Steps between host reads of the loss (0: once per epoch)."),
        click.option("--seed", default=0, type=int, help="Seed of split, init and shuffling."),
        click.option("--val-fraction", default=0.1, type=float, help="Samples held out for validation."),
        click.option("--test-fraction", default=0.1, type=float, help="Samples held out for testing."),
        click.option("--resume", is_flag=True, help="Continue from MODEL/checkpoint/last.pt."),
        click.option("--init", "init", default=None, type=click.Path(file_okay=False),
                     help="Fine-tune from this model (input/output layers replaced if needed)."),
        click.option("--inputs", default=None, help="Input fields, e.g. 'a' or 'a,b:0,1' (default: all)."),
        click.option("--outputs", default=None, help="Output fields (default: all)."),
        click.option("--time-mode", default="auto", type=click.Choice(TIME_MODES),
                     help="Pairs: steady, all2all (t_i -> t_j, j >= i) or window (k -> k)."),
        click.option("--steps-in", default=1, type=int, help="Window mode: input time steps."),
        click.option("--steps-out", default=1, type=int, help="Window mode: output time steps."),
        click.option("--time-steps", default=None,
                     help="Use only these stored time steps ('start:stop[:step]' or '0,2,4')."),
        click.option("--num-workers", default=0, type=int, help="DataLoader worker processes."),
        click.option("--arch", "arch_kv", multiple=True, metavar="KEY=VALUE",
                     help="Any architecture keyword, VALUE as JSON."),
        click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _parse_list(text: str, default: Any) -> Any:
    items = [s for s in str(text).replace("[", "").replace("]", "").split(",") if s.strip()]
    try:
        values = [int(s) for s in items]
    except ValueError:
        try:
            values = [float(s) for s in items]
        except ValueError:
            raise click.BadParameter(f"expected numbers separated by commas, got {text!r}") from None
    if isinstance(default, (int, float)) and not isinstance(default, bool) and len(values) == 1:
        return values[0]
    return values


def _arch_options(kind: str):
    """click options for every architecture keyword of ``kind`` (none if it cannot be imported)."""
    from operators.registry import arch_defaults, model_class

    try:
        defaults = arch_defaults(kind)
        helps = getattr(model_class(kind), "ARCH_HELP", {})
    except ValueError:
        defaults, helps = {}, {}
    opts = []
    for key, value in defaults.items():
        flag, dest = "--" + key.replace("_", "-"), "arch__" + key
        text = helps.get(key, "Architecture option.")
        if isinstance(value, bool):
            opts.append(click.option(f"{flag}/--no-{flag[2:]}", dest, default=value,
                                     help=text))
        elif isinstance(value, (list, tuple)) or key == "modes":
            shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            opts.append(click.option(flag, dest, default=shown, show_default=True,
                                     help=text))
        elif isinstance(value, (int, float, str)) or value is None:
            typ = type(value) if value is not None else str
            opts.append(click.option(flag, dest, default=value, type=typ,
                                     help=text))

    def decorate(f):
        for opt in reversed(opts):
            f = opt(f)
        f.__arch_defaults__ = defaults
        return f

    return decorate


def _arch_from(kwargs: dict[str, Any], defaults: dict[str, Any], arch_kv: tuple[str, ...]
               ) -> dict[str, Any]:
    arch = {}
    for k in list(kwargs):
        if k.startswith("arch__"):
            key, value = k[len("arch__"):], kwargs.pop(k)
            default = defaults.get(key)
            if isinstance(default, (list, tuple)) or key == "modes":
                value = _parse_list(value, default)
            if value != default:
                arch[key] = value
    for kv in arch_kv:
        key, sep, text = kv.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {kv!r}", param_hint="--arch")
        try:
            arch[key] = json.loads(text)
        except json.JSONDecodeError:
            arch[key] = text
    return arch


def _run(kind: str, defaults: dict[str, Any], kw: dict[str, Any]) -> None:
    from operators.api import train_operator

    arch = _arch_from(kw, defaults, kw.pop("arch_kv"))
    if kw["resume"] and (arch or kw["init"]):
        raise click.UsageError("--resume continues a run as stored; drop architecture options and --init")
    if kw["init"] and arch:
        raise click.UsageError(f"--init takes the architecture from {kw['init']}; drop "
                               f"{', '.join('--' + k.replace('_', '-') for k in sorted(arch))}")
    config = TrainConfig(**{k: kw[k] for k in (
        "epochs", "batch_size", "lr", "weight_decay", "scheduler", "step_size", "gamma",
        "grad_clip", "amp", "device", "seed", "loss", "patience", "num_workers", "quiet",
        "compile", "data_on_device", "sync_every")})
    summary = train_operator(
        kind, kw["data"], kw["output"], arch=arch, config=config, inputs=kw["inputs"],
        outputs=kw["outputs"], time_mode=kw["time_mode"], steps_in=kw["steps_in"],
        steps_out=kw["steps_out"], time_steps=kw["time_steps"],
        val_fraction=kw["val_fraction"], test_fraction=kw["test_fraction"],
        resume=kw["resume"], init=kw["init"])
    from operators.ddp import cleanup, env_info

    cleanup()
    if not env_info().is_main:
        return
    if kw["as_json"]:
        click.echo(json.dumps({"model": kind, "output": kw["output"], **summary}))
    else:
        best = summary["best_val_rel_l2"]
        click.echo(f"{kind}: {summary['epochs']} epochs ({summary['stopped']}), best val rel. L2 "
                   f"{'n/a' if best is None else f'{best:.4g}'}, {summary['seconds']:.1f} s "
                   f"-> {kw['output']}")


def _make(kind: str, doc: str) -> click.Command:
    deco = _arch_options(kind)

    @click.command(name=kind, help=doc, context_settings={"show_default": True})
    @_common_options
    @deco
    def command(**kw: Any) -> None:
        _run(kind, command.callback.__arch_defaults__, kw)

    return command


fno = _make("fno", "Train a Fourier neural operator (Li et al. 2021) on DATA.h5.")
lsm = _make("lsm", "Train a latent spectral model (Wu et al. 2023) on DATA.h5.")
scot = _make("scot", "Train a Poseidon-style scalable operator transformer (scOT) on DATA.h5.")
