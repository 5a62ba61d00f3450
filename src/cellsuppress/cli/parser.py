"""The command line's grammar: :func:`build_parser`, each command's arguments and their types.

A bad argument is a :class:`~.exit.UsageError` (exit code 2), reported on one line.
"""
from __future__ import annotations

import argparse

from .. import __version__
from ..params import METHODS
from ..rules import PRESETS
from .audit import cmd_audit
from .convert import cmd_convert
from .exit import UsageError
from .many import cmd_protect_many
from .protect import cmd_protect
from .synth import cmd_synth

PRESET_CHOICES = tuple(PRESETS)
COST_CHOICES = ("value", "unity", "log", "file")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument on one line and exits with 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


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
    p.add_argument("--solver", choices=("highs", "scip", "cbc"), default="highs",
                   help="the master's solver: highs; scip (SCIP's branch-and-cut, the extra 'scip'); cbc")
