"""Solver-neutral description of a (mixed-integer) linear program and its solution."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import SolverError


@dataclass
class LinearProgram:
    """``min/max c x  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi``; ``integer`` marks integer columns."""

    c: np.ndarray
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray | None = None
    maximize: bool = False

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
    the objective (LP). ``row_duals`` is set for LPs solved to optimality.
    """

    status: str
    x: np.ndarray | None = None
    objective: float = np.nan
    bound: float = np.nan
    row_duals: np.ndarray | None = None
    stats: dict = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.x is not None
