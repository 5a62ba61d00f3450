"""How a run's time limit is shared out: every share of the :class:`~cellsuppress.clock.Deadline`
and every time slice of the search, in one place, with the reason for its value.

A share is a fraction of the time left when it is taken (:meth:`Deadline.share`,
:meth:`Deadline.budget`); a "left" value is the fraction of the time left at the start of a
phase at which the next phase begins (:meth:`Deadline.leaving`); the rest are seconds.
Without a time limit no share applies: the parts run to the end, and the pattern depends on
the input alone. Where a part has a budget of its own even then (a clean-up, the LP-guided
heuristic, the extra cuts of a separation), it is counted in *work*
(:func:`cellsuppress.clock.work`, the solvers' iterations times the size of their models)
instead of seconds: the seconds below become work at :data:`WORK_PER_SECOND`, and a part that
takes a multiple of what another took measures both in work (:meth:`Deadline.now`).
"""
from __future__ import annotations

from ..clock import Deadline

# -- without a time limit --------------------------------------------------------------------------
# the work (cellsuppress.clock.work) HiGHS does in a second, about (attacker LPs and master MILPs
# on the two-core machine the seconds below were chosen on), so that a floor in seconds means
# about as much work in a run without a time limit
WORK_PER_SECOND = 1e8


def amount(deadline: Deadline, seconds: float) -> float:
    """``seconds`` on the clock ``deadline`` runs on (:meth:`Deadline.now`): seconds with a time
    limit, the work of that many seconds without one."""
    return seconds if deadline.limited else seconds * WORK_PER_SECOND

# -- protect --------------------------------------------------------------------------------------
# The limit covers the final audit too, so the search stops a little before it: a share of short
# limits, a few seconds or a smaller share of long ones (an audit of a large pattern takes seconds).
AUDIT_RESERVE = 0.1
AUDIT_RESERVE_LONG = 0.03
AUDIT_RESERVE_MIN = 6.0  # s
# ... but those seconds only as far as the audit may need them: it solves attacker LPs per
# sensitive cell over blocks of up to every cell, so this many seconds per sensitive cell and
# cell bounds it (measured on small three-way tables, where fixed costs weigh most, with a margin;
# larger tables take less per pair). The audit of a table of a few hundred cells takes a fraction
# of a second: the floor alone would keep a tenth of a minute's limit from its search.
AUDIT_PER_SENSITIVE_CELL = 2e-5  # s


def audit_reserve(time_limit: float, sensitive: int | None = None, cells: int | None = None) -> float:
    """Seconds of a time limit kept for the final audit of a table of ``cells`` cells with
    ``sensitive`` sensitive ones (None: as for the largest)."""
    least = AUDIT_RESERVE_MIN
    if sensitive is not None and cells is not None:
        least = min(least, AUDIT_PER_SENSITIVE_CELL * sensitive * cells)
    return min(AUDIT_RESERVE * time_limit, max(least, AUDIT_RESERVE_LONG * time_limit))


# Every returned pattern goes through the clean-up (a pattern found under a time limit often hides
# cells it does not need). The optimal method cleans up each new incumbent at once, so the last
# one only needs more where the deadline cut its clean-up short: this share of the time left for
# the search is kept for that, and it also has whatever the search leaves unused.
FINAL_CLEANUP = 0.05
# The clean-up may also use the audit's reserve when the audit will be short: it takes about as
# long as a check of the pattern with the attacker LPs, which the clean-up starts with; this many
# times that check (and at least AUDIT_MIN seconds) stays for the audit.
AUDIT_PER_CHECK = 3.0
AUDIT_MIN = 1.0  # s


def audit_after_check(check: float) -> float:
    """Seconds kept for the final audit after the clean-up whose first check of the pattern (by
    attacker LPs) took ``check`` seconds: ``AUDIT_PER_CHECK`` times it, at least ``AUDIT_MIN``."""
    return max(AUDIT_MIN, AUDIT_PER_CHECK * check)


def longest_check(left: float) -> float:
    """The seconds the clean-up's first check of the pattern may take with ``left`` seconds to the
    end of the run: what is left after it holds ``AUDIT_PER_CHECK`` times it and ``AUDIT_MIN``
    more, so that a check that ends there still leaves the clean-up a little time before
    :func:`audit_after_check` (on a pattern of one huge block the check alone may take minutes)."""
    return (left - AUDIT_MIN) / (1.0 + AUDIT_PER_CHECK)


# The fast method: the heuristic's own deadline is short of the search's, because its last resort
# (batch moves) and its clean-up may run past it, up to the search's deadline.
FAST_HEURISTIC = 0.75
FAST_CLEANUP = 0.5

