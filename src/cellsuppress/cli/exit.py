"""How a command ends: its exit code, and a one-line message for an error.

0 success (``audit``: the table is safe); 1 not safe (``audit``: some cell is disclosed;
``protect``: the result failed its audit, which should not happen; ``protect-many``: some table
failed, named in the summary); 2 bad input (unreadable file, bad codes or counts, bad
arguments): a one-line ``error: ...`` on stderr, no traceback (``--traceback`` shows it); 3 an
internal error (a bug to report), also on one line; 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ..errors import CellSuppressError

OK = 0
NOT_SAFE = 1
BAD_INPUT = 2
INTERNAL_ERROR = 3
CTRL_C = 130  # as a shell reports a process ended by Ctrl-C (128 + SIGINT)


class UsageError(CellSuppressError):
    """Bad command-line arguments (exit code 2)."""


def exit_code(command: Callable[[], int], show_traceback: bool = False) -> int:
    """Run ``command`` and turn how it ends into the exit code; errors are reported on one line
    of stderr (``show_traceback``: raised instead)."""
    try:
        return int(command())
    except BrokenPipeError:  # e.g. `cellsuppress audit ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return NOT_SAFE
    except (ValueError, OSError) as e:  # our errors are ValueError subclasses; OSError: files
        if show_traceback:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return CTRL_C
    except Exception as e:  # a bug, not bad input: exit 3 (an uncaught exception's 1 would say "not safe")
        if show_traceback:
            raise
        print(f"internal error: {type(e).__name__}: {one_line(e)} (please report it; --traceback shows where)",
              file=sys.stderr)
        return INTERNAL_ERROR


def one_line(e: BaseException) -> str:
    """The error's message on one line; a file error names the file."""
    if isinstance(e, FileNotFoundError) and e.filename:
        return f"file not found: {e.filename}"
    if isinstance(e, OSError) and e.filename and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return " ".join(str(e).split()) or type(e).__name__
