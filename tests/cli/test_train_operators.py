"""`rom train fno|lsm|scot`, `rom info MODEL` and operators.evaluation.evaluate: end to end and bad input."""

from __future__ import annotations

import json

import h5py
import pytest

from cli.main import main
from data.model_dir import write_model_meta
from operators.evaluation import evaluate
from operators.kinds import FNO
from tests.helpers.fields import write_heat, write_steady

TINY = ["--width", "8", "--modes", "4", "--layers", "2", "--projection-channels", "16"]


def _rom(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    data = write_steady(d / "s.h5", n=12, res=16)
    main(["train", "fno", str(data), "-o", str(d / "m"), "--epochs", "3", "--batch-size", "4",
          "--outputs", "u", "-q", *TINY])
    return data, d / "m"


def test_train_prints_summary_and_info_describes(trained, capsys, tmp_path):
    data, model = trained
    code, out, err = _rom(capsys, "train", "fno", data, "-o", tmp_path / "m2", "--epochs", "1",
                          "--json", "-q", "--factorization", "cp", "--modes", "4,3", *TINY[:2])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["model"] == "fno" and summary["epochs"] == 1
    code, out, _ = _rom(capsys, "info", tmp_path / "m2", "--json")
    desc = json.loads(out)
    assert desc["arch"]["factorization"] == "cp" and desc["arch"]["modes"] == [4, 3]
    assert desc["parameters"] == sum(desc["blocks"].values()) > 0
    assert FNO.describe(model)["outputs"] == ["u"]


def test_evaluate_metrics_and_outputs(trained, tmp_path):
    data, model = trained
    rec = evaluate(model, data, out_dir=tmp_path / "ev")
    assert rec["model"] == "fno" and rec["split"] == "test" and rec["n_samples"] == 1
    assert set(rec["rel_l2"]) == {"mean", "median", "max"}
    assert rec["time_per_sample_s"]["solver"] == pytest.approx(0.01)
    assert rec["speedup"] == pytest.approx(0.01 / rec["time_per_sample_s"]["model"])
    for name in ("metrics.json", "predictions.h5", "samples.png", "error_histogram.png",
                 "loss_curves.png"):
        assert (tmp_path / "ev" / name).exists(), name
    with h5py.File(tmp_path / "ev" / "predictions.h5") as f:
        assert f["prediction"].shape == f["truth"].shape == (1, 1, 16, 16)
    # another dataset (other seed): every sample is evaluated; at another resolution too
    other = write_steady(tmp_path / "o.h5", n=5, res=16, seed=7)
    rec = evaluate(model, other, resolution=32)
    assert rec["split"] == "all" and rec["n_samples"] == 5 and rec["resolution"] == [32, 32]


def test_trajectory_evaluation_reports_per_step_errors(tmp_path, capsys):
    data = write_heat(tmp_path / "h.h5", n=6, n_times=4)
    code, _, err = _rom(capsys, "train", "fno", data, "-o", tmp_path / "w", "--epochs", "1",
                        "--time-mode", "window", "--steps-in", "2", "--steps-out", "1", "-q",
                        *TINY)
    assert code == 0, err
    rec = evaluate(tmp_path / "w", data)
    assert rec["time_mode"] == "window" and len(rec["rel_l2_per_step"]) == 3
    code, _, err = _rom(capsys, "train", "fno", data, "-o", tmp_path / "a", "--epochs", "1",
                        "-q", *TINY)
    assert code == 0, err
    rec = evaluate(tmp_path / "a", data)
    assert rec["time_mode"] == "all2all" and len(rec["rel_l2_per_step"]) == 4
    assert evaluate(tmp_path / "a", data, resolution=32)["resolution"] == [32]


@pytest.mark.parametrize("args,message", [
    (["train", "fno", "missing.h5", "-o", "M"], "missing.h5: no such file"),
    (["train", "fno", "{data}", "-o", "M", "--inputs", "b"], "no field(s) b"),
    (["train", "fno", "{data}", "-o", "M", "--amp", "fp16"], "fp16 autocast needs a CUDA device"),
    (["train", "fno", "{data}", "-o", "{tmp}/new", "--resume"], "not a rom model"),
    (["train", "fno", "{data}", "-o", "M", "--time-mode", "all2all"], "no time axis"),
    (["train", "fno", "{data}", "-o", "M", "--arch", "depth=3"], "unknown architecture option"),
])
def test_bad_input_is_one_line_error(trained, capsys, tmp_path, args, message):
    data, _ = trained
    argv = [a.format(data=data, tmp=tmp_path) for a in args]
    code, out, err = _rom(capsys, *argv)
    assert code == 1 and err.startswith("rom: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_bad_option_value_is_a_usage_error(capsys):
    code, _, err = _rom(capsys, "train", "fno", "x.h5", "-o", "M", "--scheduler", "linear")
    assert code == 2 and "linear" in err


def test_evaluate_rejects_other_kinds_and_missing_fields(trained, tmp_path):
    data, model = trained
    write_model_meta(tmp_path / "rb", "rb")
    with pytest.raises(ValueError, match="expected fno or lsm or scot"):
        evaluate(tmp_path / "rb", data)
    heat = write_heat(tmp_path / "h.h5", n=2, n_times=2)
    with pytest.raises(ValueError, match=r"no field\(s\) a;"):
        evaluate(model, heat)
    with pytest.raises(FileNotFoundError, match="not a rom model"):
        evaluate(tmp_path / "none", data)
