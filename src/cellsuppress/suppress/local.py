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
take theirs, so later boxes reuse the cells of earlier ones. Where no single box carries a
level, a *fan* of boxes that share only the cell may (:data:`MAX_FAN`). A cell without a
witness (none feasible, or one dearer than :data:`DEFER` times the usual) is certified by batch
moves, and what they leave is repaired by the heuristic's cheapest attacker moves. The
clean-up then publishes, without LPs, the cells whose witnesses can be replaced by others
(:func:`rebox`), and un-hides the corners no requirement needs
(:func:`~cellsuppress.suppress.cleanup.cleanup`), the witnesses sparing most cells an LP.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline, tick, work
from . import schedule
from .batch import check_certified, moves_within
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

    @property
    def vary(self) -> np.ndarray:
        """The dimensions of more than one code: the only ones a box spans."""
        return np.flatnonzero(np.asarray(self.shape) > 1)


def grid_of(p: Problem) -> Grid | None:
    """The grid of ``p``, or None when ``p`` has a hierarchy (some dimension has more than one
    total), or no codes.

    >>> import pandas as pd
    >>> from cellsuppress import Table
    >>> from cellsuppress.rules import requirement
    >>> from cellsuppress.suppress.problem import build_problem
    >>> small = {(1, 1): 4, (3, 3): 35}            # one sensitive cell
    >>> df = pd.DataFrame([(a, b, small.get((a, b), 30)) for a in (1, 2, 3) for b in (1, 2, 3)],
    ...                   columns=["A", "B", "n"])
    >>> t = Table.from_frame(df, dims=["A", "B"], count="n")
    >>> p = build_problem(t, requirement(t, "strict", 20), "value", False)
    >>> g = grid_of(p)
    >>> g.shape, g.head.tolist()                   # a total and three codes per dimension, the total first
    ((4, 4), [0, 0])
    >>> int(g.cell[np.ravel_multi_index((1, 1), g.shape)]), t.frame.loc[5, ["A", "B"]].tolist()
    (5, ['1', '1'])
    """
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
    """The witnesses chosen: per covered sensitive cell, a move up (``[:, 0]``) and a move down
    (``[:, 1]``, written as a move up of the cell: the attacker makes its negative), each the
    corners of one box or of a fan of boxes, with their coefficients; one box serves both
    directions when it can. A fan of ``m`` boxes shares only the cell, each box carrying ``1/m``
    of the move, so its other corners need only ``1/m`` of the level. Unused slots repeat the
    cell with coefficient 0."""

    cells: np.ndarray  # the sensitive cells covered
    corners: np.ndarray  # (covered, 2, width) cell indices
    signs: np.ndarray  # (covered, 2, width) the moves' coefficients, the cell's summing to 1
    has: np.ndarray  # (covered, 2) which directions the witness holds (either side: maybe one)
    uncovered: np.ndarray  # sensitive cells with a requirement and no feasible witness

    def moves(self, p: Problem) -> sp.csr_matrix:
        """The witnesses' moves, one per row over ``p``'s cells, each in its own direction (the
        move down negated) and within every corner's capacity: a verifier clips a move to the
        bounds before it scales it, and a witness of one direction may not fit the other (a zero
        can rise but not fall). A witness of one box for both directions gives one row."""
        same = (self.corners[:, 0] == self.corners[:, 1]).all(axis=1) & (self.signs[:, 0] == self.signs[:, 1]).all(axis=1)
        use = self.has & np.stack([np.ones(same.size, dtype=bool), ~same], axis=1)
        k = self.corners[use]
        c = self.signs[use] * np.where(np.nonzero(use)[1] == 1, -1.0, 1.0)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(c > 0, p.cap_up[k] / c, np.where(c < 0, p.cap_dn[k] / -c, np.inf)).min(axis=1)
        c = c * np.minimum(room, 1.0)[:, None]
        M = sp.csr_matrix((c.ravel(), (np.repeat(np.arange(k.shape[0]), k.shape[1]), k.ravel())),
                          shape=(k.shape[0], p.n))
        M.eliminate_zeros()
        return M

    def witnesses(self, p: Problem) -> dict:
        """``cell -> {kind: corners}``, as :meth:`Separator.violations` fills them."""
        out = {}
        for k, c, h in zip(self.cells.tolist(), self.corners, self.has.tolist()):
            by_kind = {"up": c[0] if h[0] else None, "dn": c[1] if h[1] else None, "spl": c}
            out[k] = {kd: np.unique(by_kind[kd]) for kd, lv in _levels(p, k) if lv > 0 and by_kind[kd] is not None}
        return out


