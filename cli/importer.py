"""``rom import SRC -o OUT.h5``: convert PDEBench / The Well / FNO .mat / .npz into a rom dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from data.progress import Progress

FORMATS = ("auto", "pdebench", "the-well", "mat", "npz", "fno-mat")  # fno-mat = mat
#: how messages name a detected foreign format
FORMAT_LABELS = {"pdebench": "a PDEBench", "the-well": "a The Well", "fno-mat": "an FNO .mat"}


def foreign_file_message(path: Path) -> str | None:
    """For a file of a format ``rom import`` reads, the message that names the format and the
    command converting it; ``None`` for anything else (a rom dataset, an unknown file)."""
    from data.formats import detect_format

    try:
        fmt = detect_format(path)
    except Exception:  # noqa: BLE001 - detection is best effort; the caller's message stands
        return None
    if fmt is None:
        return None
    return (f"{path}: not a rom dataset; looks like {FORMAT_LABELS.get(fmt, fmt)} file; "
            f"convert it with `rom import {path} --format {fmt} -o OUT.h5`")


def explain_error(exc: BaseException) -> str | None:
    """:func:`foreign_file_message` for a :class:`data.dataset.NotARomDataset`, else ``None``."""
    dataset = sys.modules.get("data.dataset")  # loaded whenever such an error was raised
    if dataset is None or not isinstance(exc, dataset.NotARomDataset):
        return None
    return foreign_file_message(exc.path)


@click.command("import")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), required=True,
              help="rom dataset to write (HDF5).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Source format; auto detects it from the file's structure.")
@click.option("--input", "inputs", multiple=True, metavar="NAME",
              help="Source array/field to import as an input (repeatable) "
                   "[default: the format's convention, see docs/exchange.md].")
@click.option("--output", "outputs", multiple=True, metavar="NAME",
              help="Source array/field to import as an output (repeatable) "
                   "[default: the format's convention]. The file to write is -o/--out.")
@click.option("--problem", default=None,
              help="Problem name stored in the dataset [default: e.g. pdebench:2D_DarcyFlow].")
@click.option("--periodic", type=click.Choice(["auto", "yes", "no"]), default="auto",
              show_default=True, help="Periodicity of the grid when the file does not say.")
@click.option("--chunk-mb", type=click.FloatRange(min=0.001), default=64.0, show_default=True,
              help="Memory budget of one block of copied samples (MiB).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary line.")
def import_(src: Path, out: Path, fmt: str, inputs: tuple[str, ...], outputs: tuple[str, ...],
            problem: str | None, periodic: str, chunk_mb: float, overwrite: bool,
            quiet: bool) -> None:
    """Convert a PDEBench, The Well, FNO .mat or .npz file SRC into a rom dataset.

    SRC may also be a directory of The Well files (one split), imported as one dataset.

    The file is copied in blocks of samples (never loaded whole); the result
    opens with `rom info` and trains with `rom train`.
    """
    from data.formats import import_file

    bar = _Progress(enabled=not quiet)
    path = import_file(src, out, fmt=fmt, inputs=inputs, outputs=outputs, problem=problem,
                       periodic={"auto": None, "yes": True, "no": False}[periodic],
                       chunk_bytes=int(chunk_mb * 2**20), overwrite=overwrite,
                       progress=bar.update, on_plan=bar.start)
    bar.close()
    if not quiet:
        click.echo(f"wrote {path} ({bar.summary})")


class _Progress:
    """A :class:`data.progress.Progress` over samples, created once the plan (and so the sample count) is known."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar, self.summary = enabled, None, ""
        self.done = 0

    def start(self, plan) -> None:  # noqa: ANN001 - an ImportPlan
        names = ", ".join(f"{f.role} {f.name}{list(f.sample_shape)}" for f in plan.fields)
        self.summary = f"{plan.source.get('format')}: {plan.n_samples} samples; {names}"
        self.bar = Progress(plan.n_samples * len(plan.fields), unit="sample",
                            desc=f"import {len(plan.fields)} fields", enabled=self.enabled)

    def update(self, k: int) -> None:
        if self.bar is not None:
            self.bar.update(k - self.done)
        self.done = k

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
