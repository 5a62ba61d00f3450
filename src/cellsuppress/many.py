"""Many independent tables at once: :func:`protect_many` and :func:`audit_many`.

Each table is protected (or audited) on its own, as :func:`~cellsuppress.protect` (or
:func:`~cellsuppress.audit`) would, on local worker processes or a Dask cluster
(:mod:`cellsuppress.executor`). The answer is one DataFrame with a row per table; a table that
fails has its error in its row and never stops the others. Tables that share cells (the same
population cut several ways) are not independent: protect those together as linked tables,
``protect([t1, t2])``, which may itself be one item here.
"""
from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from functools import partial

import pandas as pd

from .auditing import audit
from .errors import RuleError
from .executor import INTERRUPTED, Executor, Outcome, make_executor
from .progress import Progress
from .protect import protect
from .result import Result
from .solvers import one_thread

__all__ = ["protect_many", "audit_many", "run_many", "protect_one", "protect_summary", "audit_summary",
           "PROTECT_COLUMNS", "AUDIT_COLUMNS"]

PROTECT_COLUMNS = ["name", "cells", "hidden", "cost", "lower_bound", "gap", "optimal", "verdict", "seconds",
                   "error"]
AUDIT_COLUMNS = ["name", "cells", "hidden", "sensitive", "unprotected", "undetermined", "verdict", "seconds",
                 "error"]
_COUNTS = ("cells", "hidden", "sensitive", "unprotected", "undetermined")


def protect_many(tables, *, workers: int | None = None, client=None, progress: bool = True,
                 return_results: bool = False, **options):
    """Protect each table on its own, in parallel; one row per table.

    ``tables``: a list (the names are the positions 0, 1, ...) or a dict name -> table. An item may
    be a table or a list of linked tables (protected together, as ``protect`` does with a list).
    ``options`` are :func:`~cellsuppress.protect`'s (``preset``, ``threshold``, ``cost``,
    ``method``, ``time_limit``, ...), the same for every table; ``time_limit`` is per table.

    ``workers``: local processes (default: one per available core; 1 runs in this process);
    ``client``: a ``dask.distributed.Client`` to run on its cluster instead (the ``dask`` extra).
    Either way the workers run HiGHS on one thread (:func:`~cellsuppress.solvers.one_thread`; on
    Dask through a worker plugin registered for the run, see
    :class:`~cellsuppress.executor.DaskExecutor`). With ``progress`` a line on stderr every few seconds says how many tables are done, and each
    failure is named as it happens. Ctrl-C stops the run and returns what was done: the tables not
    done have the error ``KeyboardInterrupt``.

    Returns a DataFrame with columns ``name``, ``cells``, ``hidden``, ``cost``, ``lower_bound``,
    ``gap``, ``optimal``, ``verdict`` (``SAFE``, or ``ERROR``), ``seconds`` (the table's own solve)
    and ``error`` (empty, or the exception's type and one-line message: the table's other columns
    are then empty). With ``return_results=True``: ``(frame, results)``, ``results`` a dict name ->
    :class:`~cellsuppress.Result` (``None`` for a table that failed).

    >>> import cellsuppress as cs
    >>> from cellsuppress.tables.synthetic import generate
    >>> tables = {f"t{s}": generate(dims=2, levels=(4,), seed=s).table() for s in range(3)}
    >>> frame = cs.protect_many(tables, workers=1, progress=False)
    >>> frame[["name", "cells", "hidden", "cost", "optimal", "verdict"]]
      name  cells  hidden   cost  optimal verdict
    0   t0     25       4  109.0     True    SAFE
    1   t1     25       4   96.0     True    SAFE
    2   t2     25       8  145.0     True    SAFE
    """
    options = _options(options, protect)
    names, items = _named(tables)
    with make_executor(workers, client, worker_init=one_thread) as executor:
        outcomes = run_many(partial(protect_one, options), items, names, executor, "protect", progress)
    for item, o in zip(items, outcomes):
        if o.ok and isinstance(o.value, Result) and o.value.table is None:
            o.value.table = item  # left behind in the worker: the caller holds it already
    frame = protect_summary(names, outcomes, [_cells(t) for t in items])
    if return_results:
        return frame, {n: o.value if o.ok else None for n, o in zip(names, outcomes)}
    return frame


