"""Linked tables protected as one system, with a result per table.

``protect([t1, t2, ...])`` comes here. The tables become one
:class:`~cellsuppress.tables.linked.LinkedTables` (their union of cells, shared cells once,
every table's equations), which :func:`~cellsuppress.protect` protects like any table: the
optimal method's guarantees, the cost (a shared cell counted once), the bound and the final
audit are those of the joint problem, whose attacker reads every table. The joint pattern is
then cut back into one :class:`LinkedPart` per table, so each table has its frame, hidden cells
and statuses; a shared cell has one status in every table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import pandas as pd

from .auditing import AuditReport
from .errors import InfeasibleError, TableError
from .params import follow_table
from .protect import protect
from .result import Result, Summary, status_frame
from .rules import linked_sensitive
from .suppress.problem import cost_weights, forced_cells
from .tables.linked import LinkedTables

__all__ = ["protect_linked", "LinkedResult", "LinkedPart"]


@dataclass
class LinkedPart(Result):
    """One table of a linked set: a :class:`~cellsuppress.result.Result` whose ``frame``,
    ``hidden`` and ``status`` are aligned to this table, ``cost`` is the cost of this table's
    hidden cells, and ``lower_bound``, ``gap``, ``optimal`` and ``audit`` are those of the set
    (the pattern is optimal and safe as part of it; ``audit`` lists this table's cells, with the
    intervals the attacker of the whole set derives). ``linked`` is the set's result."""

    linked: "LinkedResult | None" = field(default=None, repr=False)
    position: int = 0

    @property
    def name(self) -> str:
        return self.linked.table.names[self.position]

    def summary(self) -> str:
        s = self.linked
        return (f"{self.name}: {self.hidden_facts()}; cost {self.cost:g} of its hidden cells; protected with "
                f"{_tables(len(s.results))}: {s.bound_facts(', ')}; audit of the set {s.audit.verdict}")


@dataclass
class LinkedResult(Summary):
    """What ``protect([t1, t2, ...])`` returns.

    ``results``: one :class:`LinkedPart` per table, in the order given. ``cost``, ``lower_bound``,
    ``gap``, ``optimal``, ``audit``, ``stats`` and ``message`` are those of the joint problem (a
    shared cell counted once). ``table`` is the joint :class:`~cellsuppress.tables.linked.LinkedTables`,
    ``hidden`` and ``frame`` its cells (codes over every dimension, a dimension a table lacks at its
    total, with ``value`` and ``status``).
    """

    results: list[LinkedPart]
    cost: float
    lower_bound: float
    gap: float
    optimal: bool
    audit: AuditReport
    table: LinkedTables = field(repr=False)
    hidden: np.ndarray = field(repr=False)
    frame: pd.DataFrame = field(repr=False)
    stats: dict = field(default_factory=dict)
    message: str = ""
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{_tables(len(self.results))}, {len(self.frame)} distinct cells: hidden {self.counts()[0]} "
                 f"{self.hidden_split()}; {self.facts()}"]
        for r in self.results:
            lines.append(f"  {r.name}: hidden {r.counts()[0]} of {len(r.frame)} cells, cost {r.cost:g}")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)


def _tables(n: int) -> str:
    return f"{n} linked table{'' if n == 1 else 's'}"


