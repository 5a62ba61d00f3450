"""The ``cellsuppress`` command: ``audit``, ``protect``, ``protect-many``, ``synth`` and ``convert``.

:func:`main` parses the command line (:mod:`.parser`) and runs the command's module
(:mod:`.audit`, :mod:`.protect`, :mod:`.many`, :mod:`.synth`, :mod:`.convert`), which read their
inputs through :mod:`.inputs` and write through :mod:`.outputs`. The exit codes, 0 success, 1
not safe, 2 bad input, 3 an internal error, are in :mod:`.exit`.
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from .exit import UsageError, exit_code
from .parser import build_parser
from .synth import parse_levels

__all__ = ["main", "build_parser", "parse_levels", "UsageError"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return exit_code(lambda: _run(argv), show_traceback="--traceback" in argv)


def _run(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version
        return int(e.code or 0)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return args.func(args)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)
