"""Issue 15 item 7 from Python: :func:`data.model_kinds.train_model` makes the checks
``rom train`` makes (a kind's own ``train`` does not)."""

from __future__ import annotations

import pytest

from data.model_dir import OutputInUse
from data.model_kinds import train_model
from tests.helpers.fields import write_steady


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_steady(tmp_path_factory.mktemp("api") / "s.h5", n=8, res=8)


def test_python_api_refuses_a_foreign_directory_and_another_model(data, tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "paper.tex").write_text("precious")
    with pytest.raises(OutputInUse, match="not empty"):
        train_model("pod", data, out)
    assert sorted(p.name for p in out.iterdir()) == ["paper.tex"]
    meta = train_model("pod", data, tmp_path / "pod", max_modes=3)
    assert isinstance(meta, dict) and (tmp_path / "pod" / "model.json").is_file()
    before = (tmp_path / "pod" / "model.json").read_bytes()
    with pytest.raises(OutputInUse, match="holds a pod model"):
        train_model("pod", data, tmp_path / "pod")
    assert (tmp_path / "pod" / "model.json").read_bytes() == before
    train_model("pod", data, out, overwrite=True, max_modes=2)
    assert (out / "paper.tex").read_text() == "precious" and (out / "model.json").is_file()


def test_python_api_checks_options_data_and_resume_before_writing(data, tmp_path):
    with pytest.raises(ValueError, match="unknown pod training option"):
        train_model("pod", data, tmp_path / "a", max_mode=3)
    with pytest.raises(FileNotFoundError, match="no such file"):
        train_model("pod", tmp_path / "missing.h5", tmp_path / "b")
    with pytest.raises(ValueError, match="cannot be resumed"):
        train_model("pod", data, tmp_path / "c", resume=True)
    assert not any(tmp_path.iterdir())