def protect_linked(tables, preset=None, threshold=20, cost=None, sensitive=None, lpl=None, upl=None,
                   spl=None, force_published=None, force_hidden=None, status_column=None,
                   **options) -> LinkedResult:
    """Protect ``tables`` (:class:`~cellsuppress.Table` objects of one population) as one system.

    Per-cell parameters (``sensitive``, ``force_published``, ``force_hidden``, ``cost`` as arrays,
    ``lpl``/``upl``/``spl`` as arrays) come as a list with one entry per table, each in the forms
    :func:`~cellsuppress.protect` takes for one table (``None`` for none); a shared cell flagged in
    one table is flagged in all (a table given ``None`` among flags of others keeps the rule's:
    counts 1..threshold), and a cost or level must agree where tables share a cell.
    ``status_column`` applies to every table that has that column. The other options are those
    of :func:`~cellsuppress.protect`.

    >>> import pandas as pd, cellsuppress as cs
    >>> people = pd.DataFrame({"age": list("yyyyoooooo") * 4, "sex": list("FM") * 20,
    ...                        "race": list("abcd") * 10})
    >>> tables = [cs.Table.from_microdata(people, dims=d) for d in (["age", "sex"], ["age", "race"])]
    >>> res = cs.protect(tables)
    >>> [r.frame.shape[0] for r in res.results], res.audit.ok
    ([9, 15], True)
    """
    joint = LinkedTables(tables)
    keep, hide = _forced(joint, force_published, force_hidden, status_column)
    sens = linked_sensitive(joint, sensitive, threshold)
    cost = cost if cost is None or isinstance(cost, str) else joint.join(joint.per_table(cost, "cost"), "cost")
    lpl, upl, spl = (_levels(joint, x, name) for x, name in ((lpl, "lpl"), (upl, "upl"), (spl, "spl")))
    res = protect(joint, preset=preset, threshold=threshold, cost=cost, sensitive=sens, lpl=lpl, upl=upl,
                  spl=spl, force_published=keep, force_hidden=hide, **options)
    weight = cost_weights(joint.values, follow_table(joint, preset, cost)[1], joint.cost)
    out = LinkedResult(results=[], cost=res.cost, lower_bound=res.lower_bound, gap=res.gap, optimal=res.optimal,
                       audit=res.audit, table=joint, hidden=res.hidden, frame=res.frame, stats=res.stats,
                       message=res.message, settings=res.settings)
    for i, (t, cells) in enumerate(zip(joint.tables, joint.cells)):
        hidden = res.hidden[cells]
        out.results.append(LinkedPart(
            frame=status_frame(t, res.status[cells]), hidden=hidden, cost=float(weight[cells][hidden].sum()),
            lower_bound=res.lower_bound, gap=res.gap, optimal=res.optimal, audit=part_report(res.audit, joint, i), stats=res.stats,
            message=res.message, table=t, settings=res.settings, linked=out, position=i))
    return out


def part_report(report: AuditReport, joint: LinkedTables, i: int) -> AuditReport:
    """The joint audit's rows of table ``i``'s cells, named by that table's codes and numbered by
    its cells; the verdict, multi-cell disclosures and counts are the set's."""
    cells = joint.cells[i]
    pos = np.full(joint.n_cells, -1)
    pos[cells] = np.arange(cells.size)
    rows = report.frame.index.to_numpy()
    mine = pos[rows] >= 0
    own = pos[rows[mine]]
    labels = joint.tables[i].labels.iloc[own].astype(str).reset_index(drop=True)
    rest = report.frame[mine].drop(columns=joint.dims).reset_index(drop=True)
    frame = pd.concat([labels, rest], axis=1)
    frame.index = own
    frame = frame.sort_index()
    return AuditReport(frame=frame, ok=report.ok, multi_cell=report.multi_cell, preset=report.preset,
                       threshold=report.threshold, integer=report.integer, lo=report.lo[cells],
                       hi=report.hi[cells], stats=dict(report.stats))


def _forced(joint: LinkedTables, force_published, force_hidden, status_column) -> tuple[np.ndarray, np.ndarray]:
    """The cells each table fixes, as joint masks; a shared cell fixed both ways raises."""
    if status_column is not None and not any(status_column in t.frame.columns for t in joint.tables):
        raise TableError(f"status column {status_column!r} is in none of the linked tables")
    keeps, hides = [], []
    for t, fp, fh in zip(joint.tables, joint.per_table(force_published, "force_published"),
                         joint.per_table(force_hidden, "force_hidden")):
        col = status_column if status_column is not None and status_column in t.frame.columns else None
        k, h = forced_cells(t, fp, fh, col)
        keeps.append(k)
        hides.append(h)
    keep = joint.join(keeps, "force_published", how="any")
    hide = joint.join(hides, "force_hidden", how="any")
    both = np.flatnonzero(keep & hide)
    if both.size:
        raise InfeasibleError(f"{both.size} shared cell(s) are required published in one table and hidden in "
                              f"another: {'; '.join(joint.cell_labels_of(both[:5]))}{' ...' if both.size > 5 else ''}")
    return keep, hide


def _levels(joint: LinkedTables, x, name: str):
    """A protection level: a number applies to every cell; per-table arrays are joined."""
    if x is None or isinstance(x, Real):
        return x
    return joint.join(joint.per_table(x, name), name)