def audit_many(tables, hidden=None, *, workers: int | None = None, client=None, progress: bool = True,
               return_results: bool = False, **options):
    """Audit each table's pattern on its own, in parallel; one row per table.

    ``tables`` as for :func:`protect_many`. ``hidden``: each table's hidden cells, in any form
    :func:`~cellsuppress.audit` takes: a list aligned to ``tables``, a dict name -> pattern, or one
    value for every table (a column name, or ``None`` for published tables whose markers say
    which cells are hidden). ``options`` are :func:`~cellsuppress.audit`'s (``preset``,
    ``threshold``, ``integer``, ...).

    Returns a DataFrame with columns ``name``, ``cells``, ``hidden``, ``sensitive`` (sensitive
    cells, hidden or not), ``unprotected`` (sensitive cells published or disclosed),
    ``undetermined``, ``verdict`` (``SAFE``, ``NOT SAFE`` or ``ERROR``), ``seconds`` and
    ``error``. With ``return_results=True``: ``(frame, reports)``, a dict name ->
    :class:`~cellsuppress.AuditReport` (``None`` for a table that failed).
    """
    options = _options(options, audit)
    names, items = _named(tables)
    patterns = _patterns(hidden, names)
    with make_executor(workers, client, worker_init=one_thread) as executor:
        outcomes = run_many(partial(_audit_one, options), list(zip(items, patterns)), names, executor, "audit",
                            progress)
    frame = audit_summary(names, outcomes, [_cells(t) for t in items])
    if return_results:
        return frame, {n: o.value if o.ok else None for n, o in zip(names, outcomes)}
    return frame


# -- the work of one table (runs in a worker: module-level functions, so that they pickle) --------

def protect_one(options: dict, table):
    """:func:`~cellsuppress.protect` of one table in a worker; the result comes back without the
    table (the caller holds it; a result of protect-many needs only its numbers)."""
    res = protect(table, **options)
    if isinstance(res, Result) and res.table is table:
        res.table = None  # the caller has the table: do not send it back
    return res


def _audit_one(options: dict, item):
    table, hidden = item
    return audit(table, hidden, **options)


# -- rows ---------------------------------------------------------------------------------------

def protect_summary(names: list, outcomes: list[Outcome], cells: list | None = None) -> pd.DataFrame:
    """The frame of :func:`protect_many`: a row per table from its outcome. ``cells``: each
    table's cell count, for the rows of tables that failed (``None`` where unknown)."""
    cells = cells or [None] * len(names)
    return _typed(pd.DataFrame([protect_row(n, o, c) for n, o, c in zip(names, outcomes, cells)],
                               columns=PROTECT_COLUMNS))


def audit_summary(names: list, outcomes: list[Outcome], cells: list | None = None) -> pd.DataFrame:
    """The frame of :func:`audit_many`, as :func:`protect_summary`."""
    cells = cells or [None] * len(names)
    return _typed(pd.DataFrame([audit_row(n, o, c) for n, o, c in zip(names, outcomes, cells)],
                               columns=AUDIT_COLUMNS))


def protect_row(name, outcome: Outcome, cells=None) -> dict:
    """The row of :func:`protect_many` for one table (a :class:`~cellsuppress.Result`, or a linked
    set's result, in ``outcome``). ``cells``: the table's cells when known without a result."""
    if not outcome.ok:
        return _error_row(name, outcome, cells)
    r = outcome.value
    return {"name": name, "cells": len(r.frame), "hidden": r.counts()[0], "cost": r.cost,
            "lower_bound": r.lower_bound, "gap": r.gap, "optimal": bool(r.optimal),
            "verdict": r.audit.verdict, "seconds": outcome.seconds, "error": ""}


def audit_row(name, outcome: Outcome, cells=None) -> dict:
    """The row of :func:`audit_many` for one table."""
    if not outcome.ok:
        return _error_row(name, outcome, cells)
    rep = outcome.value
    f = rep.frame
    return {"name": name, "cells": rep.lo.size, "hidden": rep.n_hidden,
            "sensitive": int(f["sensitive"].eq(True).sum()), "unprotected": len(rep.unprotected),
            "undetermined": len(rep.undetermined), "verdict": rep.verdict,
            "seconds": outcome.seconds, "error": ""}


