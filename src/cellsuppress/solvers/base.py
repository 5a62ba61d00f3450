"""Solver-neutral description of a (mixed-integer) linear program, its solution, and the
interface of a live model that every backend implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import SolverError


@dataclass
class LinearProgram:
    """``min/max c x  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi``; ``integer`` marks integer columns.

    ``feasible_at_upper`` is a hint: every row holds with every column at its upper bound (as in
    the master problem: hide every cell), so a backend need not search for a first feasible
    point of the MILP."""

    c: np.ndarray
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray | None = None
    maximize: bool = False
    feasible_at_upper: bool = False

    def __post_init__(self) -> None:
        self.c = np.asarray(self.c, dtype=float)
        self.A = sp.csr_matrix(self.A, dtype=float)
        for name in ("row_lo", "row_hi", "col_lo", "col_hi"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=float))
        if self.integer is None:
            self.integer = np.zeros(self.c.size, dtype=bool)


@dataclass
class Solution:
    """What a backend returns.

    ``status`` is one of ``optimal``, ``infeasible``, ``unbounded``,
    ``time_limit``, ``error``. ``bound`` is the proven dual bound (MILP) or
    the objective (LP). ``row_duals`` is set for LPs solved to optimality. ``improving``: the
    solutions a MILP solve found before its last one, in the order found (each cheaper than the
    one before; empty unless the solve asked for them, or where the backend does not keep them).
    """

    status: str
    x: np.ndarray | None = None
    objective: float = np.nan
    bound: float = np.nan
    row_duals: np.ndarray | None = None
    stats: dict = field(default_factory=dict)
    improving: list = field(default_factory=list)

    @property
    def has_solution(self) -> bool:
        return self.x is not None


class LazyRows(ABC):
    """Rows ``A x >= lo`` a branch-and-cut learns as it goes (lazy constraints): the caller's
    separation, called by the solver at its points. At an integer point no row means the point
    is feasible; at a fractional point, rows violated there (none proves nothing).

    ``two_sided`` marks the columns on which a row may have a negative coefficient; on the
    others every row's coefficient is nonnegative, so raising such a column never violates one
    (the solver's rounding locks)."""

    two_sided: np.ndarray

    @abstractmethod
    def rows(self, x: np.ndarray, integral: bool) -> tuple[sp.csr_matrix, np.ndarray]:
        """The rows ``A x >= lo`` violated at ``x`` (``integral``: an integer point)."""

    @abstractmethod
    def stop(self, bound: float, nodes: int = 0) -> bool:
        """Whether the solve should end now (its deadline has passed, or its dual ``bound`` and
        the ``nodes`` its tree has processed tell the caller that its time is better spent
        elsewhere)."""

    def improve(self, x: np.ndarray, integral: bool) -> np.ndarray | None:
        """A point that meets every row, cheaper than the best the caller knows, made by the
        caller's own means from ``x``: an integer point that failed the rows (``integral``) or
        a node's LP point; None when it finds none or its budget is spent. The solver calls it
        between nodes (its primal heuristic) and takes the point as a solution. By default
        there are no such means."""
        return None


def row_bounds(m: int, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """``lo`` and ``hi`` as arrays of ``m`` bounds (a scalar applies to every row); a row whose
    lower bound is above its upper one is an error, not an infeasible model."""
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (m,))
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (m,))
    if np.any(lo > hi):
        bad = int(np.flatnonzero(lo > hi)[0])
        raise SolverError(f"row {bad}: lower bound {lo[bad]:g} above upper bound {hi[bad]:g}")
    return lo, hi


def export_format(path) -> str:
    """The format (``mps`` or ``lp``) of a model file by its suffix.

    Checked before anything is written, so that a path that cannot be honoured fails at once
    rather than after the solve: :class:`SolverError` for another suffix or a directory that
    does not exist.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("mps", "lp"):
        raise SolverError(f"cannot tell the format of {str(path)!r}: use a .mps or .lp suffix")
    folder = path.parent
    if not folder.is_dir():
        raise SolverError(f"cannot write the model to {str(path)!r}: the directory {str(folder)!r} does not exist")
    return fmt


class Model(ABC):
    """A live (mixed-integer) linear program on one solver: rows, bounds, objective and
    integrality change in place between solves.

    Rows and columns are numbered as in the :class:`LinearProgram` the model was made from;
    rows added later follow, and a deletion moves the rows after it up. Bounds may be
    infinite. Every backend implements the abstract methods; the others state what a backend
    can do beyond them (``can_stop``, :meth:`basis`).
    """

    #: whether :meth:`stop` can end a solve running in another thread
    can_stop: bool = False

    # -- changes ----------------------------------------------------------------------------
    @abstractmethod
    def add_rows(self, A: sp.spmatrix, lo: np.ndarray, hi: np.ndarray) -> None:
        """Append rows ``lo <= A x <= hi``."""

    @abstractmethod
    def delete_rows(self, idx: np.ndarray) -> None:
        """Drop rows ``idx``; the rows after them move up."""

    @property
    @abstractmethod
    def n_rows(self) -> int:
        """How many rows the model has now."""

    @abstractmethod
    def set_objective(self, c: np.ndarray, maximize: bool = False) -> None:
        """A new objective (every column's cost) and sense."""

    @abstractmethod
    def set_col_bounds(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """New bounds of columns ``idx``."""

    @abstractmethod
    def set_row_bounds(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """New bounds of rows ``idx``."""

    @abstractmethod
    def set_integer(self, integer: bool) -> None:
        """Switch the integer columns between integer and continuous (the LP relaxation)."""

    @abstractmethod
    def set_option(self, name: str, value) -> None:
        """A solver-specific option for every later solve (the names are the solver's own)."""

    # -- solving ----------------------------------------------------------------------------
    @abstractmethod
    def solve(self, time_limit: float | None = None, mip_gap: float | None = None,
              mip_abs_gap: float | None = None, cold: bool = False, improving: bool = False) -> Solution:
        """Solve as the model stands; ``cold`` drops what a previous solve left (basis) first.
        A ``time_limit`` of 0 is a limit (the deadline has passed), None is none. ``improving``:
        a MILP keeps the solutions it found before its last (``Solution.improving``), where the
        backend can."""

    def solve_lp(self, switch_after: float | None = None, time_limit: float | None = None,
                 cold: bool = False) -> Solution:
        """Solve an LP; a backend with several LP algorithms may change algorithm when the
        first one has done ``switch_after`` work (None: the backend's own amount), counted, not
        timed, so that the answer does not depend on the machine's speed."""
        return self.solve(time_limit=time_limit, cold=cold)

    def stop(self) -> None:
        """End a solve running in another thread, keeping what it found (as at a time limit).
        Only where ``can_stop``."""
        raise SolverError(f"a {type(self).__name__} solve cannot be stopped from another thread")

    def basis(self) -> np.ndarray:
        """The basic variables of the last LP solve, one per row: a column ``j >= 0``, or the
        slack of row ``r`` as ``-1 - r``."""
        raise SolverError(f"{type(self).__name__} does not expose its basis")

    # -- export -----------------------------------------------------------------------------
    @abstractmethod
    def export(self, path) -> None:
        """Write the model as MPS (``.mps``) or CPLEX LP (``.lp``), by the file's suffix
        (:func:`export_format` checks it first)."""
