"""The parameters of :func:`~cellsuppress.protect` and :func:`~cellsuppress.audit`, checked at the entry.

Both functions call one check here first, so a nonsense parameter (a threshold of 0, a negative
time limit, an unknown solver, a DataFrame instead of a table) stops with a one-line error that
says what is allowed, and everything below works on values known to be valid.

A ``preset`` or ``cost`` of ``None`` follows the table: its own protection levels
(preset ``custom``) when it has them, as a tau-ARGUS JJ file does, else ``strict``; the
costs it carries (``file``) when it has them, else ``value``.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd

from .errors import RuleError, TableError
from .solvers import check_solver
from .solvers.base import export_format
from .tables.linear import LinearTable

METHODS = ("auto", "optimal", "fast", "modular", "local")


def check_protect_params(table, *, preset=None, threshold=20, cost=None, method="auto",
                         time_limit=None, mip_gap=0.0, solver="highs", export_model=None, workers=None,
                         max_root_rounds=None) -> tuple:
    """Raise on a bad parameter of :func:`~cellsuppress.protect`; return ``(preset, cost)``
    with ``None`` resolved from the table."""
    _check_table(table, "protect")
    if np.isnan(table.values).any():
        bad = np.flatnonzero(np.isnan(table.values))
        raise TableError(f"protect needs every true value; unknown for {', '.join(table.cell_labels(bad[:5]))}"
                         f"{' ...' if bad.size > 5 else ''}")
    _check_threshold(threshold)
    if method not in METHODS:
        raise RuleError(f"unknown method {_show(method)}; choose one of {', '.join(METHODS)}")
    if time_limit is not None and not (_is_number(time_limit) and 0 < time_limit < np.inf):
        raise RuleError(f"time_limit must be a positive number of seconds (or None for no limit), "
                        f"got {_show(time_limit)}")
    if not (_is_number(mip_gap) and 0 <= mip_gap <= 1):
        raise RuleError(f"mip_gap must be a relative gap from 0 to 1 (0: prove optimality), got {_show(mip_gap)}")
    if max_root_rounds is not None and not (isinstance(max_root_rounds, Integral)
                                            and not isinstance(max_root_rounds, (bool, np.bool_))
                                            and max_root_rounds >= 1):
        raise RuleError(f"max_root_rounds must be a whole number of at least 1 (or None: the root's cut loop "
                        f"runs until it finds no violated cut or its bound tails off), got {_show(max_root_rounds)}")
    check_solver(solver)
    if export_model is not None:
        export_format(export_model)  # a path that cannot be written fails now, not after the solve
        if method not in ("optimal", "auto"):
            raise RuleError(f"export_model needs method='optimal': the {method} method builds no model")
    if workers is not None and not (isinstance(workers, Integral) and not isinstance(workers, bool) and workers >= 1):
        raise RuleError(f"workers must be a whole number >= 1 (1: in this process) or None (one per core), "
                        f"got {_show(workers)}")
    return follow_table(table, preset, cost)


def check_audit_params(table, *, preset=None, threshold=20) -> str:
    """Raise on a bad parameter of :func:`~cellsuppress.audit`; return the preset, ``None``
    resolved from the table."""
    _check_table(table, "audit")
    _check_threshold(threshold)
    return follow_table(table, preset, None)[0]


def follow_table(table: LinearTable, preset=None, cost=None) -> tuple:
    """``(preset, cost)`` with ``None`` replaced by what the table carries (see the module)."""
    if preset is None:
        has_levels = any(getattr(table, a) is not None for a in ("lpl", "upl", "spl"))
        preset = "custom" if has_levels else "strict"
    if cost is None:
        cost = "file" if table.cost is not None else "value"
    return preset, cost


def _check_table(table, what: str) -> None:
    if not isinstance(table, LinearTable):
        hint = (": build one with cellsuppress.Table.from_frame(df, dims=[...], count=...)"
                if isinstance(table, pd.DataFrame) else "")
        raise TableError(f"{what} needs a cellsuppress Table or LinearTable, got a "
                         f"{type(table).__name__}{hint}")
    if table.n_cells == 0:
        raise TableError("the table has no cells")


def _check_threshold(threshold) -> None:
    if not (_is_number(threshold) and 1 <= threshold < np.inf):
        raise RuleError(f"threshold must be a number of at least 1 (counts 1..threshold are sensitive), "
                        f"got {_show(threshold)}")


def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, (bool, np.bool_))


def _show(x) -> str:
    """A parameter for a message: ``-3``, not ``np.int64(-3)``."""
    return f"{float(x):g}" if _is_number(x) else repr(x)
