"""Library messages speak of the data; the CLI names its flags (issue 15, items 13 and 14)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import error_text, main
from data.errors import OptionError

ROOT = Path(__file__).resolve().parents[2]
FLAG_OR_COMMAND = re.compile(r"(?<![-\w])--[a-z]|`rom |\brom (train|generate|evaluate|info|"
                             r"export|merge|bench|import|pipeline|slurm)\b")


def strings(path: Path):
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_no_library_message_names_a_command_line_flag():
    found = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
             for package in ("solvers", "data", "rom", "operators")
             for path in sorted((ROOT / package).rglob("*.py"))
             for line, text in strings(path) if FLAG_OR_COMMAND.search(text)]
    assert found == []


def test_option_errors_name_the_keyword_in_python_and_the_flag_on_the_command_line():
    exc = OptionError("d: is a directory; only {option} reads directories", "fmt", "the-well")
    assert str(exc) == "d: is a directory; only fmt='the-well' reads directories"
    assert error_text(exc, ["import", "d", "--format", "pdebench"]) == \
        "d: is a directory; only --format the-well reads directories"
    exc = OptionError("out.h5 exists and is complete; use {option} to regenerate it", "overwrite")
    assert str(exc).endswith("use overwrite=True to regenerate it")
    assert error_text(exc, ["--threads", "1", "generate", "x"]).endswith("use --overwrite to "
                                                                         "regenerate it")
    exc = OptionError("no output array; name one with {option}", "outputs", None)
    assert error_text(exc, ["import", "x.npz"]) == "no output array; name one with --output"


def test_an_import_error_names_the_import_flag(tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["import", str(tmp_path / "dir"), "-o", str(tmp_path / "o.h5"), "--format",
              "pdebench"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "only --format the-well reads directories" in err


def test_library_warnings_are_one_line():
    """A warning raised under ``rom`` is one ``rom: warning:`` line, without the source file
    and code line Python's default format adds."""
    code = ("import warnings, cli.main as m\n"
            "m.cli.main = lambda **kw: warnings.warn('greedy stopped\\n at N=3', RuntimeWarning)\n"
            "m.main([])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stderr == "rom: warning: greedy stopped at N=3\n"
