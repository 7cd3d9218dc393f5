"""Shared evaluation pieces: strict metrics.json, timing, outputs."""

import json
import math

import h5py
import numpy as np

from data.evaluation import (
    metrics_json,
    online_seconds,
    semilogy,
    strict_json,
    write_outputs,
)


def test_metrics_json_is_strict():
    rec = {"speedup": float("inf"), "rel_l2": {"max": np.float64("nan"), "mean": 0.5},
           "n": np.int64(3), "v": np.array([1.0, -np.inf])}
    text = metrics_json(rec)
    back = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert back == {"speedup": None, "rel_l2": {"max": None, "mean": 0.5}, "n": 3,
                    "v": [1.0, None]}
    assert strict_json({"ok": 1.5})["ok"] == 1.5


def test_online_seconds_counts_single_and_batched_calls():
    calls = []
    single, batched = online_seconds(lambda m: calls.append(len(m)), np.zeros((10, 2)), 4)
    assert calls[:10] == [1] * 10 and calls[10:13] == [4, 4, 2]
    assert single > 0 and batched > 0 and math.isfinite(single)


def test_write_outputs(tmp_path):
    rec = {"model": "toy", "speedup": float("nan")}
    write_outputs(tmp_path / "ev", rec, {"u": np.ones((2, 3))},
                  {"curve": semilogy(None, {"e": [1.0, 0.1]}, "N", "toy")})
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["speedup"] is None
    with h5py.File(tmp_path / "ev" / "predictions.h5") as f:
        assert f.attrs["model"] == "toy" and f["u"].shape == (2, 3)
    assert (tmp_path / "ev" / "curve.png").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == [
        "curve.png", "metrics.json", "predictions.h5"]     # no temporaries left
