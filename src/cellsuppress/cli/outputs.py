"""The outputs a command writes: checked before any input is read or any table solved (each
can be written, none is an input or another output), and written whole or not at all.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ..release import cells_frame
from .exit import UsageError
from .inputs import input_paths


def check_outputs(args, *options: str) -> None:
    """Every output the options name can be written (its directory exists and is writable, it is
    not a directory, not the input, not another output), before any reading or solving."""
    seen = {Path(p).resolve(): "INPUT" for p in input_paths(args)}
    for opt in options:
        path = getattr(args, opt.lstrip("-").replace("-", "_"))
        if not path:
            continue
        p = Path(path)
        other = seen.get(p.resolve())
        if other:
            raise UsageError(f"{opt} {path} is also {'the input' if other == 'INPUT' else other}: give another file")
        seen[p.resolve()] = opt
        if p.is_dir():
            raise UsageError(f"{opt} {path} is a directory; give a file name")
        if not p.parent.is_dir():
            raise UsageError(f"{opt} {path}: directory {p.parent} does not exist")
        if not os.access(p.parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
            raise UsageError(f"{opt} {path}: not writable")


def output_dirs(args, names: list[str]) -> dict[str, list[Path]]:
    """Several tables: -o, --published and --html are directories, one file per table in each.
    Checked before any reading or solving: each directory exists or can be made, and no output
    is an input or another output."""
    seen = {Path(p).resolve(): "an input" for p in args.input}
    out: dict[str, list[Path]] = {}
    for opt, suffix in (("--output", ".csv"), ("--published", ".csv"), ("--html", ".html")):
        d = getattr(args, opt.lstrip("-"))
        if not d:
            continue
        p = Path(d)
        if p.exists() and not p.is_dir():
            raise UsageError(f"{opt} {d}: with several tables this is a directory (one file per table), "
                             "and a file of that name exists")
        base = p if p.exists() else p.parent
        if not base.is_dir():
            raise UsageError(f"{opt} {d}: directory {p.parent} does not exist")
        if not os.access(base, os.W_OK | os.X_OK):
            raise UsageError(f"{opt} {d}: not writable")
        files = [p / f"{name}{suffix}" for name in names]
        for f in files:
            other = seen.get(f.resolve())
            if other:
                raise UsageError(f"{opt} {d} would write {f}, which is also {other}: give another directory")
            seen[f.resolve()] = f"written for {opt}"
            if f.exists() and not os.access(f, os.W_OK):
                raise UsageError(f"{opt} {d}: {f} is not writable")
        out[opt] = files
    return out


@contextmanager
def atomic(path: str):
    """A temporary file beside ``path`` (same suffix: solvers choose the format by it) that
    replaces ``path`` only when the block succeeds, so an interrupted run leaves no half-written
    file. Yields the temporary name; a block that removes it writes nothing."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.stem}.", suffix=f".part{p.suffix}")
    os.close(fd)
    try:
        yield tmp
        if os.path.exists(tmp):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a new file gets the usual mode
            os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(frame: pd.DataFrame, path: str) -> None:
    with atomic(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_cells(frame: pd.DataFrame, table, path: str) -> None:
    """Every cell of a result (its ``frame``) with its value, status, ``hidden`` and the input's other
    columns: what ``protect -o`` writes for a CSV table."""
    write_csv(cells_frame(frame, table), path)
