"""The optimal method: the master problem of capacity cuts, grown by the attacker LPs until its
solution passes every one of them (docs/design.md).

The master (:mod:`~cellsuppress.suppress.master`) starts from the single-equation cuts and is
solved once as it is: on easy tables its solution already passes every attacker LP and is the
optimum. Otherwise it takes the cuts the heuristic met, is cut at its LP relaxation until the attacker LPs find nothing, and is
then solved as a MILP. Each failing integer solution adds its own cuts; a Pareto-optimal cut per
failed requirement (the dual tightest at the root LP's solution,
:class:`~cellsuppress.suppress.separation.ParetoCuts`); in tables of three or more dimensions,
the cuts of the two-way slices through the failing cells
(:class:`~cellsuppress.suppress.separation.SliceCuts`); and the cuts of a few greedy repair
steps around it (patterns near the master's choice give the cuts it needs next). On a
hierarchical two-way table the master first takes the cuts of row generation on each of its
subtables (:mod:`~cellsuppress.suppress.subtable_rounds`). The root LP's
solution also guides a second heuristic pattern. In two-way tables this ends in a round or two.
In three or more dimensions, where a cell needs a whole cycle of partners, it can take many
rounds: the best pattern that passed the attacker LPs (heuristic or integer solution, repaired)
and the best MILP bound give the stated gap. With a time limit, part of it goes to local
branching inside the master around the best pattern
(:mod:`~cellsuppress.suppress.local_branching`), which finds cheaper patterns faster than more
rounds do, while a copy of the master is solved for the bound on the second core. The tree
search is the solver's own on the master: a branch-and-cut in Python over the same master lifts
the bound more slowly. With ``solver="scip"`` SCIP's branch-and-cut takes the place of the MILP
rounds after the root (:mod:`~cellsuppress.suppress.branch_cut`): its tree separates the
capacity cuts at every node.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..clock import Deadline
from ..errors import InfeasibleError
from ..solvers.background import SolveThread
from . import schedule
from .branch_cut import branch_and_cut
from .heuristic import heuristic
from .local_branching import local_branching
from .master import TOL, Master, MasterLost
from .problem import Problem
from .repair import guided, guided_once, repair, repair_near
from .restarts import restarts
from .separation import ParetoCuts
from .subtable_rounds import subtable_rounds
from .subtables import subtables

# MILP rounds before local branching or the final phase may start: the first rounds bring the
# master most of its cuts
MIN_ROUNDS = 3

# a master MILP's solutions found before its last one whose cuts join the pool (the last ones,
# the cheapest: those nearest the next optimum; each a separation)
IMPROVING_SEPARATED = 3

# the check of the master's first solution starts with batch moves (certificates) from this many
# sensitive cells: with fewer, one attacker LP per requirement is cheap, and the certificates'
# LPs are a cost where the solution fails, as it does on most tables
CERTIFY_FROM = 500


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`optimal` once it had a protected pattern: ``result`` is what
    :func:`optimal` returns, as far as it got."""

    def __init__(self, result: tuple[np.ndarray, float, bool, dict]):
        super().__init__("interrupted")
        self.result = result


def optimal(p: Problem, say, deadline: Deadline, mip_gap: float, solver: str, max_root_rounds: int | None = None,
            export_model: str | None = None, start: np.ndarray | None = None) -> tuple[np.ndarray, float, bool, dict]:
    """Solve ``p`` to optimality (or to the deadline). Returns ``(x, lower bound, optimal, stats)``;
    ``stats["clean"]`` says whether the pattern has been through a whole clean-up, and
    ``stats["certificates"]`` holds verified attacker moves of it (one per row; None: none kept).

    ``start``, a pattern known to pass every attacker LP of ``p``, is the first incumbent in
    place of the heuristic's.

    Ctrl-C (KeyboardInterrupt) once the heuristic has given a protected pattern stops the
    search, and the solves in other threads, and raises :class:`Interrupted` with the best
    pattern so far; before that, it goes on as it came."""
    m = Master(p, solver, deadline, say, mip_gap)
    with SolveThread() as m.thread:  # the master's solves, one after another, in one thread
        return _search(m, max_root_rounds, export_model, start)


