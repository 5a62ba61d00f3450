"""Complementary cell suppression: the optimal method (branch-and-cut by row generation)
and the fast heuristic, orchestrated per independent component and always audited.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .auditing import AuditReport, audit as run_audit
from .clock import NEVER, Deadline
from .errors import InfeasibleError, VerificationError
from .params import METHODS, check_protect_params
from .progress import Progress
from .result import Result, status_frame, statuses
from .rules import requirement
from .solvers import one_thread
from .suppress.cleanup import minimal
from .suppress.heuristic import heuristic
from .suppress import schedule
from .executor import available_cores, make_executor
from .suppress import methods
from .suppress.methods import Shape, choose, fast_pattern, shape_of
from .suppress.optimal import Interrupted, optimal
from .suppress.problem import Problem, build_problem, forced_cells, integral_costs, tie_break
from .suppress.separation import Separator, filter_either_side
from .tables.linear import LinearTable

__all__ = ["protect", "Result", "InfeasibleError", "build_problem", "METHODS"]


_CUT_SHORT = "the time limit cut the clean-up of the pattern short: some complementary cells may be publishable"

# what each component's solve counts, summed into Result.stats
_SOLVE_COUNTS = ("cut_rounds", "cuts", "lps", "mip_solves", "polish_solves", "restarts", "background_solves")
# the cut loop on the LP relaxation of the optimal method (summed over the components)
_ROOT = ("root_bound", "root_rounds", "root_seconds")
# the row generation on the subtables of a hierarchical two-way table (summed likewise)
_SUBTABLES = ("subtable_cuts", "subtable_solves", "subtable_seconds")
# the nodes of SCIP's branch-and-cut on the master (solver="scip"), its separations (attacker
# LPs) and the rounds the rows kept from them answered alone, the runs of the master's
# heuristics in its tree and the patterns they handed to it, the components whose tree stalled
# (summed likewise)
_BRANCH_AND_CUT = ("bc_nodes", "bc_separations", "bc_pool_rounds", "bc_heuristic_runs", "bc_heuristic_patterns",
                   "bc_stalled")


def protect(table: LinearTable, preset: str | None = None, threshold: float = 20, cost=None,
            method: str = "auto", time_limit: float | None = None, mip_gap: float = 0.0,
            solver: str = "highs", hidden_nonzero: bool = False, sensitive=None, lpl=None, upl=None,
            spl=None, progress: bool = False, export_model: str | None = None,
            max_root_rounds: int | None = None, force_published=None, force_hidden=None,
            status_column: str | None = None, workers: int | None = 1) -> Result:
    """Hide the sensitive cells and the cheapest set of other cells that protects them.

    ``table`` may be a list of tables of one population (linked tables, sharing margins): they
    are protected as one system and a :class:`~cellsuppress.linked.LinkedResult` is returned
    (see :func:`cellsuppress.linked.protect_linked`).

    ``force_published`` and ``force_hidden`` fix cells (already released, or required): a boolean
    mask aligned to ``table.frame``, cell indices, a boolean column of the frame or a DataFrame
    of codes; ``status_column`` names a column that says ``published`` or ``hidden`` (or
    ``primary``/``secondary``), empty where the method chooses. A sensitive cell forced
    published, or forced cells that leave a sensitive cell no protection, raise
    :class:`~cellsuppress.InfeasibleError` naming the cells.

    ``method="optimal"`` proves optimality (or states the gap when the time
    limit stops it); ``"fast"`` returns the heuristic pattern alone; ``"modular"`` protects a
    hierarchical table subtable by subtable and ``"local"`` a table without hierarchy by the
    cheapest box of partners per sensitive cell, each then audited and repaired as a whole
    (the methods built for size). ``"auto"`` (the default) takes the optimal method for every
    independent part of the table of at most 10,000 cells, or without dimensions, and above
    that the modular method for a hierarchical part and the local method for one without
    hierarchy (:mod:`cellsuppress.suppress.methods`); the optimal method on such a part starts
    from their pattern. ``Result.stats["method"]`` says which method ran, and the message why.
    ``time_limit`` (seconds, None: none) covers the whole run, the final audit included. Without
    a time limit the pattern depends only on the input: the same table gives the same hidden
    cells on a fast machine and a slow one, loaded or idle (the parts that keep a budget count it
    in the solvers' work, not in seconds; HiGHS's MIP search follows its thread count, which
    follows the machine's cores). With a time limit the pattern may depend on the machine's
    speed: what each part has time for decides what it finds.
    ``workers`` processes protect the subtables of one level of the modular method at once (1,
    the default: this process; None: one per available core; a script that asks for more needs
    the ``if __name__ == "__main__":`` guard, since the worker processes import it). Every
    returned pattern has passed :func:`cellsuppress.auditing.report` under ``preset``.

    ``preset=None`` and ``cost=None`` follow the table: its own protection levels (``custom``)
    and costs (``file``) when it carries them, as a tau-ARGUS JJ file does, else ``strict`` and
    ``value`` (:mod:`cellsuppress.params`). Every parameter is checked first: a bad one raises a
    :class:`~cellsuppress.CellSuppressError` that says what is allowed.

    ``solver`` chooses the MILP solver of the master problem (the choice of cells to
    hide): ``"highs"`` (in memory, the default), ``"scip"`` or a solver PuLP runs (``"cbc"``,
    ...). ``"scip"`` (PySCIPOpt, the optional extra ``cellsuppress[scip]``) solves the master
    after the root by SCIP's branch-and-cut, which separates the capacity cuts at every node of
    its tree: stronger bounds, and small three-way tables proven sooner, but without the local
    branching of the HiGHS search, often dearer patterns on larger ones
    (:mod:`cellsuppress.suppress.branch_cut`). The attacker LPs (separation, heuristic, audit)
    always run on HiGHS.

    Ctrl-C (KeyboardInterrupt) during the optimal method, once every part of the table has a
    protected pattern, ends the search: the best pattern so far is audited and returned, and
    ``message`` says so. Before that, the KeyboardInterrupt goes on.

    >>> import pandas as pd, cellsuppress as cs
    >>> df = pd.DataFrame({"r": list("aabb"), "c": list("xyxy"), "n": [3, 40, 25, 30]})
    >>> t = cs.Table.from_frame(df, dims=["r", "c"], count="n")
    >>> res = cs.protect(t)
    >>> res.frame.query("status != 'published'")[["r", "c", "value", "status"]]
       r  c  value     status
    4  a  x    3.0    primary
    5  a  y   40.0  secondary
    7  b  x   25.0  secondary
    8  b  y   30.0  secondary
    >>> res.optimal, res.audit.ok
    (True, True)
    """
    if isinstance(table, (list, tuple)):
        options = {k: v for k, v in locals().items() if k != "table"}
        from .linked import protect_linked  # above this module: it solves the set as one table here

        return protect_linked(table, **options)
    t0 = time.perf_counter()
    say = Progress(progress, quiet_for=1.0)
    preset, cost = check_protect_params(table, preset=preset, threshold=threshold, cost=cost, method=method,
                                        time_limit=time_limit, mip_gap=mip_gap, solver=solver,
                                        export_model=export_model, workers=workers, max_root_rounds=max_root_rounds)
    req = requirement(table, preset, threshold, sensitive=sensitive, hidden_nonzero=hidden_nonzero,
                      lpl=lpl, upl=upl, spl=spl)
    keep, hide = forced_cells(table, force_published, force_hidden, status_column)
    p = build_problem(table, req, cost, hidden_nonzero, force_hidden=hide, force_published=keep)
    _check_feasible_alone(table, p)
    # the one clock of the search: the limit covers the clean-up of the pattern and the final
    # audit too, so the search ends a little before
    end = NEVER if time_limit is None else Deadline(float(time_limit), start=t0)
    until = end if time_limit is None else Deadline.until(
        end.at - schedule.audit_reserve(float(time_limit), int(p.sensitive.sum()), p.n))
    deadline = until.share(1.0 - schedule.FINAL_CLEANUP)

    with _Workers(workers) as run:
        search = _search(table, p, method, _Clock(deadline, until, end), say, mip_gap, solver, max_root_rounds,
                         export_model, run)
    hidden = search.x > 0.5
    if (hidden & p.blocked).any() or not hidden[p.force_hidden].all():
        raise VerificationError("internal error: the pattern does not keep the cells forced hidden or published; "
                                "please report this table")
    say("auditing the pattern", force=True)
    report = _verified(table, hidden, req, preset=preset, threshold=threshold, hidden_nonzero=hidden_nonzero,
                       lpl=lpl, upl=upl, spl=spl, progress=progress, moves=search.certificates(p.n))
    total = float(p.cost[hidden].sum())
    lower, gap, optimal_flag = _bound_and_gap(table, p, search, total, method, mip_gap)
    stats = search.stats
    stats["seconds"] = time.perf_counter() - t0
    stats["lps"] += report.stats.get("solves", 0)
    stats["method"] = ", ".join(search.methods) or method
    notes = search.notes + [search.method_note()]
    if search.interrupted:
        notes.insert(0, f"interrupted: returning the best audited pattern, gap {gap:.2%}")
    elif deadline.expired() and not optimal_flag:
        notes.insert(0, f"time limit of {time_limit:g} s reached: returning the best audited pattern, gap {gap:.2%}")
    say(f"done: cost {total:g}, lower bound {lower:g}, gap {gap:.2%}", force=True)
    return Result(frame=status_frame(table, statuses(req.sensitive, hidden)), hidden=hidden, cost=total, lower_bound=lower,
                  gap=gap, optimal=bool(optimal_flag), audit=report, stats=stats, message="\n".join(notes),
                  table=table, settings={"preset": req.preset, "threshold": threshold, "cost": cost,
                                         "method": stats["method"], "hidden_nonzero": bool(hidden_nonzero)})


@dataclass
class _Clock:
    """The ends of a run's parts: the ``search``; the ``cleanup`` of its pattern (which may go on
    when the audit will be short); the ``end`` of the run, the final audit included."""

    search: Deadline
    cleanup: Deadline
    end: Deadline


@dataclass
class _Search:
    """What the search found, component by component: the pattern ``x`` (forced cells hidden
    from the start), the sum of the components' lower bounds, whether each proved its pattern
    optimal, notes for the message, the counts of :data:`_SOLVE_COUNTS`, and whether Ctrl-C
    ended it."""

    x: np.ndarray
    lower: float = 0.0
    all_optimal: bool = True
    interrupted: bool = False
    notes: list = field(default_factory=list)
    stats: dict = field(default_factory=lambda: {"components": 0, **dict.fromkeys(_SOLVE_COUNTS, 0),
                                                 "cleanup_seconds": 0.0, "cleanup_published": 0})
    methods: dict = field(default_factory=dict)  # method -> (components, why of the first)
    moves: list = field(default_factory=list)  # attacker moves that certify the pattern, for its audit

    def add(self, cells: np.ndarray, x: np.ndarray, lower: float, optimal: bool, stats: dict) -> None:
        """A component's result."""
        self.x[cells] = x
        self.lower += lower
        self.all_optimal &= optimal
        for k in _SOLVE_COUNTS:
            self.stats[k] += stats.get(k, 0)
        for k in _ROOT + _SUBTABLES + _BRANCH_AND_CUT:  # only the optimal method has a root; the components' bounds add up
            if k in stats:
                self.stats[k] = self.stats.get(k, 0) + stats[k]

    def certificates(self, n: int) -> sp.csr_matrix | None:
        """The components' certificates as one matrix over the ``n`` cells (None: none)."""
        return sp.csr_matrix(sp.vstack(self.moves, format="csr")) if self.moves else None

    def ran(self, method: str, why: str) -> None:
        n, first = self.methods.get(method, (0, why))
        self.methods[method] = (n + 1, first)

    def method_note(self) -> str:
        """Which method ran (on how many components) and why."""
        parts = [f"{m} ({why})" if n == 1 else f"{m} on {n} parts (the first: {why})"
                 for m, (n, why) in self.methods.items()]
        return "method: " + "; ".join(parts) if parts else ""

    def clean(self, p: Problem, x: np.ndarray, clock: _Clock, seeds=None, moves: list | None = None,
              witnesses: dict | None = None) -> np.ndarray:
        """The component's pattern ``x`` through the clean-up
        (:func:`~cellsuppress.suppress.cleanup.minimal`; ``seeds``: moves of ``x`` it verifies
        first; ``witnesses``: those of a check of ``x`` that passed, in place of its check;
        ``moves`` receives those it found)."""
        t = time.perf_counter()
        sep = Separator(p)
        y, complete = minimal(p, x, clock.cleanup, sep, end=clock.end, seeds=seeds, moves=moves, witnesses=witnesses)
        self.stats["lps"] += sep.n_lps
        self.stats["cleanup_seconds"] += time.perf_counter() - t
        self.stats["cleanup_published"] += int((x > 0.5).sum() - (y > 0.5).sum())
        if not complete:
            self.notes.append(_CUT_SHORT)
        return y


