"""The pipeline config is checked against its schema before anything runs (issue 15, item 11)."""

from __future__ import annotations

import copy

import pytest
import yaml

from cli import pipeline_steps as ps
from cli.main import main
from cli.pipeline_config import validate_config

BASE = {"datasets": {"train": {"problem": "thermal_block", "n": 4, "resolution": 9}},
        "models": {"rb": {"kind": "rb", "data": "train", "options": {"max-basis": 5}}},
        "evaluate": {"data": "train"}}


def _rename(section: dict, old: str, new: str) -> None:
    section[new] = section.pop(old)


CASES = {
    # misspelt keys at every level: the nearest valid key is named
    "modles": (lambda c: _rename(c, "models", "modles"), "unknown key 'modles'; did you mean 'models'?"),
    "sead": (lambda c: c["datasets"]["train"].update(sead=3), "unknown key 'sead'; did you mean 'seed'?"),
    "optons": (lambda c: _rename(c["models"]["rb"], "options", "optons"),
               "model 'rb': unknown key 'optons'; did you mean 'options'?"),
    "dataa": (lambda c: c.update(evaluate={"dataa": "train"}),
              "evaluate: unknown key 'dataa'; did you mean 'data'?"),
    "option": (lambda c: c["models"]["rb"]["options"].update({"max-basi": 3}),
               "unknown rb option 'max-basi'; did you mean 'max-basis'?"),
    "param": (lambda c: c["datasets"]["train"].update(params={"blocks_xx": 3}),
              "unknown thermal_block option 'blocks_xx'; did you mean 'blocks_x'?"),
    "solver_opt": (lambda c: c["datasets"]["train"].update(solver_options={"rtoll": 1e-3}),
                   "unknown direct solver option 'rtoll'; did you mean 'rtol'?"),
    # names checked against the registries up front
    "kind": (lambda c: c["models"]["rb"].update(kind="podd"), "unknown kind 'podd'"),
    "problem": (lambda c: c["datasets"]["train"].update(problem="darcyy"),
                "unknown problem 'darcyy'; did you mean 'darcy'?"),
    "solver": (lambda c: c["datasets"]["train"].update(solver="cgg"), "unknown solver 'cgg'"),
    "dataset_ref": (lambda c: c["models"]["rb"].update(data="tain"), "unknown dataset 'tain'"),
    # types and values
    "n_type": (lambda c: c["datasets"]["train"].update(n="four"), "'n' must be an integer"),
    "missing": (lambda c: c["datasets"]["train"].pop("resolution"), "missing 'resolution'"),
    "value": (lambda c: c["models"]["rb"]["options"].update({"max-basis": "abc"}),
              "model 'rb' option 'max_basis': 'abc' is not a valid integer"),
    # file names confined to the run directory
    "escape": (lambda c: c["datasets"].update({"../../escape": c["datasets"]["train"]}),
               "dataset name '../../escape' must be a plain name"),
    "model_escape": (lambda c: c["models"].update({"../m": c["models"]["rb"]}),
                     "model name '../m' must be a plain name"),
    "report_escape": (lambda c: c.update(report={"output": "../../report.html"}),
                      "must be a relative path inside the run directory"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_stops_before_anything_runs(case, tmp_path, capsys):
    mutate, expected = CASES[case]
    cfg = copy.deepcopy(BASE)
    mutate(cfg)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["pipeline", str(path), "-o", str(run_dir)])
    err = capsys.readouterr().err
    assert exc.value.code == 1, err
    assert err.startswith(f"rom: error: {path}: ") and len(err.strip().splitlines()) == 1
    assert expected in err
    assert not run_dir.exists() and not (tmp_path / "escape").exists()


def test_defaults_and_option_spelling():
    cfg = validate_config(BASE)
    assert cfg["datasets"]["train"]["seed"] == 0 and cfg["datasets"]["train"]["sampler"] == "random"
    assert cfg["models"]["rb"]["options"] == {"max_basis": 5}
    assert cfg["report"] == {"output": "report.html"}
    assert validate_config(cfg) == cfg


def test_flags_follow_the_declared_options(tmp_path):
    """A flag option that defaults to true is turned off with --no-X (it used to be dropped),
    a ``pairs`` option takes a mapping, and option names may use - or _."""
    cfg = {"datasets": {"train": {"problem": "thermal_block", "n": 2, "resolution": 8}},
           "models": {"f": {"kind": "fno", "data": "train",
                            "options": {"grid-embedding": False, "data_on_device": False,
                                        "batch_size": 4, "arch": {"act": "gelu"}}}}}
    train = next(s for s in ps.plan(cfg, tmp_path) if s.name == "train:f")
    assert train.args[5:] == ("--no-grid-embedding", "--batch-size", "4", "--arch", 'act="gelu"')
