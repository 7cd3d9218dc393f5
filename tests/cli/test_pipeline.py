"""`rom pipeline` (skip / redo logic, resume) and `rom report` (sections, embedded images)."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from cli.main import main
from data.dataset import Dataset

CONFIG = {
    "datasets": {
        "train": {"problem": "thermal_block", "n": 12, "resolution": 9, "seed": 0,
                  "sampler": "lhs"},
        "test": {"problem": "thermal_block", "n": 4, "resolution": 9, "seed": 1},
    },
    "models": {
        "rb": {"kind": "rb", "data": "train", "options": {"tol": 1e-6, "max-basis": 10}},
        "pod": {"kind": "pod", "data": "train", "options": {"tol": 1e-6}},
        "fno": {"kind": "fno", "data": "train",
                "options": {"epochs": 2, "width": 4, "modes": 2, "layers": 1,
                            "batch-size": 4}},
    },
    "evaluate": {"data": "test"},
    "report": {"output": "report.html"},
}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.imgs: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._in_h2 = True
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data.strip())


def run(args: list[str], capsys) -> str:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert code in (0, None), out.err
    return out.out


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "study.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_pipeline_runs_skips_and_redoes(tmp_path: Path, config_file: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    out = run(["pipeline", str(config_file), "-o", str(run_dir)], capsys)
    assert out.count("[run]") == 9  # 2 generate + 3 train + 3 evaluate + report
    check_errors(run_dir)
    check_report(run_dir, tmp_path, capsys)

    # everything up to date: nothing runs
    out = run(["pipeline", str(config_file), "-o", str(run_dir)], capsys)
    assert "[run]" not in out and out.count("[up to date]") == 9

    # a changed test set regenerates it and redoes evaluations and report, not training
    cfg = yaml.safe_load(config_file.read_text())
    cfg["datasets"]["test"]["n"] = 5
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    out = run(["pipeline", str(changed), "-o", str(run_dir)], capsys)
    ran = {line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("[run]")}
    assert ran == {"generate:test", "evaluate:rb", "evaluate:pod", "evaluate:fno", "report"}
    m = json.loads((run_dir / "eval" / "rb" / "metrics.json").read_text())
    assert m["n_samples"] == 5


def check_errors(run_dir: Path) -> None:
    """Each model's reported errors are those of its saved predictions against the test
    truth; the reduced models beat the trivial predictor (the training mean field), RB by
    far, and the two-epoch FNO at least beats predicting zero (relative error 1)."""
    with Dataset(run_dir / "data" / "train.h5") as train, \
            Dataset(run_dir / "data" / "test.h5") as test:
        mean_field = train.outputs()["u"].mean(axis=0).ravel()
        truth = test.outputs()["u"].reshape(test.n_samples, -1)
    norms = np.linalg.norm(truth, axis=1)
    trivial = np.max(np.linalg.norm(truth - mean_field, axis=1) / norms)
    bounds = {"rb": min(1e-3, trivial), "pod": trivial, "fno": 1.0}
    for name, bound in bounds.items():
        m = json.loads((run_dir / "eval" / name / "metrics.json").read_text())
        assert m["model"] == name and m["n_samples"] == 4
        with h5py.File(run_dir / "eval" / name / "predictions.h5", "r") as h:
            pred = h["u" if "u" in h else "prediction"][()].reshape(len(truth), -1)
        errors = np.linalg.norm(pred - truth, axis=1) / norms
        assert m["rel_l2"]["max"] == pytest.approx(errors.max(), rel=1e-5)
        assert m["rel_l2"]["mean"] == pytest.approx(errors.mean(), rel=1e-5)
        assert m["rel_l2"]["max"] < bound, (name, m["rel_l2"]["max"], bound)


def check_report(run_dir: Path, tmp_path: Path, capsys) -> None:
    """The report has every section, and its images are embedded PNGs."""
    parser = _Collect()
    parser.feed((run_dir / "report.html").read_text())
    for section in ("Dataset", "Solvers", "Reduced-order models", "Neural operators",
                    "Accuracy and speed"):
        assert section in parser.h2
    assert len(parser.imgs) >= 6
    for src in parser.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run_dir / "report_files").glob("*.png"))
    pdf = tmp_path / "r.pdf"
    run(["report", str(run_dir), "-o", str(pdf), "--format", "pdf"], capsys)
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_bad_config_and_empty_run_dir(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {}\n")
    with pytest.raises(SystemExit) as exc:
        main(["pipeline", str(bad)])
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert err.startswith("rom: error:") and "datasets" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path)])
    assert exc.value.code != 0
    assert "nothing to report" in capsys.readouterr().err
