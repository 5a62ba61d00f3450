"""SCIP's branch-and-cut with lazy rows (PySCIPOpt, the optional extra ``scip``): the only
module that calls pyscipopt.

:func:`branch_and_cut` solves a binary :class:`~cellsuppress.solvers.base.LinearProgram` whose
rows are only part of the problem: a constraint handler asks a
:class:`~cellsuppress.solvers.base.LazyRows` for the rest at SCIP's points. The rows it has
given are kept (:class:`RowPool`) and checked first at every point: SCIP ages cuts out of its
LP, and a point that violates one again gets it back without the caller's separation. Where
none is violated the caller separates: at every integer point (an LP solution, or a solution of
SCIP's heuristics), which is feasible only if no row is found there, at every LP point of the
root, and at the first LP point of every other node (:data:`SEPARATE_ROUNDS_PER_NODE`); the
rows found become cuts, kept in SCIP's global cut pool too. HiGHS has no such callback: its MILP never sees the rows it
has not been given, and row generation re-solves it from the root. A primal heuristic hands the
last integer point that failed (else a node's LP point) to the caller's
:meth:`~cellsuppress.solvers.base.LazyRows.improve`, and tries the point it makes as a solution.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .base import LazyRows, LinearProgram, SolverError

try:
    import pyscipopt
except ImportError:  # the optional extra
    pyscipopt = None

INSTALL = "pip install 'cellsuppress[scip]'"

# Below the root the caller's separation (attacker LPs, most of a node's cost) runs at a node's
# first LP point only; its later rounds check the kept rows alone. On small three-way tables the
# rows kept decide the bound: a second separation at the same node finds little the pool does not,
# and with one the tree proves the optimum with a fifth of the attacker LPs and a third of the
# time, in about as many nodes
SEPARATE_ROUNDS_PER_NODE = 1
# a kept row is violated at a point when it is short by more than this, relative to its side:
# above SCIP's feasibility tolerance (1e-6), so that a row SCIP holds met is not offered again
POOL_TOL = 1e-6


def require() -> None:
    """Raise :class:`SolverError` when PySCIPOpt is not installed."""
    if pyscipopt is None:
        raise SolverError(f"solver 'scip' needs PySCIPOpt, which is not installed here: {INSTALL}")


@dataclass
class BranchCutResult:
    """``status``: ``optimal`` (within the gaps), ``time_limit``, ``stopped`` (the lazy rows'
    :meth:`~cellsuppress.solvers.base.LazyRows.stop`), ``interrupted`` (Ctrl-C), ``infeasible``;
    ``bound`` the proven dual bound; ``x`` the best solution that passed the lazy rows (None:
    none found), ``nodes`` the tree's size."""

    status: str
    bound: float
    x: np.ndarray | None
    nodes: int
    seconds: float
    separations: int = 0  # the caller's separations (LazyRows.rows) ...
    pool_rounds: int = 0  # ... and rounds answered by the rows kept from them


_STATUS = {"optimal": "optimal", "gaplimit": "optimal", "timelimit": "time_limit", "userinterrupt": "interrupted",
           "infeasible": "infeasible"}


