"""Row generation on each subtable of a hierarchical two-way table, for the cuts of the whole
table's master (docs/design.md, section 3).

A subtable's attacker knows fewer equations than the table's, so a pattern that protects a cell
in the table protects it in every subtable that holds it: each subtable's capacity cuts, over
its own cells, are valid cuts of the whole master. Solved on its own, a subtable (a table
without hierarchy, a few dozen cells) meets its cuts at the cheap patterns of its own master,
many more of them than the whole master's solutions ever visit: with the cuts of every
subtable the whole master's first solution is nearly as dear as the optimum, where the whole
master's rounds alone lift the bound by a few failed cells at a time.
"""
from __future__ import annotations

import time

import numpy as np

from ..clock import Deadline
from .master import Master
from .problem import Problem
from .separation import Violation


def subtable_rounds(p: Problem, pieces: list[tuple[np.ndarray, np.ndarray]], solver: str,
                    deadline: Deadline) -> tuple[list[Violation], dict]:
    """Row generation on each subtable (``(cells, equations)`` of ``p``): its master solved as a
    MILP, its solution separated by the subtable's attacker LPs, until the solution passes or
    ``deadline``. Returns every capacity cut met, as cuts over the cells of ``p``, and the counts
    (``subtables``, ``mip_solves``, ``lps``, ``seconds``)."""
    t0 = time.perf_counter()
    out: list[Violation] = []
    stats = {"subtables": 0, "mip_solves": 0, "lps": 0}
    for i, (cells, rows) in enumerate(pieces):
        if deadline.expired():
            break
        # an equal share of the time left: every subtable gets its first cuts (the ones that lift
        # the bound most), none takes the time of those after it
        own = deadline.share(1.0 / (len(pieces) - i))
        sm = Master(p.restrict(cells, rows), solver, own)
        stats["subtables"] += 1
        while not own.expired():
            sol = sm.model.solve(time_limit=own.limit(), mip_abs_gap=sm.abs_gap)
            stats["mip_solves"] += 1
            if not sol.has_solution:  # out of time, or a subtable no pattern protects: the master says
                break
            viols = [v for v in sm.separate(np.round(sol.x), integral=True) if v.kind in ("up", "dn", "spl")]
            if not viols:
                break
            sm.cuts.add(viols)
            out += [Violation(int(cells[v.cell]), v.kind, v.level, v.gain, v.coef.embedded(cells, p.n))
                    for v in viols]
        stats["lps"] += sm.sep.n_lps
    stats["seconds"] = time.perf_counter() - t0
    return out, stats
