"""The modular method for hierarchical tables (as tau-ARGUS's HiTaS): protect the table subtable
by subtable, top down, then audit the whole pattern and repair what it finds.

The table is cut into its non-hierarchical subtables (:mod:`~cellsuppress.suppress.subtables`),
each a group of codes per dimension. Level by level, top first, each subtable is protected on
its own (:func:`protect_subtable`) with what the levels above decided carried into it: a cell
hidden above is hidden here too, and a cell published above costs far more here than any of
the subtable's own, so it is hidden only where nothing else can protect a cell.

A pattern made subtable by subtable is not always safe for the whole table: an attacker reads
every subtable's equations at once, and the move that protects a cell in one subtable may be
impossible once the others' equations are added (a margin hidden in a lower subtable is pinned
by the subtable above, where it is published; a cell hidden above is tied here to cells that
are published). So the whole pattern is then audited (verified moves first, attacker LPs for
the rest) and every requirement that fails is repaired by the heuristic's cheapest moves on the
whole problem: the method never returns a pattern that failed its audit. HiTaS instead makes
the cells hidden above sensitive in the subtables below; that protects more than the whole
table needs, and hides far more than the repair of what actually fails.

The subtables of one level share no undecided cell, so they are independent: ``run(fn,
tasks)`` may solve them in parallel.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..auditing.certify import certify_levels
from ..clock import NEVER, Deadline
from ..errors import InfeasibleError
from . import schedule
from .batch import batch_moves, certified_witnesses, check_certified
from .heuristic import heuristic
from .local import boxes, certificates, grid_of, local
from .problem import Problem
from .separation import OutOfTime, Separator, filter_either_side
from .subtables import Subtable, by_level, subtables

__all__ = ["modular", "by_subtables", "protect_subtable", "SubtableTask", "carried_into", "verify_and_repair"]


@dataclass
class SubtableTask:
    """One subtable to protect: its problem (what the levels above decided carried in), the
    mask of its cells published above (``settled``), its cells in the whole problem, the
    seconds it may take from its start (None: no limit, its clean-up a budget of work), the end of the subtables' time (``until``), which a
    subtable started late does not pass either, and the end of the run (``end``), which no
    floor of its work passes: ``time.time()`` values (None: no limit), as the task may run in
    another process or on another machine."""

    p: Problem
    settled: np.ndarray
    cells: np.ndarray
    seconds: float | None = None
    until: float | None = None
    end: float | None = None

    def run(self) -> Deadline:
        """The end of the run as a deadline in this process (``NEVER`` without a limit)."""
        return NEVER if self.end is None else Deadline(self.end - time.time())


def protect_subtable(task: SubtableTask) -> tuple[np.ndarray, dict]:
    """A protected pattern of one subtable (a table without hierarchy): the cheapest box per
    sensitive cell, repaired and cleaned up by the attacker LPs (:func:`~cellsuppress.suppress.local.local`)
    within ``task.seconds``; no box uses a settled cell. ``stats["moves"]``: its certificates
    (:func:`~cellsuppress.suppress.local.certificates`), one per row over the subtable's cells. A subtable that cannot be protected
    on its own is left as forced: the audit of the whole pattern then repairs it, or names the
    cells that no pattern protects. One started too close to ``task.until`` for
    :data:`~cellsuppress.suppress.schedule.SUBTABLE_LATE` of its seconds, or given less than
    :data:`~cellsuppress.suppress.schedule.SUBTABLE_SHORT`, takes its boxes and their repair
    alone (:func:`_late`, ``stats["late"]``)."""
    g = grid_of(task.p)
    if task.until is not None and (task.seconds < schedule.SUBTABLE_SHORT
                                   or task.until - time.time() < schedule.SUBTABLE_LATE * task.seconds):
        return _late(task, g)
    deadline = Deadline(task.seconds, within=task.run())
    if task.until is not None:
        deadline = deadline.cap(task.until - time.time())
    try:
        # without a time limit (no seconds) the clean-up's budget is one of work (None)
        x, stats = local(task.p, None, deadline, g=g, cleanup_budget=deadline.budget(schedule.SUBTABLE_CLEANUP),
                         avoid=task.settled)
    except InfeasibleError:
        return np.where(task.p.force_hidden, 1.0, 0.0), {"lps": 0}
    # its boxes and its clean-up's moves, over the subtable's cells: those that meet every
    # equation of the whole table certify its cells there too
    stats["moves"] = certificates(task.p, g, x, stats.pop("built"), stats.get("moves"), stats.pop("batch", None))
    return x, stats


def _late(task: SubtableTask, g) -> tuple[np.ndarray, dict]:
    """A subtable started (nearly) after the subtables' time (those before it ran long): its
    boxes, batch LPs (a few, on the subtable alone) for the cells without one, and the
    heuristic's cheapest moves for those they leave (within its seconds), without the rest of
    a subtable's work (the check of every cell without a box by LPs, the clean-up), which under
    the floors of its stages would delay everything after it. Repairing those cells here, on
    the subtable's small LPs, costs far less than in the whole table, where the run may have
    no time left."""
    p = task.p
    x, bx = boxes(p, g, np.where(p.force_hidden, 1.0, 0.0), task.settled)
    moves = [bx.moves(p)]
    stats = {"lps": 0, "late": 1}
    if bx.uncovered.size:
        rest = p.only(bx.uncovered)
        cert, held = certify_levels(rest.M, x > 0.5, rest.cap_up, rest.cap_dn, rest.up, rest.dn, rest.spl,
                                    either=rest.either_side)
        moves.append(cert.moves(p.n))
        stats["lps"] += cert.lps
        left = bx.uncovered[~held[bx.uncovered]]
        if left.size:
            try:
                run = task.run()
                x, st = heuristic(p.only(left), None, Deadline(task.seconds, within=run) if task.seconds else run,
                                  x0=x, cleanup_budget=0.0)
                stats["lps"] += st.get("lps", 0)
            except InfeasibleError:
                pass  # left to the whole table, which repairs it or names the cells
    stats["moves"] = sp.csr_matrix(sp.vstack(moves, format="csr"))
    return x, stats


def carried_into(p: Problem, s: Subtable, decided: np.ndarray, x: np.ndarray, penalty: float) -> SubtableTask:
    """The task of subtable ``s`` with the decisions of the levels above (``decided`` cells,
    pattern ``x``) carried in: their hidden cells forced hidden, their published ones costing
    ``penalty`` more."""
    sub = p.restrict(s.cells, s.rows)
    hid = x[s.cells] > 0.5
    settled = decided[s.cells] & ~hid
    extra = np.where(settled, penalty, 0.0)
    return SubtableTask(dataclasses.replace(sub, force_hidden=sub.force_hidden | hid, weight=sub.weight + extra,
                                            cost=sub.cost + extra), settled, s.cells)


def _serial(fn: Callable, tasks: list) -> list:
    return [fn(t) for t in tasks]


def modular(p: Problem, say=None, deadline: Deadline = NEVER, subs: list[Subtable] | None = None,
            run: Callable = _serial, slots: int = 1) -> tuple[np.ndarray, dict]:
    """A protected pattern of ``p``, a hierarchical table: :func:`by_subtables`, then
    :func:`verify_and_repair` on the whole problem (see the module). ``stats["audit_seconds"]``
    is how long the check of the whole pattern took; ``stats["witnesses"]``, where it repaired
    nothing, the requirements' witnesses it found (for the clean-up).

    ``run(fn, tasks)`` returns ``[fn(t) for t in tasks]``, in order, however it likes (the
    subtables of one level are independent), solving ``slots`` at once; ``run.start(wait=False)``,
    where ``run`` has it, gets it ready ahead of its first call (starts its workers). Raises ``ValueError``
    when ``p`` has no hierarchy that its equations and codes show."""
    say = say if say is not None else (lambda *a, **k: None)
    x, stats = by_subtables(p, say, subtables_until(deadline, p.n), subs, run, slots)
    say(f"modular: {int((x > 0.5).sum())} hidden by the subtables"
        + (f" ({stats['late']} started late, without clean-up)" if stats["late"] else "")
        + "; auditing the whole pattern", force=True)
    x, rst = verify_and_repair(p, x, deadline, seeds=stats["moves"])
    stats["lps"] += rst["lps"]
    stats["repaired"] = rst["failed"]
    stats["audit_seconds"] = rst["audit_seconds"]
    if "witnesses" in rst:
        stats["witnesses"] = rst["witnesses"]
    # the subtables' moves whole, not only those the check kept: where the clean-up breaks the
    # check's move of a requirement, another may still meet it, and spare the final audit an LP
    stats["moves"] = rst["moves"] if stats["moves"] is None else sp.csr_matrix(
        sp.vstack([rst["moves"], stats["moves"]], format="csr"))
    if rst["failed"]:
        say(f"modular: {rst['failed']} cell(s) failed in the whole table and were repaired", force=True)
    return x, stats


def subtables_until(deadline: Deadline, cells: int) -> Deadline:
    """The end of the subtables' time within ``deadline``: a share of it
    (:data:`~cellsuppress.suppress.schedule.MODULAR_SUBTABLES`), and at least the check and
    repair of the whole pattern left after it, which take about as long per cell whatever
    the limit (:data:`~cellsuppress.suppress.schedule.MODULAR_CHECK_PER_CELL`)."""
    if not deadline.limited:
        return deadline
    after = max((1.0 - schedule.MODULAR_SUBTABLES) * deadline.remaining(), schedule.MODULAR_CHECK_PER_CELL * cells)
    return Deadline.until(deadline.at - after, within=deadline)


def by_subtables(p: Problem, say=None, until: Deadline = NEVER, subs: list[Subtable] | None = None,
                 run: Callable = _serial, slots: int = 1) -> tuple[np.ndarray, dict]:
    """The pattern made subtable by subtable, level by level, top down (not yet audited as a
    whole): each subtable gets its cells' share of the time to ``until`` left to the work
    left, times ``slots`` (the subtables ``run`` solves at once)."""
    say = say if say is not None else (lambda *a, **k: None)
    t0 = time.perf_counter()
    subs = subtables(p) if subs is None else subs
    if subs is None:
        raise ValueError("the modular method needs a table with dimensions (cells with codes)")
    x = np.where(p.force_hidden, 1.0, 0.0)
    decided = np.zeros(p.n, dtype=bool)
    # a published cell decided above costs more than all the other cells together
    penalty = float(p.weight[np.isfinite(p.weight)].sum()) + 1.0
    stats = {"subtables": 0, "lps": 0, "late": 0}
    moves = []
    waves = by_level(subs)
    work = sum(s.cells.size for s in subs)
    # the workers start (a second or more) while the levels above are carried down and solved
    # here; a level solved on them waits for their start before sharing out its time, so that
    # the start is counted in the subtables' time, not taken from that level's subtables
    start = getattr(run, "start", None) if slots > 1 else None
    if start is not None and any(len(w) > 1 for w in waves):
        start()
    for i, wave in enumerate(waves):
        tasks = [t for t in (carried_into(p, s, decided, x, penalty) for s in wave)
                 if (t.p.has_requirement).any()]
        if tasks:
            if start is not None and len(tasks) > 1:
                start(wait=True)
            left = until.remaining() * max(1, min(slots, len(tasks)))
            now = time.time()
            ends = (now + until.remaining(), now + until.to_end()) if until.limited else (None, None)
            for t in tasks:
                # without a time limit no seconds at all: each subtable's clean-up has a budget of
                # work (the local method's), so its pattern does not depend on the machine's speed
                t.seconds = min(schedule.SUBTABLE_MAX, left * t.cells.size / max(work, 1)) if until.limited else None
                t.until, t.end = ends
            say(f"modular: level {i + 1} of {len(waves)}, {len(tasks)} subtable(s)", force=True)
            for t, (xs, st) in zip(tasks, run(protect_subtable, tasks)):
                x[t.cells] = np.maximum(x[t.cells], xs > 0.5)
                W = st.get("moves")
                if W is not None and W.shape[0]:
                    moves.append(sp.csr_matrix((W.data, t.cells[W.indices], W.indptr), shape=(W.shape[0], p.n)))
                stats["subtables"] += 1
                stats["lps"] += st.get("lps", 0)
                stats["late"] += st.get("late", 0)
        for s in wave:
            decided[s.cells] = True
        work -= sum(s.cells.size for s in wave)
    stats["subtable_seconds"] = time.perf_counter() - t0
    stats["moves"] = sp.csr_matrix(sp.vstack(moves, format="csr")) if moves else None
    return x, stats


def verify_and_repair(p: Problem, x: np.ndarray, deadline: Deadline = NEVER, seeds=None) -> tuple[np.ndarray, dict]:
    """``x`` made safe for the whole problem: every requirement is checked, and those that fail
    are repaired, until none fails. ``stats["moves"]``: the verified moves of the returned
    pattern (one per row) that are not among ``seeds`` (the check's LPs', the repair's), which
    with the seeds are the certificates of its later checks. ``stats["witnesses"]``, when
    nothing failed: every requirement's witness (as :meth:`Separator.violations` fills them),
    which spare the clean-up of ``x`` its own check.

    The check: ``seeds`` (moves to try first, the subtables' certificates, as
    :func:`~cellsuppress.auditing.certify.certify` takes them) are verified, batch LPs
    certify most of what they leave, and attacker LPs settle the rest, one per requirement,
    until :data:`~cellsuppress.suppress.schedule.MODULAR_REPAIR` of the time to ``deadline`` is
    left; past it, every requirement not yet settled counts as failing. The
    repair: batch moves (per direction one LP over the whole problem finds a move that meets
    every failed level at once, and its cells are hidden; they get at least
    :data:`~cellsuppress.suppress.schedule.MODULAR_REPAIR_MIN` seconds, even past the end of
    the run), almost as cheap as a cheapest move per failed requirement with a few LPs in place
    of hundreds over the whole table, and their moves certify what they repair; then the
    heuristic for whatever they leave (its checks of just those requirements, and cheapest moves
    for what still fails), or with less than that time left to the end of the run every free
    cell hidden."""
    t0 = time.perf_counter()
    found: list = []
    check = deadline.leaving(schedule.MODULAR_REPAIR)
    cert, held = certify_levels(p.M, x > 0.5, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, either=p.either_side,
                                time_limit=check.limit(), seeds=seeds, focus=2 * int(p.sensitive.sum()))
    # the seeds it verified the caller has already (nearly all of its moves, on the subtables' patterns)
    found.append(cert.moves(p.n, seeds=False))
    stats = {"lps": cert.lps}
    open_ = np.flatnonzero(p.has_requirement & ~held)
    failed = open_
    witnesses: dict = {}
    if open_.size:
        sep = Separator(p.only(open_))
        try:
            viol = sep.violations(x, witnesses=witnesses, give_up=check)
            failed = np.unique(np.asarray([v.cell for v in filter_either_side(sep.p, viol)], dtype=np.int64))
        except OutOfTime:
            pass
        finally:
            stats["lps"] += sep.n_lps
    # the check is as long as the final audit of the pattern will be, near enough
    stats.update(failed=int(failed.size), audit_seconds=time.perf_counter() - t0)
    if not failed.size:
        certified_witnesses(p, cert, held, witnesses)
        stats["witnesses"] = witnesses
    if failed.size:
        rest = p.only(failed)
        # its floor may pass the end of the run: cut short, the repair hides every free cell
        moved = batch_moves(rest, x, deadline.at_least(schedule.MODULAR_REPAIR_MIN))
        if moved is not None:
            x, zs = moved
            # the moves met every failed level in their LPs: verified, they are certificates
            sep_rest = Separator(rest)
            viol = check_certified(rest, sep_rest, x, {}, NEVER, deadline, seeds=zs, moves=found)
            stats["lps"] += sep_rest.n_lps
            failed = np.unique(np.asarray([v.cell for v in filter_either_side(rest, viol)], dtype=np.int64))
        if failed.size and deadline.to_end() > schedule.MODULAR_REPAIR_MIN:
            x, st = heuristic(p.only(failed), None, deadline, x0=x, cleanup_budget=0.0)
            stats["lps"] += st.get("lps", 0)
        elif failed.size:
            # too little time for the heuristic's check (an LP per failing requirement), let
            # alone its moves: every free cell hidden is safe if anything is
            x = np.where(p.blocked, x, 1.0)
    stats["moves"] = sp.csr_matrix(sp.vstack([W for W in found if W.shape[0]] or [sp.csr_matrix((0, p.n))],
                                             format="csr"))
    return x, stats
