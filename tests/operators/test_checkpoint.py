"""Issue 15 item 10: weights files get the umask like every other file; an unreadable one
says "permission denied", a damaged one "corrupt"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from operators import checkpoint as ckpt


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_weights_respect_the_umask(tmp_path, umask_022):
    path = ckpt.save_weights(tmp_path, {"w": torch.arange(6.0).reshape(2, 3)})
    assert path.stat().st_mode & 0o777 == 0o644
    ckpt.save_training_state(tmp_path, {"epoch": 3})
    assert (tmp_path / ckpt.LAST).stat().st_mode & 0o777 == 0o644
    assert torch.equal(ckpt.load_weights(tmp_path)["w"], torch.arange(6.0).reshape(2, 3))


def test_unreadable_weights_say_permission_denied(tmp_path, monkeypatch):
    ckpt.save_weights(tmp_path, {"w": torch.zeros(2)})
    ckpt.save_training_state(tmp_path, {"epoch": 1})
    real = Path.read_bytes

    def denied(self):   # as for another user's mode-0600 file (the tests may run as root)
        if self.name in (ckpt.WEIGHTS, "last.pt"):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)
    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(PermissionError, match="permission denied") as exc:
        ckpt.load_weights(tmp_path)
    assert "corrupt" not in str(exc.value)
    with pytest.raises(PermissionError, match="permission denied"):
        ckpt.load_training_state(tmp_path)


def test_damaged_weights_say_corrupt(tmp_path):
    (tmp_path / ckpt.WEIGHTS).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="corrupt weights file"):
        ckpt.load_weights(tmp_path)