def _search(m: Master, max_root_rounds: int | None, export_model: str | None,
            start: np.ndarray | None) -> tuple[np.ndarray, float, bool, dict]:
    """:func:`optimal` on the master ``m``."""
    say = m.say
    root = Root(m, max_root_rounds)
    try:
        if start is None:
            if master_first(m):
                say(f"the first master solution is protected: cost {m.incumbent.cost:g}", force=True)
                return _proven_early(m, export_model)
            # where the relaxation's optimum is integral and protected, the root proves it
            # before any heuristic; elsewhere its rounds go on after the heuristic
            root.run(schedule.ROOT_FIRST, integral_only=True)
            if root.proven or m.closed():
                say(f"the root's integral point is protected: cost {m.incumbent.cost:g}", force=True)
                return _proven_early(m, export_model)
    except MasterLost as e:  # warned of where the solve was left: the heuristic's pattern is the result
        say(str(e), force=True)
        first_incumbent(m)
        return _outcome(m, done=False)
    took = first_incumbent(m) if start is None else start_incumbent(m, start)
    say(f"heuristic incumbent: cost {m.incumbent.cost:g}", force=True)
    done = lost = False
    try:
        root.run(schedule.ROOT)
        # after the root, which would prune them (slack at its fractional points); with them the
        # master's solutions are near the optimum, and their repairs beat the LP-guided heuristic
        guide = root.proven or not hierarchy_cuts(m)
        if not (root.proven or m.closed()):
            restarts_after_root(m, root, took)
        if root.proven or m.closed():
            done = True
        else:
            guide_after = (schedule.GUIDED_PER_HEURISTIC * took + schedule.amount(m.deadline, schedule.GUIDED_EXTRA)
                           if guide else 0.0)
            if m.branch_and_cut:
                done = branch_and_cut(m, guide_after)
            else:
                done = RowGeneration(m, export_model, guide_after=guide_after, heuristic_seconds=took).run()
    except MasterLost as e:  # warned of where the solve was left: the incumbent is the result
        lost = True
        say(str(e), force=True)
    except KeyboardInterrupt:
        m.bound.abandon()
        raise Interrupted(_outcome(m, done=False)) from None
    finally:
        m.bound.poll(stop=True)
    if export_model and not lost:
        m.model.export(export_model)
    return _outcome(m, done)


def _proven_early(m: Master, export_model: str | None) -> tuple[np.ndarray, float, bool, dict]:
    """The outcome of a search that proved its first protected pattern optimal, before any
    heuristic."""
    if export_model:
        m.model.export(export_model)
    m.stats.setdefault("root_bound", m.lower)
    m.stats.setdefault("root_rounds", 0)
    m.stats.setdefault("root_seconds", 0.0)
    return _outcome(m, done=True)


def _outcome(m: Master, done: bool) -> tuple[np.ndarray, float, bool, dict]:
    """The incumbent, the lower bound, whether the incumbent is proven optimal (``done``: the
    rounds proved it), and the counts."""
    m.stats["lps"] += (m.sep.n_lps + m.sep_frac.n_lps + m.slices.n_lps
                       + (m.pareto.n_lps if m.pareto else 0) + sum(f.n_lps for f in m.families))
    lower = m.lower
    if m.integral:
        lower = float(np.ceil(lower - TOL))
    lower = min(lower, m.incumbent.cost)
    proven = done or m.closed()
    m.stats["clean"] = m.incumbent.clean
    m.stats["certificates"] = m.incumbent.moves
    return m.incumbent.x, lower, proven, m.stats


