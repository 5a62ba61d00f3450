"""What :func:`~cellsuppress.protect` returns: :class:`Result`, and :class:`Summary`, what every
result states the same way (a table's, a linked set's or one table's of a set): each cell's
status, the counts of hidden cells, the cost, bound, gap, optimality and verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .auditing import AuditReport
from .tables.linear import LinearTable

__all__ = ["Result", "Summary", "statuses", "status_frame"]


def statuses(sensitive: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Each cell's status: ``primary`` (sensitive and hidden), ``secondary`` or ``published``."""
    return np.where(sensitive & hidden, "primary", np.where(hidden, "secondary", "published"))


def status_frame(table: LinearTable, status: np.ndarray) -> pd.DataFrame:
    """The table's labels (or cell numbers, for a table without codes), values and each cell's status."""
    frame = table.labels.astype(str).copy() if table.labels is not None else pd.DataFrame(
        {"cell": np.arange(table.n_cells)})
    frame["value"] = table.values
    frame["status"] = status
    return frame


class Summary:
    """What a result states, the same way for every kind of result. Needs ``frame`` (with
    ``status``), ``hidden``, ``cost``, ``lower_bound``, ``gap``, ``optimal``, ``audit`` and
    ``stats``."""

    @property
    def status(self) -> np.ndarray:
        return self.frame["status"].to_numpy()

    def counts(self) -> tuple[int, int, int]:
        """Hidden cells: all, primary, secondary."""
        hidden = int(np.count_nonzero(self.hidden))
        primary = int(np.count_nonzero(self.status == "primary"))
        return hidden, primary, hidden - primary

    def hidden_split(self) -> str:
        """``(P primary, S secondary)``."""
        _, primary, secondary = self.counts()
        return f"({primary} primary, {secondary} secondary)"

    def hidden_facts(self) -> str:
        """``hidden H of N cells (P primary, S secondary)``."""
        return f"hidden {self.counts()[0]} of {len(self.frame)} cells {self.hidden_split()}"

    def bound_facts(self, sep: str = "; ") -> str:
        """``cost C; lower bound L; gap G; optimal`` (or ``not proven optimal``)."""
        return sep.join((f"cost {self.cost:g}", f"lower bound {self.lower_bound + 0.0:g}", f"gap {self.gap:.2%}",
                         "optimal" if self.optimal else "not proven optimal"))

    def facts(self) -> str:
        """The bound facts, the audit's verdict and the time: the end of a summary's first line."""
        return f"{self.bound_facts()}; audit {self.audit.verdict}; {self.stats.get('seconds', 0):.2f} s"


@dataclass
class Result(Summary):
    """What :func:`~cellsuppress.protect` returns. ``hidden`` is aligned to ``table.frame``.

    ``audit`` is the report that verified the pattern: it computes the intervals of the
    sensitive cells, which decide the verdict; complementary cells show NaN there (a call to
    :func:`cellsuppress.auditing.report` gives every interval). A sensitive cell that a verified attacker
    move already protects shows the range that move reaches (its interval contains it; see
    ``audit(..., certify=True)``).

    ``stats``: ``components`` solved, ``cut_rounds``, ``cuts``, ``lps`` (attacker LPs, the
    audit's included), ``mip_solves`` of the master, ``polish_solves`` (local branching),
    ``restarts`` (runs of the heuristic in other orders) and ``background_solves`` (copies of the master solved on the second core for the bound),
    ``cleanup_seconds`` and ``cleanup_published`` (the clean-up of a pattern not proven optimal:
    its time, and the complementary cells it published again), ``seconds``; with the optimal
    method also ``root_bound``, ``root_rounds`` and ``root_seconds``: the lower bound at the end
    of the cut loop on the LP relaxation (the root), its rounds and its time (no rounds when the
    master's first solve proved the optimum: the bound is then that solve's); on a hierarchical
    two-way table also ``subtable_cuts``, ``subtable_solves`` and ``subtable_seconds``: the cuts
    that row generation on each subtable gave the master, its MILP solves and its time.

    ``max_root_rounds`` caps the rounds of that loop (None: it runs until the attacker LPs find
    no violated cut at the LP's point, the bound tails off, or its share of the time is spent).

    ``table`` is the table that was protected and ``settings`` the options that defined the
    result (``preset``, a :class:`~cellsuppress.rules.Preset`; ``threshold``, ``cost``, ``method``,
    ``hidden_nonzero``): the published table and the views (:mod:`cellsuppress.release`) read them.
    """

    frame: pd.DataFrame
    hidden: np.ndarray
    cost: float
    lower_bound: float
    gap: float
    optimal: bool
    audit: AuditReport
    stats: dict = field(default_factory=dict)
    message: str = ""
    table: LinearTable | None = field(default=None, repr=False)
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.hidden_facts()}; {self.facts()}" + (f"\n{self.message}" if self.message else "")

    # release reads a Result, so it is imported when called, not at the top of this module
    def published(self, marker: str = "*", count: str = "value", percent=None, decimals: int = 1) -> pd.DataFrame:
        """The table as published: ``marker`` for every hidden count; with ``percent`` ("row",
        "column", "total" or dimension names) a ``percent`` column, shown only where its count and
        its denominator are both published. See :mod:`cellsuppress.release.published`."""
        from .release import published

        return published(self.table, self.hidden, marker=marker, count=count, percent=percent,
                         decimals=decimals)

    def to_html(self, path=None, slice_by=None, intervals: bool = True, show_hidden: bool = True,
                marker: str = "*", title: str | None = None) -> str:
        """A self-contained HTML page of the result (see :func:`cellsuppress.release.to_html`)."""
        from .release import to_html

        return to_html(self, path, slice_by=slice_by, intervals=intervals, show_hidden=show_hidden,
                       marker=marker, title=title)

    def to_png(self, path, slice_by=None, show_hidden: bool = True, marker: str = "*",
               title: str | None = None, dpi: int = 150):
        """The view as a PNG picture; needs matplotlib (see :func:`cellsuppress.release.to_png`)."""
        from .release import to_png

        return to_png(self, path, slice_by=slice_by, show_hidden=show_hidden, marker=marker, title=title,
                      dpi=dpi)