def _search(table: LinearTable, p: Problem, method: str, clock: _Clock, say, mip_gap: float, solver: str,
            max_root_rounds: int | None, export_model: str | None, run=None) -> _Search:
    """Solve each component of ``p`` with sensitive or forced cells by ``method`` (``"auto"``:
    the one :func:`~cellsuppress.suppress.methods.choose` picks for it); a pattern not proven
    optimal then goes through the clean-up. ``run(fn, tasks)`` solves the modular method's
    subtables of one level.

    Ctrl-C (KeyboardInterrupt) in the optimal method of the last such component, once it has a
    protected pattern, ends the search with that pattern (its clean-up, if not whole, is
    skipped: the user asked to stop); anywhere else some component has no protected pattern
    yet, and the KeyboardInterrupt goes on."""
    deadline = clock.search
    _, comp = _components(p)
    search = _Search(x=np.where(p.force_hidden, 1.0, 0.0))
    comps_with_work = np.unique(comp[p.sensitive | p.force_hidden])
    for ci, c in enumerate(comps_with_work):
        cells = np.flatnonzero(comp == c)
        sub = p.subproblem(cells)
        search.stats["components"] += 1
        say(f"component {ci + 1}/{comps_with_work.size}: {cells.size} cells, {int(sub.sensitive.sum())} sensitive",
            force=comps_with_work.size > 1)
        ran = "fast"
        try:
            if method == "fast" or not sub.sensitive.any():
                search.ran(ran, "as asked" if method == "fast" else "nothing sensitive")
                xs, st = heuristic(sub, say, deadline.share(schedule.FAST_HEURISTIC),
                                   cleanup_budget=deadline.budget(schedule.FAST_CLEANUP), hard_deadline=deadline)
                lower, proven = float(sub.cost[sub.force_hidden].sum()), not sub.sensitive.any()
            else:
                big = sub.n > methods.AUTO_CELLS
                shape = shape_of(sub) if big or method in ("modular", "local") else Shape()
                ran, why = choose(sub, method, shape)
                search.ran(ran, why)
                if ran == "optimal":
                    start = None
                    if big and shape.kind != "none":
                        say(f"first incumbent by the {'local' if shape.kind == 'flat' else 'modular'} method",
                            force=True)
                        start, st = fast_pattern(sub, shape, say, deadline.share(schedule.INCUMBENT), run)
                        search.stats["lps"] += st.get("lps", 0)
                    xs, lower, proven, st = optimal(sub, say, deadline, mip_gap, solver, max_root_rounds,
                                                    export_model=export_model, start=start)
                else:
                    xs, st = fast_pattern(sub, shape, say, deadline, run)
                    lower, proven = float(sub.cost[sub.force_hidden].sum()), False
        except Interrupted as stop:
            if ci + 1 < comps_with_work.size:
                raise KeyboardInterrupt from None  # the components after it have no pattern yet
            xs, lower, proven, st = stop.result
            search.interrupted = True
            if not (proven or st.get("clean")):
                search.notes.append("the clean-up of the interrupted pattern was skipped: some complementary "
                                    "cells may be publishable")
        except InfeasibleError:
            bad = cells[unprotectable(sub)]
            raise InfeasibleError(
                f"{bad.size} sensitive cell(s) cannot be protected even with every other cell hidden "
                f"(their bounds, or cells that must stay published, leave the attacker too little room): "
                f"{', '.join(table.cell_labels(bad[:10]))}{' ...' if bad.size > 10 else ''}") from None
        found: list = []
        if ran == "local" and not st.get("clean"):
            # its own clean-up, which its boxes spare most LPs, ran to the deadline: the clean-up
            # here would start with a check of every requirement, one LP each over large blocks
            search.notes.append(_CUT_SHORT)
        elif not (proven or st.get("clean") or search.interrupted):
            # the modular method's certificates spare its large pattern a check by an LP per
            # requirement, and its check's witnesses (where it repaired nothing) any check
            witnesses = st.get("witnesses") if ran == "modular" else None
            seeds = methods.certificates(sub, shape, xs, st) if ran == "modular" and witnesses is None else None
            xs = search.clean(sub, xs, _leaving_for_audit(clock, st.get("audit_seconds", 0.0)), seeds=seeds,
                              moves=found, witnesses=witnesses)
        if ran in ("local", "modular", "optimal"):
            # the method's certificates (the optimal method's: the batch moves that checked the
            # master's first solution), those the clean-up left whole, and the moves it found for
            # the requirements whose certificates it broke
            W = methods.certificates(sub, shape, xs, st) if ran != "optimal" else st.get("certificates")
            if found and found[0].shape[0]:
                W = found[0] if W is None else sp.csr_matrix(sp.vstack([W, found[0]], format="csr"))
            if W is not None and W.shape[0]:
                search.moves.append(sp.csr_matrix((W.data, cells[W.indices], W.indptr), shape=(W.shape[0], p.n)))
        if not proven and ran == "optimal":
            search.notes.append(f"stopped before proving optimality: cost {float(sub.cost[xs > 0.5].sum()):g}, "
                                f"lower bound {lower:g}")
        search.add(cells, xs, lower, proven, st)
    return search