def master_first(m: Master) -> bool:
    """Solve the master MILP once, before any heuristic: on tables where the single-equation cuts
    are nearly enough (few sensitive cells among many, or most of them pinned by nothing but
    their own equations) its solution passes every attacker LP and is then the optimum, and the
    heuristic, the root and their checks of large patterns are never paid for. Returns True
    when that proves optimality. A failing solution's cuts join the pool; the solve and its
    separation get ``schedule.MASTER_FIRST`` of the time (the solve at most ``FIRST_SLICE``),
    so that elsewhere it costs little; without a time limit the solve runs to its end, as every
    master solve then does (a slice of seconds would make the search depend on the machine's
    speed)."""
    d = m.deadline.share(schedule.MASTER_FIRST)
    sol = m.solve_milp(min(d.limit(), schedule.FIRST_SLICE) if d.limited else None)
    if not sol.has_solution:
        return False
    xv = np.round(sol.x)
    # where it passes, the check is most of the run: with many requirements, batch moves certify
    # them in a few LPs, and the final audit of the pattern verifies those moves first
    moves: list = []
    viols = m.separate(xv, integral=True, deadline=m.deadline.share(schedule.MASTER_FIRST),
                       certify=int(m.p.sensitive.sum()) >= CERTIFY_FROM, moves=moves)
    if viols:
        m.cuts.add(viols)
        return False
    # protected; the master's optimum (without a gap) needs no clean-up
    m.offer(xv[:m.n], clean=sol.status == "optimal" and m.mip_gap == 0, moves=moves[0] if moves else None)
    return sol.status == "optimal" or m.closed()


def first_incumbent(m: Master) -> float:
    """The heuristic's pattern as the first incumbent, its cuts in the pool; returns what it took
    on the search's clock (seconds with a time limit, work without: :meth:`Deadline.now`). It
    gets most of the time only when it needs it: it stops at its own deadline."""
    p, deadline = m.p, m.deadline
    found: list = []
    h_deadline = deadline.share(schedule.INCUMBENT)
    t0 = deadline.now()
    # its last resort and its clean-up may pass its own deadline, never the search's
    hx, hst = heuristic(p, m.say, h_deadline, cuts=found, cleanup_budget=deadline.budget(schedule.INCUMBENT_CLEANUP),
                        hard_deadline=deadline)
    took = deadline.now() - t0
    m.stats["lps"] += hst.get("lps", 0)
    m.cuts.add(found)
    m.offer(hx, clean=hst["clean"])
    if p.either_side:
        both_sides_incumbent(m, h_deadline)
    return took


def start_incumbent(m: Master, x: np.ndarray) -> float:
    """``x``, a protected pattern found elsewhere, as the first incumbent; returns 0 (no
    heuristic ran)."""
    m.incumbent.offer(np.asarray(x, dtype=float))
    return 0.0


def both_sides_incumbent(m: Master, deadline: Deadline) -> None:
    """Under ``either_side``, offer the heuristic's pattern that protects both sides of every cell.

    It also meets the preset (either side will do, and a cell that can reach T+1 leaves no
    equation sum in 1..T); the one-side heuristic picks sides greedily and can end dearer.
    """
    if deadline.expired():
        return
    try:
        x, st = heuristic(dataclasses.replace(m.p, either_side=False, equation_sum_rule=False), None, deadline,
                          cleanup_budget=deadline.budget(schedule.BOTH_SIDES_CLEANUP), hard_deadline=m.deadline)
    except InfeasibleError:  # e.g. hidden cells known to be non-zero cannot all reach 0
        return
    m.stats["lps"] += st.get("lps", 0)
    if not m.separate(np.concatenate([x, np.ones(m.n_side)]), integral=True):
        m.offer(x)


