"""Issue 15 items 6 and 7: `rom train` never writes over work silently; `rom evaluate` and model
files are strict JSON, NaN data are a one-line error, and training data are named as such."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from tests.helpers.cli import rom
from tests.helpers.fields import write_steady

TINY_FNO = ["--epochs", "1", "--batch-size", "4", "--width", "8", "--modes", "4", "--layers",
            "2", "--projection-channels", "16", "-q"]


def strict_loads(text: str):
    """``json.loads`` that refuses NaN/Infinity (what RFC 8259 JSON readers do)."""
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def darcy(tmp_path_factory):
    """A small darcy dataset (standard-normal KL parameters: an unbounded box)."""
    d = tmp_path_factory.mktemp("darcy")
    code = _main("generate", "darcy", "-n", 10, "--resolution", 12, "--seed", 1,
                 "-o", d / "darcy.h5", "--quiet")
    assert code == 0
    return d / "darcy.h5"


def _main(*args) -> int:
    from cli.main import main
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code or 0
    return 0


def with_nan(src, dst, group, name, sample):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        f[group][name][sample, 1, 2] = np.nan
    return dst


# -- item 7: the output directory ----------------------------------------------------------

def test_train_refuses_to_replace_another_model(darcy, tmp_path, capsys):
    fno = tmp_path / "fno"
    code, _, err = rom(capsys, "train", "fno", darcy, "-o", fno, *TINY_FNO)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in fno.iterdir() if p.is_file()}
    code, _, err = rom(capsys, "train", "pod", darcy, "-o", fno)
    assert code == 1 and err.count("\n") == 1
    assert "holds a trained fno model" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in fno.iterdir() if p.is_file()} == before
    # the same kind over its checkpoint without --resume: refused, not restarted
    code, _, err = rom(capsys, "train", "fno", darcy, "-o", fno, *TINY_FNO)
    assert code == 1 and "training checkpoint" in err and "--resume" in err
    assert (fno / "weights.safetensors").read_bytes() == before["weights.safetensors"]
    code, _, err = rom(capsys, "train", "fno", darcy, "-o", fno, "--resume", "--epochs", "2", "-q")
    assert code == 0, err
    # --overwrite replaces the whole model: no fno files left beside the pod model
    code, _, err = rom(capsys, "train", "pod", darcy, "-o", fno, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in fno.iterdir()) == ["model.json", "tensors.h5"]


def test_train_refuses_a_folder_of_other_files(darcy, tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "paper.tex").write_text("precious")
    code, _, err = rom(capsys, "train", "pod", darcy, "-o", out)
    assert code == 1 and "not empty" in err and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["paper.tex"]
    code, _, err = rom(capsys, "train", "pod", darcy, "-o", out, "--overwrite")
    assert code == 0, err
    assert (out / "paper.tex").read_text() == "precious" and (out / "model.json").is_file()
    # a second pod over a finished pod is refused too; an empty directory is fine
    code, _, err = rom(capsys, "train", "pod", darcy, "-o", out)
    assert code == 1 and "holds a pod model" in err
    (tmp_path / "empty").mkdir()
    assert rom(capsys, "train", "pod", darcy, "-o", tmp_path / "empty")[0] == 0


# -- item 6: strict JSON, NaN data, training data ------------------------------------------

def test_pod_on_darcy_model_json_is_strict_and_reloads(darcy, tmp_path, capsys):
    code, out, err = rom(capsys, "train", "pod", darcy, "-o", tmp_path / "pod", "--json")
    assert code == 0, err
    strict_loads(out)
    meta = strict_loads((tmp_path / "pod" / "model.json").read_text())
    assert meta["box"][0][0] is None and meta["box"][1][0] is None   # unbounded normal axes
    code, out, err = rom(capsys, "evaluate", tmp_path / "pod", darcy, "--json",
                         "-o", tmp_path / "ev")
    assert code == 0, err
    assert strict_loads(out)["n_samples"] == 10
    strict_loads((tmp_path / "ev" / "metrics.json").read_text())
    assert "outside" not in err    # no box warning: the normal axes are unbounded


def test_evaluate_json_is_strict_when_metrics_are_not_finite(darcy, tmp_path, capsys,
                                                             monkeypatch):
    assert rom(capsys, "train", "pod", darcy, "-o", tmp_path / "pod")[0] == 0
    from rom.kinds.pod import PODKind

    inner = PODKind._evaluate

    def infinite(self, *args, **kwargs):
        return {**inner(self, *args, **kwargs), "speedup": float("inf"), "x": float("nan")}
    monkeypatch.setattr(PODKind, "_evaluate", infinite)
    code, out, err = rom(capsys, "evaluate", tmp_path / "pod", darcy, "--json")
    assert code == 0, err
    rec = strict_loads(out)
    assert rec["speedup"] is None and rec["x"] is None


def test_evaluate_on_nan_truth_is_one_line_naming_field_and_sample(darcy, tmp_path, capsys):
    assert rom(capsys, "train", "pod", darcy, "-o", tmp_path / "pod")[0] == 0
    bad = with_nan(darcy, tmp_path / "nan.h5", "outputs", "u", 4)
    code, out, err = rom(capsys, "evaluate", tmp_path / "pod", bad, "--json",
                         "-o", tmp_path / "ev")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "field 'u'" in err and "sample 4" in err and "NaN" in err
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_train_on_nan_data_names_field_and_sample(tmp_path, capsys):
    data = write_steady(tmp_path / "s.h5", n=12, res=16)
    bad = with_nan(data, tmp_path / "nan.h5", "inputs", "a", 7)
    code, _, err = rom(capsys, "train", "fno", bad, "-o", tmp_path / "fno", *TINY_FNO)
    assert code == 1 and err.count("\n") == 1
    assert "field 'a'" in err and "sample 7" in err and "learning rate" not in err
    code, _, err = rom(capsys, "train", "pod", with_nan(data, tmp_path / "nan_u.h5", "outputs",
                                                        "u", 3), "-o", tmp_path / "pod")
    assert code == 1 and "field 'u'" in err and "sample 3" in err


def test_evaluate_says_when_data_are_the_training_data(darcy, tmp_path, capsys):
    assert rom(capsys, "train", "pod", darcy, "-o", tmp_path / "pod")[0] == 0
    copy = tmp_path / "same.h5"       # the same dataset under another name counts too
    shutil.copy(darcy, copy)
    code, out, err = rom(capsys, "evaluate", tmp_path / "pod", copy, "--json")
    assert code == 0 and strict_loads(out)["on_training_data"] is True
    assert "warning" in err and "training data" in err
    other = tmp_path / "other.h5"
    assert _main("generate", "darcy", "-n", 4, "--resolution", 12, "--seed", 2, "-o", other,
                 "--quiet") == 0
    capsys.readouterr()
    code, out, err = rom(capsys, "evaluate", tmp_path / "pod", other, "--json")
    assert code == 0 and strict_loads(out)["on_training_data"] is False
    assert "training data" not in err
