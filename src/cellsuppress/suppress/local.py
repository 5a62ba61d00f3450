"""The local method for tables without hierarchy: the cheapest box of partners per sensitive
cell (a hypercube, as tau-ARGUS's hypercube method), then repair and clean-up by the attacker
LPs.

In a table without hierarchy every dimension has one group: a total and the codes that add up
to it. Pick, for a sensitive cell and every dimension, one partner code of that group; the
cells at every combination of the cell's own codes and the partners (the corners of a box:
a rectangle in two dimensions, ``2^D`` cells in ``D``) carry an attacker move. The corner
that differs from the cell in the dimensions ``S`` moves by ``prod_{d in S} s_d`` times the
step, ``s_d = -1`` when the partner is a sibling of the cell's code and ``+1`` when one of them
is the total: every equation along a dimension meets the box in two corners whose moves
cancel. So once the corners are hidden the cell can move by the least capacity of its
corners in the move's direction, and the box is its own proof: no LP is needed for a cell
whose box is hidden.

Boxes are scored for many cells at once: per dimension the cheapest partners (by the cost of
the edge cell next to the sensitive one) are kept, every box over them is scored by the
weight of its corners not hidden yet (infinite where a corner is missing, must stay
published or cannot move far enough), and in rounds the cells with the cheapest best boxes
take theirs, so later boxes reuse the cells of earlier ones. A cell without a feasible box is
repaired by the heuristic's cheapest attacker moves; the clean-up then un-hides the corners
no requirement needs (:func:`~cellsuppress.suppress.cleanup.cleanup`), the boxes serving as
the witnesses that spare most cells an LP.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline
from . import schedule
from .batch import check_certified
from .cleanup import cleanup
from .heuristic import heuristic
from .problem import Problem
from .separation import Separator, filter_either_side
from .subtables import code_parents

__all__ = ["Grid", "grid_of", "boxes", "rebox", "local", "certificates"]

TOL = 1e-9


@dataclass
class Grid:
    """A problem without hierarchy laid out on its codes.

    ``shape``: codes per dimension; ``head``: per dimension, the local index of the total the
    other codes add up to (-1: a dimension of one code); ``cell``: the cell at every
    combination of local codes, flat in C order (-1 where the problem has none); ``coords``:
    every cell's local codes (cells x dimensions)."""

    shape: tuple
    head: np.ndarray
    cell: np.ndarray
    coords: np.ndarray


def grid_of(p: Problem) -> Grid | None:
    """The grid of ``p``, or None when ``p`` has a hierarchy (some dimension has more than one
    total), or no codes."""
    parents = code_parents(p)
    if parents is None:
        return None
    codes = np.asarray(p.codes, dtype=np.int64)
    ndim = codes.shape[1]
    coords = np.empty_like(codes)
    shape, heads = [], []
    for d in range(ndim):
        present, local = np.unique(codes[:, d], return_inverse=True)
        par = parents[d][present]
        tops = np.unique(par[par >= 0])
        if tops.size > 1:
            return None
        if tops.size == 0:
            if present.size > 1:
                return None  # codes tied by no equation along this dimension
            heads.append(-1)
        else:
            head = np.flatnonzero(present == tops[0])
            if head.size == 0 or np.count_nonzero(par < 0) != 1:
                return None
            heads.append(int(head[0]))
        coords[:, d] = local.ravel()
        shape.append(present.size)
    shape = tuple(shape)
    cell = np.full(int(np.prod(shape)), -1, dtype=np.int64)
    cell[np.ravel_multi_index(tuple(coords.T), shape)] = np.arange(p.n)
    return Grid(shape=shape, head=np.asarray(heads, dtype=np.int64), cell=cell, coords=coords)


@dataclass
class Boxes:
    """The boxes chosen: per covered sensitive cell, its corners and their signs (the move up)."""

    cells: np.ndarray  # the sensitive cells covered
    corners: np.ndarray  # (covered, 2^D') cell indices
    signs: np.ndarray  # (covered, 2^D') +1/-1
    uncovered: np.ndarray  # sensitive cells with a requirement and no feasible box

    def moves(self, n: int) -> sp.csr_matrix:
        """The boxes' moves, one per row over ``n`` cells (the signs of the move up)."""
        k = self.corners
        return sp.csr_matrix((self.signs.ravel(), (np.repeat(np.arange(k.shape[0]), k.shape[1]), k.ravel())),
                             shape=(k.shape[0], n))

    def witnesses(self, p: Problem) -> dict:
        """``cell -> {kind: corners}``, as :meth:`Separator.violations` fills them."""
        out = {}
        for k, c in zip(self.cells.tolist(), self.corners):
            kinds = [kd for kd, lv in (("up", p.up[k]), ("dn", p.dn[k]), ("spl", p.spl[k])) if lv > 0]
            out[k] = {kd: c for kd in kinds}
        return out