def _error_row(name, outcome: Outcome, cells) -> dict:
    return {"name": name, "cells": cells, "verdict": "ERROR", "seconds": outcome.seconds,
            "error": outcome.error_line}


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts stay whole numbers and ``optimal`` a boolean where a failed table leaves a gap."""
    for c in _COUNTS:
        if c in frame:
            frame[c] = frame[c].astype("Int64")
    if "optimal" in frame:
        frame["optimal"] = frame["optimal"].astype("boolean")
    for c in ("cost", "lower_bound", "gap", "seconds"):
        if c in frame:
            frame[c] = frame[c].astype(float)
    frame["error"] = frame["error"].fillna("")
    return frame


# -- running ------------------------------------------------------------------------------------

def run_many(fn: Callable, items: list, names: list, executor: Executor, what: str = "protect",
             progress: bool = True) -> list[Outcome]:
    """``executor.map(fn, items)`` with a progress report on stderr: a line every few seconds,
    each failure as it happens (named by ``names``), and a closing line. The warnings of each
    table's call are issued again here, in this process, named by the table."""
    report = _Report(names, executor, what) if progress else None
    if report:
        report.start()
    outcomes = executor.map(fn, items, progress=report)
    if report:
        report.close()
    for name, o in zip(names, outcomes):
        for category, message in o.warnings:
            warnings.warn(f"table {name}: {message}", category, stacklevel=2)
    return outcomes


class _Report:
    """The progress of a run on stderr: its start, each failure as it happens, how many tables are
    done every few seconds, and a closing count."""

    def __init__(self, names: list, executor: Executor, what: str):
        self.names, self.executor, self.what = names, executor, what
        self.total = len(names)
        self.done = self.failed = self.interrupted = 0
        self.say = Progress()

    def _count(self) -> str:
        return (f"{self.done}/{self.total} tables done" + (f", {self.failed} failed" if self.failed else "")
                + (f"; interrupted (Ctrl-C): {self.interrupted} not done" if self.interrupted else ""))

    def start(self) -> None:
        self.say(f"{self.what}: {self.total} tables {self.executor.description}", force=True)

    def __call__(self, index: int, outcome: Outcome) -> None:
        if outcome.error == INTERRUPTED:
            self.interrupted += 1  # counted, not named one by one
            return
        self.done += 1
        if not outcome.ok:
            self.failed += 1
            self.say(f"table {self.names[index]}: {outcome.error_line}", force=True)
        if self.done < self.total:
            self.say(self._count())

    def close(self) -> None:
        self.say(self._count(), force=True)


# -- inputs -------------------------------------------------------------------------------------

def _named(tables) -> tuple[list, list]:
    if isinstance(tables, Mapping):
        return list(tables.keys()), list(tables.values())
    if isinstance(tables, (str, bytes, pd.DataFrame)) or not hasattr(tables, "__iter__"):
        raise RuleError(f"tables must be a list or a dict name -> table, got {type(tables).__name__}")
    items = list(tables)
    return list(range(len(items))), items


def _patterns(hidden, names: list) -> list:
    """One pattern per table from a list, a dict or one value for all."""
    if isinstance(hidden, Mapping):
        missing = [n for n in names if n not in hidden]
        if missing:
            raise RuleError(f"hidden has no pattern for table(s) {', '.join(map(str, missing[:5]))}")
        return [hidden[n] for n in names]
    if isinstance(hidden, (list, tuple)):
        if len(hidden) != len(names):
            raise RuleError(f"hidden has {len(hidden)} patterns for {len(names)} tables: give one per table")
        return list(hidden)
    return [hidden] * len(names)


def _options(options: dict, fn) -> dict:
    """``options`` checked against ``fn``'s parameters here, once: a misspelt name would
    otherwise fail every table in its worker."""
    try:
        inspect.signature(fn).bind(None, **options)
    except TypeError as e:
        raise RuleError(f"{fn.__name__}: {e}") from None
    return options


def _cells(item):
    if isinstance(item, (list, tuple)):
        return None
    return getattr(item, "n_cells", None)