def hierarchy_cuts(m: Master) -> int:
    """On a hierarchical two-way table, the cuts of row generation on each subtable through a
    sensitive cell (:func:`~cellsuppress.suppress.subtable_rounds.subtable_rounds`) join the
    pool, within ``schedule.SUBTABLE_ROUNDS`` of the time left, and the union of the subtables'
    optima is offered if it passes the whole table's attacker LPs. Returns how many cuts."""
    p = m.p
    if m.closed() or p.codes is None or p.codes.shape[1] != 2:
        return 0
    subs = subtables(p)
    if subs is None or len(subs) < 2:
        return 0
    pieces = [(s.cells, s.rows) for s in subs if s.rows.size and p.sensitive[s.cells].any()]
    found, union, st = subtable_rounds(p, pieces, m.solver, m.deadline.share(schedule.SUBTABLE_ROUNDS), m.thread)
    added = m.cuts.add(found)
    if union is not None and not m.n_side and union @ p.cost < m.incumbent.cost:
        # the subtables' optima together: often protected in the whole table, and near its
        # optimum (under an either-side preset the master's points carry sides it has not)
        viols = m.separate(union, integral=True)
        if viols:
            m.cuts.add(viols)
        else:
            m.offer(union)
    m.stats["lps"] += st["lps"]
    m.stats.update(subtable_cuts=added, subtable_solves=st["mip_solves"], subtable_seconds=st["seconds"])
    m.say(f"{added} cut(s) from {st['subtables']} subtable(s), {st['mip_solves']} MILP(s)", force=True)
    return added


def restarts_after_root(m: Master, root: Root, took: float) -> int:
    """Restarts of the heuristic in other orders (:func:`~cellsuppress.suppress.restarts.restarts`)
    where the root ended far from any protected pattern: at least ``RESTART_FAILING`` of the
    sensitive cells still had a violated cut in its last round, as on hierarchical tables of
    three or more dimensions, whose master solutions then fail nearly every sensitive cell and
    whose rounds after the root hardly lift the bound. They take ``RESTARTS`` of the time left,
    the bound's copies solved beside them, if that holds ``RESTART_MIN_RUNS`` times what the
    first heuristic took (``took``, on the search's clock; 0: a start was given, no heuristic
    ran); without a time limit ``RESTARTS_PER_HEURISTIC`` times its work. Not before SCIP's
    branch-and-cut, whose own heuristics and bound take the time after the root. Returns how
    many runs ended."""
    if (took <= 0 or m.branch_and_cut
            or root.failing < schedule.RESTART_FAILING * int(m.p.has_requirement.sum())):
        return 0
    if m.deadline.limited:
        if schedule.RESTARTS * m.deadline.remaining() < schedule.RESTART_MIN_RUNS * took:
            return 0
        until = m.deadline.share(schedule.RESTARTS)
        if m.can_solve_in_background:
            m.bound.start(slice_=schedule.BOUND_SLICE)
    else:
        until = m.deadline.after(schedule.RESTARTS_PER_HEURISTIC * took)
    before = m.incumbent.cost
    runs = restarts(m, until)
    m.say(f"{runs} restart(s) of the heuristic in other orders: cost {before:g} -> {m.incumbent.cost:g}",
          force=True)
    return runs


def lp_rounds(m: Master, cap: int | None = None) -> float:
    """The whole root (:class:`Root`) in one run, within ``schedule.ROOT`` of the time left;
    returns the last LP value."""
    return Root(m, cap).run(schedule.ROOT)