# at most this many boxes are scored per cell (the cheapest partners per dimension: more find
# boxes hardly cheaper), and this many corner entries per batch of cells
MAX_BOXES = 512
BATCH_ENTRIES = 1 << 21
# the boxes that certify a pattern are among its hidden cells, which the partners' scores put
# first: a few per dimension find them
CERTIFY_BOXES = 64
# the share of the cells still open that take their box in one round: smaller shares let later
# boxes reuse a little more of the earlier ones, at many more rounds of scoring
ROUND_SHARE = 0.25


def boxes(p: Problem, g: Grid, x: np.ndarray, avoid: np.ndarray | None = None) -> tuple[np.ndarray, Boxes]:
    """``x`` with the cheapest box of every sensitive cell hidden (cells whose requirements a
    hidden box already meets take no more), and the boxes. No box hides a cell of ``avoid``
    (a mask): a cell that needs one is left uncovered."""
    x = (np.asarray(x) > 0.5).astype(float)
    avoid = np.zeros(p.n, dtype=bool) if avoid is None else np.asarray(avoid, dtype=bool)
    vary = np.flatnonzero(np.asarray(g.shape) > 1)
    want = np.flatnonzero(p.sensitive & ((p.up > 0) | (p.dn > 0) | (p.spl > 0)))
    n_corner = 1 << vary.size
    got_cells, got_corners, got_signs = [], [], []
    if vary.size == 0:
        return x, Boxes(np.zeros(0, np.int64), np.zeros((0, 1), np.int64), np.zeros((0, 1)), want)
    open_ = want
    while open_.size:
        cost, corners, signs = _best(p, g, vary, open_, x, avoid)
        free = cost == 0.0  # a hidden box already serves them
        take = np.isfinite(cost) & ~free
        chosen = np.flatnonzero(free)
        if take.any():
            idx = np.flatnonzero(take)
            n_take = max(1, int(np.ceil(ROUND_SHARE * idx.size)))
            chosen = np.concatenate([chosen, idx[np.argsort(cost[idx], kind="stable")[:n_take]]])
        x[corners[chosen].ravel()] = 1.0
        got_cells.append(open_[chosen])
        got_corners.append(corners[chosen])
        got_signs.append(signs[chosen])
        left = np.ones(open_.size, dtype=bool)
        left[chosen] = False
        left &= np.isfinite(cost)
        if not take.any():
            break
        open_ = open_[left]
    cells = np.concatenate(got_cells) if got_cells else np.zeros(0, np.int64)
    covered = np.zeros(p.n, dtype=bool)
    covered[cells] = True
    return x, Boxes(cells=cells,
                    corners=np.concatenate(got_corners) if got_corners else np.zeros((0, n_corner), np.int64),
                    signs=np.concatenate(got_signs) if got_signs else np.zeros((0, n_corner)),
                    uncovered=want[~covered[want]])


def certificates(p: Problem, g: Grid, x: np.ndarray, built: Boxes | None = None,
                 found: sp.csr_matrix | None = None) -> sp.csr_matrix:
    """Attacker moves of the pattern ``x``, one per row (a column per cell), for an audit to
    verify (:func:`~cellsuppress.auditing.audit`'s ``moves``): the boxes ``built`` whose corners
    ``x`` still hides; for the sensitive cells they leave (the clean-up published a corner) a box
    of hidden corners that meets the requirement, when one is among the cheapest partners per
    dimension (a few first, then as many as :func:`boxes` scores); for the cells still left, the
    moves ``found`` by the clean-up that move them furthest up and down. A cell without any is
    left to the audit's LPs."""
    hidden = np.asarray(x) > 0.5
    want = hidden & p.sensitive & ((p.up > 0) | (p.dn > 0) | (p.spl > 0))
    kept = sp.csr_matrix((0, p.n))
    if built is not None and built.cells.size:
        whole = hidden[built.corners].all(axis=1)
        kept = Boxes(built.cells[whole], built.corners[whole], built.signs[whole], built.uncovered).moves(p.n)
        want[built.cells[whole]] = False
    vary = np.flatnonzero(np.asarray(g.shape) > 1)
    ks = np.flatnonzero(want)
    out = [kept]
    for max_boxes in (CERTIFY_BOXES, MAX_BOXES):  # the few cells the first search misses get a wider one
        if not ks.size or not vary.size:
            break
        cost, corners, signs = _best(p, g, vary, ks, hidden.astype(float), ~hidden, max_boxes=max_boxes)
        ok = cost == 0.0
        out.append(Boxes(ks[ok], corners[ok], signs[ok], ks[~ok]).moves(p.n))
        ks = ks[~ok]
    if ks.size and found is not None and found.shape[0]:
        out.append(_largest_moves(sp.csr_matrix(found), ks))
    return sp.csr_matrix(sp.vstack(out, format="csr"))


