"""The ``cellsuppress`` command: ``audit``, ``protect``, ``protect-many``, ``synth`` and ``convert``.

Exit codes: 0 success (``audit``: the table is safe), 1 not safe (``audit``:
some cell is disclosed; ``protect``: the result failed its audit, which
should not happen; ``protect-many``: some table failed, named in the summary),
2 bad input (unreadable file, bad codes or counts, bad
arguments): a one-line ``error: ...`` on stderr, no traceback (``--traceback``
shows it); 3 an internal error (a bug to report), also on one line.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .errors import CellSuppressError, TableError, VerificationError
from .params import METHODS
from .rules import PRESETS
from .release import cells_frame, denominators, whole_as_int
from .release.crosstab import crosstabs

PRESET_CHOICES = tuple(PRESETS)
COST_CHOICES = ("value", "unity", "log", "file")


class UsageError(CellSuppressError):
    """Bad command-line arguments (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument on one line and exits with 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cellsuppress",
                description="Protect count tables by cell suppression, and audit suppressed tables.")
    p.add_argument("--version", action="version", version=f"cellsuppress {__version__}")
    p.add_argument("--traceback", action="store_true",
                   help="show the full traceback instead of a one-line error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    # -- audit -------------------------------------------------------------
    a = sub.add_parser("audit", help="prove or refute that a suppressed table is safe",
                       description="Audit a suppressed table: exit 0 when safe, 1 when not, 2 on bad input.")
    a.add_argument("input", metavar="INPUT", nargs="+",
                   help="a .csv table (published with markers, or true values with --hidden-column) or a "
                        "tau-ARGUS .jj file; several .csv tables of one population (linked tables, sharing "
                        "margins) are audited together, the attacker reading them all")
    _table_args(a)
    a.add_argument("--hidden-column", metavar="COL",
                   help="CSV with true counts: column marking the hidden cells (1/0, true/false or yes/no; "
                        "cells without a row, e.g. computed margins, are published)")
    a.add_argument("--markers", metavar="LIST",
                   help="comma-separated suppression markers in the count column "
                        "(default: '', NA, *, x, X, S, D, <20, <=20, ..)")
    a.add_argument("--hidden", metavar="FILE.txt",
                   help="JJ input: 0-based indices of the hidden cells, one per line "
                        "(default: the cells with status m)")
    _rule_args(a)
    a.add_argument("--integer", action="store_true",
                   help="integer attacker (ILP bounds; tighter, slower) instead of LP bounds")
    a.add_argument("-o", "--output", metavar="REPORT.csv",
                   help="write the per-cell report here (linked tables: one report, cells named by their codes "
                        "over every dimension, a dimension a table lacks at its total)")
    a.add_argument("--quiet", action="store_true", help="no progress on stderr")
    a.set_defaults(func=cmd_audit)

    # -- protect -----------------------------------------------------------
    q = sub.add_parser("protect", help="choose the cells to hide (primary and secondary)",
                       description="Protect a table: every sensitive cell and the cheapest set of other cells "
                                   "that protects it are hidden; the result is audited. Several tables of one "
                                   "population (linked: they share margins) are protected together, against an "
                                   "attacker who reads them all: several inputs, each with its --dims list "
                                   "(a.csv b.csv --dims 'age,sex;age,region' --count n -o DIR), or crosstabs of "
                                   "one file of people (people.csv --microdata --dims 'age,sex;age,region' -o DIR).")
    q.add_argument("input", metavar="INPUT", nargs="+",
                   help="a .csv table of true counts or a tau-ARGUS .jj file; several .csv tables of one population "
                        "(linked tables, sharing margins) are protected together, each with its --dims list")
    _table_args(q)
    q.add_argument("--microdata", action="store_true",
                   help="the input has one row per person: each --dims list is a table of counts of its rows "
                        "(e.g. --dims 'age,sex;age,race;sex,race' for three linked tables); no --count")
    q.add_argument("--status-column", metavar="COL",
                   help="column of the input that fixes cells: 'published' (must stay published, e.g. already "
                        "released) or 'hidden' ('primary'/'secondary', as -o writes, also mean hidden); empty "
                        "where protect chooses. Linked tables: applies to the inputs that have it")
    _rule_args(q)
    _solve_args(q)
    q.add_argument("--export-model", metavar="FILE.mps", help="write the master MILP to this file")
    q.add_argument("--published", metavar="OUT.csv",
                   help="also write the table as published: a marker in place of every hidden value")
    q.add_argument("--marker", default="*", help="marker for hidden values in --published (default '*')")
    q.add_argument("--percent", metavar="row|column|total|DIM[,DIM]",
                   help="with --published: add a percent column, each cell's share of its row total (the last "
                        "dimension's total), column total (the first dimension's), the grand total, or the total "
                        "over the named dimensions; shown only where the count and its total are both published")
    q.add_argument("--decimals", type=_non_negative_int, default=1, metavar="N",
                   help="decimal places of --percent, rounded half up (default 1)")
    q.add_argument("--html", metavar="FILE.html",
                   help="also write a self-contained page: the table as crosstabs, hidden cells marked, "
                        "the attacker's interval of each on hover")
    q.add_argument("--slice-by", metavar="DIM[,DIM]",
                   help="with --html: one crosstab per code of these dimensions (default: all but the last two)")
    q.add_argument("-o", "--output", metavar="OUTPUT", required=True,
                   help="CSV input: every cell with its value, status (primary/secondary/published), hidden "
                        "and the input's other columns; "
                        "JJ input: the 0-based indices of the hidden cells, one per line. Several tables: a "
                        "directory (made if missing) with one NAME.csv per table, NAME the input file's name "
                        "or, with --microdata, the table's dimensions joined by '_'; --published and --html are "
                        "then directories too")
    q.add_argument("--quiet", action="store_true", help="no progress on stderr")
    q.set_defaults(func=cmd_protect)

    # -- protect-many ------------------------------------------------------
    m = sub.add_parser("protect-many", help="protect many independent tables, in parallel",
                       description="Protect many tables of the same layout (one --dims list and one --count "
                                   "column for all), each on its own (as protect does), on local worker "
                                   "processes or a Dask cluster: cellsuppress protect-many tables/ --dims "
                                   "region,age --count n -o out/. One output per table (OUTDIR/NAME.csv, as "
                                   "protect -o writes it) and a summary CSV with a row per table; a table that "
                                   "fails is named in its row and the others go on. Exit 0 when every table was "
                                   "protected, 1 when some failed (see the summary), 2 on bad arguments; Ctrl-C "
                                   "stops it with the summary of what was done (exit 130). Tables "
                                   "that share cells belong together: protect them as linked tables with protect.")
    m.add_argument("input", metavar="INPUT", nargs="+",
                   help="CSV tables of true counts, or directories of them (every *.csv in it); each "
                        "table's outputs are named by its file's name")
    _table_args(m)
    _rule_args(m)
    _solve_args(m)
    m.add_argument("-o", "--output", metavar="OUTDIR", required=True,
                   help="directory (made if missing) for one NAME.csv per table: every cell with its value, "
                        "status (primary/secondary/published), hidden and the input's other columns")
    m.add_argument("--summary", metavar="FILE.csv",
                   help="the summary, one row per table: name, cells, hidden, cost, lower_bound, gap, optimal, "
                        "verdict (SAFE or ERROR), seconds, error (default OUTDIR/summary.csv)")
    m.add_argument("--workers", type=_positive_int, metavar="N",
                   help="local worker processes (default: one per core; 1: in this process)")
    m.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask cluster of this scheduler (e.g. tcp://scheduler:8786) instead of local "
                        "processes; needs the dask extra (pip install 'cellsuppress[dask]'), and its workers need "
                        "cellsuppress and the same paths to the inputs and OUTDIR (a shared file system): each "
                        "worker reads its tables and writes their outputs")
    m.add_argument("--quiet", action="store_true", help="no progress on stderr")
    m.set_defaults(func=cmd_protect_many, published=None, html=None, microdata=False)

    # -- synth -------------------------------------------------------------
    s = sub.add_parser("synth", help="generate a synthetic count table",
                       description="Write <NAME>.csv (and <NAME>_<dim>_hierarchy.csv per hierarchical dimension).")
    s.add_argument("--dims", type=int, help="number of dimensions (default: as many as --levels gives)")
    s.add_argument("--levels", default="10", metavar="SPEC",
                   help="codes per level per dimension: '10,10,10' (three flat dimensions), "
                        "'5x4,10' (5 top codes with 4 children each, and a flat dimension of 10); "
                        "one spec applies to every dimension")
    s.add_argument("--names", metavar="A,B,...", help="dimension names (default A, B, C, ...)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--mean", type=float, default=30.0)
    s.add_argument("--small-share", type=float, default=0.2)
    s.add_argument("--zero-share", type=float, default=0.05)
    s.add_argument("--skewed", action="store_true", help="negative binomial counts: many small, few large")
    s.add_argument("--threshold", type=int, default=20)
    s.add_argument("-o", "--output", metavar="DIR", required=True)
    s.add_argument("--name", required=True)
    s.set_defaults(func=cmd_synth)

    # -- convert -----------------------------------------------------------
    c = sub.add_parser("convert", help="CSV table -> tau-ARGUS JJ, or JJ -> CSV of cells",
                       description="INPUT.csv -> OUT.jj (cells with 1..threshold get status u and strict "
                                   "protection levels), or INPUT.jj -> OUT.csv (one row per cell).")
    c.add_argument("input", metavar="INPUT")
    _table_args(c)
    c.add_argument("--threshold", type=float, default=20,
                   help="CSV -> JJ: cells with 1..T are written unsafe (u) with LPL=value, UPL=T+1-value; "
                        "0 writes every cell safe (s)")
    c.add_argument("-o", "--output", metavar="OUT", required=True)
    c.set_defaults(func=cmd_convert)
    return p


def _table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dims", metavar="A,B[,C]",
                   help="dimension columns (CSV input); several tables: one list per table, separated by ';' "
                        "(e.g. 'age,sex;age,race')")
    p.add_argument("--count", metavar="COL",
                   help="count column (CSV input); several inputs: one, or one per input separated by ';'")
    p.add_argument("--hierarchy", action="append", default=[], metavar="DIM=FILE.csv",
                   help="parent,child CSV of a hierarchical dimension (of every table that has it); may repeat")
    p.add_argument("--total-code", default="Total", help="code of the total of flat dimensions (default Total)")
    p.add_argument("--sep", default=",", type=_separator,
                   help="column separator of the CSV input and hierarchy files (default ','; '\\t' or tab for tabs)")


