"""``rom bench solvers``: the JSON record, the table and one-line errors."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli, main


def test_cli_bench_solvers_json_and_errors():
    runner = CliRunner()
    res = runner.invoke(cli, ["bench", "solvers", "darcy", "-r", "12", "-n", "3", "--json",
                              "--strategies", "splu,pyamg-cg,ic-cg,amg-cg,auto"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.output)
    assert rec["n_systems"] == 3 and set(rec["strategies"]) == {"splu", "pyamg-cg", "ic-cg",
                                                                 "amg-cg", "auto"}
    assert all(r["all_converged"] and r["max_residual"] <= 1e-8
               for r in rec["strategies"].values())
    res = runner.invoke(cli, ["bench", "solvers", "advection_diffusion", "-r", "10", "-n", "2",
                              "--order", "sorted"])
    assert res.exit_code == 0 and "gcrodr-ilu" in res.output


def test_cli_bench_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "solvers", "darcy", "-r", "12", "-n", "1", "--strategies", "splu,bogus"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.count("\n") == 1
    assert err.startswith("rom: error: unknown strategy 'bogus'; valid: splu, pyamg-cg")
    with pytest.raises(SystemExit) as exc:
        main(["bench", "solvers", "heat", "-r", "12", "-n", "1"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.startswith("rom: error: heat is time-dependent")


def test_cli_bench_param_is_key_value():
    runner = CliRunner()
    res = runner.invoke(cli, ["bench", "solvers", "darcy", "-r", "12", "-n", "1",
                              "--strategies", "splu", "--param", "nokey"])
    assert res.exit_code == 2 and "expected KEY=VALUE" in res.output
    res = runner.invoke(cli, ["bench", "solvers", "darcy", "-r", "12", "-n", "0"])
    assert res.exit_code == 2 and "must be at least 1" in res.output
