"""PuLP backend: CBC (bundled with PuLP), GLPK, CPLEX, Gurobi, Xpress, ... and LP/MPS export.

A :class:`PulpModel` is a :class:`~cellsuppress.solvers.base.Model` like
:class:`~cellsuppress.solvers.highs.HighsModel`, so ``protect(..., solver="cbc")`` runs the same row generation on another solver. PuLP hands
the whole model to the solver on every solve (most of its solvers run as a separate program),
so re-solves do not warm start; HiGHS in memory stays the fast default.
"""
from __future__ import annotations

import os
import re
import tempfile
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .base import LinearProgram, Model, Solution, SolverError, export_format, row_bounds
from .highs import take_banner

try:
    import pulp
except ImportError:  # pragma: no cover - pulp is a core dependency
    pulp = None

# our names -> PuLP solver classes, in order of preference
SOLVERS: dict[str, tuple[str, ...]] = {
    "cbc": ("COIN_CMD", "PULP_CBC_CMD"),
    "glpk": ("GLPK_CMD", "PYGLPK"),
    "cplex": ("CPLEX_PY", "CPLEX_CMD"),
    "gurobi": ("GUROBI", "GUROBI_CMD"),
    "xpress": ("XPRESS_PY", "XPRESS"),
    "highs-pulp": ("HiGHS",),
    "highs_cmd": ("HiGHS_CMD",),
}
_ALIASES = {"coin": "cbc", "coin-or": "cbc", "pulp_cbc": "cbc", "highs_pulp": "highs-pulp",
            "highs-cmd": "highs_cmd"}


@contextmanager
def _quiet():
    """PuLP 3.x warns about its own 4.0 migration (bundled CBC, mapping access, ...): not our users' concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@lru_cache(maxsize=None)
def available_solvers() -> tuple[str, ...]:
    """PuLP's names of the solvers installed here (``pulp.listSolvers(onlyAvailable=True)``)."""
    if pulp is None:
        return ()
    with _quiet():
        return tuple(dict.fromkeys(pulp.listSolvers(onlyAvailable=True)))


def _our_names(pulp_names) -> list[str]:
    return [ours for ours, cands in SOLVERS.items() if any(c in pulp_names for c in cands)]


def resolve_solver(name: str) -> str:
    """The PuLP class name to use for ``name`` (ours, e.g. ``cbc``, or PuLP's, e.g. ``GLPK_CMD``).

    Raises :class:`SolverError` naming the solver and listing the available ones.
    """
    if pulp is None:
        raise SolverError(f"solver {name!r} needs PuLP, which is not installed: pip install pulp")
    key = str(name).strip()
    low = _ALIASES.get(key.lower(), key.lower())
    avail = available_solvers()
    if low in SOLVERS:
        cands = SOLVERS[low]
    else:
        with _quiet():
            cands = tuple(dict.fromkeys(c for c in pulp.listSolvers() if c.lower() == low))
        if not cands:
            raise SolverError(
                f"unknown solver {name!r}; choose 'highs', 'scip' or one of {', '.join(SOLVERS)} "
                f"(available here: {', '.join(['highs'] + _our_names(avail))}; PuLP names: {', '.join(avail) or 'none'})")
    for c in cands:
        if c in avail:
            return c
    raise SolverError(
        f"solver {name!r} is not available (PuLP looked for {', '.join(cands)}); available here: "
        f"{', '.join(['highs'] + _our_names(avail))} (PuLP names: {', '.join(avail) or 'none'})")


def _bound(v: float):
    return None if not np.isfinite(v) else float(v)


_CBC_BOUND = re.compile(r"^(?:Lower|Upper) bound:\s*(\S+)", re.MULTILINE)


