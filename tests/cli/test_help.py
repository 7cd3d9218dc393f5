"""Every command answers --help, and docs/cli_reference.md is the current help text."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.docgen import _walk, reference
from cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_has_help_with_defaults() -> None:
    runner = CliRunner()
    paths = [p for p, _ in _walk(cli, ["rom"])]
    assert {"generate", "info", "export", "import", "train", "evaluate", "bench", "report",
            "pipeline", "merge", "slurm"} <= {p[1] for p in paths if len(p) > 1}
    for path in paths:
        res = runner.invoke(cli, [*path[1:], "--help"], prog_name="rom")
        assert res.exit_code == 0, (path, res.output)
        assert "Usage: rom" in res.output
    gen = runner.invoke(cli, ["generate", "--help"], terminal_width=120).output
    assert "[default: " in gen


def test_reference_is_current() -> None:
    text = (ROOT / "docs" / "cli_reference.md").read_text()
    assert text == reference(), "regenerate: python -m cli.docgen > docs/cli_reference.md"


def test_train_help_lists_kinds_without_torch() -> None:
    """``rom train --help`` lists every kind with its first help line and does not import torch
    (an operator kind's options do, so the listing must not build them)."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from cli.main import cli; "
            "r = CliRunner().invoke(cli, ['train', '--help']); "
            "assert r.exit_code == 0, r.output; print(r.output); "
            "print('TORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    assert "TORCH False" in out
    for kind in ("fno", "rb", "pod", "local", "galerkin"):
        assert f"  {kind} " in out