# Every floor below (a "_MIN" in seconds) may take a part past its own deadline, never past its
# run's end (the limit less the audit's reserve; Deadline.limit, Deadline(seconds, within=...)).

# -- the heuristic (shares of its span: the time to its deadline, at least HEURISTIC_MIN_SPAN) -----
HEURISTIC_MIN_SPAN = 1.0  # s: even a heuristic out of time gets its stages, up to the run's end
# the cheapest-move LPs give the best patterns and get most of the span; the greedy cover of the
# capacity cuts the next part; past it every free cell is hidden
CHEAPEST_MOVES = 0.7
GREEDY_COVER = 0.85
MOVE_LP_MIN = 0.5  # s: a cheapest-move LP started before the end of its stage gets at least this
# a failing pattern is not worth a full check when every failing cell costs an LP: a check
# stops at its first violation after this share of the span (and this many seconds)
CHECK = 0.05
CHECK_MIN = 0.5  # s
# batch moves are the last resort before hiding every cell: their LPs may run past the
# heuristic's deadline by this share of the span, since what they give is far cheaper
BATCH = 0.5
BATCH_MIN = 0.5  # s
# ... and, given a hard deadline (the fast method's, the optimal method's first incumbent: the
# search's), as long as that leaves this share of the time to it for the clean-up of their
# pattern: cut short they leave every free cell hidden, far dearer whatever the clean-up after
# it, and on the largest six-dimensional instances their one LP over the whole table needs more
# than BATCH of the span on a loaded machine
BATCH_CLEANUP_LEFT = 0.25
# ... and their LPs go to the interior point method at once (no simplex work first): the heuristic
# falls back on them where its cheapest moves ran out of time, on tables of thousands of sensitive
# cells, whose batch LP (tens of thousands of columns) dual simplex solved in 2 to 2.5 times the
# interior point method's time, to the same move (its crossover gives a vertex); the modular
# method's repair of a few failures keeps simplex (BATCH_SWITCH_WORK)
FALLBACK_SWITCH_WORK = 0.0
# the batch LPs that certify a big pattern get what is left and at least this, the one floor
# that may pass the run's end (Deadline.at_least): without them the check of such a pattern
# takes minutes
CERTIFY_MIN = 10.0  # s
# without a time limit the clean-up takes a few times the work building took, no more (at least
# the work of CLEANUP_MIN seconds): on a pattern of one huge block each candidate's LPs are slow
CLEANUP_PER_BUILD = 3.0
CLEANUP_MIN = 2.0  # s

# -- the modular method ----------------------------------------------------------------------------
# the subtables get this share of the time and the audit and repair of the whole pattern the rest,
# then the clean-up of the whole pattern in protect: the subtables hand back certificates of
# nearly every cell (witnesses, the batch moves that certified the cells without one, their
# clean-up's moves), so the audit of the whole pattern solves few LPs, and a subtable's clean-up
# (small LPs) publishes more per second than the clean-up of the whole pattern (LPs over blocks
# of thousands of hidden cells); the repair of what fails in the whole table (batch moves) takes
# seconds;
# each subtable a share by its cells, at most SUBTABLE_MAX seconds (without a time limit no
# seconds: its clean-up has the local method's budget of work): a subtable's pattern is only a
# start, the audit of the whole decides
MODULAR_SUBTABLES = 0.85
# ... and at least this many seconds per cell of the table are left after them: the check of the
# whole pattern and its repair are batch LPs over the whole table, which take as long at any
# limit (longest on 3-way hierarchical tables, where the subtables' certificates carry over
# least); at short limits a share of the time would leave them too little, and the repair would
# hide every cell, late
MODULAR_CHECK_PER_CELL = 1e-4  # s
# the check stops when this share of the time it started with is left, for the repair: past it
# the requirements not yet settled count as failing and are repaired by batch moves, whose few
# LPs take less than the check's one per requirement; they get at least MODULAR_REPAIR_MIN
# seconds, the one floor besides CERTIFY_MIN that may pass the run's end: cut short, the repair
# hides every free cell, where a few failures (of subtables that ended late on a loaded
# machine) take a fraction of it
MODULAR_REPAIR = 0.5
MODULAR_REPAIR_MIN = 1.0  # s
SUBTABLE_MAX = 10.0  # s
# a batch LP (batch moves over the whole problem, tens of thousands of columns) stays with simplex
# for this much work (iterations times its size) before the interior point method, ten times an
# attacker LP's: simplex answers it in about a second, where after the attacker LPs' switch the
# interior point method and its crossover took seconds more and the repair ran out of time
BATCH_SWITCH_WORK = 1e9
SUBTABLE_CLEANUP = 0.8  # of a subtable's time: the clean-up of its boxes, most of its work
# a subtable with less than this share of its time left before the end of the subtables' time
# (those before it ran long) takes its boxes and their batch LPs alone: the rest of its work
# would be cut short anyway, and the floors of its stages would run past the end
SUBTABLE_LATE = 0.5
# ... and so does a subtable given less than this many seconds: the fixed cost of its whole work
# (its check of the cells without a box by LPs, the clean-up's set-up) is about this on a small
# subtable, more on a loaded machine, so it would run past its time whatever its share, and the
# subtables after it would start late
SUBTABLE_SHORT = 0.04  # s