def _levels(p: Problem, k: int) -> tuple:
    """The requirements of cell ``k`` as :meth:`Separator.violations` names them, with their levels."""
    return (("up", p.up[k]), ("dn", p.dn[k]), ("spl", p.spl[k]))


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
# at most this many boxes in a fan: where the cells next to a sensitive one are small (many
# cells sensitive) no single box may carry its level, where two or three boxes sharing only the
# cell do, each a share of it
MAX_FAN = 3
# a witness dearer than this many times the median of the first round's paid ones is not taken:
# such a cell is left to the LPs (most are protected by longer cycles through the cells the others
# hid, and the rest get the cheapest attacker move over the whole problem, which a witness of
# totals costs many times over)
DEFER = 4.0
# the scoring of boxes as work on the clock of runs without a time limit (cellsuppress.clock.work,
# about 1e8 a second): boxes are numpy, which no solver counts, and without it the local method's
# clean-up by boxes (rebox) would have no end but its own. Each box entry (a corner of a box of a
# cell) counts ENTRY_WORK, each scoring SCORING_WORK more (a millisecond's overhead)
ENTRY_WORK = 1.0
SCORING_WORK = 1e5


def boxes(p: Problem, g: Grid, x: np.ndarray, avoid: np.ndarray | None = None,
          defer: float | None = None) -> tuple[np.ndarray, Boxes]:
    """``x`` with the cheapest witness (a box, or a fan of boxes per direction) of every
    sensitive cell hidden (cells whose requirements hidden cells already meet take no more),
    and the witnesses. No box hides a cell of ``avoid`` (a mask): a cell that needs one is
    left uncovered, and so is one whose witness costs more than ``defer`` times the median of
    the first round's paid ones (None: :data:`DEFER`; inf: every cell with a witness takes it).

    >>> import pandas as pd
    >>> from cellsuppress import Table
    >>> from cellsuppress.rules import requirement
    >>> from cellsuppress.suppress.problem import build_problem
    >>> small = {(1, 1): 4, (3, 3): 35}            # one sensitive cell
    >>> df = pd.DataFrame([(a, b, small.get((a, b), 30)) for a in (1, 2, 3) for b in (1, 2, 3)],
    ...                   columns=["A", "B", "n"])
    >>> t = Table.from_frame(df, dims=["A", "B"], count="n")
    >>> p = build_problem(t, requirement(t, "strict", 20), "value", False)
    >>> g = grid_of(p)
    >>> x, bx = boxes(p, g, p.force_hidden.astype(float))
    >>> np.flatnonzero(x > 0.5).tolist()          # the cell (A=1, B=1) and its box's other corners
    [5, 6, 9, 10]
    >>> bx.moves(p).toarray()[:, [5, 6, 9, 10]].tolist()
    [[1.0, -1.0, -1.0, 1.0]]
    """
    defer = DEFER if defer is None else defer
    x = (np.asarray(x) > 0.5).astype(float)
    avoid = np.zeros(p.n, dtype=bool) if avoid is None else np.asarray(avoid, dtype=bool)
    want = np.flatnonzero(p.has_requirement)
    got: list = []  # per round, the witnesses taken: (cells, corners, signs, has)
    if g.vary.size == 0:
        return x, _stacked(got, 1, want)
    open_ = want
    dear = None  # the cost above which a witness is deferred, set by the first round
    while open_.size:
        cost, corners, signs, has = _best(p, g, open_, x, avoid)
        free = cost == 0.0  # hidden cells already serve them
        if dear is None:
            paid = cost[np.isfinite(cost) & ~free]
            dear = defer * float(np.median(paid)) if paid.size and np.isfinite(defer) else np.inf
        take = np.isfinite(cost) & ~free & (cost <= dear)
        chosen = np.flatnonzero(free)
        if take.any():
            idx = np.flatnonzero(take)
            n_take = max(1, int(np.ceil(ROUND_SHARE * idx.size)))
            chosen = np.concatenate([chosen, idx[np.argsort(cost[idx], kind="stable")[:n_take]]])
        x[corners[chosen].ravel()] = 1.0
        got.append((open_[chosen], corners[chosen], signs[chosen], has[chosen]))
        if not take.any():
            break
        left = np.isfinite(cost)  # a cell with no witness now gets none later: more hidden adds no corner
        left[chosen] = False
        open_ = open_[left]
    covered = np.zeros(p.n, dtype=bool)
    for cells, *_ in got:
        covered[cells] = True
    return x, _stacked(got, _width(g), want[~covered[want]])