class Root:
    """The cut loop on the LP relaxation of the master (the root): solve it, separate its point,
    add the violated cuts, until the attacker LPs find none at the point, the bound tails off
    (it rose by less than ``TAIL_RISE`` over the last ``TAIL_ROUNDS`` rounds at fractional
    points, and none of the last ``INTEGRAL_WINDOW`` rounds had an integral point), the share of
    the time of a run is spent, or ``cap`` rounds (None: no cap) have run in all. It runs in
    parts (:meth:`run`), each going on from the last: before the heuristic while its points are
    integral, the rest after it. ``m.stats`` gets ``root_bound`` (on the cost), ``root_rounds`` and
    ``root_seconds``.

    The bound is decided here on tables of three or more dimensions: integer points there are
    rigid, each fails every requirement at once and its cuts lift the bound by little, while the
    rounds at fractional points go on lifting it steadily. An integral point is what a master
    MILP would give, at the price of an LP (a few sensitive cells among many, each needing a
    cycle of cheap cells, give one round after round): it gets the exact check, and one that
    passes is the optimum. The LP is re-solved in place (dual simplex from the last basis). The
    last relaxation's solution is the core point of the Pareto cuts (``m.pareto``)."""

    def __init__(self, m: Master, cap: int | None = None):
        self.m, self.cap = m, cap
        self.bounds: list[float] = []  # the LP values at fractional points, for the tailing off
        self.rounds, self.seconds = 0, 0.0
        self.proven = False  # an integral point passed: the incumbent is the optimum
        self.last_integral = -INTEGRAL_WINDOW  # the last round at an integral point
        self.failing = 0  # the sensitive cells with a violated cut in the last round

    def run(self, share: float, integral_only: bool = False) -> float:
        """Rounds within ``share`` of the time left; returns the last LP value. ``integral_only``
        (before the heuristic): only while the points are integral (one of the last
        ``INTEGRAL_WINDOW`` rounds had one); a fractional point is then left to the rounds after
        the heuristic, which have its cuts."""
        m = self.m
        if self.proven or m.closed():
            return -np.inf
        t0 = time.perf_counter()
        until = m.deadline.share(share)
        m.model.set_integer(False)
        obj, core, took = -np.inf, None, 0.0
        while self.cap is None or self.rounds < self.cap:
            if until.remaining() <= took:  # the next round would not fit
                break
            t_round = time.perf_counter()
            sol = m.solve(time_limit=until.limit())
            if not sol.has_solution:
                break
            m.lift(sol.objective)
            xv = _integral(sol.x)
            if integral_only and xv is None and self.rounds + 1 - self.last_integral > INTEGRAL_WINDOW:
                break  # not separated: the rounds after the heuristic separate it, with its cuts
            self.rounds += 1
            obj = sol.objective
            core = sol.x[:m.n]
            if m.closed():  # the bound proves the incumbent: no cut can change that
                break
            viols = m.separate(sol.x if xv is None else xv, integral=xv is not None)
            if xv is not None and not viols:
                m.offer(xv[:m.n], clean=True)  # the relaxation's optimum passes: the optimum
                self.proven = True
                m.say(f"LP round {self.rounds}: bound {obj:.6g}, an integral point, protected")
                break
            self.failing = len({v.cell for v in viols if v.kind in ("up", "dn", "spl")})
            if xv is None:
                self.bounds.append(obj)
            else:
                self.last_integral = self.rounds
            back = m.cuts.revive(sol.x)
            added = m.cuts.add(viols)
            took = time.perf_counter() - t_round
            m.say(f"LP round {self.rounds}: bound {obj:.6g}, {added} cut(s), {back} back"
                  + ("" if xv is None else ", an integral point"))
            if not (added or back):
                break
            if self.rounds - self.last_integral >= INTEGRAL_WINDOW and _tailing_off(self.bounds):
                break
            m.cuts.prune(sol.x, after=PRUNE_AFTER)
        m.model.set_integer(True)
        if core is not None:
            m.pareto = ParetoCuts(m.p, core)
        self.seconds += time.perf_counter() - t0
        m.stats.update(root_bound=m.lower, root_rounds=self.rounds, root_seconds=self.seconds)
        return obj


# At the root a cut with slack at the LP's point for this many rounds in a row leaves the live
# model (it stays in the pool and comes back when violated): the LP stays small, and most cuts
# that lose their slack for good do so within a few rounds
PRUNE_AFTER = 3

# The root's tailing-off rule: it stops when its bound rose by less than TAIL_RISE (relative)
# over the last TAIL_ROUNDS rounds. Single rounds may lift nothing while the next ones lift much
# (the bound of three-way tables rises in steps), so the rule looks at several
TAIL_ROUNDS = 5
TAIL_RISE = 1e-3
# ... but it goes on while one of the last INTEGRAL_WINDOW rounds had an integral point: its
# rounds then do the work of MILP rounds at the price of LPs (where the bound is already the
# optimum's and a few sensitive cells each need a cycle of cheap cells, the relaxation's
# integral points lead to a protected one, between fractional points that lift nothing)
INTEGRAL_WINDOW = 10


def _integral(x: np.ndarray) -> np.ndarray | None:
    """``x`` rounded, if it is integral (within ``TOL``); else None."""
    xv = np.round(x)
    return xv if np.abs(x - xv).max(initial=0.0) <= TOL else None


