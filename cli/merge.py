"""``rom merge SHARD... -o OUT``: merge the shard files of one run into one dataset.

Thin: :func:`data.shards.merge_shards` checks that the shards belong to one run
(same problem, config, solve order and shard count), reports missing shards
and unsolved samples, and copies every sample into ``OUT`` in the original
sample order (a self-contained copy; compressed chunks are copied as they are).
"""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.argument("shards", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Merged dataset (.h5).")
@click.option("--partial", is_flag=True,
              help="Write an incomplete dataset (with a /done mask) when shards or samples "
                   "are missing, instead of failing.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT.")
@click.option("--quiet", is_flag=True, help="No summary line.")
def merge(shards: tuple[Path, ...], output: Path, partial: bool, overwrite: bool,
          quiet: bool) -> None:
    """Merge SHARD files written by `rom generate --shard K/N` into OUTPUT."""
    from data.generate import check_output
    from data.shards import merge_shards

    for path in shards:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
    check_output(output, overwrite)
    t0 = time.perf_counter()
    merge_shards(list(shards), output, partial=partial)
    if not quiet:
        from data.dataset import Dataset

        with Dataset(output) as ds:
            state = ("complete" if ds.complete
                     else f"incomplete: {int(ds.done.sum())}/{ds.n_samples} samples")
            click.echo(f"wrote {output} ({len(shards)} shards, {ds.n_samples} samples, {state}, "
                       f"{time.perf_counter() - t0:.1f} s)")
