"""HiGHS in memory through highspy: a live model that takes new rows and objectives.

Every call into highspy of the package is in this module."""
from __future__ import annotations

import os
import sys
import threading
from numbers import Integral

import numpy as np
import scipy.sparse as sp

from ..clock import tick
from .base import LinearProgram, Model, Solution, SolverError, export_format, row_bounds

try:
    import highspy
except ImportError:  # pragma: no cover - highspy is a core dependency
    highspy = None

_INF = 1e30
_banner_lock = threading.Lock()
_banner_shown = False
_threads: int | None = None  # set_threads: every model of this process on that many threads
_scheduler = threading.local()  # .threads: the size this thread's HiGHS scheduler was made with here

# The work of a solve on the clock of runs without a time limit (cellsuppress.clock.work): its
# iterations times the model's rows and columns, plus SOLVE_WORK for the call itself. HiGHS's
# counts are the same on any machine, so a budget in this work gives the same result on a loaded
# machine as on an idle one. The weights only keep the work roughly in proportion to the time (at
# about 1e8 a second, cellsuppress.suppress.schedule.WORK_PER_SECOND): an iteration of the
# interior point method (a factorisation) counts as IPM_ITERATION_WORK simplex iterations, and the
# iterations and nodes of a MIP as MIP_WORK times as much (its presolve, cuts and heuristics,
# which HiGHS does not count, take most of its time); a call costs about as much as 60,000 units
# of simplex (most attacker LPs are small and take under a millisecond)
IPM_ITERATION_WORK = 50
MIP_WORK = 100
SOLVE_WORK = 6e4
# simplex leaves an LP for the interior point method after this much work (one to two seconds of
# HiGHS's simplex; at half of it the checks of large master solutions, as on DALE, went to the
# slower interior point method): counted, not timed, so that which method answers an LP (a vertex and duals of
# its own) does not depend on the machine's speed
SWITCH_WORK = 2e8
_MAX_ITERATIONS = 2**31 - 1  # HiGHS's default simplex_iteration_limit: none


def set_threads(threads: int | None) -> None:
    """Run every HiGHS model made from now on in this process on ``threads`` threads (``None``:
    HiGHS's own choice, which on two cores adds a second thread). HiGHS sizes one thread pool
    per process at its first solve and refuses another size later, so this is for a process
    that has not solved yet: a worker process, where the parallelism is the pool's (see
    :func:`cellsuppress.solvers.one_thread`). A thread that has solved with another count gets
    a new scheduler at its next solve (see :func:`_fit_scheduler`)."""
    global _threads
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, Integral) or threads < 1):
        raise SolverError(f"threads must be a whole number >= 1 or None, got {threads!r}")
    _threads = None if threads is None else int(threads)


def _fit_scheduler(threads: int) -> None:
    """HiGHS keeps one thread scheduler per calling thread, sized at that thread's first solve,
    and fails at once any later solve there whose ``threads`` option asks another size. A thread
    may have solved before ``set_threads`` came (a Dask worker's task thread, on which a worker
    plugin sets one thread after earlier work): its scheduler is made again, once, at the
    size asked. (A solve with HiGHS's own choice, ``threads`` 0, fits any scheduler.)"""
    if threads and getattr(_scheduler, "threads", None) != threads:
        highspy.Highs.resetThreadScheduler(True)
        _scheduler.threads = threads


def take_banner() -> None:
    """HiGHS prints a banner on fd 1 when the first ``Highs`` instance of a process is made,
    before any option can silence it; make that instance here with fd 1 muted, so no later one
    (the package's, or PuLP's own through highspy) prints. The mute is process-wide, which is
    why it is done once, under a lock."""
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            return
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True


def _new_highs():
    """A silent Highs instance: no log anywhere, and above all none on stdout, where a CLI
    writes its table. (The MIP solver of HiGHS 1.12, which scipy bundles, also prints a debug
    line with ``printf``, past every option; the highspy this package requires does not.)"""
    take_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


def _fin(a: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(a, dtype=float), -_INF, _INF)