def _leaving_for_audit(clock: _Clock, audit_seconds: float) -> _Clock:
    """``clock`` for the clean-up of the modular method's pattern, whose check of the whole
    pattern took ``audit_seconds``: it ends early enough for a final audit that long
    (:data:`~cellsuppress.suppress.schedule.AUDIT_PER_MODULAR_CHECK`; on large patterns longer
    than the audit's reserve), and at the search's deadline, without the share after it kept
    for a clean-up cut short (see the schedule)."""
    if not (audit_seconds and clock.end.limited):
        return clock
    by = Deadline.until(clock.end.at - schedule.AUDIT_PER_MODULAR_CHECK * audit_seconds)
    return _Clock(clock.search, min(clock.search, by), min(clock.end, by))


class _Workers:
    """``run(fn, tasks)`` for the modular method's subtables: on ``workers`` processes
    (:func:`~cellsuppress.executor.make_executor`), started only when a level has more than one
    subtable to protect (or ahead of it, by :meth:`start`) and closed at the end of the search;
    ``slots`` of them at once."""

    def __init__(self, workers: int | None):
        self.workers = workers
        self.executor = None
        self.slots = available_cores() if workers is None else workers

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            self.executor.close()

    def start(self, wait: bool = False) -> None:
        """Start the worker processes (in the background, or before returning with ``wait``)."""
        if self.slots == 1:
            return
        if self.executor is None:
            self.executor = make_executor(self.workers, worker_init=one_thread)
        self.executor.start(wait)

    def __call__(self, fn, tasks: list) -> list:
        if len(tasks) < 2 or self.slots == 1:
            return [fn(t) for t in tasks]
        self.start()
        return [o.get() for o in self.executor.map(fn, tasks)]


