"""The non-hierarchical subtables of a hierarchical table (HiTaS's decomposition).

Pick, in every dimension, one *group*: a code with its children (or, in a dimension without
equations, a single code). The cells whose codes lie in the chosen groups, and the table's
equations among them, are a table without hierarchy: a subtable. A cell lies in up to two
groups per dimension (as a child of its parent's group and as the head of its own), so
subtables overlap in their margins; every equation lies in the subtables that hold all of
its cells.

A subtable's *level* is the sum of the depths of its group heads. A cell's first subtable
(its code's parent group in every dimension where it has a parent) is the only one of its
level that holds it, and every other subtable that holds it lies deeper: so protecting level
by level, top down, each cell is decided once, by its first subtable, and the subtables of
one level decide disjoint sets of cells.

The hierarchy is read off the equations and the cells' codes (``Problem.codes``), so this
works on any problem whose equations are ``-parent + sum(children) = 0`` along one
dimension: tables, their components, and linked tables.

>>> import numpy as np
>>> from cellsuppress.tables.synthetic import generate
>>> from cellsuppress.rules import requirement
>>> from cellsuppress.suppress.problem import build_problem
>>> t = generate(dims=2, levels=((2, 2), (3,)), seed=0).table()   # Total > 1, 2 > 11, 12, 21, 22
>>> p = build_problem(t, requirement(t, "strict", 20), "value", False)
>>> subs = subtables(p)
>>> [(s.level, s.cells.size, s.rows.size) for s in subs]
[(0, 12, 7), (1, 12, 7), (1, 12, 7)]
>>> np.array_equal(np.unique(np.concatenate([s.rows for s in subs])), np.arange(t.n_equations))
True
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .problem import Problem

__all__ = ["Subtable", "code_parents", "subtables", "by_level"]


@dataclass
class Subtable:
    """One subtable: its cells (sorted indices into the problem's cells), the equations among
    them, its level (sum of the depths of its group heads) and the head code per dimension."""

    cells: np.ndarray
    rows: np.ndarray
    level: int
    heads: tuple


def code_parents(p: Problem) -> list[np.ndarray] | None:
    """Per dimension, the parent of every code (-1 for a code without one), read off the
    equations; None when the problem has no codes or an equation is not ``-parent +
    sum(children)`` along one dimension (a JJ file's general relations, for instance)."""
    if p.codes is None or p.codes.ndim != 2 or p.codes.shape[0] != p.n:
        return None
    codes = np.asarray(p.codes, dtype=np.int64)
    ndim = codes.shape[1]
    sizes = codes.max(axis=0) + 1 if p.n else np.zeros(ndim, np.int64)
    parents = [np.full(int(k), -1, dtype=np.int64) for k in sizes]
    M = sp.coo_matrix(p.M)
    if M.nnz == 0:
        return parents
    neg = M.data < 0
    if not (np.all(np.isin(M.data, (-1.0, 1.0))) and np.bincount(M.row[neg], minlength=M.shape[0]).max() == 1
            and np.bincount(M.row[neg], minlength=M.shape[0]).min() == 1):
        return None
    head = np.empty(M.shape[0], dtype=np.int64)
    head[M.row[neg]] = M.col[neg]
    child, of = M.col[~neg], head[M.row[~neg]]
    differ = codes[child] != codes[of]
    if not np.all(differ.sum(axis=1) == 1):
        return None
    dim = differ.argmax(axis=1)
    for d in range(ndim):
        on = dim == d
        kid, par = codes[child[on], d], codes[of[on], d]
        pairs = np.unique(np.stack([kid, par], axis=1), axis=0)
        if np.unique(pairs[:, 0]).size != pairs.shape[0]:
            return None  # a code with two parents: not a hierarchy
        parents[d][pairs[:, 0]] = pairs[:, 1]
    return parents


def _depths(parent: np.ndarray) -> np.ndarray:
    depth = np.zeros(parent.size, dtype=np.int64)
    up = parent.copy()
    while (up >= 0).any():  # one step up per pass: as many passes as the hierarchy is deep
        on = up >= 0
        depth[on] += 1
        up[on] = parent[up[on]]
    return depth


def _groups(parent: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(head, members)`` per group of one dimension: each code with children, heading them;
    a code with neither parent nor children alone."""
    heads = np.unique(parent[parent >= 0])
    order = np.argsort(parent, kind="stable")
    cuts = np.searchsorted(parent[order], heads)
    ends = np.searchsorted(parent[order], heads, side="right")
    groups = [(int(h), np.concatenate([[h], order[a:b]])) for h, a, b in zip(heads, cuts, ends)]
    alone = np.setdiff1d(np.flatnonzero(parent < 0), heads)
    groups += [(int(c), np.array([c])) for c in alone]
    return groups


def subtables(p: Problem) -> list[Subtable] | None:
    """The non-hierarchical subtables of ``p``, sorted by level (top first); None when the
    hierarchy cannot be read off the problem (:func:`code_parents`). Subtables without a cell
    of the problem are left out."""
    parents = code_parents(p)
    if parents is None:
        return None
    codes = np.asarray(p.codes, dtype=np.int64)
    sizes = tuple(int(par.size) for par in parents)
    keys = np.ravel_multi_index(tuple(codes.T), sizes) if p.n else np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    depth = [_depths(par) for par in parents]
    Mc = sp.csc_matrix(abs(sp.csr_matrix(p.M)))
    row_size = np.diff(sp.csr_matrix(p.M).indptr)
    out = []
    for combo in itertools.product(*[_groups(par) for par in parents]):
        grid = np.meshgrid(*[m for _, m in combo], indexing="ij")
        want = np.ravel_multi_index(tuple(g.ravel() for g in grid), sizes)
        at = np.searchsorted(sorted_keys, want)
        found = at < sorted_keys.size
        found[found] = sorted_keys[at[found]] == want[found]
        if not found.any():
            continue
        cells = np.sort(order[at[found]])
        touched = Mc[:, cells].indices
        rows, hits = np.unique(touched, return_counts=True)
        rows = rows[hits == row_size[rows]]
        out.append(Subtable(cells=cells, rows=rows, level=int(sum(d[h] for d, (h, _) in zip(depth, combo))),
                            heads=tuple(h for h, _ in combo)))
    out.sort(key=lambda s: s.level)
    return out


def by_level(subs: list[Subtable]) -> list[list[Subtable]]:
    """The subtables grouped by level, top first."""
    levels = sorted({s.level for s in subs})
    return [[s for s in subs if s.level == lv] for lv in levels]