class HighsModel(Model):
    """A live HiGHS model. Rows and objectives change in place, so re-solves warm start.

    >>> import numpy as np, scipy.sparse as sp
    >>> lp = LinearProgram(c=[1, 1], A=sp.csr_matrix([[1., 1.]]), row_lo=[2], row_hi=[np.inf],
    ...                    col_lo=[0, 0], col_hi=[5, 5])
    >>> HighsModel(lp).solve().objective
    2.0
    """

    can_stop = True

    def __init__(self, lp: LinearProgram, threads: int | None = None):
        if highspy is None:
            raise SolverError("highspy is not installed: pip install highspy")
        h = _new_highs()
        self.threads = int(threads or _threads or 0)
        if self.threads:
            h.setOptionValue("threads", self.threads)
        A = sp.csc_matrix(lp.A)
        A.sort_indices()
        m = highspy.HighsLp()
        m.num_col_ = int(lp.c.size)
        m.num_row_ = int(A.shape[0])
        m.col_cost_ = lp.c
        m.col_lower_ = _fin(lp.col_lo)
        m.col_upper_ = _fin(lp.col_hi)
        m.row_lower_ = _fin(lp.row_lo)
        m.row_upper_ = _fin(lp.row_hi)
        m.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        m.a_matrix_.start_ = A.indptr.astype(np.int32)
        m.a_matrix_.index_ = A.indices.astype(np.int32)
        m.a_matrix_.value_ = A.data.astype(float)
        m.sense_ = highspy.ObjSense.kMaximize if lp.maximize else highspy.ObjSense.kMinimize
        if lp.integer is not None and lp.integer.any():
            m.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                              for b in lp.integer]
            if lp.feasible_at_upper:
                # the feasibility jump looks for a first feasible point, which such a program has:
                # on a master of a few dozen cuts it took half of each solve, for nothing
                h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
        h.passModel(m)
        self.h = h
        self.n = int(lp.c.size)
        self.integer = np.asarray(lp.integer, dtype=bool).copy()
        self.relaxed = not self.integer.any()

    def set_option(self, name: str, value) -> None:
        self.h.setOptionValue(name, value)

    def set_objective(self, c: np.ndarray, maximize: bool = False) -> None:
        c = np.asarray(c, dtype=float)
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), c)
        self.h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize)

    def set_col_bounds(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        idx = np.asarray(idx, dtype=np.int32)
        self.h.changeColsBounds(idx.size, idx, _fin(lo), _fin(hi))

    def set_row_bounds(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int32))
        lo, hi = row_bounds(idx.size, lo, hi)
        self.h.changeRowsBounds(idx.size, idx, _fin(lo), _fin(hi))

    def set_integer(self, integer: bool) -> None:
        """Switch the integer columns between integer and continuous (LP relaxation)."""
        idx = np.flatnonzero(self.integer).astype(np.int32)
        self.relaxed = not integer or not idx.size
        if idx.size:
            t = highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous
            self.h.changeColsIntegrality(idx.size, idx, np.array([t] * idx.size))
            if integer:
                # HiGHS 1.16: a MIP solved right after the LP relaxation of the same model reuses
                # the LP's solver state and returns a wrong objective and dual bound with a
                # non-optimal x, still as "optimal". Dropping the solver state avoids it.
                self.h.clearSolver()

    def add_rows(self, A: sp.spmatrix, lo: np.ndarray, hi: np.ndarray) -> None:
        A = sp.csr_matrix(A)
        if A.shape[0] == 0:
            return
        A.sort_indices()
        lo, hi = row_bounds(A.shape[0], lo, hi)
        self.h.addRows(A.shape[0], _fin(lo), _fin(hi), A.nnz, A.indptr.astype(np.int32),
                       A.indices.astype(np.int32), A.data.astype(float))

    @property
    def n_rows(self) -> int:
        return int(self.h.getNumRow())

    def delete_rows(self, idx: np.ndarray) -> None:
        """Drop rows ``idx``; the rows after them move up."""
        idx = np.unique(np.asarray(idx, dtype=np.int32))
        if idx.size:
            self.h.deleteRows(idx.size, idx)

    def stop(self) -> None:
        """Make a solve running in another thread end at its next check of the time limit
        (HiGHS reads the option during the run, so it stops within a fraction of a second). Its best solution
        and bound so far are returned as at a time limit."""
        self.h.setOptionValue("time_limit", 0.0)

    def basis(self) -> np.ndarray:
        status, basic = self.h.getBasicVariables()
        if status != highspy.HighsStatus.kOk:
            raise SolverError("HiGHS has no basis: the last solve was not an LP solved by simplex")
        return np.asarray(basic, dtype=np.int64)

    def export(self, path) -> None:
        export_format(path)
        # a warning only says that HiGHS made up the column and row names
        if self.h.writeModel(str(path)) == highspy.HighsStatus.kError:
            raise SolverError(f"HiGHS could not write the model to {str(path)!r}")

    def solve_lp(self, switch_after: float | None = None, time_limit: float | None = None,
                 cold: bool = False) -> Solution:
        """An LP solve that leaves simplex for the interior point method (with crossover, so
        the answer is still a vertex with duals) when simplex runs past ``switch_after`` work
        (:data:`SWITCH_WORK`: simplex iterations times the model's size, counted, not timed).
        On large high-dimensional blocks a few attacker LPs stall simplex for many seconds
        where the interior point method takes a fraction of one, while most LPs are done by
        simplex in milliseconds. ``time_limit`` (seconds) covers both."""
        size = self.n + self.n_rows
        iterations = max(1, int((SWITCH_WORK if switch_after is None else switch_after) / max(size, 1)))
        start = self.h.getRunTime()
        self.h.setOptionValue("simplex_iteration_limit", iterations)
        try:
            sol = self.solve(time_limit=time_limit, cold=cold)
        finally:
            self.h.setOptionValue("simplex_iteration_limit", _MAX_ITERATIONS)
        if not sol.stats.get("iteration_limit"):
            return sol
        self.h.setOptionValue("solver", "ipm")
        try:
            left = None if time_limit is None else max(0.0, time_limit - (self.h.getRunTime() - start))
            return self.solve(time_limit=left)
        finally:
            self.h.setOptionValue("solver", "choose")

    def solve(self, time_limit: float | None = None, mip_gap: float | None = None,
              mip_abs_gap: float | None = None, cold: bool = False, improving: bool = False) -> Solution:
        """Solve; ``cold`` drops the previous basis first. After bounds and objective change
        wholesale a cold start is faster than a warm one, whose old basis is far from the
        new optimum. ``improving`` (a MILP): keep the solutions found on the way
        (``Solution.improving``); only a solve that asks keeps them (HiGHS copies each)."""
        h = self.h
        if cold:
            h.clearSolver()
        # a limit of 0 (the deadline has passed) is a limit, not "no limit". HiGHS 1.16 compares
        # an LP's limit with the instance's run time summed over all runs, so add what has run so
        # far; a MIP's limit counts from the start of its own run
        if time_limit is None:
            limit = float("inf")
        else:
            limit = max(0.0, float(time_limit)) + (0.0 if not self.relaxed else h.getRunTime())
        h.setOptionValue("time_limit", limit)
        if mip_gap is not None:
            h.setOptionValue("mip_rel_gap", float(mip_gap))
        if mip_abs_gap is not None:
            h.setOptionValue("mip_abs_gap", float(mip_abs_gap))
        if not self.relaxed:
            h.setOptionValue("mip_improving_solution_save", bool(improving))
        _fit_scheduler(self.threads)
        h.run()
        st = h.getModelStatus()
        S = highspy.HighsModelStatus
        if st in (S.kUnknown, S.kSolveError, S.kNotset):
            # HiGHS 1.16, re-solving in place after an objective change, sometimes ends an
            # unbounded LP with "Unknown"; solved from scratch it states the truth
            h.clearSolver()
            h.run()
            st = h.getModelStatus()
        info = h.getInfo()
        is_mip = not self.relaxed
        # "optimal" with a solution HiGHS calls infeasible: residuals above tolerance after
        # unscaling, as with cells of 1e11 next to cells of 1; the optimum is still its objective
        has_sol = info.primal_solution_status == 2 or (st == S.kOptimal and info.primal_solution_status == 1)
        sol = h.getSolution()
        x = np.asarray(sol.col_value) if has_sol else None
        obj = h.getObjectiveValue() if has_sol else np.nan
        if st == S.kOptimal:
            status = "optimal"
        elif st == S.kInfeasible:
            status = "infeasible"
        elif st in (S.kUnbounded, S.kUnboundedOrInfeasible):
            status = "unbounded"
        elif st in (S.kTimeLimit, S.kInterrupt, S.kIterationLimit, S.kSolutionLimit):
            status = "time_limit"
        else:
            status = "error"
        iterations = int(info.simplex_iteration_count)
        counted = (max(iterations, 0) + max(int(info.crossover_iteration_count), 0)
                   + IPM_ITERATION_WORK * max(int(info.ipm_iteration_count), 0) + max(int(info.mip_node_count), 0))
        tick(SOLVE_WORK + (MIP_WORK if is_mip else 1) * counted * (self.n + h.getNumRow()))
        bound = info.mip_dual_bound if is_mip else obj
        duals = np.asarray(sol.row_dual) if (status == "optimal" and not is_mip and sol.dual_valid) else None
        on_the_way = []
        if improving and is_mip and has_sol:
            found = [np.asarray(s.col_value) for s in h.getSavedMipSolutions()]
            on_the_way = [y for y in found[:-1] if y.size == self.n]
        return Solution(status=status, x=x, objective=obj, bound=bound, row_duals=duals,
                        stats={"nodes": max(int(info.mip_node_count), 0), "iterations": iterations,
                               "iteration_limit": st == S.kIterationLimit}, improving=on_the_way)