def _verified(table: LinearTable, hidden: np.ndarray, req, **audit_options) -> AuditReport:
    """The audit of the pattern, which is the proof: a pattern that fails it is never returned."""
    report = run_audit(table, hidden, sensitive=req.sensitive, sensitive_only=True, certify=True, **audit_options)
    if not report.ok:
        raise VerificationError(
            "internal error: the pattern failed its audit; please report this table. "
            + report.summary())
    return report


def _bound_and_gap(table: LinearTable, p: Problem, search: _Search, total: float, method: str,
                   mip_gap: float) -> tuple[float, float, bool]:
    """The lower bound, the gap of the pattern of cost ``total``, and whether it is proven optimal
    (notes go to ``search.notes``)."""
    lower = search.lower
    if integral_costs(p.cost):
        lower = float(np.ceil(lower - 1e-6))
    lower = min(lower, total)
    gap = 0.0 if total <= 0 else max(0.0, (total - lower) / total)
    optimal_flag = search.all_optimal and gap <= max(mip_gap, 1e-9) + 1e-12
    if search.all_optimal and not optimal_flag and not integral_costs(p.cost):
        # the master was solved to optimality, but with non-integral costs the tie-break may
        # cost up to its allowance: the pattern is optimal within that
        allowance = tie_break(p.cost, table.depth)[1] * max(1, search.stats["components"])
        if total - lower <= allowance + 1e-9:
            optimal_flag = True
            search.notes.append(f"optimal within the tie-break allowance of {allowance:.3g} (non-integral costs)")
    if method in ("optimal", "auto") and optimal_flag and integral_costs(p.cost):
        gap = 0.0 if mip_gap == 0 else gap
    return lower, gap, optimal_flag


