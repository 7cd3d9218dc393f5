"""`rom evaluate MODEL DATA --resolution R`: zero-shot super-resolution of resolution-invariant
operators (FNO), checked against the same functions sampled natively, and a one-line error
for kinds that are not resolution-invariant."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from tests.helpers.cli import rom as _rom
from tests.helpers.fields import write_steady

TINY = ["--width", "8", "--modes", "4", "--layers", "2", "--projection-channels", "16"]


def _evaluate(capsys, model, data, *extra) -> dict:
    code, out, err = _rom(capsys, "evaluate", model, data, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def fno16(tmp_path_factory):
    """An FNO trained on 1-D periodic data at 16 points."""
    d = tmp_path_factory.mktemp("res")
    data = write_steady(d / "train16.h5", n=12, res=16, ndim=1)
    main(["train", "fno", str(data), "-o", str(d / "m"), "--epochs", "2", "--batch-size", "4",
          "--outputs", "u", "-q", *TINY])
    return d / "m"


def test_a_model_trained_at_16_points_evaluates_at_other_resolutions(fno16, tmp_path, capsys):
    # the same band-limited functions (|k| <= 4) sampled at 16, 32 and 64 points
    files = {r: write_steady(tmp_path / f"o{r}.h5", n=5, res=r, ndim=1, seed=7)
             for r in (16, 32, 64)}
    native = {r: _evaluate(capsys, fno16, f) for r, f in files.items()}
    assert [native[r]["resolution"] for r in files] == [[16], [32], [64]]
    # striding is exact: 64 points subsampled to 16 are the 16-point file
    down = _evaluate(capsys, fno16, files[64], "--resolution", 16)
    assert down["resolution"] == [16]
    assert down["rel_l2"]["mean"] == pytest.approx(native[16]["rel_l2"]["mean"], rel=1e-5)
    # trigonometric interpolation is exact for |k| < 8: 16 points up to 32 are the 32-point file
    up = _evaluate(capsys, fno16, files[16], "--resolution", 32)
    assert up["resolution"] == [32]
    assert up["rel_l2"]["mean"] == pytest.approx(native[32]["rel_l2"]["mean"], rel=1e-4)
    # 48 does not divide 64: interpolated, still the same functions at 48 points
    odd = _evaluate(capsys, fno16, files[64], "--resolution", 48)
    assert odd["resolution"] == [48]
    assert odd["rel_l2"]["mean"] == pytest.approx(
        _evaluate(capsys, fno16, files[16], "--resolution", 48)["rel_l2"]["mean"], rel=1e-4)


def test_kinds_that_are_not_resolution_invariant_refuse_another_resolution(tmp_path, capsys):
    data = write_steady(tmp_path / "t.h5", n=8, res=16, ndim=1)
    code, _, err = _rom(capsys, "train", "lsm", data, "-o", tmp_path / "lsm", "--epochs", "1",
                        "--batch-size", "4", "--outputs", "u", "-q")
    assert code == 0, err
    other = write_steady(tmp_path / "o.h5", n=3, res=32, ndim=1, seed=3)
    code, _, err = _rom(capsys, "evaluate", tmp_path / "lsm", other, "--resolution", 32)
    assert code == 1 and err.startswith("rom: error:") and len(err.strip().splitlines()) == 1
    assert "lsm model is not resolution-invariant" in err and "trained on 16 points" in err
    # at its training resolution it evaluates (on data stored at another one, too)
    assert _evaluate(capsys, tmp_path / "lsm", other, "--resolution", 16)["resolution"] == [16]


def test_operator_evaluation_reports_progress_when_asked(fno16, tmp_path, capsys, monkeypatch):
    from operators.kinds import FNO

    data = write_steady(tmp_path / "p.h5", n=5, res=16, ndim=1, seed=2)
    monkeypatch.setenv("ROM_PROGRESS_INTERVAL", "0")  # a line per batch on a pipe
    FNO.evaluate(fno16, data, batch_size=2)
    assert capsys.readouterr().err == ""  # silent unless asked
    FNO.evaluate(fno16, data, batch_size=2, progress=print)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("evaluate: 2/5 samples") and "5/5 samples" in lines[-1]
