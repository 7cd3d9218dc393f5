"""Issue 15 item 13: `rom evaluate` of the kinds local, galerkin and opinf reports its
samples on piped stderr (one line per update with ``ROM_PROGRESS_INTERVAL=0``, a final
line with the elapsed time), and ``--quiet`` silences it; stdout stays the JSON record."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.helpers.cli import rom

BURGERS = ["--resolution", "32", "--param", "nu=0.05", "--param", "nu_max=0.2",
           "--param", "n_out=11", "--param", "t_final=0.2", "--param", "n_modes=4"]


def _lines(err: str, prefix: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith(prefix)]


def _run(*args) -> None:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, res.output


def _generate(d, problem, n, seed, *args):
    _run("generate", problem, "-n", n, "--seed", seed, *args, "-o", d / f"{problem}{seed}.h5",
         "--quiet")
    return d / f"{problem}{seed}.h5"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Small trained models of each kind, with the test set each evaluates on."""
    d = tmp_path_factory.mktemp("kinds")
    ad_tr = _generate(d, "advection_diffusion", 16, 1, "--resolution", 8)
    ad_te = _generate(d, "advection_diffusion", 5, 2, "--resolution", 8)
    bu_tr = _generate(d, "burgers", 6, 0, *BURGERS)
    bu_te = _generate(d, "burgers", 5, 1, *BURGERS)
    out = {}
    for kind, train, test, args in (
            ("local", ad_tr, ad_te, ["--clusters", "2", "--modes", "3"]),
            ("galerkin", bu_tr, bu_te, ["--modes", "4", "--hyper", "deim",
                                        "--hyper-points", "8"]),
            ("opinf", bu_tr, bu_te, ["--modes", "3"])):
        _run("train", kind, train, "-o", d / kind, "--quiet", *args)
        out[kind] = (d / kind, test)
    return out


@pytest.mark.parametrize("quiet", [False, True])
@pytest.mark.parametrize("kind", ["local", "galerkin", "opinf"])
def test_piped_evaluate_reports_samples(models, capsys, monkeypatch, kind, quiet):
    monkeypatch.setenv("ROM_PROGRESS_INTERVAL", "0")
    model, data = models[kind]
    code, out, err = rom(capsys, "evaluate", model, data, "--json",
                         *(["--quiet"] if quiet else []))
    assert code == 0, err
    lines = _lines(err, f"evaluate {kind}: ")
    record = json.loads(out.strip().splitlines()[-1])   # stdout stays the JSON record
    assert record["model"] == kind and record["n_samples"] == 5
    if quiet:
        assert lines == [] and "samples" not in err, err
        return
    # one line per sample (interval 0), then the final one: every sample is counted once
    assert [ln.split(",")[0] for ln in lines[:5]] == \
        [f"evaluate {kind}: {i}/5 samples" for i in range(1, 6)], err
    assert lines[-1].startswith(f"evaluate {kind}: 5/5 samples") and "elapsed" in lines[-1]
    assert len(lines) == 6, err
