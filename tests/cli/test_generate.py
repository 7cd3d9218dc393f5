"""``rom generate`` / ``rom info`` from outside: kill -9 and resume, SIGTERM, lock, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from cli.params import parse_literal
from data import journal as jr
from data.dataset import Dataset
from tests.helpers.cli import rom
from tests.helpers.toys import write_toy

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ("import sys; from solvers.problems import PROBLEMS; from tests.helpers.toys import TOYS; "
          "PROBLEMS.update(TOYS); from cli.main import main; main(sys.argv[1:])")


@pytest.fixture(autouse=True)
def _toys(toys):
    return toys


def spawn(*args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), env_path()])}
    return subprocess.Popen([sys.executable, "-c", RUNNER, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def env_path() -> str:
    return os.environ.get("PYTHONPATH", "")


def wait_for_records(journal: Path, k: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    """Wait until the journal holds ``k`` solved samples (records after the config)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if journal.exists():
            n = len(jr.scan(journal)[0]) - 1
            if n >= k:
                return n
        if proc.poll() is not None:
            raise AssertionError(f"generator exited early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("journal did not grow in time")


def interrupt(out: Path, n: int, records: int, sig: int) -> subprocess.Popen:
    """Start ``gen_args(out, n)`` in a child, send ``sig`` once ``records`` samples are journalled."""
    proc = spawn(*gen_args(out, n=n))
    wait_for_records(out.with_name(out.name + ".journal"), records, proc)
    proc.send_signal(sig)
    return proc


def gen_args(out: Path, n: int = 40, delay: float = 0.03) -> list:
    return ["generate", "toy_poisson1d", "-n", n, "--resolution", 16, "--seed", 11,
            "--sampler", "sobol", "--param", f"delay={delay}", "--quiet", "-o", out]


def assert_same(a: Path, b: Path) -> None:
    with Dataset(a) as x, Dataset(b) as y:
        assert x.complete and y.complete
        assert np.array_equal(x.parameters, y.parameters)
        for k in ("f",):
            assert np.array_equal(x.inputs()[k], y.inputs()[k])
        assert np.array_equal(x.outputs()["u"], y.outputs()["u"])


def assert_resume_equals_uninterrupted(capsys, out: Path, n: int) -> None:
    """The same command finishes the interrupted run ``out`` (its journal is gone after) and
    gives the file an uninterrupted run writes."""
    code, _, err = rom(capsys, *gen_args(out, n=n))
    assert code == 0, err
    assert not out.with_name(out.name + ".journal").exists()
    ref = out.with_name("ref.h5")
    assert rom(capsys, *gen_args(ref, n=n, delay=0.0))[0] == 0
    assert_same(ref, out)


# --------------------------------------------------------------------------- crash safety
def test_kill_9_then_rerun_equals_uninterrupted_run(tmp_path, capsys):
    out = tmp_path / "d.h5"
    interrupt(out, 40, 5, signal.SIGKILL).wait()
    assert not out.exists() and out.with_name("d.h5.journal").exists()
    code, _, err = rom(capsys, "info", out)
    assert code == 1 and "journal holds" in err and "/40 solved samples" in err
    assert_resume_equals_uninterrupted(capsys, out, n=40)


def test_kill_9_with_damaged_journal_tail(tmp_path, capsys):
    out = tmp_path / "d.h5"
    interrupt(out, 30, 3, signal.SIGKILL).wait()
    journal = out.with_name("d.h5.journal")
    records, end = jr.scan(journal)
    with open(journal, "r+b") as fh:  # flip a byte of the last record's payload
        fh.seek(records[-1].offset + records[-1].size - 1)
        b = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([b[0] ^ 0x5A]))
    assert_resume_equals_uninterrupted(capsys, out, n=30)


