"""Running the ``rom`` command in process."""

from __future__ import annotations

from cli.main import main


def rom(capsys, *args) -> tuple[int, str, str]:
    """Run ``rom ARGS`` in process; return (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err