def _largest_moves(F: sp.csr_matrix, ks: np.ndarray) -> sp.csr_matrix:
    """The rows of ``F`` that move some cell of ``ks`` furthest up or down."""
    C = F[:, ks].tocoo()
    rows = []
    for v in (C.data, -C.data):
        pos = v > 0
        r, c, val = C.row[pos], C.col[pos], v[pos]
        order = np.lexsort((-val, c))
        first = np.ones(order.size, dtype=bool)
        first[1:] = c[order][1:] != c[order][:-1]
        rows.append(r[order][first])
    return F[np.unique(np.concatenate(rows))]


def _best(p: Problem, g: Grid, vary: np.ndarray, ks: np.ndarray, x: np.ndarray, avoid: np.ndarray,
          max_boxes: int = MAX_BOXES):
    """The cheapest feasible box of each cell ``ks``: ``(cost, corners, signs)`` (cost inf: none),
    among at most ``max_boxes`` per cell.

    A corner that differs from the cell in the dimensions ``S`` depends only on the partners in
    ``S``, so each kind of corner is looked up once per combination of those partners (``prod
    (1 + m_d)`` look-ups per cell for ``m_d`` partners per dimension, where a look-up per corner
    of every box takes ``2^D prod m_d``) and broadcast over the others."""
    hidden = x > 0.5
    blocked = (p.blocked | avoid) & ~hidden
    up_cap = np.where(blocked, 0.0, p.cap_up)
    dn_cap = np.where(blocked, 0.0, p.cap_dn)
    price = np.where(hidden, 0.0, np.where(blocked, np.inf, p.weight))
    shape = np.asarray(g.shape)
    stride = np.array([int(np.prod(shape[d + 1:])) for d in range(shape.size)], dtype=np.int64)  # C order
    nv = vary.size
    per_dim = max(1, int(np.floor(max_boxes ** (1.0 / nv) + 1e-9)))
    keep = [int(min(shape[d] - 1, per_dim)) for d in vary]
    n_box = int(np.prod(keep))
    n_corner = 1 << nv
    batch = max(1, BATCH_ENTRIES // n_box)
    cost = np.full(ks.size, np.inf)
    corners = np.full((ks.size, n_corner), -1, dtype=np.int64)
    signs = np.ones((ks.size, n_corner))
    # corner b differs from the cell in the varying dimensions whose bit is set in b
    kinds = [np.flatnonzero((b >> np.arange(nv)) & 1) for b in range(n_corner)]
    for s in range(0, ks.size, batch):
        k = ks[s:s + batch]
        B = k.size
        c = g.coords[k]  # (B, D)
        base = np.ravel_multi_index(tuple(c.T), g.shape)
        need = [v[k].reshape((B,) + (1,) * nv) for v in (p.up, p.dn, p.spl)]
        step, step_sign = [], []  # per varying dimension: (B, m) flat offsets of the partners, signs
        for i, (d, m) in enumerate(zip(vary, keep)):
            own = c[:, d]
            alt = np.arange(shape[d])[None, :].repeat(B, axis=0)
            alt = alt[alt != own[:, None]].reshape(B, shape[d] - 1)  # every other code
            sign = np.where((own[:, None] == g.head[d]) | (alt == g.head[d]), 1.0, -1.0)
            cell = g.cell[base[:, None] + (alt - own[:, None]) * stride[d]]
            gu = np.where(cell < 0, 0.0, np.where(sign > 0, up_cap[cell], dn_cap[cell]))
            gd = np.where(cell < 0, 0.0, np.where(sign > 0, dn_cap[cell], up_cap[cell]))
            score = np.where(cell < 0, np.inf, price[cell]) + np.where(
                _meets(p, *(v.reshape(B, 1) for v in need), gu, gd),
                0.0, np.inf)
            pick = np.argsort(score, axis=1, kind="stable")[:, :m]
            at = [B] + [1] * nv
            at[1 + i] = m
            step.append(((np.take_along_axis(alt, pick, axis=1) - own[:, None]) * stride[d]).reshape(at))
            step_sign.append(np.take_along_axis(sign, pick, axis=1).reshape(at))
        # every box over the kept partners: (B, m_1, ..., m_nv), one kind of corner at a time
        total = np.zeros((B, *keep))
        gain_up = np.full((B, *keep), np.inf)
        gain_dn = np.full((B, *keep), np.inf)
        missing = np.zeros((B, *keep), dtype=bool)
        for S in kinds:
            flat = base.reshape((B,) + (1,) * nv)
            sign = np.ones((B,) + (1,) * nv)
            for i in S:
                flat = flat + step[i]
                sign = sign * step_sign[i]
            cell = g.cell[flat]
            absent = cell < 0
            cell = np.where(absent, 0, cell)
            missing |= absent
            total = total + price[cell]
            gain_up = np.minimum(gain_up, np.where(sign > 0, up_cap[cell], dn_cap[cell]))
            gain_dn = np.minimum(gain_dn, np.where(sign > 0, dn_cap[cell], up_cap[cell]))
        ok = ~missing & _meets(p, need[0], need[1], need[2], gain_up, gain_dn)
        total = np.where(ok, total, np.inf).reshape(B, n_box)
        best = np.argmin(total, axis=1)
        rows = np.arange(B)
        cost[s:s + B] = total[rows, best]
        pick = np.unravel_index(best, keep)
        for b, S in enumerate(kinds):
            flat = base.copy()
            sign = np.ones(B)
            for i in S:
                flat += step[i].reshape(B, -1)[rows, pick[i]]
                sign *= step_sign[i].reshape(B, -1)[rows, pick[i]]
            cell = g.cell[flat]
            corners[s:s + B, b] = np.where(cell < 0, 0, cell)
            signs[s:s + B, b] = sign
    return cost, corners, signs


def _meets(p: Problem, up, dn, spl, gain_up, gain_dn) -> np.ndarray:
    """Whether moves of ``gain_up``/``gain_dn`` meet the levels (either side will do under
    ``either_side``)."""
    ok_up = (up <= 0) | (gain_up >= up - TOL * np.maximum(1.0, up))
    ok_dn = (dn <= 0) | (gain_dn >= dn - TOL * np.maximum(1.0, dn))
    if p.either_side:
        return ((up > 0) & ok_up) | ((dn > 0) & ok_dn)
    return ok_up & ok_dn & ((spl <= 0) | (gain_up + gain_dn >= spl - TOL * np.maximum(1.0, spl)))


def local(p: Problem, say=None, deadline: Deadline = NEVER, g: Grid | None = None,
          cleanup_budget: float | None = None, avoid: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """A protected pattern of ``p`` (a problem without hierarchy): boxes, the heuristic's repair
    of the cells no box serves (and of the rule on equation sums), then the clean-up.

    ``cleanup_budget`` seconds for the clean-up (None: to the deadline, or without one a
    multiple of what building took, as the heuristic's); ``stats["clean"]`` says whether it tried every candidate. Cells of
    ``avoid`` are in no box; the repair hides them at their weight (make it high to hide them
    only where nothing else will do). Raises ``ValueError`` when
    ``p`` has a hierarchy."""
    t0 = time.perf_counter()
    g = grid_of(p) if g is None else g
    if g is None:
        raise ValueError("the local method needs a table without hierarchy (one total per dimension)")
    x0 = np.where(p.force_hidden, 1.0, 0.0)
    x, bx = boxes(p, g, x0, avoid)
    stats = {"boxes": int(bx.cells.size), "lps": 0, "cut_rounds": 0, "built": bx}
    if say:
        say(f"local: {bx.cells.size} boxes, {int((x > 0.5).sum())} hidden, {bx.uncovered.size} cell(s) without one")
    witnesses = bx.witnesses(p)
    failing = bx.uncovered
    if failing.size:
        # most cells without a box are protected all the same, by longer cycles through what the
        # boxes hid: batch moves certify them at once (a few LPs), where the heuristic's check
        # takes an LP per cell; the certified cells' moves are their witnesses
        rest = _only(p, failing)
        sep = Separator(rest)
        viol = filter_either_side(rest, check_certified(rest, sep, x, witnesses, NEVER, deadline))
        stats["lps"] += sep.n_lps
        failing = np.unique(np.asarray([v.cell for v in viol], dtype=np.int64))
    if failing.size or p.equation_sum_rule:
        # the heuristic checks and repairs just the requirements that fail, from the boxes' pattern
        x, st = heuristic(_only(p, failing), say, deadline, x0=x, cleanup_budget=0.0)
        stats["lps"] += st.get("lps", 0)
        stats["cut_rounds"] += st.get("cut_rounds", 0)
        for k in failing.tolist():
            witnesses[k] = {kd: None for kd, lv in (("up", p.up[k]), ("dn", p.dn[k]), ("spl", p.spl[k])) if lv > 0}
    if cleanup_budget is None:  # to the deadline, or a multiple of what building took without one
        cleanup_budget = (deadline.remaining() if deadline.limited else
                          max(schedule.CLEANUP_MIN, schedule.CLEANUP_PER_BUILD * (time.perf_counter() - t0)))
    stats["clean"] = False
    if cleanup_budget > 0:
        sep = Separator(p)
        until = min(Deadline(cleanup_budget), deadline) if deadline.limited else Deadline(cleanup_budget)
        if not p.equation_sum_rule:
            # first without LPs: a cell no box needs, once the boxes through it have others. The
            # cells protected otherwise (batch moves, the heuristic) are checked again after it
            # (batch moves, a few LPs): if one fails, the boxes' pattern stays as it was
            y, moved = rebox(p, g, x, bx, until)
            others = np.asarray(sorted(set(witnesses) - set(bx.cells.tolist())), dtype=np.int64)
            again: dict = {}
            if others.size:
                rest = _only(p, others)
                sep_rest = Separator(rest)
                kept = not filter_either_side(rest, check_certified(rest, sep_rest, y, again, NEVER, deadline))
                stats["lps"] += sep_rest.n_lps
            else:
                kept = True
            if kept:
                x, bx = y, moved
                stats["built"] = bx
                witnesses.update(bx.witnesses(p))
                witnesses.update(again)
        found: list = []
        x, stats["clean"] = cleanup(p, x, sep, witnesses, until, moves=found)
        stats["lps"] += sep.n_lps
        stats["moves"] = found[0]
    return x, stats


def rebox(p: Problem, g: Grid, x: np.ndarray, bx: Boxes, until: Deadline = NEVER) -> tuple[np.ndarray, Boxes]:
    """The clean-up by boxes alone: complementary cells, dearest first, are published where
    every box through them can be replaced by a box of other hidden cells (among a few
    partners per dimension), and those boxes take their place. Each box is its cell's proof,
    so every cell of ``bx`` stays protected with no LP (the caller checks its other cells
    again). Stops at ``until``."""
    x = x.copy()
    hidden = x > 0.5
    corners, signs = bx.corners.copy(), bx.signs.copy()
    vary = np.flatnonzero(np.asarray(g.shape) > 1)
    users: dict = {}  # cell -> the boxes through it
    for i, row in enumerate(corners.tolist()):
        for c in set(row):
            users.setdefault(c, set()).add(i)
    cand = np.flatnonzero(hidden & ~p.force_hidden)
    cand = cand[np.argsort(-p.weight[cand], kind="stable")]
    for j in cand.tolist():
        if until.expired():
            break
        through = sorted(users.get(j, ()))
        hidden[j] = False
        if through:
            cost, new, new_signs = _best(p, g, vary, bx.cells[through], hidden.astype(float), ~hidden,
                                         max_boxes=CERTIFY_BOXES)
            if not (cost == 0.0).all():
                hidden[j] = True
                continue
            for i, row, sg in zip(through, new, new_signs):
                for c in set(corners[i].tolist()):
                    users[c].discard(i)
                corners[i], signs[i] = row, sg
                for c in set(row.tolist()):
                    users.setdefault(c, set()).add(i)
        x[j] = 0.0
    return x, Boxes(bx.cells, corners, signs, bx.uncovered)


def _only(p: Problem, cells: np.ndarray) -> Problem:
    """``p`` with the protection levels of the sensitive cells other than ``cells`` set to 0
    (their requirements are met already)."""
    keep = np.zeros(p.n, dtype=bool)
    keep[cells] = True
    return dataclasses.replace(p, up=np.where(keep, p.up, 0.0), dn=np.where(keep, p.dn, 0.0),
                               spl=np.where(keep, p.spl, 0.0))