def _separator(text: str) -> str:
    sep = {"\\t": "\t", "tab": "\t"}.get(text.lower(), text)
    if len(sep) != 1:
        raise argparse.ArgumentTypeError(f"a separator is one character, got {text!r}")
    return sep


def _positive_int(text: str) -> int:
    n = _non_negative_int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return n


def _non_negative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return n


def _rule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=PRESET_CHOICES,
                   help="protection required (default: the input's own protection levels, custom, when it "
                        "has them, as a .jj file does; else strict)")
    p.add_argument("--threshold", type=float, default=20, help="counts 1..T are sensitive (default 20)")
    p.add_argument("--hidden-nonzero", action="store_true",
                   help="zeros are never hidden, so the attacker knows hidden cells are >= 1")


def _ran(result, args) -> str:
    """The method that ran (``auto`` picks one per part of the table)."""
    return result.stats.get("method", args.method) if hasattr(result, "stats") else args.method


def _solve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cost", choices=COST_CHOICES,
                   help="information loss per hidden cell (default: the input's costs, file, when it "
                        "carries them, as a .jj file does; else value)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto (default): optimal up to 10,000 cells per independent part of the table, above "
                        "that modular (hierarchical tables) or local (tables without hierarchy); fast: the "
                        "heuristic alone")
    p.add_argument("--time-limit", type=float, metavar="S", help="seconds; returns the best audited pattern")
    p.add_argument("--mip-gap", type=float, default=0.0, metavar="G", help="relative gap to stop at (default 0)")
    p.add_argument("--solver", choices=("highs", "cbc"), default="highs")


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    show_tb = "--traceback" in argv
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version
            return int(e.code or 0)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.func(args))
    except BrokenPipeError:  # e.g. `cellsuppress audit ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, OSError) as e:  # our errors are ValueError subclasses; OSError: files
        if show_tb:
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: exit 3 (an uncaught exception's 1 would say "not safe")
        if show_tb:
            raise
        print(f"internal error: {type(e).__name__}: {_one_line(e)} (please report it; --traceback shows where)",
              file=sys.stderr)
        return 3


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def _one_line(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError) and e.filename:
        return f"file not found: {e.filename}"
    if isinstance(e, OSError) and e.filename and e.strerror:
        return f"{e.filename}: {e.strerror}"
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg


# ---------------------------------------------------------------------------
# reading tables
# ---------------------------------------------------------------------------
def _inputs(args) -> list[str]:
    return args.input if isinstance(args.input, list) else [args.input]


def _is_jj(path: str) -> bool:
    return Path(path).suffix.lower() == ".jj"


def _split(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _need_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if p.is_dir():
        raise UsageError(f"{path} is a directory, not a file")
    return p


def _dims_lists(args) -> list[list[str]]:
    """``--dims``: one list of dimension columns per table, separated by ';'."""
    lists = [_split(part) for part in (args.dims or "").split(";")]
    if not any(lists):
        raise UsageError("--dims is required for CSV input (e.g. --dims region,age)")
    if not all(lists):
        raise UsageError(f"--dims {args.dims!r} has an empty list of dimensions")
    return lists


def _several(args) -> bool:
    """Several tables (linked): several inputs, or several --dims lists."""
    return len(args.input) > 1 or (args.dims is not None and ";" in args.dims)


def _hierarchies(args, dims: list[str]) -> dict:
    from .tables.hierarchy import Hierarchy

    out = {}
    for spec in args.hierarchy:
        dim, sep, file = spec.partition("=")
        dim, file = dim.strip(), file.strip()
        if not sep or not dim or not file:
            raise UsageError(f"--hierarchy needs DIM=FILE.csv, got {spec!r}")
        if dim not in dims:
            raise UsageError(f"--hierarchy {dim}=...: {dim!r} is not one of --dims {','.join(dims)}")
        if dim in out:
            raise UsageError(f"--hierarchy given twice for {dim!r}")
        with _reading(file, args.sep):
            out[dim] = Hierarchy.from_csv(_need_file(file), name=dim, sep=args.sep)
    return out


@dataclass
class _Input:
    """A table read from the command line's input: ``name`` names its outputs."""

    name: str
    table: object
    path: str
    dims: list[str]
    count: str | None


def _load_tables(args, published: bool = False, markers=None) -> list[_Input]:
    """The tables of the inputs: one per CSV input with its --dims list and --count, or with
    --microdata one per --dims list, counting the rows of the one input."""
    from .tables.table import Table

    paths = _inputs(args)
    lists = _dims_lists(args)
    union = list(dict.fromkeys(d for dims in lists for d in dims))
    hier = _hierarchies(args, union)
    if getattr(args, "microdata", False):
        if len(paths) != 1:
            raise UsageError(f"--microdata takes one input file (one row per person), got {len(paths)}")
        if args.count:
            raise UsageError("--count is for tables of counts; with --microdata each cell counts the input's rows")
        with _reading(paths[0], args.sep):
            df = _read_csv(paths[0], union, args.sep)
            return [_Input("_".join(dims), Table.from_microdata(df, dims=dims, total_code=args.total_code,
                                                               hierarchies={d: hier[d] for d in dims if d in hier}),
                           paths[0], dims, None) for dims in lists]
    counts = [c.strip() for c in (args.count or "").split(";")]
    if not all(counts):
        raise UsageError("--count is required for CSV input (e.g. --count n); with one row per person, use "
                         "--microdata")
    n = len(paths)
    if len(lists) == 1:
        lists = lists * n
    if len(counts) == 1:
        counts = counts * n
    if len(lists) != n:
        raise UsageError(f"--dims gives {len(lists)} lists for {n} input(s): give one per input, separated by "
                         "';' (or use --microdata to cut several tables from one file of one row per person)")
    if len(counts) != n:
        raise UsageError(f"--count gives {len(counts)} columns for {n} inputs: give one, or one per input "
                         "separated by ';'")
    out = []
    for path, dims, count in zip(paths, lists, counts):
        sub = {d: hier[d] for d in dims if d in hier}
        with _reading(path, args.sep):
            df = _read_csv(path, dims, args.sep)
            if published:
                t = Table.from_published(df, dims=dims, count=count, hierarchies=sub, total_code=args.total_code,
                                         markers=markers)
            else:
                t = Table.from_frame(df, dims=dims, count=count, hierarchies=sub, total_code=args.total_code)
        out.append(_Input(Path(path).stem, t, path, dims, count))
    return out


def _load_csv_table(args, published: bool, markers=None):
    return _load_tables(args, published, markers)[0].table


def _read_csv(path: str, dims: list[str], sep: str) -> pd.DataFrame:
    """Dimension columns as strings (codes like '01' survive); no 'NA' guessing; rows numbered
    by their line in the file, for messages."""
    from .tables.messages import numbered_by_line

    _need_file(path)
    df = pd.read_csv(path, dtype={d: str for d in dims}, keep_default_na=False, sep=sep)
    df.columns = [str(c).strip() for c in df.columns]
    return numbered_by_line(df)


@contextmanager
def _reading(path: str, sep: str):
    """An error while reading a file names it, and hints at the separator when that is the cause."""
    try:
        yield
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text{_first_bad_byte(path)}; save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise UsageError(f"{path} is empty: a CSV table needs a header line and rows") from None
    except pd.errors.ParserError as e:
        raise UsageError(f"{path}: {_one_line(e)}{_sep_hint(path, sep)}") from None
    except TableError as e:
        raise type(e)(f"{path}: {e}{_sep_hint(path, sep)}") from None


def _first_bad_byte(path: str) -> str:
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return f" (line {line}: byte 0x{data[e.start]:02x})"
    return ""


def _sep_hint(path: str, sep: str) -> str:
    """When the header is one column under ``sep`` but several under another separator, say so."""
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError):
        return ""
    if len(header.split(sep)) > 1:
        return ""
    for other, shown in (("\t", "'\\t'"), (";", "';'"), ("|", "'|'"), (",", "','")):
        if other != sep and len(header.split(other)) > 1:
            return f" (the header has one column; the file looks separated by {shown}: try --sep {shown})"
    return ""


def _read_jj(path: str):
    from .io.jj import read_jj

    return read_jj(_need_file(path))


def _read_indices(path: str, n: int) -> np.ndarray:
    """A boolean mask from a file of 0-based cell indices, one per line."""
    mask = np.zeros(n, dtype=bool)
    with open(_need_file(path), encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                i = int(float(s.split()[0]))
            except ValueError:
                raise UsageError(f"{path}, line {lineno}: expected a cell index, got {s!r}") from None
            if not 0 <= i < n:
                raise UsageError(f"{path}, line {lineno}: cell index {i} outside 0..{n - 1}")
            mask[i] = True
    return mask


# ---------------------------------------------------------------------------
# writing outputs: checked before any input is read, written whole or not at all
# ---------------------------------------------------------------------------
def _check_outputs(args, *options: str) -> None:
    """Every output the options name can be written (its directory exists and is writable, it is
    not a directory, not the input, not another output), before any reading or solving."""
    seen = {Path(p).resolve(): "INPUT" for p in _inputs(args)}
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


@contextmanager
def _atomic(path: str):
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


def _write_csv(frame: pd.DataFrame, path: str) -> None:
    with _atomic(path) as tmp:
        frame.to_csv(tmp, index=False)


# ---------------------------------------------------------------------------
# audit
# ---------------------------------------------------------------------------
def cmd_audit(args) -> int:
    from .auditing import audit

    _check_outputs(args, "--output")
    several = _several(args)
    if several:
        _no_jj(args)
    if not several and _is_jj(args.input[0]):
        table = _read_jj(args.input[0])
        if args.hidden_column or args.markers:
            raise UsageError("--hidden-column and --markers are for CSV input; use --hidden for .jj")
        hidden = _read_indices(args.hidden, table.n_cells) if args.hidden else None
    else:
        if args.hidden:
            raise UsageError("--hidden is for .jj input; for CSV use --hidden-column or markers")
        if args.hidden_column:
            if args.markers:
                raise UsageError("--markers and --hidden-column exclude each other")
            inputs = _load_tables(args, published=False)
            hidden = args.hidden_column
        else:
            inputs = _load_tables(args, published=True, markers=_split_markers(args.markers))
            hidden = None
        table = [i.table for i in inputs] if several else inputs[0].table
    report = audit(table, hidden=hidden, preset=args.preset, threshold=args.threshold, integer=args.integer,
                   hidden_nonzero=args.hidden_nonzero, progress=not args.quiet)
    if several:
        print(f"{len(inputs)} linked tables audited together: "
              + ", ".join(f"{i.path} ({' x '.join(i.dims)})" for i in inputs))
    print(report.summary())
    if args.output:
        _write_csv(report.frame, args.output)
        if not args.quiet:
            print(f"report written to {args.output}", file=sys.stderr)
    return 0 if report.ok else 1


def _no_jj(args) -> None:
    jj = [p for p in args.input if _is_jj(p)]
    if jj:
        raise UsageError(f"{jj[0]}: a .jj file has no dimensions, so it cannot be linked with other tables; "
                         "linked tables are CSV tables (or --microdata)")


def _split_markers(text: str | None):
    if text is None:
        return None
    return [m.strip() for m in text.split(",")]


# ---------------------------------------------------------------------------
# protect
# ---------------------------------------------------------------------------
def cmd_protect(args) -> int:
    from .params import follow_table
    from .protect import protect
    from .solvers.base import export_format

    several = _several(args)
    if several:
        _no_jj(args)
    jj = not several and _is_jj(args.input[0])
    if jj and (args.published or args.slice_by or args.status_column or args.microdata):
        opt = next(o for o, v in (("--published", args.published), ("--slice-by", args.slice_by),
                                  ("--status-column", args.status_column), ("--microdata", args.microdata)) if v)
        raise UsageError(f"{opt} needs CSV input (a JJ file has no codes; its statuses m and z fix cells)")
    if args.microdata and args.status_column:
        raise UsageError("--status-column needs tables of counts; --microdata has one row per person")
    if several:
        outputs = _output_dirs(args, _table_names(args))
        _check_outputs(args, "--export-model")
    else:
        _check_outputs(args, "--output", "--published", "--export-model", "--html")
    if args.export_model:
        export_format(args.export_model)  # by its own name: protect() sees a temporary one
    inputs = [] if jj else _load_tables(args, published=False)
    tables = [_read_jj(args.input[0])] if jj else [i.table for i in inputs]
    preset, cost = follow_table(tables[0], args.preset, args.cost)
    if args.percent and not args.published:
        raise UsageError("--percent adds a column to --published: give --published OUT.csv too")
    if args.slice_by and not args.html:
        raise UsageError("--slice-by lays out the --html page: give --html FILE.html too")
    percent = _percent_arg(args.percent)
    slice_by = _split(args.slice_by) or None
    # bad --percent or --slice-by fail here, not after the solve
    for table in tables:
        if percent is not None:
            denominators(table, percent)
        if args.html:
            crosstabs(table, slice_by)
    kwargs = dict(preset=preset, threshold=args.threshold, cost=cost, method=args.method,
                  time_limit=args.time_limit, mip_gap=args.mip_gap, solver=args.solver,
                  progress=not args.quiet, status_column=args.status_column)
    if args.hidden_nonzero:
        kwargs["hidden_nonzero"] = True
    t0 = time.perf_counter()
    try:
        with _atomic(args.export_model) if args.export_model else _nothing() as model_tmp:
            result = protect(tables if several else tables[0], export_model=model_tmp, **kwargs)
            if model_tmp and os.path.getsize(model_tmp) == 0:
                os.unlink(model_tmp)
                warnings.warn(f"--export-model {args.export_model}: not written, no model was solved "
                              "(no part of the table has sensitive cells)")
    except VerificationError as e:  # the pattern failed its own audit: never publish it
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - t0
    if several:
        return _linked_outputs(args, result, inputs, outputs, percent, slice_by, seconds, preset, cost)
    table = tables[0]
    hidden = _hidden_mask(result, table.n_cells)

    if jj:
        with _atomic(args.output) as tmp:
            Path(tmp).write_text("".join(f"{i}\n" for i in np.flatnonzero(hidden)), encoding="utf-8")
    else:
        _write_csv(cells_frame(result.frame, table), args.output)
        if args.published:
            _write_csv(result.published(marker=args.marker, count=inputs[0].count or "n", percent=percent,
                                        decimals=args.decimals), args.published)
            if not args.quiet:
                _published_note(args, args.published, [args.output], args.dims)
    if args.html:
        with _atomic(args.html) as tmp:
            result.to_html(tmp, slice_by=slice_by)

    ok = bool(result.audit.ok)
    status = np.asarray(result.frame["status"]) if "status" in result.frame else None
    n_primary = int((status == "primary").sum()) if status is not None else None
    lines = [
        f"protect ({preset}, threshold {args.threshold:g}, cost {cost}, method {_ran(result, args)}): "
        f"{'SAFE' if ok else 'NOT SAFE'}",
        f"  hidden cells: {int(hidden.sum())} of {table.n_cells}"
        + (f" ({n_primary} primary, {int(hidden.sum()) - n_primary} secondary)" if n_primary is not None else ""),
        f"  cost: {result.cost:g}; lower bound: {result.lower_bound + 0.0:g}; gap: {result.gap:.2%}; "
        f"optimal: {'yes' if result.optimal else 'no'}",
        f"  seconds: {seconds:.2f}; audit: {'SAFE' if ok else 'NOT SAFE'} "
        f"({result.audit.stats.get('solves', 0)} LP solves)",
        f"  written: {', '.join(p for p in (args.output, args.published, args.html) if p)}",
    ]
    if result.message:
        lines.append("  " + result.message.replace("\n", "\n  "))
    print("\n".join(lines))
    return 0 if ok else 1


def _table_names(args) -> list[str]:
    """The name of each table's outputs: its input file's name, or with --microdata its dimensions
    joined by '_'; two tables may not share one."""
    if args.microdata:
        names = ["_".join(dims) for dims in _dims_lists(args)]
    else:
        names = [Path(p).stem for p in args.input]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            what = "--dims lists" if args.microdata else "inputs"
            raise UsageError(f"{what} {seen[name] + 1} and {i + 1} would both write {name}.csv: give the tables "
                             "different names (files) or dimensions")
        seen[name] = i
    return names


def _output_dirs(args, names: list[str]) -> dict[str, list[Path]]:
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


def _linked_outputs(args, result, inputs, outputs, percent, slice_by, seconds, preset, cost) -> int:
    """Write one output per table of a linked set, and print the set's summary."""
    for opt in outputs:
        Path(getattr(args, opt.lstrip("-"))).mkdir(exist_ok=True)
    for k, (part, inp) in enumerate(zip(result.results, inputs)):
        _write_csv(cells_frame(part.frame, inp.table), outputs["--output"][k])
        if args.published:
            _write_csv(part.published(marker=args.marker, count=inp.count or "n", percent=percent,
                                      decimals=args.decimals), outputs["--published"][k])
        if args.html:
            with _atomic(outputs["--html"][k]) as tmp:
                part.to_html(tmp, slice_by=slice_by, title=f"{inp.name}: protected with {len(inputs)} linked tables")
    if args.published and not args.quiet:
        _published_note(args, args.published, [str(f) for f in outputs["--output"]],
                        ";".join(",".join(i.dims) for i in inputs))
    ok = bool(result.audit.ok)
    hidden = result.hidden
    n_primary = int((result.status == "primary").sum())
    lines = [
        f"protect ({preset}, threshold {args.threshold:g}, cost {cost}, method {_ran(result, args)}), "
        f"{len(inputs)} linked tables: {'SAFE' if ok else 'NOT SAFE'}",
        f"  distinct cells: {hidden.size} (a cell shared by tables counts once); hidden: {int(hidden.sum())} "
        f"({n_primary} primary, {int(hidden.sum()) - n_primary} secondary)",
        f"  cost: {result.cost:g}; lower bound: {result.lower_bound + 0.0:g}; gap: {result.gap:.2%}; "
        f"optimal: {'yes' if result.optimal else 'no'}",
        f"  seconds: {seconds:.2f}; audit of the tables together: {'SAFE' if ok else 'NOT SAFE'} "
        f"({result.audit.stats.get('solves', 0)} LP solves)",
    ]
    for k, (part, inp) in enumerate(zip(result.results, inputs)):
        n_p = int((part.status == "primary").sum())
        n_h = int(part.hidden.sum())
        written = ", ".join(str(outputs[o][k]) for o in ("--output", "--published", "--html") if o in outputs)
        lines.append(f"  {inp.name} ({' x '.join(inp.dims)}): hidden {n_h} of {part.hidden.size} ({n_p} primary, "
                     f"{n_h - n_p} secondary), cost {part.cost:g}; written: {written}")
    if result.message:
        lines.append("  " + result.message.replace("\n", "\n  "))
    print("\n".join(lines))
    return 0 if ok else 1


def _published_note(args, published: str, outputs: list[str], dims: str) -> None:
    print(f"{published}: '{args.marker}' in place of every hidden value; an audit of it alone cannot tell a "
          f"hidden count of 1..{args.threshold:g} from a larger one and may say NOT SAFE (undetermined); to "
          f"verify the pattern with the true values: {_audit_command(args, outputs, dims)}", file=sys.stderr)


@contextmanager
def _nothing():
    yield None


def _audit_command(args, outputs: list[str], dims: str) -> str:
    """The ``cellsuppress audit`` command that checks ``-o``'s outputs with their true values."""
    cmd = ["cellsuppress", "audit", *outputs, "--dims", dims, "--count", "value", "--hidden-column", "hidden"]
    for spec in args.hierarchy:
        cmd += ["--hierarchy", spec]
    if args.total_code != "Total":
        cmd += ["--total-code", args.total_code]
    if args.preset:
        cmd += ["--preset", args.preset]
    if args.threshold != 20:
        cmd += ["--threshold", f"{args.threshold:g}"]
    if args.hidden_nonzero:
        cmd.append("--hidden-nonzero")
    return " ".join(shlex.quote(str(c)) for c in cmd)


def _hidden_mask(result, n: int) -> np.ndarray:
    h = np.asarray(result.hidden)
    if h.dtype == bool and h.shape == (n,):
        return h
    mask = np.zeros(n, dtype=bool)
    mask[h.astype(np.int64)] = True
    return mask


def _percent_arg(text: str | None):
    """``row``/``column``/``total`` or one dimension name as given; several names as a list."""
    if text is None:
        return None
    names = _split(text)
    if not names:
        raise UsageError("--percent is empty; give row, column, total or dimension names")
    return names[0] if len(names) == 1 else names


# ---------------------------------------------------------------------------
# protect-many
# ---------------------------------------------------------------------------
@dataclass
class _ManySpec:
    """How protect-many reads, protects and writes each table: sent to the worker processes."""

    dims: list[str]
    count: str
    hierarchies: dict
    total_code: str
    sep: str
    options: dict


def cmd_protect_many(args) -> int:
    from .executor import INTERRUPTED
    from .many import protect_summary, run_many

    lists = _dims_lists(args)
    if len(lists) > 1:
        raise UsageError("protect-many protects each table on its own, all with one --dims list; tables that "
                         "share cells are linked: protect them together with protect")
    if not args.count or ";" in args.count:
        raise UsageError("--count is required: the count column of every table (e.g. --count n)")
    args.input = _many_inputs(args.input)
    names = _table_names(args)
    outputs = _output_dirs(args, names)["--output"]
    out_dir = Path(args.output)
    summary = Path(args.summary) if args.summary else out_dir / "summary.csv"
    if summary.resolve() in {f.resolve() for f in outputs}:
        raise UsageError(f"the summary {summary} would be the output of the table {summary.stem}: give --summary "
                         "another file")
    if args.summary:
        _check_outputs(args, "--summary")
    executor = _many_executor(args)
    spec = _ManySpec(dims=lists[0], count=args.count.strip(), hierarchies=_hierarchies(args, lists[0]),
                     total_code=args.total_code, sep=args.sep,
                     options=dict(preset=args.preset, threshold=args.threshold, cost=args.cost, method=args.method,
                                  time_limit=args.time_limit, mip_gap=args.mip_gap, solver=args.solver,
                                  hidden_nonzero=args.hidden_nonzero))
    out_dir.mkdir(exist_ok=True)
    try:
        outcomes = run_many(partial(_protect_file, spec), list(zip(args.input, map(str, outputs))), names,
                            executor, "protect", progress=not args.quiet)
    finally:
        executor.close()
        if getattr(executor, "client", None) is not None:
            executor.client.close()  # the client this command opened for --scheduler
    frame = protect_summary(names, outcomes)
    _write_csv(frame.round({"seconds": 3}), summary)
    interrupted = frame["error"].str.startswith(f"{INTERRUPTED}:")
    failed = frame[(frame["error"] != "") & ~interrupted]
    done = frame[frame["error"] == ""]
    lines = [f"protect-many ({args.preset or 'strict'}, threshold {args.threshold:g}, method {args.method}): "
             f"{len(frame) - len(failed) - int(interrupted.sum())} of {len(frame)} tables protected and audited SAFE"
             + (f", {len(failed)} failed" if len(failed) else "")
             + (f", {int(interrupted.sum())} not done (interrupted)" if interrupted.any() else ""),
             f"  total cost: {frame['cost'].sum():g}; not proven optimal: {int(frame['optimal'].eq(False).sum())}; "
             f"seconds per table protected: {done['seconds'].mean():.2f} on average, {done['seconds'].max():.2f} "
             "at most",
             f"  written: {out_dir}/NAME.csv per table; summary: {summary}"]
    lines += [f"  failed: {row.name}: {row.error}" for row in failed.itertuples()][:20]
    if len(failed) > 20:
        lines.append(f"  ... and {len(failed) - 20} more failed tables (see the summary)")
    print("\n".join(lines))
    if interrupted.any():
        return 130  # as Ctrl-C anywhere else
    return 0 if failed.empty else 1


def _many_inputs(inputs: list[str]) -> list[str]:
    """The CSV files of protect-many's inputs: files as given, directories by their *.csv files."""
    files = []
    for path in inputs:
        p = Path(path)
        if p.is_dir():
            found = sorted(str(f) for f in p.glob("*.csv") if f.is_file())
            if not found:
                raise UsageError(f"{path}: no *.csv file in this directory")
            files += found
        elif _is_jj(path):
            raise UsageError(f"{path}: protect-many takes CSV tables; protect a .jj file with protect")
        else:
            files.append(str(_need_file(path)))
    return files


def _many_executor(args):
    from .executor import make_executor

    if args.scheduler is None:
        return make_executor(workers=args.workers)
    if args.workers is not None:
        raise UsageError("give --workers (local processes) or --scheduler (a Dask cluster), not both")
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs dask.distributed: pip install 'cellsuppress[dask]'") from None
    try:
        client = Client(args.scheduler, timeout=30)
    except OSError as e:
        raise UsageError(f"--scheduler {args.scheduler}: cannot reach the scheduler ({_one_line(e)})") from None
    return make_executor(client=client)


def _protect_file(spec: _ManySpec, job: tuple[str, str]):
    """Read one table, protect it and write its cells (in a worker process)."""
    from .protect import protect
    from .tables.table import Table

    path, out = job
    with _reading(path, spec.sep):
        df = _read_csv(path, spec.dims, spec.sep)
        table = Table.from_frame(df, dims=spec.dims, count=spec.count, hierarchies=spec.hierarchies,
                                 total_code=spec.total_code)
    result = protect(table, **spec.options)
    _write_csv(cells_frame(result.frame, table), out)
    result.table = None  # the row needs the numbers only: no need to send the table back
    return result


# ---------------------------------------------------------------------------
# synth
# ---------------------------------------------------------------------------
def parse_levels(spec: str, dims: int | None) -> tuple[int, tuple]:
    """``'5x4,10'`` -> ``((5, 4), (10,))``; one spec applies to all ``dims``."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise UsageError(f"--levels is empty: {spec!r}")
    per_dim = []
    for p in parts:
        try:
            t = tuple(int(x) for x in p.lower().split("x"))
        except ValueError:
            raise UsageError(f"--levels: {p!r} is not like 10 or 5x4") from None
        per_dim.append(t)
    if dims is None:
        dims = len(per_dim)
    if len(per_dim) == 1:
        per_dim = per_dim * dims
    if len(per_dim) != dims:
        raise UsageError(f"--levels gives {len(per_dim)} dimension(s) but --dims is {dims}")
    return dims, tuple(per_dim)


def cmd_synth(args) -> int:
    from .tables.synthetic import generate

    dims, levels = parse_levels(args.levels, args.dims)
    names = _split(args.names) or None
    st = generate(dims=dims, levels=levels, seed=args.seed, mean=args.mean, small_share=args.small_share,
                  zero_share=args.zero_share, skewed=args.skewed, threshold=args.threshold, names=names)
    paths = st.write(args.output, args.name)
    print(st.description)
    for p in paths:
        print(f"wrote {p}")
    return 0


# ---------------------------------------------------------------------------
# convert
# ---------------------------------------------------------------------------
def cmd_convert(args) -> int:
    out = args.output
    _check_outputs(args, "--output")
    if _is_jj(args.input):
        if _is_jj(out):
            raise UsageError("convert .jj -> .csv: -o must not be a .jj file")
        t = _read_jj(args.input)
        n = t.n_cells

        def col(a, default):
            return np.full(n, default) if a is None else np.asarray(a)

        cells = pd.DataFrame({
            "index": np.arange(n),
            "value": whole_as_int(pd.Series(t.values)),
            "cost": whole_as_int(pd.Series(col(t.cost, np.nan))),
            "status": col(t.status, "s"),
            "lb": t.lb, "ub": t.ub,
            "lpl": col(t.lpl, 0.0), "upl": col(t.upl, 0.0), "spl": col(t.spl, 0.0),
        })
        for c in ("lb", "ub", "lpl", "upl", "spl"):
            cells[c] = whole_as_int(cells[c]) if np.isfinite(cells[c]).all() else cells[c]
        _write_csv(cells, out)
        print(f"{n} cells, {t.n_equations} relations -> {out}")
        return 0
    if not _is_jj(out):
        raise UsageError("convert: give a .jj input (-> CSV) or a CSV input with -o OUT.jj")
    from .io.jj import write_jj
    from .rules import requirement

    table = _load_csv_table(args, published=False)
    # the file carries strict's protection levels, which tau-ARGUS reads as given
    req = requirement(table, "strict", args.threshold)
    sens = req.sensitive
    table.upl, table.lpl, table.spl = req.levels(table.values)
    table.status = np.where(sens, "u", "s")
    table.cost = np.maximum(table.values, 1.0)
    with _atomic(out) as tmp:
        write_jj(table, tmp)
    print(f"{table.n_cells} cells ({int(sens.sum())} unsafe), {table.n_equations} relations -> {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
