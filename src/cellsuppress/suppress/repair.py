"""Repairs of the master's failing solutions by the heuristic: its protected patterns become
incumbents, and every cut it meets on the way joins the master's pool.
"""
from __future__ import annotations

import numpy as np

from ..clock import Deadline
from . import schedule
from .heuristic import OutOfTime, greedy_cover, heuristic
from .master import Master
from .model import cut_matrix


def repair(m: Master, x: np.ndarray, share: float = schedule.REPAIR_CLEANUP, trajectory: int = 0) -> None:
    """Make a failing pattern protected with the heuristic (its clean-up gets ``share`` of the
    time left).

    With ``trajectory`` > 0, also walk that many greedy repair steps from ``x`` and pool the
    cuts found at every step: patterns near the master's solution give the cuts it needs next.
    """
    walk(m, x, trajectory)
    _heuristic_pattern(m, x0=x, cleanup_budget=m.deadline.budget(share), give_up=m.deadline)


def repair_near(m: Master, x: np.ndarray, centre: np.ndarray, until: Deadline) -> None:
    """Repair ``x``, a master solution near the incumbent ``centre``: the centre's cells cost
    half while cells are hidden, and the clean-up may run until ``until`` (a clean-up cut short
    keeps cells a whole one would publish)."""
    _heuristic_pattern(m, x0=x, cleanup_budget=until.remaining(), give_up=m.deadline,
                       guide=m.p.weight * np.where(centre, 0.5, 1.0))


def guided(m: Master, core: np.ndarray, give_up: Deadline, share: float = schedule.GUIDED_CLEANUP) -> None:
    """The heuristic with the weights of the cells the LP relaxation ``core`` hides lowered (by up
    to 40%), abandoned at ``give_up``: on tables of three or more dimensions its pattern is much
    cheaper than the plain heuristic's, about as cheap as many rounds of repaired master
    solutions."""
    guide = m.p.weight * (1.0 - 0.4 * np.clip(core[:m.n], 0.0, 1.0))
    if _heuristic_pattern(m, cleanup_budget=m.deadline.budget(share), give_up=min(give_up, m.deadline),
                          guide=guide):
        m.say(f"LP-guided heuristic: cost {m.incumbent.cost:g}")


def guided_once(m: Master, core: np.ndarray, amount: float) -> None:
    """The LP-guided heuristic (:func:`guided`) given ``amount`` on the search's clock (seconds,
    or work without a time limit: :meth:`Deadline.after`), if that is at most
    ``schedule.GUIDED_MAX`` of the time left: the first one of a search, which its callers run
    once (the bound needs the rest of the time)."""
    if not m.deadline.limited or amount <= schedule.GUIDED_MAX * m.deadline.remaining():
        guided(m, core, give_up=m.deadline.after(amount))


def walk(m: Master, x: np.ndarray, steps: int) -> None:
    """Pool the cuts met along ``steps`` greedy repair steps from ``x``."""
    xs = x.copy()
    for _ in range(steps):
        viols = [v for v in m.sep.violations(xs, deadline=m.deadline) if v.kind != "rule"]
        if not viols or m.deadline.expired():
            break
        m.cuts.add(viols)
        xs = greedy_cover(m.p, xs, cut_matrix([v.coef for v in viols], m.p.n),
                          np.array([v.level for v in viols]))


def _heuristic_pattern(m: Master, **kw) -> bool:
    """Run the heuristic (``kw`` as :func:`heuristic` takes them), pool the cuts it met and offer
    its pattern; False when it gave up or its pattern is not cheaper."""
    found: list = []
    try:
        x, st = heuristic(m.p, None, m.deadline, cuts=found, **kw)
    except OutOfTime:
        return False
    finally:
        m.cuts.add(found)
    m.stats["lps"] += st.get("lps", 0)
    return m.offer(x, clean=st["clean"])