def test_sigterm_leaves_incomplete_file_then_resume(tmp_path, capsys):
    out = tmp_path / "d.h5"
    proc = interrupt(out, 30, 3, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    code, text, _ = rom(capsys, "info", out, "--json")
    d = json.loads(text)
    assert code == 0 and d["complete"] is False and 3 <= d["n_done"] < 30
    code, text, _ = rom(capsys, "info", out)
    assert f"complete: no ({d['n_done']}/30 samples done)" in text
    assert rom(capsys, "info", out, "--check")[0] == 0
    assert_resume_equals_uninterrupted(capsys, out, n=30)


def test_second_writer_is_refused(tmp_path, capsys):
    out = tmp_path / "d.h5"
    proc = spawn(*gen_args(out, n=200, delay=0.05))
    try:
        wait_for_records(out.with_name("d.h5.journal"), 1, proc)
        code, _, err = rom(capsys, *gen_args(out, n=200, delay=0.05))
        assert code == 1 and "being written by another process" in err
        assert err.count("\n") == 1
    finally:
        proc.kill()
        proc.wait()


def test_rerun_announces_what_it_resumes(tmp_path, capsys):
    out = tmp_path / "d.h5"
    args = ["generate", "toy_poisson1d", "-n", 10, "--resolution", 8, "--param",
            "interrupt_at=3", "-o", out]
    assert rom(capsys, *args)[0] == 130
    code, _, err = rom(capsys, *args)  # each process stops after its own third solve
    assert code == 130
    assert f"resuming {out}: 3/10 samples already solved (journal d.h5.journal)" in err
    with Dataset(out) as ds:
        assert int(ds.done.sum()) == 6


# --------------------------------------------------------------------------- generate CLI
def test_generate_then_info_json(tmp_path, capsys):
    out = tmp_path / "d.h5"
    code, text, err = rom(capsys, "generate", "toy_poisson2d", "-n", 3, "--resolution", 6,
                          "--sampler", "lhs", "--solver-opt", "rtol=1e-10", "-o", out)
    assert code == 0, err
    assert "wrote" in text
    code, text, _ = rom(capsys, "info", out, "--json")
    d = json.loads(text)
    assert d["problem"] == "toy_poisson2d" and d["n_samples"] == 3 and d["complete"] is True
    assert d["fields"] == {"f": [3, 6, 6], "u": [3, 6, 6], "grad": [3, 6, 6, 2]}
    assert d["solver_stats"]["iterations"] == 3 and d["solver_stats"]["matvecs"] == 0
    with Dataset(out) as ds:  # totals over the samples; the solves are part of each sample's wall time
        assert d["solver_stats"]["solve_seconds"] == pytest.approx(ds.stats["solve_seconds"].sum())
        assert d["solver_stats"]["wall_seconds"] == pytest.approx(ds.stats["seconds"].sum())
    assert 0 < d["solver_stats"]["solve_seconds"] <= d["solver_stats"]["wall_seconds"]
    assert d["solver_settings"]["rtol"] == 1e-10 and d["sampler"] == "lhs"
    code, text, _ = rom(capsys, "info", out)
    assert code == 0 and "toy_poisson2d" in text and "grad" in text and "complete: yes" in text
    assert rom(capsys, "info", out, "--check")[0] == 0


def test_generate_list(capsys):
    code, text, _ = rom(capsys, "generate", "--list")
    assert code == 0 and "problems:" in text and "solvers:" in text
    assert "toy_poisson1d" in text and "delay=0.0" in text and "direct" in text
    assert "Toy ``-a u'' = s``" in text


def test_help_shows_defaults(capsys):
    code, text, _ = rom(capsys, "generate", "--help")
    assert code == 0 and "[default: random]" in text and "[default: direct]" in text


@pytest.mark.parametrize("args, message", [
    (["nope", "-n", 2, "--resolution", 8], "unknown problem 'nope'; valid:"),
    (["toy_poisson1d", "-n", 0, "--resolution", 8], "must be positive"),
    (["toy_poisson1d", "-n", 2, "--resolution", 2], "resolution 2 is too small"),
    (["toy_poisson1d", "-n", 2, "--resolution", 8, "--solver", "x"], "unknown solver 'x'; valid:"),
    (["toy_poisson1d", "-n", 2, "--resolution", 8, "--param", "k=1"],
     "unknown option(s) ['k'] for problem toy_poisson1d; valid: ['delay', 'interrupt_at']"),
    (["toy_poisson1d", "-n", 2, "--resolution", 8, "--param", "delay"], "expected KEY=VALUE"),
    (["toy_poisson1d", "-n", 2, "--resolution", 8, "--param", "delay=abc"],
         "option 'delay' of problem 'toy_poisson1d' must be a finite number, got 'abc'"),
        (["toy_poisson1d", "-n", 2, "--resolution", 8, "--param", "interrupt_at=2.5"],
         "option 'interrupt_at' of problem 'toy_poisson1d' must be an integer, got '2.5'"),
        (["toy_poisson1d", "-n", 2, "--resolution", 8, "--param", "delay=inf"],
         "option 'delay' of problem 'toy_poisson1d' must be a finite number, got 'inf'"),
        (["toy_poisson1d", "-n", 2, "--resolution", 8, "--solver", "cg", "--solver-opt",
          "rtol=-1"], "option 'rtol' of solver 'cg' must be a finite number >= 0, got -1.0"),
        (["toy_poisson1d", "-n", 2, "--resolution", 8, "--solver-opt", "maxiter=0"],
         "option 'maxiter' of solver 'direct' must be at least 1, got 0"),
        (["toy_poisson1d", "-n", 2, "--resolution", 8, "--solver-opt", "bogus=1"],
         "unknown option 'bogus' for solver 'direct'; valid:"),
        (["toy_poisson1d", "-n", 2, "--resolution", 8, "--solver", "cg", "--precond", "bogus"],
         "unknown preconditioner 'bogus'"),
    (["toy_poisson1d", "-n", 2, "--resolution", 8, "--sampler", "grid"], "'grid' is not one of"),
    (["toy_poisson1d", "--resolution", 8], "missing option -n"),
    (["-n", 2, "--resolution", 8], "missing argument PROBLEM"),
])
def test_generate_errors_are_one_line(tmp_path, capsys, args, message):
    code, _, err = rom(capsys, "generate", *args, "-o", tmp_path / "d.h5")
    assert code != 0 and message in err
    assert err.startswith("rom: error:") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # no dataset, journal, lock or temporary


def test_generate_refuses_bad_outputs(tmp_path, capsys):
    code, _, err = rom(capsys, "generate", "toy_poisson1d", "-n", 2, "--resolution", 8,
                       "-o", tmp_path / "missing" / "d.h5")
    assert code == 1 and "does not exist" in err
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root can write anywhere
            code, _, err = rom(capsys, "generate", "toy_poisson1d", "-n", 2, "--resolution", 8,
                               "-o", ro / "d.h5")
            assert code == 1 and "not writable" in err
    finally:
        ro.chmod(0o700)
    args = ["generate", "toy_poisson1d", "-n", 2, "--resolution", 8, "--quiet",
            "-o", tmp_path / "d.h5"]
    assert rom(capsys, *args)[0] == 0
    assert rom(capsys, *args)[0] == 0  # the same command again: nothing to do
    code, _, err = rom(capsys, *args, "--seed", 1)
    assert code == 1 and "exists and is complete with other settings; use --overwrite" in err
    assert rom(capsys, *args, "--seed", 1, "--overwrite")[0] == 0


def test_parse_value():
    assert parse_literal("3") == 3 and parse_literal("1e-6") == 1e-6
    assert parse_literal("true") is True and parse_literal("Off") is False
    assert parse_literal("none") is None and parse_literal("ilu") == "ilu"


# --------------------------------------------------------------------------- info CLI
def test_info_errors(tmp_path, capsys):
    code, _, err = rom(capsys, "info", tmp_path / "nope.h5")
    assert code == 1 and "no such file" in err
    (tmp_path / "x.h5").write_text("text")
    code, _, err = rom(capsys, "info", tmp_path / "x.h5")
    assert code == 1 and "not an HDF5 file" in err and err.count("\n") == 1


def test_info_check_finds_problems(tmp_path, capsys):
    write_toy(tmp_path / "d.h5")
    assert rom(capsys, "info", tmp_path / "d.h5", "--check")[0] == 0
    with h5py.File(tmp_path / "d.h5", "a") as f:
        f["outputs/u"][1, 3] = np.nan
        f["parameters/values"][0, 0] = 5.0  # outside [1, 2]
        f.attrs["complete"] = True
        del f["grid"].attrs["cell_type"]
    code, text, err = rom(capsys, "info", tmp_path / "d.h5", "--check")
    assert code == 1 and "3 schema problem(s)" in err
    assert "non-finite values in 1 solved sample(s), first 1" in text
    assert "outside the stored ranges" in text and "missing /grid cell_type" in text
    code, text, _ = rom(capsys, "info", tmp_path / "d.h5", "--check", "--json")
    assert code == 1 and json.loads(text)["ok"] is False


def test_info_check_incomplete_marked_complete(tmp_path, capsys):
    write_toy(tmp_path / "d.h5", complete=True, done=np.array([True, False, True, True]))
    code, text, _ = rom(capsys, "info", tmp_path / "d.h5", "--check")
    assert code == 1 and "marked complete but 1 sample(s) are not done" in text


def test_info_delegates_model_dirs(tmp_path, capsys, monkeypatch):
    import types

    from data.model_dir import write_model_meta

    write_model_meta(tmp_path / "m", "pod", rank=3)
    fake = types.SimpleNamespace(describe=lambda p: {"kind": "pod", "rank": 3})
    monkeypatch.setattr("data.model_kinds.kind_of", lambda p: ({}, fake))
    code, text, _ = rom(capsys, "info", tmp_path / "m", "--json")
    assert code == 0 and json.loads(text) == {"kind": "pod", "rank": 3}