def branch_and_cut(lp: LinearProgram, lazy: LazyRows, time_limit: float | None = None, mip_gap: float = 0.0,
                   mip_abs_gap: float | None = None, start: np.ndarray | None = None) -> BranchCutResult:
    """Minimise ``lp`` (binary columns, rows ``A x >= row_lo``) with the rows of ``lazy`` on
    top, from the solution ``start`` (known to meet every row) if given. An error raised in
    the separation ends the solve and is raised here."""
    require()
    if lp.maximize or np.isfinite(lp.row_hi).any():
        raise SolverError("branch_and_cut takes a minimisation with rows A x >= lo only")
    model = pyscipopt.Model()
    model.hideOutput()
    n = lp.c.size
    xs = [model.addVar(name=f"x{j}", vtype="B" if lp.integer[j] else "C", lb=float(lp.col_lo[j]),
                       ub=float(lp.col_hi[j]), obj=float(lp.c[j])) for j in range(n)]
    A = sp.csr_matrix(lp.A)
    for r in range(A.shape[0]):
        cols, vals = A.indices[A.indptr[r]:A.indptr[r + 1]], A.data[A.indptr[r]:A.indptr[r + 1]]
        if cols.size:
            model.addCons(pyscipopt.quicksum(float(a) * xs[j] for j, a in zip(cols, vals)) >= float(lp.row_lo[r]))
    handler = _handler_class()(lazy, xs)
    # below the integrality handler in enforcement and check (lazy constraints: integer points
    # only), called without constraints of its own
    model.includeConshdlr(handler, "lazyrows", "rows of the caller's separation", sepapriority=1,
                          enfopriority=-1, chckpriority=-1, sepafreq=1, propfreq=-1, eagerfreq=-1,
                          maxprerounds=0, needscons=False)
    # SCIP sees only the rows it has: its symmetries of those are not the problem's, and a
    # restart would presolve again without the lazy rows
    model.setIntParam("misc/usesymmetry", 0)
    model.setIntParam("presolving/maxrestarts", 0)
    # each solution of SCIP's heuristics costs a whole separation to check (a few of them
    # nearly always fail): without them the tree gets the time, and the start is the incumbent
    model.setHeuristics(pyscipopt.SCIP_PARAMSETTING.OFF)
    # the caller's own: after setHeuristics, which would switch it off too
    model.includeHeur(_heur_class()(handler), "improve", "the caller's repairs of the tree's points", "I",
                      timingmask=pyscipopt.SCIP_HEURTIMING.AFTERLPNODE)
    model.setRealParam("limits/gap", float(mip_gap))
    if mip_abs_gap is not None:
        model.setRealParam("limits/absgap", float(mip_abs_gap))
    if time_limit is not None:
        model.setRealParam("limits/time", max(0.01, float(time_limit)))
    if start is not None:
        sol = model.createSol()
        for j in np.flatnonzero(np.asarray(start) != 0):
            model.setSolVal(sol, xs[j], float(start[j]))
        model.addSol(sol)
    t0 = time.perf_counter()
    model.optimize()
    seconds = time.perf_counter() - t0
    status = _STATUS.get(model.getStatus(), "time_limit")
    if isinstance(handler.error, KeyboardInterrupt):  # Ctrl-C in a separation: as in SCIP's own loop
        status = "interrupted"
    elif handler.stopped and status == "interrupted":
        status = "stopped"
    elif handler.error is not None:
        raise handler.error
    best = None
    if model.getNSols():
        sol = model.getBestSol()
        best = np.array([model.getSolVal(sol, v) for v in xs])
    return BranchCutResult(status=status, bound=float(model.getDualbound()), x=best, nodes=int(model.getNNodes()),
                           seconds=seconds, separations=handler.separations, pool_rounds=handler.pool_rounds)


