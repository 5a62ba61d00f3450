"""Certify many protection requirements of a pattern at once, with verified attacker moves.

An attacker move is a vector ``z`` with ``M z = 0``, ``-cap_dn <= z <= cap_up`` on the
hidden cells and ``0`` on the published ones: ``a + z`` is a table the attacker cannot
rule out. A move with ``z_k >= level`` proves that the interval of cell ``k`` reaches
``a_k + level`` (upwards; ``z_k <= -level`` downwards). The exact audit solves one or two
LPs per sensitive cell; here one LP per block and direction finds a move that serves many
cells at once:

    max  sum_k t_k   s.t.  M z = 0,  t_k <= 1,  t_k <= d * z_k / level_k,  bounds on z

over the requirements of direction ``d`` not certified yet, repeated on what is left while
it certifies enough. Each move also serves the other direction: if ``z`` is feasible, so is
``s z`` for every ``s`` in ``[-s_neg, s_pos]`` (the largest factors the bounds allow; ``z``
and ``-z`` are in the null space of ``M`` alike).

Every certificate is checked before it counts: the move (after scaling) lies within the
bounds and ``|M w| <= 1e-9 |M| |w| + 1e-7`` row by row, and it moves the cell by at least
its level (relative tolerance 1e-9). Requirements no move certifies are left to the exact
per-cell LPs of the caller: a requirement is never declared held without a verified move.

>>> import numpy as np, scipy.sparse as sp
>>> # a 2x2 table: cells x11 x12 x21 x22, row totals 4-5, column totals 6-7
>>> M = sp.csr_matrix(np.array([[1., 1, 0, 0, -1, 0, 0, 0], [0, 0, 1, 1, 0, -1, 0, 0],
...                             [1, 0, 1, 0, 0, 0, -1, 0], [0, 1, 0, 1, 0, 0, 0, -1]]))
>>> a = np.array([4., 6, 5, 4, 10, 9, 9, 10])
>>> hidden = np.arange(8) < 4                     # the four inner cells
>>> c = certify(M, hidden, cap_up=np.full(8, np.inf), cap_dn=a, need_up=np.where(hidden, 3., 0),
...             need_dn=np.where(hidden, 4., 0))
>>> c.gain_up[hidden].tolist(), c.gain_dn[hidden].tolist()
([5.0, 4.0, 4.0, 5.0], [4.0, 5.0, 5.0, 4.0])
>>> c.held_levels(np.where(hidden, 3., 0), np.where(hidden, 4., 0))[hidden].tolist()
[True, True, True, True]
>>> c.held_levels(np.where(hidden, 5., 0), np.zeros(8))[hidden].tolist()   # x12, x21: 4 at most
[True, False, False, True]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..solvers import HighsModel, LinearProgram
from ..tables.linear import block_members, hidden_blocks

__all__ = ["Certificate", "certify", "certify_levels", "level_targets", "negligible"]

FEAS_REL = 1e-9   # residual of M w relative to |M| |w|, row by row
FEAS_ABS = 1e-7   # plus this much absolutely
LEVEL_REL = 1e-9  # a move may fall this far short of a level (relative, at least 1)
MARGIN = 1e-7     # the LP aims this much (relative) above each level
S_MAX = 1e6       # largest factor a move is scaled by
NEGLIGIBLE = 1e-12  # an entry this small against its move's largest is an LP's noise, dropped
# seeds are verified this many entries at a time: a part's products with the equations are held
# at once (with its scaled and flipped forms, about four times its entries per equation it meets)
SEED_ENTRIES = 1 << 18


@dataclass
class Certificate:
    """Verified moves per cell and direction.

    ``gain_up[k]`` / ``gain_dn[k]``: the largest upward / downward move of cell ``k`` among the
    verified moves (0 where none); ``src_up[k]`` / ``src_dn[k]`` index ``supports``, the cells each
    of those moves uses (-1: none), and ``values[i]`` how far the move ``i`` moves them (so that
    it can be verified again elsewhere); ``seeded[i]`` whether move ``i`` is one of the seeds
    (restricted to a block and scaled) rather than an LP's. ``lps`` and ``seconds`` count the
    work done.
    """

    gain_up: np.ndarray
    gain_dn: np.ndarray
    src_up: np.ndarray
    src_dn: np.ndarray
    supports: list = field(default_factory=list)
    values: list = field(default_factory=list)
    seeded: list = field(default_factory=list)
    lps: int = 0
    seconds: float = 0.0

    def reaches(self, need: np.ndarray, direction: float) -> np.ndarray:
        """Cells whose verified move in ``direction`` (+1 up, -1 down) reaches ``need`` (> 0)."""
        need = np.asarray(need, dtype=float)
        gain = self.gain_up if direction > 0 else self.gain_dn
        with np.errstate(invalid="ignore"):
            return (need > 0) & np.isfinite(need) & (gain >= need - LEVEL_REL * np.maximum(1.0, need))

    def held_levels(self, up, dn, spl=None, either: bool = False) -> np.ndarray:
        """Per cell: every requirement (``up``, ``dn``, ``spl``; 0 = none) met by a verified move.

        With ``either`` (an either-side preset such as ``policy``) one of ``up``/``dn`` is enough. Cells with no
        requirement at all are False (nothing was certified for them).
        """
        up = np.nan_to_num(np.asarray(up, dtype=float), nan=0.0)
        dn = np.nan_to_num(np.asarray(dn, dtype=float), nan=0.0)
        spl = np.zeros_like(up) if spl is None else np.asarray(spl, dtype=float)
        ok_up, ok_dn = self.reaches(up, 1.0), self.reaches(dn, -1.0)
        if either:
            return ok_up | ok_dn
        any_req = (up > 0) | (dn > 0) | (spl > 0)
        with np.errstate(invalid="ignore"):
            ok_spl = (spl <= 0) | (self.gain_up + self.gain_dn >= spl - LEVEL_REL * np.maximum(1.0, spl))
        return any_req & (ok_up | (up <= 0)) & (ok_dn | (dn <= 0)) & ok_spl

    def moves(self, n: int, seeds: bool = True) -> sp.csr_matrix:
        """The verified moves, one per row over ``n`` cells; without ``seeds`` only those the LPs
        found (a caller that hands the seeds on has the others already: each is a seed's part in
        one block, scaled, which a later certificate makes of the seed again)."""
        keep = range(len(self.supports)) if seeds else [i for i, s in enumerate(self.seeded) if not s]
        if not keep:
            return sp.csr_matrix((0, n))
        indptr = np.concatenate([[0], np.cumsum([self.supports[i].size for i in keep])])
        return sp.csr_matrix((np.concatenate([self.values[i] for i in keep]),
                              np.concatenate([self.supports[i] for i in keep]), indptr), shape=(len(keep), n))

    def witness(self, k: int, direction: float) -> np.ndarray | None:
        """Cells the move certifying cell ``k`` in ``direction`` uses (None: no move)."""
        i = (self.src_up if direction > 0 else self.src_dn)[k]
        return None if i < 0 else self.supports[i]


def certify(M: sp.spmatrix, hidden: np.ndarray, cap_up: np.ndarray, cap_dn: np.ndarray,
            need_up: np.ndarray, need_dn: np.ndarray, either: np.ndarray | None = None,
            seeds: list | None = None, time_limit: float | None = None, min_new: int = 1,
            max_rounds: int = 20, focus: int = 0, first_failure: bool = False) -> Certificate:
    """Find verified attacker moves that meet many of the requirements ``need_up``/``need_dn``.

    ``M`` (m x n) are the equations, ``hidden`` the pattern, ``cap_up``/``cap_dn`` how far each
    cell may move (inf allowed), ``need_up``/``need_dn`` the required moves per cell (0 or NaN:
    none). With ``either`` (a boolean per cell) one direction is enough for that cell, so once
    one is certified the other is no longer pursued. ``seeds`` are candidate moves to try first,
    e.g. moves found elsewhere: a list of arrays of length n, or a sparse matrix with one move
    per row (n columns); each is verified like the LPs' moves before it counts, a part at a time,
    and those after the part that met every requirement of their block are not looked at (nor
    do their gains count). The batch LPs stop after ``time_limit`` seconds, or
    when a round (both directions) certifies fewer than ``min_new`` requirements; then up to
    ``focus`` LPs aim at one open requirement each (and at the others a little), so that only
    requirements that fail, or that ``focus`` did not reach, are left uncertified. With
    ``first_failure`` it stops at the first requirement a focused LP cannot certify (the caller
    only wants to know whether all of them hold).
    """
    t0 = time.perf_counter()
    stop = None if time_limit is None else t0 + time_limit
    M = sp.csr_matrix(M, dtype=float)
    n = M.shape[1]
    hidden = np.asarray(hidden, dtype=bool)
    cap_up = np.asarray(cap_up, dtype=float)
    cap_dn = np.asarray(cap_dn, dtype=float)
    need = {1.0: _clean(need_up, hidden), -1.0: _clean(need_dn, hidden)}
    either = np.zeros(n, dtype=bool) if either is None else np.asarray(either, dtype=bool)
    cert = Certificate(np.zeros(n), np.zeros(n), np.full(n, -1), np.full(n, -1))
    # a requirement beyond the cell's own capacity can never be met
    need[1.0][need[1.0] > cap_up * (1 + LEVEL_REL) + LEVEL_REL] = 0.0
    need[-1.0][need[-1.0] > cap_dn * (1 + LEVEL_REL) + LEVEL_REL] = 0.0
    wanted = (need[1.0] > 0) | (need[-1.0] > 0)
    if not wanted.any():
        return cert
    nb, bcell, brow = hidden_blocks(M, hidden)
    blocks = np.unique(bcell[wanted])
    seeds = _seed_matrix(seeds, n)
    cell_order, cell_cuts = block_members(bcell, nb)
    row_order, row_cuts = block_members(brow, nb)
    if seeds is not None:
        # a move goes to every block it touches, restricted to that block's cells (blocks share
        # no equation, so each part of a move is a move); the rows by block, the columns by a lookup
        R = seeds.shape[0]
        blk_of = bcell[seeds.indices]
        # a move's entries lie mostly in one block: only where the block changes along the
        # stored entries (or a row starts) is a (block, row) pair new, and only those are sorted
        first = np.ones(blk_of.size, dtype=bool)
        first[1:] = blk_of[1:] != blk_of[:-1]
        first[seeds.indptr[:-1][np.diff(seeds.indptr) > 0]] = True
        at = np.flatnonzero(first & (blk_of >= 0))
        row_of = np.searchsorted(seeds.indptr, at, side="right") - 1
        pair = np.unique(blk_of[at] * R + row_of)
        seed_order = pair % R
        seed_cuts = np.searchsorted(pair // R, np.arange(nb + 1))
        where = np.full(n, -1, dtype=np.int64)
    for b in blocks:
        if b < 0:
            continue
        cols = cell_order[cell_cuts[b]:cell_cuts[b + 1]]
        rows = row_order[row_cuts[b]:row_cuts[b + 1]]
        blk = _Block(M[rows][:, cols], cols, -cap_dn[cols], cap_up[cols], cert)
        need_b = {d: v[cols] for d, v in need.items()}
        if seeds is not None and seed_cuts[b + 1] > seed_cuts[b]:
            where[cols] = np.arange(cols.size)
            blk.offer_seeds(seeds, seed_order[seed_cuts[b]:seed_cuts[b + 1]], where, need_b, either[cols])
            where[cols] = -1
        if not blk.run(need_b, either[cols], stop, min_new, max_rounds, focus, first_failure):
            break
    cert.seconds = time.perf_counter() - t0
    return cert


def certify_levels(M, hidden, cap_up, cap_dn, up, dn, spl=None, either: bool = False,
                   **kw) -> tuple[Certificate, np.ndarray]:
    """:func:`certify` for protection levels: also steers toward sliding levels, and returns
    ``(certificate, held)`` with ``held`` from :meth:`Certificate.held_levels`.

    A sliding level ``spl`` larger than ``up + dn`` is aimed at by asking for ``spl - dn`` upwards
    (or ``spl - up`` downwards when the cell cannot go that far up); the verdict still checks
    ``gain_up + gain_dn >= spl``.
    """
    up = np.maximum(np.nan_to_num(np.asarray(up, dtype=float), nan=0.0), 0.0)
    dn = np.maximum(np.nan_to_num(np.asarray(dn, dtype=float), nan=0.0), 0.0)
    spl = np.zeros_like(up) if spl is None else np.maximum(np.asarray(spl, dtype=float), 0.0)
    t_up, t_dn = level_targets(up, dn, spl, cap_up)
    n = up.size
    cert = certify(M, hidden, cap_up, cap_dn, t_up, t_dn, either=np.full(n, bool(either)), **kw)
    held = cert.held_levels(up, dn, spl, either=either) & np.asarray(hidden, dtype=bool)
    return cert, held


def level_targets(up, dn, spl, cap_up) -> tuple[np.ndarray, np.ndarray]:
    """Moves to aim at per cell for levels ``up``/``dn`` and a sliding level ``spl``: a sliding
    level beyond ``up + dn`` asks for ``spl - dn`` upwards, or ``spl - up`` downwards when the
    cell cannot go that far up."""
    up = np.maximum(np.nan_to_num(np.asarray(up, dtype=float), nan=0.0), 0.0)
    dn = np.maximum(np.nan_to_num(np.asarray(dn, dtype=float), nan=0.0), 0.0)
    spl = np.maximum(np.asarray(spl, dtype=float), 0.0)
    t_up, t_dn = up.copy(), dn.copy()
    short = spl > up + dn
    if short.any():
        room_up = np.asarray(cap_up, dtype=float) >= spl - dn
        t_up = np.where(short & room_up, np.maximum(up, spl - dn), t_up)
        t_dn = np.where(short & ~room_up, np.maximum(dn, spl - up), t_dn)
    return t_up, t_dn


def _clean(need, hidden) -> np.ndarray:
    need = np.nan_to_num(np.asarray(need, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    return np.where(hidden & (need > 0), need, 0.0)


class _Block:
    """One block of hidden cells: its equations, bounds, and the moves found on it."""

    def __init__(self, A: sp.csr_matrix, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray, cert: Certificate):
        self.A = sp.csr_matrix(A)
        self.absA = abs(self.A)
        self.cols = cols
        self.lo, self.hi = lo, hi
        self.cert = cert
        # a table outside its own bounds: z = 0 is not a move, so no move may be scaled
        self.scalable = bool((lo <= 0).all() and (hi >= 0).all())

    def offer(self, z: np.ndarray | None) -> None:
        """Verify ``z`` (and its scaled and flipped forms) and record the gains it proves."""
        if z is None or z.shape != self.lo.shape or not np.all(np.isfinite(z)):
            return
        self.offer_many(sp.csr_matrix(z.reshape(1, -1)))

    def offer_seeds(self, S: sp.csr_matrix, rows: np.ndarray, where: np.ndarray, need: dict,
                    either: np.ndarray) -> None:
        """Offer the seeds ``S[rows]`` (moves over every cell, by rows; ``where`` maps a cell to
        its column in the block, -1 outside it) in parts of about :data:`SEED_ENTRIES` entries,
        until no requirement of ``need`` is open. A clean-up hands on up to thousands of dense
        moves: verified at once, their products with the block's equations took 600 MB and 6 s
        on a six-dimensional table of 3,564 cells, where the first 300 met every requirement."""
        ends = np.cumsum(np.diff(S.indptr)[rows])
        start = 0
        while start < rows.size and self._n_open(need, either):
            done = ends[start - 1] if start else 0
            end = max(start + 1, int(np.searchsorted(ends, done + SEED_ENTRIES, side="right")))
            self.offer_many(_on_columns(S[rows[start:end]], where, self.cols.size), seeded=True)
            start = end

    def offer_many(self, W: sp.spmatrix, seeded: bool = False) -> None:
        """Verify every row of ``W`` (moves over the block's cells) and its scaled and flipped
        forms, all at once, and record the gains the verified ones prove (``seeded``: as the
        seeds'). A move is clipped to the bounds first, and its :func:`negligible` entries are
        dropped."""
        W = sp.csr_matrix(W, dtype=float)
        W.sum_duplicates()
        finite = _row_reduce(np.logical_and, np.isfinite(W.data), W.indptr, empty=True)
        W = _rows_kept(W[np.flatnonzero(finite)])
        if not W.shape[0]:
            return
        W.data = np.clip(W.data, self.lo[W.indices], self.hi[W.indices])
        W.data[negligible(W)] = 0.0
        W = _rows_kept(W)
        if not W.shape[0]:
            return
        if self.scalable:
            s_pos, s_neg = _scale_rows(W, self.lo, self.hi), _scale_rows(-W, self.lo, self.hi)
            forms = [sp.diags(np.maximum(s_pos, 1.0)) @ W]
            if (s_neg > 0).any():
                forms.append(sp.diags(-s_neg[s_neg > 0]) @ W[np.flatnonzero(s_neg > 0)])
            W = sp.csr_matrix(sp.vstack(forms, format="csr"))
        W = W[np.flatnonzero(self._feasible_rows(W))]
        if not W.shape[0]:
            return
        row = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        used: dict = {}  # row of W -> its index in cert.supports, for the rows that prove a gain
        for d, gain, src in ((1.0, self.cert.gain_up, self.cert.src_up),
                             (-1.0, self.cert.gain_dn, self.cert.src_dn)):
            g = d * W.data
            pos = g > 0
            col, gg, rr = W.indices[pos], g[pos], row[pos]
            order = np.lexsort((-gg, col))  # per cell, its largest gain first
            col, gg, rr = col[order], gg[order], rr[order]
            first = np.ones(col.size, dtype=bool)
            first[1:] = col[1:] != col[:-1]
            col, gg, rr = col[first], gg[first], rr[first]
            better = gg > gain[self.cols[col]]
            for r in np.unique(rr[better]).tolist():
                if r not in used:
                    used[r] = len(self.cert.supports)
                    self.cert.supports.append(self.cols[W.indices[W.indptr[r]:W.indptr[r + 1]]])
                    self.cert.values.append(W.data[W.indptr[r]:W.indptr[r + 1]].copy())
                    self.cert.seeded.append(seeded)
            cells = self.cols[col[better]]
            gain[cells] = gg[better]
            src[cells] = [used[r] for r in rr[better].tolist()]

    def _feasible_rows(self, W: sp.csr_matrix) -> np.ndarray:
        """Per row of ``W``: within the bounds, and ``|A w| <= FEAS_REL |A| |w| + FEAS_ABS`` row
        by row of ``A``."""
        c, v = W.indices, W.data
        inside = ((v >= self.lo[c] - 1e-9 * np.maximum(1, np.abs(self.lo[c])))
                  & (v <= self.hi[c] + 1e-9 * np.maximum(1, np.abs(self.hi[c]))))
        ok = _row_reduce(np.logical_and, inside, W.indptr, empty=True)
        excess = (abs(self.A @ W.T) - FEAS_REL * (self.absA @ abs(W).T)).tocoo()
        ok[np.unique(excess.col[excess.data > FEAS_ABS])] = False
        return ok

    def _open(self, need: np.ndarray, done: np.ndarray, d: float) -> np.ndarray:
        gain = (self.cert.gain_up if d > 0 else self.cert.gain_dn)[self.cols]
        return (need > 0) & ~done & (gain < need - LEVEL_REL * np.maximum(1.0, need))

    def run(self, need: dict, either: np.ndarray, stop, min_new: int, max_rounds: int, focus: int,
            first_failure: bool = False) -> bool:
        """Batch LPs, alternating directions, while they certify at least ``min_new`` per round;
        then up to ``focus`` LPs that each aim at one requirement (weight 1) and at the others
        a little (together under 1/2): each certifies its own requirement unless it fails, and
        usually others on the way. Returns False when ``first_failure`` stopped it."""
        models: dict = {}
        for _ in range(max_rounds):
            new = 0
            for d in (1.0, -1.0):
                open_ = self._open(need[d], self._done_other(need, either, d), d)
                if not open_.any():
                    continue
                if stop is not None and time.perf_counter() > stop:
                    return True
                before = self._n_open(need, either)
                z = self._solve(models, need[d], open_.astype(float), d, stop)
                if z is None:
                    return True
                self.offer(z)
                new += before - self._n_open(need, either)
            if new < min_new:
                break
        failed = {1.0: np.zeros(self.cols.size, dtype=bool), -1.0: np.zeros(self.cols.size, dtype=bool)}
        for _ in range(focus):
            if stop is not None and time.perf_counter() > stop:
                return True
            d, open_ = 1.0, None
            for d in (1.0, -1.0):
                open_ = self._open(need[d], self._done_other(need, either, d), d) & ~failed[d]
                if open_.any():
                    break
            if open_ is None or not open_.any():
                return True
            gain = (self.cert.gain_up if d > 0 else self.cert.gain_dn)[self.cols]
            cand = np.flatnonzero(open_)
            k0 = cand[np.argmax(gain[cand] / need[d][cand])]  # the closest to its level first
            w = open_ * (0.5 / cand.size)
            w[k0] = 1.0
            z = self._solve(models, need[d], w, d, stop)
            if z is None:
                return True
            self.offer(z)
            if self._open(need[d], np.zeros_like(open_), d)[k0] and cand.size > 1:
                # the others' t_k are free below, so moving them far the wrong way can cost more
                # than k0 gains: k0 alone, as its exact LP
                w = np.zeros(open_.size)
                w[k0] = 1.0
                z = self._solve(models, need[d], w, d, stop)
                if z is None:
                    return True
                self.offer(z)
            if self._open(need[d], np.zeros_like(open_), d)[k0]:
                failed[d][k0] = True  # left to the exact LPs
                if first_failure:
                    return False
        return True

    def _done_other(self, need: dict, either: np.ndarray, d: float) -> np.ndarray:
        """Cells that need one side only (``either``) and have the other one certified."""
        return either & ~self._open(need[-d], np.zeros_like(either), -d) & (need[-d] > 0)

    def _n_open(self, need: dict, either: np.ndarray) -> int:
        up = self._open(need[1.0], np.zeros_like(either), 1.0)
        dn = self._open(need[-1.0], np.zeros_like(either), -1.0)
        met_up = (need[1.0] > 0) & ~up
        met_dn = (need[-1.0] > 0) & ~dn
        return int((up & ~(either & met_dn)).sum() + (dn & ~(either & met_up)).sum())

    def _solve(self, models: dict, need: np.ndarray, weight: np.ndarray, d: float, stop) -> np.ndarray | None:
        """The batch LP of direction ``d``: the requirements ever asked for get a column ``t_k``
        each, built once; a round only changes their weights in the objective."""
        nb = self.cols.size
        if d not in models:
            ks = np.flatnonzero(need > 0)
            cap = self.hi[ks] if d > 0 else -self.lo[ks]
            target = np.minimum(need[ks] * (1 + MARGIN) + MARGIN, cap)
            nk = ks.size
            m = self.A.shape[0]
            link = sp.csr_matrix((-d / target, (np.arange(nk), ks)), shape=(nk, nb))
            A = sp.vstack([sp.hstack([self.A, sp.csr_matrix((m, nk))]),
                           sp.hstack([link, sp.identity(nk, format="csr")])], format="csr")
            lp = LinearProgram(c=np.zeros(nb + nk), A=A,
                               row_lo=np.concatenate([np.zeros(m), np.full(nk, -np.inf)]),
                               row_hi=np.zeros(m + nk),
                               col_lo=np.concatenate([self.lo, np.full(nk, -np.inf)]),
                               col_hi=np.concatenate([self.hi, np.ones(nk)]), maximize=True)
            models[d] = (HighsModel(lp), ks)
        else:
            # only the objective changed, so the last basis stays primal feasible: primal simplex
            # re-solves from it in a fraction of the time dual simplex takes (the first solve
            # keeps the solver's own choice)
            models[d][0].set_option("simplex_strategy", 4)
        model, ks = models[d]
        c = np.zeros(nb + ks.size)
        c[nb:] = weight[ks]
        model.set_objective(c, maximize=True)
        left = None if stop is None else max(0.0, stop - time.perf_counter())
        sol = model.solve_lp(time_limit=left)
        self.cert.lps += 1
        if sol.status != "optimal" or sol.x is None:
            return None
        return sol.x[:nb]


def _seed_matrix(seeds, n: int) -> sp.csr_matrix | None:
    """``seeds`` (a list of moves of length ``n``, or a sparse matrix of them by rows) as one
    sparse matrix, or None when there are none."""
    if seeds is None:
        return None
    if sp.issparse(seeds):
        S = sp.csr_matrix(seeds, dtype=float)
    else:
        seeds = [np.asarray(z, dtype=float) for z in seeds]
        if not seeds:
            return None
        S = sp.csr_matrix(np.vstack(seeds))
    if S.shape[1] != n:
        raise ValueError(f"moves: {S.shape[1]} columns, but the table has {n} cells")
    return S if S.shape[0] else None


def _on_columns(S: sp.csr_matrix, where: np.ndarray, size: int) -> sp.csr_matrix:
    """The rows of ``S`` on ``size`` columns, column ``j`` of ``S`` going to ``where[j]`` (the
    entries of the other columns, ``where < 0``, dropped)."""
    col = where[S.indices]
    keep = col >= 0
    indptr = np.concatenate([[0], np.cumsum(_row_reduce(np.add, keep.astype(np.int64), S.indptr, empty=0))])
    return sp.csr_matrix((S.data[keep], col[keep], indptr), shape=(S.shape[0], size))


def negligible(W: sp.csr_matrix) -> np.ndarray:
    """Per stored entry of the moves ``W`` (one per row, CSR): whether it is at most
    :data:`NEGLIGIBLE` of its move's largest, the noise of an LP's solution that the certificates
    drop (a move's cells are those it moves by more).

    >>> negligible(sp.csr_matrix([[2.0, -1e-13, 0.5], [0.0, 1e-13, 0.0]])).tolist()
    [False, True, False, False]
    """
    big = _row_reduce(np.maximum, np.abs(W.data), W.indptr)
    return np.abs(W.data) <= NEGLIGIBLE * np.repeat(big, np.diff(W.indptr))


def _rows_kept(W: sp.csr_matrix) -> sp.csr_matrix:
    """``W`` without its explicit zeros and its empty rows."""
    W.eliminate_zeros()
    return W[np.flatnonzero(np.diff(W.indptr) > 0)]


def _row_reduce(ufunc, values: np.ndarray, indptr: np.ndarray, empty=0.0) -> np.ndarray:
    """``ufunc.reduce`` of ``values`` over each row's segment of a CSR matrix (``empty`` for an
    empty row)."""
    counts = np.diff(indptr)
    out = np.full(counts.size, empty, dtype=np.result_type(values, type(empty)))
    full = counts > 0
    if full.any():
        out[full] = ufunc.reduceat(values, indptr[:-1][full])
    return out


def _scale_rows(W: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row ``w`` of ``W`` (none empty), the largest ``s`` in ``[0, S_MAX]`` with
    ``lo <= s w <= hi`` (``lo <= 0 <= hi``)."""
    c, v = W.indices, W.data
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(v > 0, hi[c] / v, np.where(v < 0, lo[c] / v, np.inf))
    return np.clip(_row_reduce(np.minimum, ratio, W.indptr, empty=np.inf), 0.0, S_MAX)
