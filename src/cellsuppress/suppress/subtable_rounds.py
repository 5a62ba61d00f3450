"""Row generation on each subtable of a hierarchical two-way table, for the cuts of the whole
table's master (docs/design.md, section 3).

A subtable's attacker knows fewer equations than the table's, so a pattern that protects a cell
in the table protects it in every subtable that holds it: each subtable's capacity cuts, over
its own cells, are valid cuts of the whole master. Solved on its own, a subtable (a table
without hierarchy, a few dozen cells) meets its cuts at the cheap patterns of its own master,
many more of them than the whole master's solutions ever visit: with the cuts of every
subtable the whole master's first solution is nearly as dear as the optimum, where the whole
master's rounds alone lift the bound by a few failed cells at a time. The union of the
subtables' own optima is often protected in the whole table, and then near its optimum (as
tau-ARGUS's modular method, whose subtables are solved to their optima).
"""
from __future__ import annotations

import time

import numpy as np

from ..clock import Deadline
from ..solvers.background import SolveThread
from .master import Master
from .problem import Problem
from .separation import Violation


def subtable_rounds(p: Problem, pieces: list[tuple[np.ndarray, np.ndarray]], solver: str,
                    deadline: Deadline, thread: SolveThread | None = None) -> tuple[list[Violation], np.ndarray | None, dict]:
    """Row generation on each subtable (``(cells, equations)`` of ``p``): its master solved as a
    MILP, its solution separated by the subtable's attacker LPs, until the solution passes or
    ``deadline``. Returns every capacity cut met, as cuts over the cells of ``p``; the union of
    the subtables' passing solutions (None unless every subtable ended with one), a pattern
    to check on the whole table; and the counts (``subtables``, ``mip_solves``, ``lps``,
    ``seconds``). The masters' solves run in ``thread`` if given. A subtable's solve that ignores its time limit raises
    :class:`~cellsuppress.suppress.master.MasterLost`, as one of the whole master would."""
    t0 = time.perf_counter()
    out: list[Violation] = []
    union = np.where(p.force_hidden, 1.0, 0.0)
    stats = {"subtables": 0, "mip_solves": 0, "lps": 0}
    masters = []
    for cells, rows in pieces:
        if deadline.expired():
            break
        sm = Master(p.restrict(cells, rows), solver)
        sm.thread = thread
        masters.append((cells, sm))
    stats["subtables"] = len(masters)
    # two passes, each subtable an equal share of the time left: in the first every one gets
    # its first cuts (the ones that lift the bound most) and none takes the time of those after
    # it; the second goes on with those cut short, in the time the others left
    todo = list(masters)
    for _ in range(2):
        left = []
        for i, (cells, sm) in enumerate(todo):
            if deadline.expired():
                left += todo[i:]
                break
            own = deadline.share(1.0 / (len(todo) - i))
            xv = _rounds(sm, own, out, cells, p.n, stats)
            if xv is None:
                left.append((cells, sm))
            else:
                union[cells] = np.maximum(union[cells], xv[:cells.size])
        todo = left
    stats["lps"] = sum(sm.sep.n_lps for _, sm in masters)
    stats["seconds"] = time.perf_counter() - t0
    return out, (union if not todo and len(masters) == len(pieces) else None), stats


def _rounds(sm: Master, own: Deadline, out: list[Violation], cells: np.ndarray, n: int,
            stats: dict) -> np.ndarray | None:
    """Rounds on one subtable's master until its solution passes (returned) or ``own`` ends
    (None); the cuts, over the whole problem's ``n`` cells, go to ``out``."""
    while not own.expired():
        # guarded as the whole master's solves: one that ignores its limit ends the search
        # (MasterLost), as it would there
        sol = sm.solve(time_limit=own.limit(), mip_abs_gap=sm.abs_gap)
        stats["mip_solves"] += 1
        if not sol.has_solution:  # out of time, or a subtable no pattern protects: the master says
            return None
        xv = np.round(sol.x)
        viols = [v for v in sm.separate(xv, integral=True) if v.kind in ("up", "dn", "spl")]
        if not viols:
            return xv
        sm.cuts.add(viols)
        out += [Violation(int(cells[v.cell]), v.kind, v.level, v.gain, v.coef.embedded(cells, n)) for v in viols]
    return None
