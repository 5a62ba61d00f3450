"""The modular method for hierarchical tables (as tau-ARGUS's HiTaS): protect the table subtable
by subtable, top down, then audit the whole pattern and repair what it finds.

The table is cut into its non-hierarchical subtables (:mod:`~cellsuppress.suppress.subtables`),
each a group of codes per dimension. Level by level, top first, each subtable is protected on
its own (:func:`protect_subtable`) with what the levels above decided carried into it:

* a cell hidden above is hidden here too, and must be protected here as if it were sensitive
  (it moves by up to the largest protection level, within its capacities): the patterns above
  rely on it moving, and here the subtable's equations tie it to the cells below;
* a cell published above costs far more here than any cell of the subtable's own, so it is
  hidden only where nothing else can protect a cell.

A pattern made subtable by subtable is not always safe for the whole table: an attacker reads
every subtable's equations at once, and the moves that protect a cell in one subtable may be
impossible once the others' are added. So the whole pattern is then audited (verified moves
first, attacker LPs for the rest) and every requirement that fails is repaired by the
heuristic's cheapest moves on the whole problem; the method never returns a pattern that
failed its audit.

The subtables of one level share no undecided cell, so they are independent: ``run(fn,
tasks)`` may solve them in parallel.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..clock import NEVER, Deadline
from ..errors import InfeasibleError
from . import schedule
from .batch import check_certified
from .heuristic import heuristic
from .local import local
from .problem import Problem
from .separation import Separator
from .subtables import Subtable, subtables

__all__ = ["modular", "protect_subtable", "SubtableTask", "carried_into", "verify_and_repair"]


@dataclass
class SubtableTask:
    """One subtable to protect: its problem (what the levels above decided carried in), its
    cells in the whole problem, and the seconds it may take."""

    p: Problem
    carried: np.ndarray
    settled: np.ndarray
    cells: np.ndarray
    seconds: float | None = None


def protect_subtable(task: SubtableTask) -> tuple[np.ndarray, dict]:
    """A protected pattern of one subtable (a table without hierarchy): the cheapest box per
    sensitive cell, repaired and cleaned up by the attacker LPs (:func:`~cellsuppress.suppress.local.local`)
    within ``task.seconds``. A subtable whose carried requirements cannot all be met is
    protected without them, and one that cannot be protected at all is left as forced (the
    audit of the whole pattern then repairs what that leaves, or names the cells that no
    pattern protects)."""
    deadline = Deadline(task.seconds)
    p, carried = task.p, task.carried
    for attempt in (p, _without(p, carried)):
        try:
            return local(attempt, None, deadline, cleanup_budget=deadline.budget(schedule.SUBTABLE_CLEANUP),
                         avoid=task.settled)
        except InfeasibleError:
            continue
    return np.where(p.force_hidden, 1.0, 0.0), {"lps": 0}


def _without(p: Problem, carried: np.ndarray) -> Problem:
    """``p`` without the requirements of the ``carried`` cells (still hidden)."""
    return dataclasses.replace(p, sensitive=p.sensitive & ~carried, up=np.where(carried, 0.0, p.up),
                               dn=np.where(carried, 0.0, p.dn), spl=np.where(carried, 0.0, p.spl))


def carried_into(p: Problem, s: Subtable, decided: np.ndarray, x: np.ndarray, own: np.ndarray, level: float,
                 penalty: float) -> tuple[Problem, np.ndarray, np.ndarray]:
    """The problem of subtable ``s`` with what the others decided carried in: every cell hidden
    in ``x`` is hidden, and one that the others hid (not among ``own``, the cells this subtable
    chose itself) must move by ``level`` here (within its capacities); a ``decided`` cell that
    is published costs ``penalty`` more. Returns the problem, the mask of the cells given such
    requirements and that of the published decided cells."""
    sub = p.restrict(s.cells, s.rows)
    hid = x[s.cells] > 0.5
    carried = hid & ~own & ~sub.sensitive & ~sub.blocked
    settled = decided[s.cells] & ~hid
    up = np.where(carried, np.minimum(level, sub.cap_up), sub.up)
    dn = np.where(carried, np.minimum(level, sub.cap_dn), sub.dn)
    carried &= (up > 0) | (dn > 0)
    return dataclasses.replace(
        sub, sensitive=sub.sensitive | carried, up=up, dn=dn,
        force_hidden=sub.force_hidden | hid, weight=sub.weight + np.where(settled, penalty, 0.0),
        cost=sub.cost + np.where(settled, penalty, 0.0)), carried, settled


def _serial(fn: Callable, tasks: list) -> list:
    return [fn(t) for t in tasks]


def modular(p: Problem, say=None, deadline: Deadline = NEVER, subs: list[Subtable] | None = None,
            run: Callable = _serial) -> tuple[np.ndarray, dict]:
    """A protected pattern of ``p``, a hierarchical table, subtable by subtable (see the module).

    ``run(fn, tasks)`` returns ``[fn(t) for t in tasks]``, in order, however it likes (the
    subtables of one level are independent). Raises ``ValueError`` when ``p`` has no hierarchy
    that its equations and codes show."""
    say = say if say is not None else (lambda *a, **k: None)
    t0 = time.perf_counter()
    subs = subtables(p) if subs is None else subs
    if subs is None:
        raise ValueError("the modular method needs a table with dimensions (cells with codes)")
    run_ = _Run(p, subs, deadline.share(schedule.MODULAR_SUBTABLES), run, say)
    run_.passes()
    x = run_.x
    stats = {**run_.stats, "subtable_seconds": time.perf_counter() - t0}
    say(f"modular: {int((x > 0.5).sum())} hidden by the subtables; auditing the whole pattern", force=True)
    x, rst = verify_and_repair(p, x, deadline)
    stats["lps"] += rst["lps"]
    stats["repaired"] = rst["failed"]
    return x, stats


class _Run:
    """The subtables of one problem protected level by level, top down, in passes: a pass
    re-protects the subtables where cells were hidden after their own last protection (by a
    subtable of another level, HiTaS's backtracking), until none is left or the time or
    :data:`~cellsuppress.suppress.schedule.MODULAR_PASSES` is up."""

    def __init__(self, p: Problem, subs: list[Subtable], until: Deadline, run: Callable, say):
        self.p, self.subs, self.until, self.run, self.say = p, subs, until, run, say
        self.x = np.where(p.force_hidden, 1.0, 0.0)
        self.decided = np.zeros(p.n, dtype=bool)
        # per subtable: the cells it chose itself, and the pattern it last left (None: not yet solved)
        self.own = [np.zeros(s.cells.size, dtype=bool) for s in subs]
        self.seen: list[np.ndarray | None] = [None] * len(subs)
        levels = np.concatenate([p.up[p.sensitive], p.dn[p.sensitive], [0.0]])
        self.level = float(np.max(levels[np.isfinite(levels)]))
        # a published cell decided elsewhere costs more than all the other cells together
        self.penalty = float(p.weight[np.isfinite(p.weight)].sum()) + 1.0
        self.stats = {"subtables": 0, "passes": 0, "lps": 0}

    def passes(self) -> None:
        levels = sorted({s.level for s in self.subs})
        for k in range(schedule.MODULAR_PASSES):
            if not any(self._dirty(i) for i in range(len(self.subs))) or (k and self.until.expired()):
                return
            self.stats["passes"] += 1
            for lv in levels:
                # the subtables of this level to protect now; a subtable's time is its cells'
                # share of the time left to the work known of this pass
                wave = [i for i, s in enumerate(self.subs) if s.level == lv and self._dirty(i)]
                work = sum(s.cells.size for i, s in enumerate(self.subs) if s.level >= lv and self._dirty(i))
                self._wave(wave, work, k)

    def _dirty(self, i: int) -> bool:
        """Whether subtable ``i`` was never protected or has cells hidden since it was."""
        cells = self.subs[i].cells
        if self.seen[i] is None:
            return True
        return bool(((self.x[cells] > 0.5) & ~self.seen[i]).any())

    def _wave(self, wave: list[int], work: int, k: int) -> None:
        p, x = self.p, self.x
        tasks, which = [], []
        for i in wave:
            s = self.subs[i]
            sub, carried, settled = carried_into(p, s, self.decided, x, self.own[i], self.level, self.penalty)
            if (sub.sensitive & ((sub.up > 0) | (sub.dn > 0) | (sub.spl > 0))).any():
                tasks.append(SubtableTask(sub, carried, settled, s.cells))
                which.append(i)
            else:
                self.seen[i] = x[s.cells] > 0.5
        if tasks:
            left = self.until.remaining() * (schedule.FIRST_PASS if k == 0 else 1.0)
            for t in tasks:
                share = left * t.cells.size / max(work, 1)
                t.seconds = min(schedule.SUBTABLE_MAX, share) if self.until.limited else schedule.SUBTABLE_MAX
            self.say(f"modular: pass {k + 1}, level {self.subs[which[0]].level}: {len(tasks)} subtable(s)",
                     force=True)
            for i, t, (xs, st) in zip(which, tasks, self.run(protect_subtable, tasks)):
                hid = xs > 0.5
                self.own[i] |= hid & ~t.p.force_hidden
                self.seen[i] = hid  # a cell a sibling hides in this wave is news to it
                x[t.cells] = np.maximum(x[t.cells], hid)
                self.stats["subtables"] += 1
                self.stats["lps"] += st.get("lps", 0)
        for i in wave:
            self.decided[self.subs[i].cells] = True


def verify_and_repair(p: Problem, x: np.ndarray, deadline: Deadline = NEVER) -> tuple[np.ndarray, dict]:
    """``x`` made safe for the whole problem: every requirement is checked (verified batch moves
    first, attacker LPs for the rest), and those that fail are repaired by the heuristic
    (cheapest moves, from ``x``), checked again, until none fails."""
    sep = Separator(p)
    viol = check_certified(p, sep, x, {}, NEVER, deadline)
    failed = np.unique([v.cell for v in viol]).astype(np.int64)
    stats = {"lps": sep.n_lps, "failed": int(failed.size)}
    if failed.size:
        keep = np.zeros(p.n, dtype=bool)
        keep[failed] = True
        rest = dataclasses.replace(p, up=np.where(keep, p.up, 0.0), dn=np.where(keep, p.dn, 0.0),
                                   spl=np.where(keep, p.spl, 0.0))
        x, st = heuristic(rest, None, deadline, x0=x, cleanup_budget=0.0)
        stats["lps"] += st.get("lps", 0)
    return x, stats
