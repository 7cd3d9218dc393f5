"""Issue 15 item 13: `rom evaluate` (ROM kinds) and `rom export` report progress on piped
stderr (periodic one-line reports), and `--quiet` silences them."""

from __future__ import annotations

import pytest

from data.model_kinds import train_model
from tests.helpers.cli import rom
from tests.helpers.toys import Heat1D, Poisson2D, write_toy


def _lines(err: str, prefix: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith(prefix)]


@pytest.fixture(scope="module")
def rb_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("rb")
    from cli.main import main
    try:
        main(["generate", "thermal_block", "-n", "5", "--resolution", "9", "--seed", "3",
              "-o", str(d / "tb.h5"), "--quiet"])
    except SystemExit as exc:
        assert not exc.code
    train_model("rb", d / "tb.h5", d / "rb", train_size=20, max_basis=3)
    return d / "rb", d / "tb.h5"


@pytest.mark.parametrize("quiet", [False, True])
def test_piped_evaluate_of_a_rom_kind_reports_samples(rb_model, capsys, monkeypatch, quiet):
    monkeypatch.setenv("ROM_PROGRESS_INTERVAL", "0")
    model, data = rb_model
    code, out, err = rom(capsys, "evaluate", model, data, "--json", *(["--quiet"] if quiet else []))
    assert code == 0, err
    lines = _lines(err, "evaluate rb: ")
    if quiet:
        assert lines == [] and "samples" not in err
        return
    assert len(lines) >= 5 and lines[0].startswith("evaluate rb: 1/5 samples"), err
    assert lines[-1].startswith("evaluate rb: 5/5 samples") and "elapsed" in lines[-1]
    assert out.lstrip().startswith("{")    # stdout stays the JSON record


@pytest.mark.parametrize("quiet", [False, True])
def test_piped_export_reports_steps_and_samples(tmp_path, capsys, monkeypatch, quiet):
    monkeypatch.setenv("ROM_PROGRESS_INTERVAL", "0")
    q = ["--quiet"] if quiet else []
    write_toy(tmp_path / "t.h5", n=2, problem=Heat1D(9, n_out=4))
    code, _, err = rom(capsys, "export", tmp_path / "t.h5", "--format", "xdmf",
                       "-o", tmp_path / "view.xdmf", *q)
    assert code == 0, err
    steps = _lines(err, "export xdmf: ")
    write_toy(tmp_path / "s.h5", n=3, problem=Poisson2D(6))
    code, _, err = rom(capsys, "export", tmp_path / "s.h5", "--format", "vtu",
                       "-o", tmp_path / "s.vtu", *q)
    assert code == 0, err
    samples = _lines(err, "export vtu: ")
    if quiet:
        assert steps == [] and samples == []
        return
    assert steps[-1].startswith("export xdmf: 4/4 steps") and "elapsed" in steps[-1], steps
    assert len(steps) >= 4
    # every field of every sample is one step of the steady export
    assert samples[-1].split(",")[0].endswith(" samples") and "elapsed" in samples[-1]
    done, total = samples[-1].split(": ")[1].split(" ")[0].split("/")
    assert done == total and int(total) % 3 == 0
