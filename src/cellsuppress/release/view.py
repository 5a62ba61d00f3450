"""What a view of a protected table shows, whatever draws it (HTML page, PNG picture).

Hidden cells are marked so that colour is never the only cue: each status has a colour from the
Okabe-Ito palette (distinguishable with every common colour-vision deficiency), a fill pattern,
a border style and a letter. Each hidden cell carries the interval an attacker can derive for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..auditing.intervals import feasibility_intervals
from ..errors import CellSuppressError
from ..linked import LinkedPart
from ..rules import preset_named
from .crosstab import Crosstab, crosstabs

if TYPE_CHECKING:  # the view reads a Result; it never calls protect
    from ..result import Result


@dataclass(frozen=True)
class Mark:
    """How one status is drawn: fill and border colours, fill pattern, border style, letter."""

    status: str
    fill: str
    edge: str
    pattern: str  # "solid" or "hatched"
    border: str  # "solid" or "dashed"
    letter: str
    legend: str


# Okabe-Ito orange / vermillion and sky blue / blue
MARKS = {
    "primary": Mark("primary", "#E69F00", "#D55E00", "solid", "solid", "P",
                    "primary: sensitive, hidden (orange, solid border)"),
    "secondary": Mark("secondary", "#56B4E9", "#0072B2", "hatched", "dashed", "S",
                      "secondary: hidden to protect the primary cells (blue stripes, dashed border)"),
}
MARGIN_FILL = "#E6E6E6"
GRAND_TOTAL_FILL = "#CCCCCC"


@dataclass
class View:
    """Everything a drawing of the result needs."""

    title: str
    verdict: str
    ok: bool
    facts: list[str]
    tables: list[Crosstab]
    status: np.ndarray  # per cell: primary / secondary / published
    text: list[str]  # per cell: what the cell shows
    tip: list[str]  # per cell: the hover text
    show_hidden: bool


def build_view(result: "Result", slice_by=None, intervals: bool = True, show_hidden: bool = True,
               marker: str = "*", title: str | None = None) -> View:
    """The view of ``result`` (see :func:`cellsuppress.release.to_html` for the parameters); a table
    of a linked set shows the intervals, the cost and the verdict of the set."""
    table = result_table(result)
    status = np.asarray(result.frame["status"], dtype=str)
    hidden = np.asarray(result.hidden, dtype=bool)
    if status.shape != (table.n_cells,) or hidden.shape != (table.n_cells,):
        raise CellSuppressError("the Result's frame and hidden do not match its table")
    settings = dict(getattr(result, "settings", None) or {})
    threshold = float(result.audit.threshold)
    linked = result.linked if isinstance(result, LinkedPart) else None
    if intervals and linked is not None:  # the attacker reads every table of the set
        lo, hi = full_intervals(linked.table, linked.hidden, settings.get("preset", result.audit.preset),
                                settings.get("hidden_nonzero", False))
        cells = linked.table.cells[result.position]
        lo, hi = lo[cells], hi[cells]
    elif intervals:
        lo, hi = full_intervals(table, hidden, settings.get("preset", result.audit.preset),
                                settings.get("hidden_nonzero", False))
    else:  # the audit's own: sensitive cells only
        lo, hi = np.asarray(result.audit.lo, float), np.asarray(result.audit.hi, float)
    values = table.values
    text = [_number(v) for v in values]
    if not show_hidden:
        for i in np.flatnonzero(hidden):
            text[i] = marker
    tip = ["published"] * table.n_cells
    for i in np.flatnonzero(hidden):  # hidden cells only
        what = {"primary": "primary (sensitive)", "secondary": "secondary"}[status[i]]
        val = f"value {_number(values[i])}; " if show_hidden else ""
        tip[i] = f"{what}, hidden: {val}an attacker can derive only {_interval(lo[i], hi[i])}"
    tables = crosstabs(table, slice_by)
    n_h, n_p, n_s = result.counts()
    facts = [f"hidden {n_h} of {table.n_cells} cells: {n_p} primary, {n_s} secondary"]
    cost = settings.get("cost")
    how_much = f" ({cost})" if isinstance(cost, str) else ""
    if linked is not None:
        facts.append(f"cost {result.cost:g}{how_much} of this table's hidden cells; protected with "
                     f"{len(linked.results)} linked tables: cost {linked.cost:g}; lower bound {linked.lower_bound:g}; "
                     f"gap {linked.gap:.2%}; " + ("proven optimal" if linked.optimal else "not proven optimal"))
    else:
        facts.append(f"cost {result.cost:g}{how_much}; lower bound {result.lower_bound:g}; gap {result.gap:.2%}; "
                     + ("proven optimal" if result.optimal else "not proven optimal"))
    how = [f"{k} {settings[k]}" for k in ("method",) if k in settings]
    how += [f"preset {result.audit.preset}", f"threshold {threshold:g}"]
    if settings.get("hidden_nonzero"):
        how.append("zeros never hidden")
    facts.append("; ".join(how))
    ok = bool(result.audit.ok)
    verdict = ("SAFE: the audit proves every sensitive cell protected" if ok
               else "NOT SAFE: the audit found a sensitive cell that can be derived")
    if linked is not None:
        verdict += f" (audit of the {len(linked.results)} linked tables together)"
    return View(title or "Protected table", verdict, ok, facts, tables, status, text, tip, show_hidden)


def result_table(result: "Result"):
    table = getattr(result, "table", None)
    if table is None:
        raise CellSuppressError("this Result has no table (results from cellsuppress.protect have one); "
                                "a view needs the table's structure and values")
    return table


def full_intervals(table, hidden: np.ndarray, preset, hidden_nonzero: bool):
    """The attacker's interval of every hidden cell (the protect audit computes only the sensitive
    cells')."""
    floor = preset_named(preset).floor(table, hidden_nonzero)
    iv = feasibility_intervals(table, hidden, floor)
    return iv.lo, iv.hi


def _number(v: float) -> str:
    if np.isnan(v):
        return "?"
    return f"{int(v)}" if float(v).is_integer() else f"{v:g}"


def _interval(lo: float, hi: float) -> str:
    if np.isnan(lo) or np.isnan(hi):
        return "(interval not computed)"
    top = "infinity" if np.isinf(hi) else _number(hi)
    return f"that it lies in [{_number(lo)}, {top}]"
