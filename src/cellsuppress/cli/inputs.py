"""The inputs a command names: tables read from CSV files (of counts, published with markers,
or of one row per person) with their ``--dims``, ``--count`` and ``--hierarchy``, tau-ARGUS JJ
files, and files of cell indices. A file that cannot be read is named in the error, with a hint
when the separator is the cause.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TableError
from .exit import UsageError, one_line


def input_paths(args) -> list[str]:
    return args.input if isinstance(args.input, list) else [args.input]


def is_jj(path: str) -> bool:
    return Path(path).suffix.lower() == ".jj"


def split_list(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def need_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if p.is_dir():
        raise UsageError(f"{path} is a directory, not a file")
    return p


def dims_lists(args) -> list[list[str]]:
    """``--dims``: one list of dimension columns per table, separated by ';'."""
    lists = [split_list(part) for part in (args.dims or "").split(";")]
    if not any(lists):
        raise UsageError("--dims is required for CSV input (e.g. --dims region,age)")
    if not all(lists):
        raise UsageError(f"--dims {args.dims!r} has an empty list of dimensions")
    return lists


def are_linked(args) -> bool:
    """Several tables (linked): several inputs, or several --dims lists."""
    return len(args.input) > 1 or (args.dims is not None and ";" in args.dims)


def check_no_jj(args) -> None:
    jj = [p for p in args.input if is_jj(p)]
    if jj:
        raise UsageError(f"{jj[0]}: a .jj file has no dimensions, so it cannot be linked with other tables; "
                         "linked tables are CSV tables (or --microdata)")


def read_hierarchies(args, dims: list[str]) -> dict:
    from ..tables.hierarchy import Hierarchy

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
        with reading(file, args.sep):
            out[dim] = Hierarchy.from_csv(need_file(file), name=dim, sep=args.sep)
    return out


@dataclass
class Input:
    """A table read from the command line's input: ``name`` names its outputs."""

    name: str
    table: object
    path: str
    dims: list[str]
    count: str | None


def load_tables(args, published: bool = False, markers=None) -> list[Input]:
    """The tables of the inputs: one per CSV input with its --dims list and --count, or with
    --microdata one per --dims list, counting the rows of the one input."""
    from ..tables.table import Table

    paths = input_paths(args)
    lists = dims_lists(args)
    union = list(dict.fromkeys(d for dims in lists for d in dims))
    hier = read_hierarchies(args, union)
    if getattr(args, "microdata", False):
        if len(paths) != 1:
            raise UsageError(f"--microdata takes one input file (one row per person), got {len(paths)}")
        if args.count:
            raise UsageError("--count is for tables of counts; with --microdata each cell counts the input's rows")
        with reading(paths[0], args.sep):
            df = read_csv(paths[0], union, args.sep)
            return [Input("_".join(dims), Table.from_microdata(df, dims=dims, total_code=args.total_code,
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
    return [Input(Path(path).stem, read_table(path, dims, count, {d: hier[d] for d in dims if d in hier},
                                              args.total_code, args.sep, published, markers), path, dims, count)
            for path, dims, count in zip(paths, lists, counts)]


def load_table(args, published: bool, markers=None):
    return load_tables(args, published, markers)[0].table


def read_table(path: str, dims: list[str], count: str, hierarchies: dict, total_code: str, sep: str,
               published: bool = False, markers=None):
    """One CSV table of counts (``published``: with ``markers`` in place of hidden values)."""
    from ..tables.table import Table

    with reading(path, sep):
        df = read_csv(path, dims, sep)
        if published:
            return Table.from_published(df, dims=dims, count=count, hierarchies=hierarchies, total_code=total_code,
                                        markers=markers)
        return Table.from_frame(df, dims=dims, count=count, hierarchies=hierarchies, total_code=total_code)


def table_names(args) -> list[str]:
    """The name of each table's outputs: its input file's name, or with --microdata its dimensions
    joined by '_'; two tables may not share one."""
    if args.microdata:
        names = ["_".join(dims) for dims in dims_lists(args)]
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


def read_csv(path: str, dims: list[str], sep: str) -> pd.DataFrame:
    """Dimension columns as strings (codes like '01' survive); no 'NA' guessing; rows numbered
    by their line in the file, for messages."""
    from ..tables.messages import numbered_by_line

    need_file(path)
    df = pd.read_csv(path, dtype={d: str for d in dims}, keep_default_na=False, sep=sep)
    df.columns = [str(c).strip() for c in df.columns]
    return numbered_by_line(df)


@contextmanager
def reading(path: str, sep: str):
    """An error while reading a file names it, and hints at the separator when that is the cause."""
    try:
        yield
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text{_first_bad_byte(path)}; save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise UsageError(f"{path} is empty: a CSV table needs a header line and rows") from None
    except pd.errors.ParserError as e:
        raise UsageError(f"{path}: {one_line(e)}{_sep_hint(path, sep)}") from None
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


def load_jj(path: str):
    from ..io.jj import read_jj

    return read_jj(need_file(path))


def read_indices(path: str, n: int) -> np.ndarray:
    """A boolean mask from a file of 0-based cell indices, one per line."""
    mask = np.zeros(n, dtype=bool)
    with open(need_file(path), encoding="utf-8") as fh:
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
