"""Progress on long commands when stderr is piped: periodic one-line reports, none with --quiet."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.progress import Progress, format_duration

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ("import sys; from solvers.problems import PROBLEMS; from tests.helpers.toys import TOYS; "
          "PROBLEMS.update(TOYS); from cli.main import main; main(sys.argv[1:])")


def _rom(*args: str, interval: float = 0.05) -> subprocess.CompletedProcess:
    env = {**os.environ, "ROM_PROGRESS_INTERVAL": str(interval), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


def test_piped_generate_prints_periodic_progress_lines(tmp_path):
    res = _rom("generate", "toy_poisson1d", "--resolution", "8", "-n", "6", "--param", "delay=0.1",
               "-o", str(tmp_path / "d.h5"))
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("generate toy_poisson1d: ")]
    assert len(lines) >= 3, res.stderr
    assert "/6 samples" in lines[0] and "s/sample" in lines[0] and "eta" in lines[0]
    assert lines[-1].startswith("generate toy_poisson1d: 6/6 samples") and "elapsed" in lines[-1]
    assert "\r" not in res.stderr  # no bar redraws in a pipe


def test_piped_generate_quiet_prints_no_progress(tmp_path):
    res = _rom("generate", "toy_poisson1d", "--resolution", "8", "-n", "4", "--param", "delay=0.1",
               "-o", str(tmp_path / "d.h5"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert "samples" not in res.stderr and res.stdout == ""


def test_piped_bench_solvers_prints_progress():
    res = _rom("bench", "solvers", "darcy", "-r", "12", "-n", "3", "--strategies", "splu,ic-cg",
               interval=0.0)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("bench solvers darcy: ")]
    assert lines and lines[-1].startswith("bench solvers darcy: 6/6 solves"), res.stderr
    assert "splu" in res.stdout  # the table stays on stdout


def test_progress_line_format_and_quick_runs_stay_silent():
    out = io.StringIO()
    p = Progress(400, desc="generate", unit="sample", file=out, interval=3600)
    p.update(120)
    p.close()
    assert out.getvalue() == ""  # shorter than one interval: no final line either
    p = Progress(400, desc="generate", unit="sample", file=out, interval=0)
    p.update(120)
    assert out.getvalue().startswith("generate: 120/400 samples, ") and "eta" in out.getvalue()
    off = io.StringIO()
    q = Progress(3, desc="x", file=off, interval=0, enabled=False)
    q.update(3)
    q.close()
    assert off.getvalue() == ""
    assert [format_duration(s) for s in (42, 590, 3720)] == ["42s", "9m50s", "1h02m"]


@pytest.mark.parametrize("quiet", [False, True])
def test_operator_trainer_reports_epochs_when_piped(quiet, tmp_path, capsys, monkeypatch):
    import torch

    from operators.fno import FNO
    from operators.normalization import NormalizedOperator, Normalizer
    from operators.trainer import TrainConfig, Trainer

    monkeypatch.setenv("ROM_PROGRESS_INTERVAL", "0")
    torch.manual_seed(0)
    model = NormalizedOperator(FNO(1, 1, 1, width=4, modes=2, layers=1, projection_channels=4),
                               Normalizer.identity(1), Normalizer.identity(1))
    x = torch.randn(4, 1, 16)
    items = [{"x": x[i], "y": x[i], "t": torch.zeros(())} for i in range(4)]
    config = TrainConfig(epochs=3, batch_size=2, lr=1e-3, quiet=quiet)
    Trainer(model, items, None, config, tmp_path).fit()
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("train: ")]
    if quiet:
        assert lines == []
    else:
        assert [ln.split(",")[0] for ln in lines[:3]] == [f"train: {k}/3 epochs"
                                                          for k in (1, 2, 3)]
        assert "train=" in lines[0]
