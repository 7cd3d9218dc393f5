"""Pipeline planning: model kinds are checked against the registry before any step runs."""

import pytest

from cli import pipeline_steps as ps


def config(kind):
    return {"datasets": {"train": {"problem": "thermal_block", "n": 2, "resolution": 8}},
            "models": {"m": {"kind": kind, "data": "train"}}}


def test_unknown_kind_is_rejected_when_planning(tmp_path):
    with pytest.raises(ValueError, match=r"model 'm': unknown kind 'podd'; valid: .*pod"):
        ps.plan(config("podd"), tmp_path)
    assert not any(tmp_path.iterdir())


def test_stamp_is_written_atomically(tmp_path):
    steps = ps.plan(config("pod"), tmp_path)
    assert [s.name for s in steps] == ["generate:train", "train:m", "report"]
    ps.mark_done(tmp_path, steps[0])
    assert [p.name for p in (tmp_path / ".pipeline").iterdir()] == ["generate__train.json"]
    assert not ps.is_up_to_date(tmp_path, steps[0])       # its output does not exist yet
    steps[0].output.parent.mkdir(parents=True)
    steps[0].output.write_bytes(b"")
    assert ps.is_up_to_date(tmp_path, steps[0])