def _handler_class():
    """The constraint handler class (its base class exists only with pyscipopt)."""
    R = pyscipopt.SCIP_RESULT

    class LazyRowsHandler(pyscipopt.Conshdlr):
        """The lazy rows as a constraint of SCIP's: checked and enforced at integer points,
        separated at every LP point (the caller's separation only where no kept row is violated,
        and below the root in a node's first round). A verdict on an integer point is kept (SCIP
        checks and enforces the same point more than once); rows found while checking a
        solution (where none can be added) join the cut pool at the next separation."""

        def __init__(self, lazy: LazyRows, xs):
            self.lazy, self.xs = lazy, xs
            self.tx = None
            self.verdicts: dict[bytes, tuple] = {}
            self.pending: list[tuple] = []
            self.failed: np.ndarray | None = None  # the last integer point the rows cut off
            self.error: BaseException | None = None
            self.stopped = False  # the lazy rows asked the solve to end
            self.pool = RowPool(len(xs))
            self.node = -1  # the node of the last fractional separation, and its rounds there
            self.rounds = 0
            self.pool_rounds = 0  # separations answered by the kept rows alone
            self.separations = 0  # ... and by the caller's separation

        def _rows(self, x: np.ndarray, integral: bool, separate: bool = True) -> tuple:
            """The rows violated at ``x``: the kept ones if any is, else (``separate``) the
            caller's, which are kept."""
            A, lo = self.pool.violated(x)
            if lo.size or not separate:
                self.pool_rounds += bool(lo.size)
                return A, lo
            A, lo = self.lazy.rows(x, integral=integral)
            self.separations += 1
            self.pool.add(A, lo)
            return A, lo

        def _point(self, sol) -> np.ndarray:
            return np.array([self.model.getSolVal(sol, v) for v in self.xs])

        def _integral(self, x: np.ndarray) -> tuple:
            key = _key(x)
            if key not in self.verdicts:
                self.verdicts[key] = self._rows(np.round(x), integral=True)
                if self.verdicts[key][1].size:
                    self.failed = np.round(x)
            return self.verdicts[key]

        def feasible(self, x: np.ndarray) -> None:
            """``x`` is known to meet every lazy row: its check needs no separation."""
            self.verdicts[_key(x)] = (sp.csr_matrix((0, len(self.xs))), np.zeros(0))

        def _cuts(self, rows: tuple, force: bool) -> bool:
            """Add the rows as cuts (and to the global pool); True when one cuts off the node."""
            mdl = self.model
            if self.tx is None:
                self.tx = [mdl.getTransformedVar(v) for v in self.xs]
            A, lo = rows
            cutoff = False
            for r in range(A.shape[0]):
                row = mdl.createEmptyRowUnspec(name="lazy", lhs=float(lo[r]), rhs=None, local=False, removable=True)
                mdl.cacheRowExtensions(row)
                for j, a in zip(A.indices[A.indptr[r]:A.indptr[r + 1]].tolist(), A.data[A.indptr[r]:A.indptr[r + 1]].tolist()):
                    mdl.addVarToRow(row, self.tx[j], a)
                mdl.flushRowExtensions(row)
                mdl.addPoolCut(row)
                cutoff |= bool(mdl.addCut(row, forcecut=force))
                mdl.releaseRow(row)
            return cutoff

        def _guard(self, fn, failed):
            """Run a callback; an error ends the solve (raised by branch_and_cut), and so does the
            caller's deadline."""
            if self.error is not None:
                return {"result": failed}
            try:
                out = fn()
            except BaseException as e:  # noqa: BLE001 - re-raised once SCIP has stopped
                self.error = e
                self.model.interruptSolve()
                return {"result": failed}
            if not self.stopped and self.lazy.stop(self.model.getDualbound(), int(self.model.getNNodes())):
                self.stopped = True
                self.model.interruptSolve()
            return out

        def conscheck(self, constraints, solution, checkintegrality, checklprows, printreason, completely):
            def check():
                x = self._point(solution)
                if np.any(np.abs(x - np.round(x)) > 1e-6):
                    return {"result": R.INFEASIBLE}
                rows = self._integral(x)
                if rows[1].size:
                    self.pending.append(rows)
                    return {"result": R.INFEASIBLE}
                return {"result": R.FEASIBLE}
            return self._guard(check, R.INFEASIBLE)

        def consenfolp(self, constraints, nusefulconss, solinfeasible):
            def enforce():
                rows = self._integral(self._point(None))
                if not rows[1].size:
                    return {"result": R.FEASIBLE}
                return {"result": R.CUTOFF if self._cuts(rows, force=True) else R.SEPARATED}
            return self._guard(enforce, R.CUTOFF)

        def consenfops(self, constraints, nusefulconss, solinfeasible, objinfeasible):
            def enforce():
                A, lo = self._integral(self._point(None))
                if not lo.size:
                    return {"result": R.FEASIBLE}
                for r in range(A.shape[0]):  # no LP here: the rows become constraints
                    cols, vals = A.indices[A.indptr[r]:A.indptr[r + 1]], A.data[A.indptr[r]:A.indptr[r + 1]]
                    self.model.addCons(pyscipopt.quicksum(float(a) * self.xs[j] for j, a in zip(cols, vals))
                                       >= float(lo[r]), removable=True)
                return {"result": R.CONSADDED}
            return self._guard(enforce, R.CUTOFF)

        def conssepalp(self, constraints, nusefulconss):
            def separate():
                found = cutoff = False
                while self.pending:
                    cutoff |= self._cuts(self.pending.pop(), force=False)
                    found = True
                x = self._point(None)
                if np.all(np.abs(x - np.round(x)) <= 1e-6):
                    rows = self._integral(x)
                else:
                    node = self.model.getCurrentNode().getNumber()
                    self.rounds = self.rounds + 1 if node == self.node else 1
                    self.node = node
                    separate = self.model.getDepth() == 0 or self.rounds <= SEPARATE_ROUNDS_PER_NODE
                    rows = self._rows(x, integral=False, separate=separate)
                if rows[1].size:
                    cutoff |= self._cuts(rows, force=False)
                    found = True
                if cutoff:
                    return {"result": R.CUTOFF}
                return {"result": R.SEPARATED if found else R.DIDNOTFIND}
            return self._guard(separate, R.DIDNOTRUN)

        def conslock(self, constraint, locktype, nlockspos, nlocksneg):
            # rows A x >= lo: lowering a column with a positive coefficient may violate one,
            # raising it only where a row may hold it negatively (two-sided)
            both = nlockspos + nlocksneg
            for j, v in enumerate(self.xs):
                down, up = (both, both) if self.lazy.two_sided[j] else (nlockspos, nlocksneg)
                self.model.addVarLocksType(self.model.getTransformedVar(v), locktype, down, up)

    return LazyRowsHandler