class PulpModel(Model):
    """A live model of ``lp`` on a PuLP solver. PuLP hands the solver the whole model on every
    solve, so no solve warm starts (``cold`` changes nothing) and none can be stopped from
    another thread.

    >>> import numpy as np, scipy.sparse as sp
    >>> lp = LinearProgram(c=[1, 1], A=sp.csr_matrix([[1., 1.]]), row_lo=[2], row_hi=[np.inf],
    ...                    col_lo=[0, 0], col_hi=[5, 5])
    >>> PulpModel(lp, "cbc").solve().objective
    2.0
    """

    def __init__(self, lp: LinearProgram, solver: str = "cbc", threads: int | None = None):
        self.solver_name = resolve_solver(solver)
        if self.solver_name == "HiGHS":  # PuLP's HiGHS is highspy, which prints a banner with its first instance
            take_banner()
        self.requested = solver
        self.threads = threads
        self.solver_options: dict = {}
        self.n = int(lp.c.size)
        self.integer = np.asarray(lp.integer, dtype=bool).copy()
        self.relaxed = not self.integer.any()
        self.c = np.asarray(lp.c, dtype=float).copy()
        self.maximize = bool(lp.maximize)
        with _quiet():
            self.prob = pulp.LpProblem("cellsuppress", pulp.LpMaximize if lp.maximize else pulp.LpMinimize)
            width = max(7, len(str(self.n)))
            self.vars = [self._new_var(f"x{j:0{width}d}", lp.col_lo[j], lp.col_hi[j], bool(self.integer[j]))
                         for j in range(self.n)]
        self.rows: list[list] = []  # per row of the program: its PuLP constraints
        self.row_terms: list[tuple[int, list]] = []  # per row: its name's number and its terms
        self._named = 0  # rows ever added: names stay unique after deletions
        self._set_objective_expr()
        self.add_rows(lp.A, lp.row_lo, lp.row_hi)

    # -- building ------------------------------------------------------------------
    def _new_var(self, name, lo, hi, integer):
        cat = pulp.LpInteger if integer else pulp.LpContinuous
        if hasattr(self.prob, "add_variable"):  # PuLP >= 3.3
            return self.prob.add_variable(name, _bound(lo), _bound(hi), cat)
        return pulp.LpVariable(name, _bound(lo), _bound(hi), cat)

    def _set_objective_expr(self) -> None:
        # every column is in the objective (zeros included) so PuLP passes every column to the solver
        with _quiet():
            self.prob.setObjective(pulp.LpAffineExpression(list(zip(self.vars, self.c.tolist()))))
            self.prob.sense = pulp.LpMaximize if self.maximize else pulp.LpMinimize

    def set_option(self, name: str, value) -> None:
        """A keyword for the PuLP solver's constructor on every later solve (``presolve``, ``cuts``,
        ``maxNodes``, ``options=[...]`` for CBC, ...); ``None`` removes it."""
        if value is None:
            self.solver_options.pop(name, None)
        else:
            self.solver_options[name] = value

    def set_objective(self, c: np.ndarray, maximize: bool = False) -> None:
        c = np.asarray(c, dtype=float)
        if c.size != self.n:
            raise SolverError(f"objective has {c.size} entries but the model has {self.n} columns")
        self.c = c.copy()
        self.maximize = bool(maximize)
        self._set_objective_expr()

    def set_col_bounds(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        lo = np.broadcast_to(np.asarray(lo, dtype=float), idx.shape)
        hi = np.broadcast_to(np.asarray(hi, dtype=float), idx.shape)
        for j, l, h in zip(idx.tolist(), lo.tolist(), hi.tolist()):
            v = self.vars[j]
            v.lowBound = _bound(l)
            v.upBound = _bound(h)

    def set_integer(self, integer: bool) -> None:
        """Switch the integer columns between integer and continuous (LP relaxation)."""
        idx = np.flatnonzero(self.integer)
        self.relaxed = not integer or not idx.size
        cat = pulp.LpInteger if integer else pulp.LpContinuous
        for j in idx.tolist():
            self.vars[j].cat = cat

    def add_rows(self, A: sp.spmatrix, lo: np.ndarray, hi: np.ndarray) -> None:
        A = sp.csr_matrix(A, dtype=float)
        m = A.shape[0]
        if m == 0:
            return
        if A.shape[1] != self.n:
            raise SolverError(f"rows have {A.shape[1]} columns but the model has {self.n}")
        lo, hi = row_bounds(m, lo, hi)
        V = self.vars
        ind, ptr, data = A.indices, A.indptr, A.data
        with _quiet():
            for r in range(m):
                s, e = ptr[r], ptr[r + 1]
                terms = [(V[j], v) for j, v in zip(ind[s:e].tolist(), data[s:e].tolist()) if v != 0.0]
                self.row_terms.append((self._named, terms))
                self.rows.append(self._constraints(self._named, terms, float(lo[r]), float(hi[r])))
                self._named += 1

    def _constraints(self, i: int, terms: list, l: float, h: float) -> list:
        """Add row number ``i`` (its name) to the problem: one PuLP constraint per finite side,
        one for an equation, none for a free row (-inf, inf)."""
        E, LE, GE = pulp.LpConstraintEQ, pulp.LpConstraintLE, pulp.LpConstraintGE
        cons = []
        if l == h:
            cons.append((E, l, f"r{i}"))
        else:
            if np.isfinite(l):
                cons.append((GE, l, f"r{i}" if not np.isfinite(h) else f"r{i}_lo"))
            if np.isfinite(h):
                cons.append((LE, h, f"r{i}" if not np.isfinite(l) else f"r{i}_hi"))
        made = []
        for sense, rhs, name in cons:
            c = pulp.LpConstraint(pulp.LpAffineExpression(terms), sense, name, rhs)
            self.prob.addConstraint(c)
            made.append(c)
        return made

    def _constraint_store(self) -> dict:
        # PuLP has no call to remove a constraint; 3.3 keeps them in ``_constraints`` (its
        # ``constraints`` mapping warns on use), older versions in the ``constraints`` dict
        store = getattr(self.prob, "_constraints", None)
        return self.prob.constraints if store is None else store

    def set_row_bounds(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        lo, hi = row_bounds(idx.size, lo, hi)
        store = self._constraint_store()
        with _quiet():
            for k, l, h in zip(idx.tolist(), lo.tolist(), hi.tolist()):
                # which sides a row has depends on its bounds: make its constraints anew
                for c in self.rows[k]:
                    del store[c.name]
                i, terms = self.row_terms[k]
                self.rows[k] = self._constraints(i, terms, l, h)

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def delete_rows(self, idx: np.ndarray) -> None:
        """Drop rows ``idx``; the rows after them move up."""
        drop = set(np.asarray(idx, dtype=np.int64).tolist())
        store = self._constraint_store()
        for i in drop:
            for c in self.rows[i]:
                del store[c.name]
        self.rows = [r for i, r in enumerate(self.rows) if i not in drop]
        self.row_terms = [r for i, r in enumerate(self.row_terms) if i not in drop]

    # -- solving -------------------------------------------------------------------------
    def _solver(self, time_limit, mip_gap, mip_abs_gap, log_path, options=None):
        kw = {"msg": False, "mip": not self.relaxed, **self.solver_options}
        if options:
            kw["options"] = list(kw.get("options", [])) + list(options)
        if time_limit is not None:
            kw["timeLimit"] = max(float(time_limit), 0.01)
        if mip_gap is not None and not self.relaxed:
            kw["gapRel"] = float(mip_gap)
        if mip_abs_gap is not None and not self.relaxed:
            kw["gapAbs"] = float(mip_abs_gap)
        if self.threads:
            kw["threads"] = int(self.threads)
        if log_path is not None:
            kw["logPath"] = log_path
        with _quiet():
            return pulp.getSolver(self.solver_name, **kw)

    def solve(self, time_limit: float | None = None, mip_gap: float | None = None,
              mip_abs_gap: float | None = None, cold: bool = False, improving: bool = False) -> Solution:
        sol, log = self._run(time_limit, mip_gap, mip_abs_gap)
        if (sol.status == "infeasible" and time_limit is not None
                and "Pre-processing says infeasible" in log):
            # CBC cut short by its time limit while preprocessing may call a feasible MIP
            # infeasible; without preprocessing an infeasibility verdict is a proof again
            sol, _ = self._run(time_limit, mip_gap, mip_abs_gap, options=["preprocess off"])
        return sol

    def _run(self, time_limit, mip_gap, mip_abs_gap, options=None) -> tuple[Solution, str]:
        is_mip = not self.relaxed
        cbc = self.solver_name in ("COIN_CMD", "PULP_CBC_CMD")
        log_path = None
        if cbc and is_mip:  # CBC states its dual bound (and how it decided) only in its log
            fd, log_path = tempfile.mkstemp(prefix="cellsuppress-cbc-", suffix=".log")
            os.close(fd)
        log = ""
        try:
            solver = self._solver(time_limit, mip_gap, mip_abs_gap, log_path, options if cbc else None)
            try:
                with _quiet():
                    self.prob.solve(solver)
            except pulp.PulpSolverError as e:
                return Solution(status="error", stats={"solver": self.solver_name, "message": str(e)}), log
            if log_path is not None:
                try:
                    log = Path(log_path).read_text(errors="replace")
                except OSError:
                    log = ""
        finally:
            if log_path is not None:
                try:
                    os.unlink(log_path)
                except OSError:
                    pass
        return self._solution(is_mip, time_limit, log), log

    def _solution(self, is_mip: bool, time_limit, log: str) -> Solution:
        st = self.prob.status
        sst = getattr(self.prob, "sol_status", None)
        C = pulp.constants if hasattr(pulp, "constants") else pulp
        vals = [v.varValue for v in self.vars]
        has_vals = all(v is not None for v in vals)
        if st == C.LpStatusOptimal and sst in (None, C.LpSolutionOptimal):
            status = "optimal"
        elif st == C.LpStatusOptimal and sst == C.LpSolutionIntegerFeasible:
            status = "time_limit"  # stopped (time or other limit) with a feasible solution
        elif st == C.LpStatusInfeasible or sst == C.LpSolutionInfeasible:
            status = "infeasible"
        elif st == C.LpStatusUnbounded or sst == C.LpSolutionUnbounded:
            status = "unbounded"
        elif st == C.LpStatusNotSolved and time_limit is not None:
            status = "time_limit"
        else:
            status = "error"
        x = None
        if status in ("optimal", "time_limit") and has_vals:
            x = np.asarray(vals, dtype=float)
            if is_mip and status == "time_limit" and sst != C.LpSolutionIntegerFeasible:
                x = None  # a limit without a known feasible solution
        obj = float(self.c @ x) if x is not None else np.nan
        bound = np.nan
        if status == "optimal":
            bound = obj
        if is_mip and log:
            # CBC's final summary: "Lower bound:" (or "Upper bound:" when maximizing)
            found = _CBC_BOUND.findall(log)
            if found:
                try:
                    bound = float(found[-1])  # in the model's own sense, also when maximizing
                except ValueError:
                    pass
            if status == "optimal" and np.isfinite(bound):
                # never claim a bound beyond the solution itself
                bound = max(bound, obj) if self.maximize else min(bound, obj)
        duals = None
        if status == "optimal" and not is_mip:
            duals = np.zeros(len(self.rows))
            for i, cons in enumerate(self.rows):
                pis = [c.pi for c in cons]
                if any(p is None for p in pis):
                    duals = None
                    break
                duals[i] = float(sum(pis))
        return Solution(status=status, x=x, objective=obj, bound=bound, row_duals=duals,
                        stats={"solver": self.solver_name, "pulp_status": st, "pulp_sol_status": sst})

    # -- export -----------------------------------------------------------------------------
    def export(self, path) -> None:
        fmt = export_format(path)
        with _quiet():
            if fmt == "mps":
                try:  # OBJSENSE section (PuLP >= 3): a maximization reads back as one
                    self.prob.writeMPS(str(path), mpsSense=self.prob.sense, with_objsense=True)
                except TypeError:
                    self.prob.writeMPS(str(path), mpsSense=self.prob.sense)
            else:
                self.prob.writeLP(str(path))