def _check_feasible_alone(table, p: Problem) -> None:
    """A sensitive cell whose own bounds leave too little room can never be protected."""
    if p.either_side:
        bad = p.sensitive & (p.up > p.cap_up + 1e-9) & (p.dn > p.cap_dn + 1e-9)
    else:
        bad = p.sensitive & ((p.up > p.cap_up + 1e-9) | (p.dn > p.cap_dn + 1e-9)
                             | (p.spl > p.cap_up + p.cap_dn + 1e-9))
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InfeasibleError(
            f"{idx.size} sensitive cell(s) cannot be protected even with every cell hidden, because their "
            f"own a-priori bounds are too tight: {', '.join(table.cell_labels(idx[:10]))}")


def unprotectable(p: Problem) -> np.ndarray:
    """Sensitive cells that fail even when every cell that may be hidden is hidden."""
    x = np.where(p.blocked, 0.0, 1.0)
    viols = filter_either_side(p, Separator(p).violations(x))
    return np.unique([v.cell for v in viols]).astype(np.int64)


def _components(p: Problem) -> tuple[int, np.ndarray]:
    """Cells tied by equations; components without sensitive cells need nothing hidden."""
    B = (sp.csr_matrix(p.M) != 0).astype(np.int8)
    m, n = B.shape
    adj = sp.bmat([[None, B.T], [B, None]], format="csr") if m else sp.csr_matrix((n, n))
    nc, lab = connected_components(adj, directed=False)
    return nc, lab[:n]