def _stacked(got: list, width: int, uncovered: np.ndarray) -> Boxes:
    """The witnesses of ``got`` (``(cells, corners, signs, has)`` per part) as one
    :class:`Boxes`."""
    if not got:
        return Boxes(np.zeros(0, np.int64), np.zeros((0, 2, width), np.int64), np.zeros((0, 2, width)),
                     np.zeros((0, 2), dtype=bool), uncovered)
    return Boxes(*(np.concatenate(part) for part in zip(*got)), uncovered)


def certificates(p: Problem, g: Grid, x: np.ndarray, built: Boxes | None = None,
                 found: sp.csr_matrix | None = None, batch: sp.csr_matrix | None = None) -> sp.csr_matrix:
    """Attacker moves of the pattern ``x``, one per row (a column per cell), for an audit to
    verify (:func:`~cellsuppress.auditing.audit`'s ``moves``): the witnesses ``built`` whose
    corners ``x`` still hides; for the sensitive cells they leave (the clean-up published a
    corner) a witness of hidden corners that meets the requirement, when one is among the
    cheapest partners per dimension (a few first, then as many as :func:`boxes` scores); for
    the cells still left, the moves ``found`` by the clean-up that move them furthest up and
    down; and the verified ``batch`` moves (those that certified the cells without a witness)
    whose cells ``x`` still hides. A cell without any is left to the audit's LPs.

    >>> import pandas as pd
    >>> from cellsuppress import Table
    >>> from cellsuppress.rules import requirement
    >>> from cellsuppress.suppress.problem import build_problem
    >>> small = {(1, 1): 4, (3, 3): 35}            # one sensitive cell
    >>> df = pd.DataFrame([(a, b, small.get((a, b), 30)) for a in (1, 2, 3) for b in (1, 2, 3)],
    ...                   columns=["A", "B", "n"])
    >>> t = Table.from_frame(df, dims=["A", "B"], count="n")
    >>> p = build_problem(t, requirement(t, "strict", 20), "value", False)
    >>> g = grid_of(p)
    >>> x, stats = local(p)
    >>> W = certificates(p, g, x, stats["built"], stats.get("moves"), stats["batch"])
    >>> W.toarray()[:, [5, 6, 9, 10]].tolist()    # the box that protects the cell
    [[1.0, -1.0, -1.0, 1.0]]
    """
    hidden = np.asarray(x) > 0.5
    want = hidden & p.has_requirement
    kept = sp.csr_matrix((0, p.n))
    if built is not None and built.cells.size:
        whole = hidden[built.corners].reshape(built.cells.size, -1).all(axis=1)
        kept = Boxes(built.cells[whole], built.corners[whole], built.signs[whole], built.has[whole],
                     built.uncovered).moves(p)
        want[built.cells[whole]] = False
    ks = np.flatnonzero(want)
    out = [kept]
    for max_boxes in (CERTIFY_BOXES, MAX_BOXES):  # the few cells the first search misses get a wider one
        if not ks.size or not g.vary.size:
            break
        cost, corners, signs, has = _best(p, g, ks, hidden.astype(float), ~hidden, max_boxes=max_boxes)
        ok = cost == 0.0
        out.append(Boxes(ks[ok], corners[ok], signs[ok], has[ok], ks[~ok]).moves(p))
        ks = ks[~ok]
    if ks.size and found is not None and found.shape[0]:
        out.append(_largest_moves(sp.csr_matrix(found), ks))
    if batch is not None and batch.shape[0]:
        out.append(moves_within(batch, hidden))
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


def _fan_size(keep) -> int:
    """The most boxes a fan over ``keep`` partners per dimension can hold (its boxes differ in
    every partner)."""
    return int(max(1, min(MAX_FAN, min(keep)))) if len(keep) else 1


def _width(g: Grid, max_boxes: int = MAX_BOXES) -> int:
    """The corner slots of one direction of a witness: a fan of boxes of ``2^D`` corners."""
    keep = _kept(g, max_boxes)
    return _fan_size(keep) << len(keep)