# the final audit of the modular method's pattern takes up to this many times its own check of
# the whole pattern (the same certificates and LPs, on a cleaned pattern, on a loaded machine):
# the clean-up before it ends that much before the end. That clean-up also ends at the search's
# deadline, without the FINAL_CLEANUP share after it: each of its candidates needs LPs over blocks
# of thousands of hidden cells, and it publishes about a third of the value per second that the
# subtables' clean-ups (small LPs) publish within the search's time; the time after it is kept
# for the parts of a large pattern that run long on a loaded machine (the LPs in flight when the
# clean-up ends, the final audit)
AUDIT_PER_MODULAR_CHECK = 1.5

# -- the optimal method ---------------------------------------------------------------------------
# the heuristic incumbent gets most of the time only when it needs it: it stops at its own deadline
INCUMBENT = 0.6
INCUMBENT_CLEANUP = 0.1
# ... and at least this many seconds (within the search's time): what it leaves undone falls to
# the clean-up of the returned pattern, which has little time kept for it in short runs
INCUMBENT_CLEANUP_MIN = 1.0  # s
BOTH_SIDES_CLEANUP = 0.5  # of the incumbent heuristic's time: the either-side incumbent's clean-up
# a failing master solution's repair: a short clean-up, as there are many of them
REPAIR_CLEANUP = 0.05
# repairs (and the LP-guided heuristic) take at most this many times the time of the rounds
# (master solves and separations), the first counted at what the first heuristic took: where
# rounds are cheap (two-way tables, a few sensitive cells among many) the next rounds usually
# prove the optimum before a repair finds it; where master solves are long, repairs are what
# gives better patterns
REPAIR_PER_ROUND = 0.25
# the first master MILP, solved before any heuristic (it proves easy tables optimal at once), and
# the check of its solution each get at most this share of the time left (the solve at most
# FIRST_SLICE seconds): elsewhere its cuts are a small gain, not worth more
MASTER_FIRST = 0.1
# the LP-guided heuristic gets GUIDED_PER_HEURISTIC times what the first heuristic took, plus
# GUIDED_EXTRA seconds, and runs only if that is at most GUIDED_MAX of the time left (the bound
# needs the rest)
GUIDED_PER_HEURISTIC = 2.0
GUIDED_EXTRA = 1.0  # s
GUIDED_MAX = 0.6
GUIDED_CLEANUP = 0.3
# the cuts beyond the plain ones (Pareto, slices) get as long as the plain separation took,
# at least this
SEPARATE_MIN = 0.05  # s
PARETO_LP_MIN = 0.01  # s

# SCIP's branch-and-cut (solver="scip") stops this share of the time left before the search's
# deadline: a separation under way at its limit ends first, and its best solution is cleaned up
BRANCH_AND_CUT_END = 0.05
# its heuristics (repairs of the integer points the separation cuts off, the LP-guided heuristic
# at nodes' LP points) take at most this share of its time so far: they give the tree its cutoff
# and the pattern, the separation of its nodes in the rest gives its bound
BRANCH_AND_CUT_REPAIRS = 0.25
# ... and ends early when its bound stalls: it rose by less than STALL_RISE of the gap over the
# last STALL_WINDOW of its time (at least STALL_WINDOW_MIN seconds). The tree of a small
# three-way table, which it proves, lifts its bound by a tenth of the gap or more in every such
# window; that of a larger one stops growing after its root, and local branching around the
# incumbent then finds cheaper patterns than its few nodes do. Only with STALL_POLISH_MIN seconds
# or more left: a neighbourhood solve and its repair
STALL_RISE = 0.01
STALL_WINDOW = 0.25
STALL_WINDOW_MIN = 10.0  # s
STALL_POLISH_MIN = 15.0  # s
# ... and only while the tree has fewer than this many nodes: the tree of a small three-way table
# passes it within seconds and its bound then rises in steps with plateaus between, which the
# rule took for a stall and gave up proofs a growing tree was near; the trees it is for stay
# within a few dozen nodes
STALL_NODES = 100
# the cut loop on the LP relaxation (the root) runs until the attacker LPs find no violated cut or
# the bound tails off, within this share of the time left after the first incumbent: on tables of
# three or more dimensions it lifts the bound far more than MILP rounds do in the same time
ROOT = 0.5
# before the heuristic, the root runs while its points are integral, within this share of the time
# left: where the relaxation's optimum is integral and passes the attacker LPs (a few sensitive
# cells among many, each needing a cycle of cheap cells) it is the optimum, and no heuristic is
# needed; elsewhere these rounds are part of the root, which goes on after the heuristic, so the
# share is small
ROOT_FIRST = 0.1
# row generation on each subtable of a hierarchical two-way table, after the root, within this
# share of the time left: its cuts take the whole master most of the way to the optimum, and
# the union of the subtables' optima, which needs every subtable to end, is often the optimum
# (with 40% a 60 s limit cut the last subtables short)
SUBTABLE_ROUNDS = 0.6

