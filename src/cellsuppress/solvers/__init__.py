"""Solver backends: each is a small adapter from a :class:`LinearProgram` to one solver."""
from .base import LinearProgram, Solution, SolverError
from .highs import HighsModel


def make_model(lp: LinearProgram, solver: str = "highs", **kw):
    """A live model of ``lp`` on the named backend (``highs`` or a PuLP solver name)."""
    if solver in ("highs", "highspy"):
        return HighsModel(lp, **kw)
    from .pulp_backend import PulpModel

    return PulpModel(lp, solver=solver, **kw)


__all__ = ["LinearProgram", "Solution", "SolverError", "HighsModel", "make_model"]
