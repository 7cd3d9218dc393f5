"""`rom pipeline` (skip / redo logic, resume) and `rom report` (sections, embedded images)."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from cli.main import main

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
    for name in ("rb", "pod", "fno"):
        m = json.loads((run_dir / "eval" / name / "metrics.json").read_text())
        assert m["model"] == name and m["n_samples"] == 4
        assert m["rel_l2"]["max"] < (1e-3 if name == "rb" else 1.0)
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