# restarts of the heuristic in random orders (cellsuppress.suppress.restarts), once, after the root,
# where its last round still had violated cuts for at least RESTART_FAILING of the sensitive
# cells: there the patterns are rigid blocks, the master's solutions fail nearly every sensitive
# cell, and the rounds after the root hardly lift the bound, while a restart may find a pattern a
# tenth cheaper. They take RESTARTS of the time left, the bound's copies solved beside them (the
# rounds after them get the rest); only when that is at least RESTART_MIN_RUNS times what the
# first heuristic took. One run is enough: on HIER133A and HIER13 every random order tried gave
# a pattern cheaper than the heuristic's first (by 7% to 24%), while the rounds it takes the time
# from hardly lift the bound; asking for four would leave the phase out on a loaded machine, where
# the first heuristic took 25 s of the 39 s left after the root. Without a time limit they get
# RESTARTS_PER_HEURISTIC times the first heuristic's work. Two-way tables, whose root ends with
# few or no violated cuts, never pay for them
RESTART_FAILING = 0.5
RESTARTS = 0.8
RESTART_MIN_RUNS = 1.0
RESTARTS_PER_HEURISTIC = 4.0

# row generation (see cellsuppress.suppress.optimal.RowGeneration)
# a master short of cuts is not worth solving to the end: its solution only feeds separation.
# A solve gets a slice that doubles while it runs out without a solution worth separating
FIRST_SLICE = 5.0  # s
# the first copy of the master solved in the background for the bound, before its solution is
# separated and a copy with the new cuts starts; a slice that lifts nothing doubles
BOUND_SLICE = 25.0  # s
# rounds until this share of the time is left, then local branching; only when that phase
# would last MIN_POLISH seconds or more (several neighbourhoods): short phases cost bound and
# gain little
POLISH_LEFT = 0.75
MIN_POLISH = 40.0  # s
# ... and the rounds, with the repairs of their failing solutions, last at least ROUNDS_MIN
# seconds, as far as that leaves local branching MIN_POLISH: about what a run of a minute, too
# short for local branching, spends in its rounds. A longer run then does first what the shorter
# one does and branches around the best of it, so it keeps the shorter run's patterns (on
# TABLE7 repaired master solutions 11% cheaper than the first heuristic's); with local branching
# sooner and no repairs before it, a 600 s run branched around the first heuristic's pattern
# and returned dearer patterns than a 60 s run
ROUNDS_MIN = 50.0  # s

# the final phase (the bound's copies, or one long master solve where the backend cannot solve
# in another thread) starts when FINAL_LEFT is left and the long solve ends at LONG_SOLVE_LEFT;
# with local branching before it, both are later
FINAL_LEFT = 0.35
LONG_SOLVE_LEFT = 0.08
FINAL_LEFT_POLISHED = 0.15
LONG_SOLVE_LEFT_POLISHED = 0.04
MIN_MASTER_SOLVE = 1.0  # s: a round that ends just before local branching still gets this
# one local-branching neighbourhood solve at most: a neighbourhood with no solution in that
# time halves
NEAR_SOLVE = 15.0  # s


def polish_start(deadline: Deadline) -> Deadline:
    """When the MILP rounds end and local branching starts, in a search that ends at
    ``deadline``: once ``POLISH_LEFT`` of the time left now is left, but not before
    ``ROUNDS_MIN`` seconds of rounds, as far as that leaves local branching ``MIN_POLISH``
    seconds before ``FINAL_LEFT_POLISHED``. Without a time limit, ``deadline`` itself (the
    rounds go on to the end)."""
    if not deadline.limited:
        return deadline
    by_share = deadline.leaving(POLISH_LEFT)
    rounds = min(ROUNDS_MIN, (1.0 - FINAL_LEFT_POLISHED) * deadline.remaining() - MIN_POLISH)
    return max(by_share, Deadline(rounds, within=deadline))