class RowPool:
    """Rows ``A x >= lo`` kept to be checked at a point with a few sparse products. Rows are
    appended in batches and merged as they come into fewer, larger matrices (each at least twice
    the next), so a check costs a handful of products and the appends the copies of a doubling
    array.

    >>> pool = RowPool(2)
    >>> pool.add(sp.csr_matrix([[1., 1.]]), np.array([1.]))
    >>> pool.violated(np.array([0.2, 0.3]))[1], pool.violated(np.array([0.5, 0.5]))[1].size
    (array([1.]), 0)
    """

    def __init__(self, ncols: int):
        self.ncols = ncols
        self.parts: list[tuple[sp.csr_matrix, np.ndarray]] = []

    @property
    def size(self) -> int:
        return sum(lo.size for _, lo in self.parts)

    def add(self, A: sp.spmatrix, lo: np.ndarray) -> None:
        if not np.size(lo):
            return
        self.parts.append((sp.csr_matrix(A), np.asarray(lo, dtype=float)))
        while len(self.parts) > 1 and 2 * self.parts[-1][1].size >= self.parts[-2][1].size:
            (A1, lo1), (A2, lo2) = self.parts[-2:]
            self.parts[-2:] = [(sp.vstack([A1, A2], format="csr"), np.concatenate([lo1, lo2]))]

    def violated(self, x: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """The kept rows violated at ``x``."""
        picked = [(A[bad], lo[bad]) for A, lo in self.parts
                  for bad in [A @ x < lo - POOL_TOL * np.maximum(1.0, np.abs(lo))] if bad.any()]
        if not picked:
            return sp.csr_matrix((0, self.ncols)), np.zeros(0)
        if len(picked) == 1:
            return picked[0]
        return sp.vstack([A for A, _ in picked], format="csr"), np.concatenate([lo for _, lo in picked])


def _key(x: np.ndarray) -> bytes:
    return np.packbits(np.round(x) > 0.5).tobytes()


def _heur_class():
    """The primal heuristic class (its base class exists only with pyscipopt)."""
    R = pyscipopt.SCIP_RESULT

    class ImproveHeur(pyscipopt.Heur):
        """After a node's LP: the last integer point the lazy rows cut off (else the LP point)
        goes to :meth:`LazyRows.improve`; the point it makes is tried as a solution, its
        check answered without a separation."""

        def __init__(self, handler):
            self.handler = handler

        def heurexec(self, heurtiming, nodeinfeasible):
            h, mdl = self.handler, self.model

            def run():
                if h.failed is not None:
                    x, integral, h.failed = h.failed, True, None
                elif mdl.getLPSolstat() == pyscipopt.SCIP_LPSOLSTAT.OPTIMAL:
                    x, integral = h._point(None), False
                else:
                    return {"result": R.DIDNOTRUN}
                y = h.lazy.improve(x, integral)
                if y is None:
                    return {"result": R.DIDNOTFIND}
                h.feasible(y)
                sol = mdl.createSol(self)
                for j in np.flatnonzero(y > 0.5):
                    mdl.setSolVal(sol, h.xs[j], 1.0)
                return {"result": R.FOUNDSOL if mdl.trySol(sol, printreason=False) else R.DIDNOTFIND}
            return h._guard(run, R.DIDNOTRUN)

    return ImproveHeur
