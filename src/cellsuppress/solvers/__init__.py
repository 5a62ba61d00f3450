"""Solver backends: each is a small adapter from a :class:`LinearProgram` to one solver, a live
:class:`Model` that takes new rows, bounds and objectives between solves.

``protect(..., solver=...)`` chooses the solver of the master problem, the MILP that picks the
cells to hide: ``highs`` (HiGHS in memory, the default), ``scip`` (SCIP's branch-and-cut through
PySCIPOpt, the optional extra ``scip``: it separates the capacity cuts at every node,
:mod:`~cellsuppress.solvers.scip_bc`), or a solver reached through PuLP (``cbc``, ``glpk``,
``gurobi``, ``cplex``, ...). The attacker LPs (separation, the heuristic, the audit) always run
on HiGHS, whatever the master's solver.
"""
from .base import LinearProgram, Model, Solution, SolverError
from .highs import HighsModel, set_threads

_HIGHS_NAMES = ("highs", "highspy")


def check_solver(name: str) -> str:
    """The backend's name for solver ``name`` (``highs``, ``scip``, or the PuLP class that runs it).

    Raises :class:`SolverError` for a solver that is unknown or not installed here; the
    message lists the names that would work.
    """
    if not isinstance(name, str):
        raise SolverError(f"solver must be a name such as 'highs' or 'cbc', got {name!r}")
    if name in _HIGHS_NAMES:
        return "highs"
    if name == "scip":
        from .scip_bc import require

        require()
        return "scip"
    from .pulp_backend import resolve_solver

    return resolve_solver(name)


def make_model(lp: LinearProgram, solver: str = "highs", **kw) -> Model:
    """A live model of ``lp`` on the named backend (``highs`` or a PuLP solver name)."""
    if check_solver(solver) == "highs":
        return HighsModel(lp, **kw)
    from .pulp_backend import PulpModel

    return PulpModel(lp, solver=solver, **kw)


def one_thread() -> None:
    """Solve on one thread in this process from now on: the start of a worker process of a pool
    whose workers are the parallelism (many tables, the subtables of a level). HiGHS on two
    cores adds a thread of its own to each MILP, which on small models gains nothing and keeps
    the other core busy; two workers would each take a core from the other. HiGHS's MIP search
    depends on its thread count, so a master MILP with several optima may return another one
    (a proven optimum has the same cost). (PuLP's solvers run on one thread unless asked for
    more.)"""
    set_threads(1)


__all__ = ["LinearProgram", "Model", "Solution", "SolverError", "HighsModel", "check_solver", "make_model",
           "one_thread", "set_threads"]
