"""Bridgeless inequalities: a hidden complementary cell needs another hidden cell on every
equation through it (after Fischetti and Salazar-Gonzalez).

If every other cell of an equation through a hidden cell ``j`` is published, the equation
gives ``j``'s value: the attacker knows it, no attacker move can move ``j``, and publishing it
changes nothing for any other cell. So a pattern that hides ``j`` that way is not minimal, and
every pattern of least weight (every weight is positive, with the tie-break) meets

    sum over the other cells i of the equation of x_i  >=  x_j.

These rows cut off patterns that are protected but not minimal: they are valid for the optimum
(the master's optimal value does not change), not for every protected pattern, so nothing but
the master uses them. They do not hold under a preset with the rule on equation sums
(publishing ``j`` changes which sums of hidden cells are known), where the family is off.

At a fractional point of the root they are violated where a cell is hidden more than the rest
of one of its equations together: the LP hides it partly only to meet capacity cuts, with
partners that are themselves barely hidden, and the row takes that away.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline
from .model import CutRow
from .problem import Problem
from .separation import TOL, Violation


class BridgelessCuts:
    """The bridgeless rows violated at a point, at most one per cell (its most violated
    equation), the most violated first, ``limit`` at most (default: one per sensitive cell,
    at least 50). A cut family of the root's rounds (see :class:`~cellsuppress.suppress.master.Master`)."""

    kind = "bridge"

    def __init__(self, p: Problem, limit: int | None = None):
        self.p = p
        self.active = not p.equation_sum_rule
        self.free = ~p.force_hidden & ~p.blocked  # the complementary cells that may be hidden
        # each equation's cells that may be hidden (a published one adds nothing to a row)
        M = sp.csr_matrix(p.M)
        A = sp.csr_matrix((np.ones(M.nnz), M.indices, M.indptr), shape=M.shape)
        A = sp.csr_matrix(A.multiply((~p.blocked).astype(float)[None, :]))
        A.eliminate_zeros()
        self.A = A
        self.limit = limit if limit is not None else max(50, int(p.sensitive.sum()))
        self.n_lps = 0  # none: the rows come from the equations alone

    def cuts(self, x: np.ndarray, deadline: Deadline = NEVER) -> list[Violation]:
        """The violated rows at ``x`` (the cells' values first; any side variables after them)."""
        if not self.active:
            return []
        p, A = self.p, self.A
        x = np.clip(np.asarray(x, dtype=float)[:p.n], 0.0, 1.0)
        total = A @ x  # per equation, the sum of x over its cells
        row = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        j = A.indices
        # the row of (equation r, cell j): sum over r's other cells of x_i - x_j >= 0
        slack = total[row] - 2.0 * x[j]
        bad = (slack < -TOL) & self.free[j] & (x[j] > TOL)
        if not bad.any():
            return []
        row, j, slack = row[bad], j[bad], slack[bad]
        order = np.lexsort((slack, j))  # by cell, its most violated equation first
        first = np.ones(order.size, dtype=bool)
        first[1:] = j[order][1:] != j[order][:-1]
        pick = order[first]
        pick = pick[np.argsort(slack[pick], kind="stable")][:self.limit]
        out = []
        for r, k in zip(row[pick], j[pick]):  # the rows picked, not every cell
            cols = A.indices[A.indptr[r]:A.indptr[r + 1]]
            out.append(Violation(int(k), self.kind, 0.0, float(x[k]),
                                 CutRow.of(cols, np.where(cols == k, -1.0, 1.0), p.n)))
        return out