def _kept(g: Grid, max_boxes: int) -> list:
    """The partners kept per varying dimension: at most ``max_boxes`` boxes in all."""
    shape, vary = np.asarray(g.shape), g.vary
    per_dim = max(1, int(np.floor(max_boxes ** (1.0 / max(vary.size, 1)) + 1e-9)))
    return [int(min(shape[d] - 1, per_dim)) for d in vary]


def _best(p: Problem, g: Grid, ks: np.ndarray, x: np.ndarray, avoid: np.ndarray,
          max_boxes: int = MAX_BOXES):
    """The cheapest witness of each cell ``ks``: ``(cost, corners, signs, has)`` as
    :class:`Boxes` holds them (cost inf: none), among the boxes over at most ``max_boxes``
    partner choices per cell. A witness is one box that meets every level, or per direction a
    fan of up to :data:`MAX_FAN` boxes that differ in every partner (so they share only the
    cell, and each other corner carries its box's share of the level), whichever hides less.

    The cells are scored in batches of at most :data:`BATCH_ENTRIES` box entries, every step
    on the whole batch at once."""
    prices = _Prices.of(p, x, avoid)
    keep = _kept(g, max_boxes)
    fan = _fan_size(keep)
    n_box = int(np.prod(keep))
    n_corner = 1 << len(keep)
    width = fan * n_corner
    batch = max(1, BATCH_ENTRIES // n_box)
    # on the work clock of runs without a time limit (no solver counts this work)
    tick(SCORING_WORK + ENTRY_WORK * ks.size * n_box * width)
    kinds = _corner_kinds(len(keep))
    part = np.unravel_index(np.arange(n_box), keep)  # each box's partner index per dimension
    cost = np.full(ks.size, np.inf)
    corners = np.repeat(ks, 2 * width).reshape(ks.size, 2, width)
    signs = np.zeros((ks.size, 2, width))
    has = np.zeros((ks.size, 2), dtype=bool)
    for s in range(0, ks.size, batch):
        k = ks[s:s + batch]
        up, dn, spl = (v[k] for v in (p.up, p.dn, p.spl))
        near = _Partners.of(p, g, keep, kinds, fan, k, prices)
        total, gain_up, gain_dn = near.score(prices)
        own_up, own_dn = prices.up_cap[k][:, None], prices.dn_cap[k][:, None]
        # one box for both directions
        ok = _meets(p, up[:, None], dn[:, None], spl[:, None], np.minimum(gain_up, own_up), np.minimum(gain_dn, own_dn))
        one = np.where(ok, total, np.inf)
        one_pick = np.argmin(one, axis=1)
        one_cost = one[np.arange(k.size), one_pick]
        fan_up, picks_up = _cheapest_fan(up, gain_up, own_up, total, part, fan)
        fan_dn, picks_dn = _cheapest_fan(dn, gain_dn, own_dn, total, part, fan)
        two_cost, two_has = _fans_cost(p, up, dn, spl, fan_up, fan_dn)
        single = one_cost <= two_cost
        cost[s:s + batch] = np.minimum(one_cost, two_cost)
        cs, ss = corners[s:s + batch], signs[s:s + batch]
        bc, bs = near.box(one_pick)
        for d, fan_picks in enumerate((picks_up, picks_dn)):
            cs[single, d, :n_corner] = bc[single]
            ss[single, d, :n_corner] = bs[single]
            n_fan = (fan_picks >= 0).sum(axis=1)
            for r in range(fan):
                use = ~single & two_has[:, d] & (fan_picks[:, r] >= 0)
                if not use.any():
                    continue
                fc, fs = near.box(fan_picks[:, r])
                cs[use, d, r * n_corner:(r + 1) * n_corner] = fc[use]
                ss[use, d, r * n_corner:(r + 1) * n_corner] = fs[use] / n_fan[use, None]
        has[s:s + batch] = np.where(single[:, None], True, two_has)
    return cost, corners, signs, has


@dataclass
class _Prices:
    """What a box pays and gains at each cell for a pattern ``x``: ``price`` 0 for a hidden
    cell, inf for one that must stay published (forced, or to ``avoid``), else its weight; the
    capacities are 0 where a cell must stay published, so a box through it moves nothing."""

    up_cap: np.ndarray
    dn_cap: np.ndarray
    price: np.ndarray

    @classmethod
    def of(cls, p: Problem, x: np.ndarray, avoid: np.ndarray) -> "_Prices":
        hidden = x > 0.5
        blocked = (p.blocked | avoid) & ~hidden
        return cls(up_cap=np.where(blocked, 0.0, p.cap_up), dn_cap=np.where(blocked, 0.0, p.cap_dn),
                   price=np.where(hidden, 0.0, np.where(blocked, np.inf, p.weight)))


@dataclass
class _Partners:
    """The partners kept for a batch of cells ``k``: per varying dimension ``i``, ``step[i]``
    the flat offsets from the cell's grid position ``base`` to its partners' and ``sign[i]``
    their moves' signs, each shaped ``(B, 1, .., m_i, .., 1)`` so that a sum over dimensions
    broadcasts to every box ``(B, m_1, ..., m_nv)``."""

    g: Grid
    k: np.ndarray
    keep: list
    kinds: list  # per corner, as _corner_kinds
    base: np.ndarray
    step: list
    sign: list

    @classmethod
    def of(cls, p: Problem, g: Grid, keep: list, kinds: list, fan: int, k: np.ndarray,
           prices: _Prices) -> "_Partners":
        """Per dimension the cheapest partners by the price of the edge cell next to each cell
        of ``k`` (one that cannot carry even a fan's share of a level is no use; among equal
        prices, one whose edge carries a whole box first)."""
        B = k.size
        c = g.coords[k]  # (B, D)
        base = np.ravel_multi_index(tuple(c.T), g.shape)
        up, dn, spl = (v[k] for v in (p.up, p.dn, p.spl))
        shape = np.asarray(g.shape)
        stride = np.array([int(np.prod(shape[d + 1:])) for d in range(shape.size)], dtype=np.int64)  # C order
        nv = len(keep)
        step, step_sign = [], []
        for i, (d, m) in enumerate(zip(g.vary, keep)):
            own = c[:, d]
            alt = np.arange(shape[d])[None, :].repeat(B, axis=0)
            alt = alt[alt != own[:, None]].reshape(B, shape[d] - 1)  # every other code
            sign = np.where((own[:, None] == g.head[d]) | (alt == g.head[d]), 1.0, -1.0)
            cell = g.cell[base[:, None] + (alt - own[:, None]) * stride[d]]
            gu = np.where(cell < 0, 0.0, np.where(sign > 0, prices.up_cap[cell], prices.dn_cap[cell]))
            gd = np.where(cell < 0, 0.0, np.where(sign > 0, prices.dn_cap[cell], prices.up_cap[cell]))
            some = _meets(p, up[:, None] / fan, dn[:, None] / fan, 0.0 * spl[:, None], gu, gd)
            whole = _meets(p, up[:, None], dn[:, None], spl[:, None], gu, gd)
            score = np.where(cell < 0, np.inf, prices.price[cell]) + np.where(some, 0.0, np.inf)
            pick = np.lexsort((~whole, score), axis=1)[:, :m]
            at = [B] + [1] * nv
            at[1 + i] = m
            step.append(((np.take_along_axis(alt, pick, axis=1) - own[:, None]) * stride[d]).reshape(at))
            step_sign.append(np.take_along_axis(sign, pick, axis=1).reshape(at))
        return cls(g=g, k=k, keep=keep, kinds=kinds, base=base, step=step, sign=step_sign)

    def score(self, prices: _Prices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every box's ``(total, gain_up, gain_dn)``, each ``(B, boxes)``: the price of its
        corners (inf where one is missing), and the least move its corners other than the cell
        allow up and down (which a fan's boxes share).

        A corner that differs from the cell in the dimensions ``S`` depends only on the
        partners in ``S``, so each kind of corner is looked up once per combination of those
        partners (``prod (1 + m_d)`` look-ups per cell for ``m_d`` partners per dimension,
        where a look-up per corner of every box takes ``2^D prod m_d``) and broadcast over the
        others."""
        B, nv = self.k.size, len(self.keep)
        total = np.zeros((B, *self.keep))
        gain_up = np.full((B, *self.keep), np.inf)
        gain_dn = np.full((B, *self.keep), np.inf)
        missing = np.zeros((B, *self.keep), dtype=bool)
        for S in self.kinds[1:]:
            flat = self.base.reshape((B,) + (1,) * nv)
            sign = np.ones((B,) + (1,) * nv)
            for i in S:
                flat = flat + self.step[i]
                sign = sign * self.sign[i]
            cell = self.g.cell[flat]
            absent = cell < 0
            cell = np.where(absent, 0, cell)
            missing |= absent
            total = total + prices.price[cell]
            gain_up = np.minimum(gain_up, np.where(sign > 0, prices.up_cap[cell], prices.dn_cap[cell]))
            gain_dn = np.minimum(gain_dn, np.where(sign > 0, prices.dn_cap[cell], prices.up_cap[cell]))
        n_box = int(np.prod(self.keep))
        total = np.where(missing, np.inf, total + prices.price[self.k].reshape((B,) + (1,) * nv)).reshape(B, n_box)
        return total, gain_up.reshape(B, n_box), gain_dn.reshape(B, n_box)

    def box(self, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The corners and signs ``(B, 2^D)`` of the boxes ``pick`` (one flat box index per
        cell; a missing corner is written as the cell)."""
        B = self.k.size
        rows = np.arange(B)
        at = np.unravel_index(np.where(pick < 0, 0, pick), self.keep)
        kinds = self.kinds
        out_c = np.empty((B, len(kinds)), dtype=np.int64)
        out_s = np.empty((B, len(kinds)))
        for b, S in enumerate(kinds):
            flat = self.base.copy()
            sign = np.ones(B)
            for i in S:
                flat += self.step[i].reshape(B, -1)[rows, at[i]]
                sign *= self.sign[i].reshape(B, -1)[rows, at[i]]
            cell = self.g.cell[flat]
            out_c[:, b] = np.where(cell < 0, self.k, cell)
            out_s[:, b] = sign
        return out_c, out_s


def _corner_kinds(nv: int) -> list:
    """Per corner ``b`` of a box over ``nv`` varying dimensions, those where it differs from the
    cell (indices into them): the bits set in ``b``; corner 0 is the cell."""
    return [np.flatnonzero((b >> np.arange(nv)) & 1) for b in range(1 << nv)]


def _cheapest_fan(level: np.ndarray, gain: np.ndarray, own: np.ndarray, total: np.ndarray, part: tuple,
                  fan: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the cheapest fan of one direction: ``(cost, picks)``, picks ``(B, fan)`` flat
    box indices (-1: unused). For each fan size ``m`` its boxes are taken cheapest first, each
    differing from those taken in every partner (``part``: each box's partner index per
    dimension), and each must move the cell's ``level / m`` (its corners other than the cell)
    while the cell itself moves the whole level. A cell without a level costs 0."""
    B, n_box = total.shape
    rows = np.arange(B)
    best = np.where(level > 0, np.inf, 0.0)
    best_picks = np.full((B, fan), -1, dtype=np.int64)
    for m in range(1, fan + 1):
        can = _reaches(gain, (level / m)[:, None]) & _reaches(own, level[:, None])
        left = np.where(can, total, np.inf)
        got = np.zeros(B)
        picks = np.full((B, fan), -1, dtype=np.int64)
        for r in range(m):
            j = np.argmin(left, axis=1)
            got = got + left[rows, j]
            picks[:, r] = j
            clash = np.zeros((B, n_box), dtype=bool)
            for pd in part:
                clash |= pd[None, :] == pd[j][:, None]
            left = np.where(clash, np.inf, left)
        better = (level > 0) & (got < best)
        best = np.where(better, got, best)
        best_picks[better] = picks[better]
    return best, best_picks


def _fans_cost(p: Problem, up, dn, spl, fan_up, fan_dn) -> tuple[np.ndarray, np.ndarray]:
    """The cost of a witness of a fan per direction, and which directions it holds: under
    ``either_side`` the cheaper side that has a level, else both sides' fans (levels met on
    both sides meet a spread up to their sum)."""
    if p.either_side:
        use_up = (up > 0) & ((dn <= 0) | (fan_up <= fan_dn))
        cost = np.where(use_up, fan_up, np.where(dn > 0, fan_dn, np.inf))
        return cost, np.stack([use_up, ~use_up & (dn > 0)], axis=1)
    fits = (spl <= 0) | _reaches(up + dn, spl)
    cost = np.where(fits & ((up > 0) | (dn > 0)), fan_up + fan_dn, np.inf)
    return cost, np.stack([up > 0, dn > 0], axis=1)


def _reaches(gain, level):
    """Whether ``gain`` reaches ``level`` (within a relative tolerance)."""
    return gain >= level - TOL * np.maximum(1.0, level)


def _meets(p: Problem, up, dn, spl, gain_up, gain_dn) -> np.ndarray:
    """Whether moves of ``gain_up``/``gain_dn`` meet the levels (either side will do under
    ``either_side``)."""
    ok_up = (up <= 0) | _reaches(gain_up, up)
    ok_dn = (dn <= 0) | _reaches(gain_dn, dn)
    if p.either_side:
        return ((up > 0) & ok_up) | ((dn > 0) & ok_dn)
    return ok_up & ok_dn & ((spl <= 0) | _reaches(gain_up + gain_dn, spl))


def local(p: Problem, say=None, deadline: Deadline = NEVER, g: Grid | None = None,
          cleanup_budget: float | None = None, avoid: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """A protected pattern of ``p`` (a problem without hierarchy): boxes, the heuristic's repair
    of the cells no box serves (and of the rule on equation sums), then the clean-up.

    ``cleanup_budget`` seconds for the clean-up (None: to the deadline, or without one a
    multiple of the work building took, as the heuristic's: counted, not timed); ``stats["clean"]`` says whether it tried every candidate. Cells of
    ``avoid`` are in no box; the repair hides them at their weight (make it high to hide them
    only where nothing else will do). Raises ``ValueError`` when
    ``p`` has a hierarchy.

    >>> import pandas as pd
    >>> from cellsuppress import Table
    >>> from cellsuppress.rules import requirement
    >>> from cellsuppress.suppress.problem import build_problem
    >>> small = {(1, 1): 4, (3, 3): 35}            # one sensitive cell
    >>> df = pd.DataFrame([(a, b, small.get((a, b), 30)) for a in (1, 2, 3) for b in (1, 2, 3)],
    ...                   columns=["A", "B", "n"])
    >>> t = Table.from_frame(df, dims=["A", "B"], count="n")
    >>> p = build_problem(t, requirement(t, "strict", 20), "value", False)
    >>> x, stats = local(p)
    >>> np.flatnonzero(x > 0.5).tolist(), stats["boxes"], stats["clean"]
    ([5, 6, 9, 10], 1, True)
    """
    w0 = work()
    g = grid_of(p) if g is None else g
    if g is None:
        raise ValueError("the local method needs a table without hierarchy (one total per dimension)")
    x0 = np.where(p.force_hidden, 1.0, 0.0)
    x, bx = boxes(p, g, x0, avoid)
    stats = {"boxes": int(bx.cells.size), "lps": 0, "cut_rounds": 0, "built": bx}
    if say:
        say(f"local: {bx.cells.size} boxes, {int((x > 0.5).sum())} hidden, {bx.uncovered.size} cell(s) without one")
    witnesses = bx.witnesses(p)
    batch: list = []  # the verified batch moves that certify the cells without a witness
    failing = bx.uncovered
    if failing.size:
        # most cells without a box are protected all the same, by longer cycles through what the
        # boxes hid: batch moves certify them at once (a few LPs), where the heuristic's check
        # takes an LP per cell; the certified cells' moves are their witnesses
        rest = p.only(failing)
        sep = Separator(rest)
        viol = filter_either_side(rest, check_certified(rest, sep, x, witnesses, NEVER, deadline, moves=batch))
        stats["lps"] += sep.n_lps
        failing = np.unique(np.asarray([v.cell for v in viol], dtype=np.int64))
    if failing.size or p.equation_sum_rule:
        # the heuristic checks and repairs just the requirements that fail, from the boxes' pattern
        x, st = heuristic(p.only(failing), say, deadline, x0=x, cleanup_budget=0.0)
        stats["lps"] += st.get("lps", 0)
        stats["cut_rounds"] += st.get("cut_rounds", 0)
        for k in failing.tolist():
            witnesses[k] = {kd: None for kd, lv in _levels(p, k) if lv > 0}
    if cleanup_budget is None and not deadline.limited:
        # as the heuristic's: in proportion to the work of the build, the same on any machine
        until = Deadline.of_work(max(schedule.amount(deadline, schedule.CLEANUP_MIN),
                                     schedule.CLEANUP_PER_BUILD * (work() - w0)))
    else:
        until = deadline.cap(deadline.remaining() if cleanup_budget is None else cleanup_budget)
    stats["clean"] = False
    if cleanup_budget is None or cleanup_budget > 0:
        sep = Separator(p)
        if not p.equation_sum_rule:
            # first without LPs: a cell no box needs, once the boxes through it have others. The
            # cells protected otherwise (batch moves, the heuristic) are checked again after it
            # (batch moves, a few LPs): if one fails, the boxes' pattern stays as it was
            y, moved = rebox(p, g, x, bx, until)
            others = np.asarray(sorted(set(witnesses) - set(bx.cells.tolist())), dtype=np.int64)
            again: dict = {}
            if others.size:
                rest = p.only(others)
                sep_rest = Separator(rest)
                kept = not filter_either_side(rest, check_certified(rest, sep_rest, y, again, NEVER, deadline,
                                                                    moves=batch))
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
    stats["batch"] = sp.csr_matrix(sp.vstack(batch, format="csr")) if batch else None
    return x, stats


def rebox(p: Problem, g: Grid, x: np.ndarray, bx: Boxes, until: Deadline = NEVER) -> tuple[np.ndarray, Boxes]:
    """The clean-up by boxes alone: complementary cells, dearest first, are published where
    every witness through them can be replaced by a witness of other hidden cells (among the
    partners :func:`boxes` scores), and those take their place. Each witness is its cell's proof, so
    every cell of ``bx`` stays protected with no LP (the caller checks its other cells again).
    Stops at ``until``.

    >>> import pandas as pd
    >>> from cellsuppress import Table
    >>> from cellsuppress.rules import requirement
    >>> from cellsuppress.suppress.problem import build_problem
    >>> small = {(1, 1): 4, (3, 3): 35}            # one sensitive cell
    >>> df = pd.DataFrame([(a, b, small.get((a, b), 30)) for a in (1, 2, 3) for b in (1, 2, 3)],
    ...                   columns=["A", "B", "n"])
    >>> t = Table.from_frame(df, dims=["A", "B"], count="n")
    >>> p = build_problem(t, requirement(t, "strict", 20), "value", False)
    >>> g = grid_of(p)
    >>> x, bx = boxes(p, g, p.force_hidden.astype(float), avoid=np.isin(np.arange(p.n), [6, 9]))
    >>> np.flatnonzero(x > 0.5).tolist()          # a dearer box, through (A=3, B=3)
    [5, 7, 13, 15]
    >>> x[[6, 9, 10]] = 1.0                        # hidden for some other reason
    >>> y, moved = rebox(p, g, x, bx)
    >>> np.flatnonzero(y > 0.5).tolist(), moved.corners[0, 0, :4].tolist()
    ([5, 6, 9, 10], [5, 9, 6, 10])
    """
    x = x.copy()
    hidden = x > 0.5
    corners, signs, has = bx.corners.copy(), bx.signs.copy(), bx.has.copy()
    users: dict = {}  # cell -> the witnesses through it

    def enter(i: int, row: np.ndarray) -> None:
        for c in set(row.ravel().tolist()):
            users.setdefault(c, set()).add(i)

    for i, row in enumerate(corners):
        enter(i, row)
    cand = np.flatnonzero(hidden & ~p.force_hidden)
    cand = cand[np.argsort(-p.weight[cand], kind="stable")]
    for j in cand.tolist():
        if until.expired():
            break
        through = sorted(users.get(j, ()))
        hidden[j] = False
        if through:
            # as many partners as the witnesses were chosen among: a few per dimension (as
            # certificates search) find a replacement for far fewer cells
            cost, new, new_signs, new_has = _best(p, g, bx.cells[through], hidden.astype(float), ~hidden)
            if not (cost == 0.0).all():
                hidden[j] = True
                continue
            if new.shape[2] < corners.shape[2]:  # fewer partners, smaller fans: pad with the cell
                pad = corners.shape[2] - new.shape[2]
                new = np.concatenate([new, np.repeat(new[:, :, :1], pad, axis=2)], axis=2)
                new_signs = np.concatenate([new_signs, np.zeros(new_signs.shape[:2] + (pad,))], axis=2)
            for i, row, sg, h in zip(through, new, new_signs, new_has):
                for c in set(corners[i].ravel().tolist()):
                    users[c].discard(i)
                corners[i], signs[i], has[i] = row[:, :corners.shape[2]], sg[:, :corners.shape[2]], h
                enter(i, row)
        x[j] = 0.0
    return x, Boxes(bx.cells, corners, signs, has, bx.uncovered)