def _tailing_off(bounds: list[float]) -> bool:
    if len(bounds) <= TAIL_ROUNDS:
        return False
    before = bounds[-1 - TAIL_ROUNDS]
    return bounds[-1] - before < TAIL_RISE * max(1.0, abs(before))


class RowGeneration:
    """The rounds of the master MILP: solve, separate its solution with the attacker LPs, add
    the cuts, until optimality (within the gap) is proven. The shares and slices of time are
    those of :mod:`cellsuppress.suppress.schedule`.

    When a master solution fails, the LP-guided heuristic
    (:func:`~cellsuppress.suppress.repair.guided`) gets up to ``guide_after``, if that is at most
    ``GUIDED_MAX`` of the time left (the bound needs the rest); two-way tables, usually solved by
    their first master MILP, never pay for it. It and the repairs of failing solutions take at
    most ``REPAIR_PER_ROUND`` of the rounds' time, counting for the first one what a heuristic
    run takes (``heuristic_seconds``, the first incumbent's): where rounds are cheaper than that,
    they prove the optimum before a repair would have ended. These times are on the search's
    clock (:meth:`Deadline.now`): seconds with a time limit, work without, so that without one
    which solutions are repaired does not depend on the machine's speed.

    With a deadline the loop has two phases (shares of its own time; the first needs at
    least three rounds):

    - rounds until ``POLISH_LEFT`` of the time is left, and for at least ``ROUNDS_MIN``
      seconds as far as that leaves local branching ``MIN_POLISH``: the bound, the cuts, and
      the repairs of failing solutions, as in a run too short for local branching, so that a
      longer run first does what a shorter one does (their repairs give the patterns it
      returns) and keeps its patterns. A solve cut short whose solution costs more than the
      incumbent, or that did not lift the bound, gets a longer slice next time;
    - local branching around the incumbent
      (:func:`~cellsuppress.suppress.local_branching.local_branching`) to the deadline: better
      patterns, and cuts near them; its solves run in another thread, ahead of the repairs.
      Beside it, copies of the master with every cut so far are solved for the bound
      (:class:`~cellsuppress.suppress.master.BoundCopies`), the first for ``BOUND_SLICE``
      seconds, twice as long after one that did not lift the bound, the last to the
      deadline; each copy's solution is separated and the next copy has its cuts: the rounds
      go on there. Three threads share the two cores, but this one mostly waits for the
      neighbourhood solves. Local branching only when that phase lasts ``MIN_POLISH`` seconds
      or more (several neighbourhoods: a short phase costs bound and gains little); otherwise
      rounds go on, and the bound's copies start when ``FINAL_LEFT`` of the time is left.

    A backend that cannot be stopped from another thread (PuLP) does all of this in one
    thread: local branching until ``FINAL_LEFT_POLISHED`` of the time is left, then one long
    master solve to ``LONG_SOLVE_LEFT_POLISHED`` (without local branching: from ``FINAL_LEFT``
    to ``LONG_SOLVE_LEFT``), whose solution is repaired near the incumbent
    (:func:`~cellsuppress.suppress.repair.repair_near`).

    On tables of three or more dimensions, local branching finds much cheaper patterns than
    the rounds alone in the same time.
    """

    def __init__(self, m: Master, export_model: str | None = None, guide_after: float = 0.0,
                 heuristic_seconds: float = 0.0):
        self.m, self.export_model, self.guide_after = m, export_model, guide_after
        self.heuristic_seconds = heuristic_seconds
        self.background = m.can_solve_in_background
        # a master short of cuts is not worth solving to the end: its solution only feeds
        # separation. Each solve gets a slice of time that doubles while it keeps running out
        # without a solution worth separating or without lifting the bound; without a time limit
        # every solve runs to the end
        self.slice = schedule.FIRST_SLICE
        deadline = m.deadline
        self.no_polish = self.polished = (not deadline.limited or (schedule.POLISH_LEFT - schedule.FINAL_LEFT_POLISHED)
                                          * deadline.remaining() < schedule.MIN_POLISH)
        if self.no_polish:
            final_left, long_solve_left = schedule.FINAL_LEFT, schedule.LONG_SOLVE_LEFT
        else:
            final_left, long_solve_left = schedule.FINAL_LEFT_POLISHED, schedule.LONG_SOLVE_LEFT_POLISHED
        # the phases (NEVER without a time limit); the rounds first do what a run too short for
        # local branching does, so that a longer run keeps what that one finds
        self.polish_from = schedule.polish_start(deadline)
        self.final_from = deadline.leaving(final_left)
        self.long_solve_end = deadline.leaving(long_solve_left)
        self.final_done = False
        # what rounds (master solves and their separation) and repairs took, on the search's
        # clock (seconds, or work without a time limit): repairs may take at most
        # REPAIR_PER_ROUND times the rounds' share
        self.round_seconds = self.repair_seconds = 0.0

    def run(self) -> bool:
        """Returns True when optimality (within the gap) is proven."""
        m = self.m
        # the root pruned the cuts with slack at its fractional points; the master's integer
        # points violate many of them again, and without them its MILP optimum is far lower (a
        # separation finds such a cut again only at a point that violates it)
        m.cuts.restore()
        while not m.deadline.expired():
            if self.export_model:
                m.model.export(self.export_model)
            m.bound.poll()
            if m.closed():
                return True
            if self._polish_due():
                self.polished = True
                if self.background:
                    return self._polish_to_the_end()
                local_branching(m, until=self.final_from)
                if m.closed():
                    return True
                continue
            limit = self._slice_limit()
            if not self.final_done and m.stats["mip_solves"] >= MIN_ROUNDS and self.final_from.expired():
                self.final_done = True
                if self.background:
                    m.bound.start(slice_=schedule.BOUND_SLICE)  # and rounds go on
                else:
                    limit = max(limit, self.long_solve_end.remaining())  # one long solve
            proven = self._round(limit)
            if proven is not None:
                return proven
        return False

    def _polish_due(self) -> bool:
        """Whether local branching starts now."""
        return (not self.polished and self.m.stats["mip_solves"] >= MIN_ROUNDS
                and self.polish_from.expired() and not self.final_from.expired())

    def _polish_to_the_end(self) -> bool:
        """Local branching to the deadline, while the bound's copies and its neighbourhood solves
        run beside this thread's repairs; returns whether the bound proves the incumbent."""
        m = self.m
        m.bound.start(slice_=schedule.BOUND_SLICE)
        local_branching(m, until=m.deadline)
        if not m.closed():
            # local branching stops short when its next repair would not fit; the bound need not
            m.bound.poll(wait=True)
        return m.closed()

    def _slice_limit(self) -> float | None:
        """The time limit of the next master solve: its slice, and local branching starts on time."""
        m = self.m
        if not m.deadline.limited:
            return None
        limit = min(m.deadline.remaining(), self.slice)
        if not self.polished and m.stats["mip_solves"] >= MIN_ROUNDS:
            limit = min(limit, max(schedule.MIN_MASTER_SOLVE, self.polish_from.remaining()))
        return limit

    def _round(self, limit: float | None) -> bool | None:
        """One master solve, its solution separated and repaired; True or False when that ends
        the loop (whether optimality is proven), None to go on."""
        clock = self.m.deadline
        t0 = clock.now()
        failing = self._solve_and_separate(limit)
        self.round_seconds += clock.now() - t0
        if isinstance(failing, np.ndarray):
            t0 = clock.now()
            if self._repair(failing):  # a repair skipped costs nothing, and leaves the first one's count
                self.repair_seconds += clock.now() - t0
            return None
        return failing

    def _solve_and_separate(self, limit: float | None) -> bool | np.ndarray | None:
        """One master solve and its separation: True or False when that ends the loop, None to go
        on, or the failing solution to repair.

        The next solve gets a slice twice as long when this one found no solution, when its
        separation calls for a longer one (None, :meth:`_separate`), or when it was cut short
        without lifting the bound: the tree did not get past what the last solve proved, and a
        solve as short again would not either (its solution, the best found in the slice, is
        still separated); a longer one lets the rounds lift the bound."""
        m = self.m
        # no MIP start from the incumbent: with one, HiGHS 1.16 returned the start as its
        # solution next to the objective of another (3x3 table, exact preset, unity costs)
        before = m.lower
        sol = m.solve_milp(limit, improving=True)  # the only solves whose solutions on the way are separated
        if m.closed():
            return True
        stalled = sol.status != "optimal" and m.lower <= before + TOL
        outcome = self._separate(sol) if sol.has_solution else None
        if outcome is None or stalled:
            self.slice *= 2
        return outcome

    def _separate(self, sol) -> bool | np.ndarray | None:
        """The separation of the master solution ``sol``: True or False when that ends the loop,
        the failing solution to repair, or None when the next solve should be longer (the
        solution is protected but not proven optimal, or was cut short dearer than the
        incumbent)."""
        m = self.m
        p, n = m.p, m.n
        xv = np.round(sol.x)
        viols = m.separate(xv, integral=True)
        if not viols and sol.status != "optimal":
            m.offer(xv[:n])  # protected, but the master may hold cheaper ones: solve it longer
            return None
        cost_x = float(p.cost[xv[:n] > 0.5].sum())
        m.say(f"MIP {m.stats['mip_solves']}: cost {cost_x:g}, bound {m.lower:.6g}, best {m.incumbent.cost:g}, "
              f"{len({(v.cell, v.kind) for v in viols})} violated")
        if not viols:
            # the master's optimum (without a gap) is the optimum: nothing to clean up
            m.offer(xv[:n], clean=sol.status == "optimal" and m.mip_gap == 0)
            return sol.status == "optimal" or m.closed()
        m.cuts.add(viols)
        self._separate_improving(sol, xv)
        if sol.status != "optimal" and cost_x >= m.incumbent.cost:
            # a solve cut short often ends on the solver's first feasible point, far dearer than
            # the incumbent: its cuts are few and its repair is slow and never pays; a longer
            # slice gives a solution worth repairing
            return None
        return xv[:n]

    def _separate_improving(self, sol, xv: np.ndarray) -> None:
        """Separate the last ``IMPROVING_SEPARATED`` solutions the solve found before its last
        one (cheaper than the incumbent; each costs a separation): their cuts are ones the next
        solves would otherwise ask for one round each, as the master's optimum climbs through
        patterns like them. One that passes is offered."""
        m = self.m
        found = [np.round(y) for y in sol.improving[-IMPROVING_SEPARATED:]]
        for y in reversed(found):  # the cheapest first
            if m.deadline.expired():
                return
            cost = float(m.p.cost[y[:m.n] > 0.5].sum())
            if np.array_equal(y, xv) or cost >= m.incumbent.cost:
                continue
            viols = m.separate(y, integral=True)
            m.say(f"MIP {m.stats['mip_solves']}, a solution found on the way: cost "
                  f"{cost:g}, {len({(v.cell, v.kind) for v in viols})} violated")
            if viols:
                m.cuts.add(viols)
            else:
                m.offer(y[:m.n])

    def _repair(self, x: np.ndarray) -> bool:
        """Repair a failing master solution, as the phase calls for; returns whether it did."""
        m = self.m
        if self.final_done and not self.background and m.incumbent.x is not None:
            # the long solve's solution is the master's best guess: what is left goes to it
            repair_near(m, x, m.incumbent.x > 0.5, m.deadline)
            return True
        # where rounds are cheap, more of them prove the optimum sooner than repairs find it;
        # before the first repair, count what a heuristic run takes
        spent = self.repair_seconds if self.repair_seconds > 0 else self.heuristic_seconds
        if spent > schedule.REPAIR_PER_ROUND * self.round_seconds:
            return False
        if self.guide_after > 0 and m.pareto is not None:
            guided_once(m, m.pareto.core, self.guide_after)
            self.guide_after = 0.0
        # with local branching to come too: the rounds are the same at every limit, and their
        # repairs give the patterns a shorter run returns
        repair(m, x, trajectory=5)
        return True
