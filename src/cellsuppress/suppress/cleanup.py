"""The clean-up of a protected pattern: un-hide the complementary cells it does not need.

Every pattern the package returns has been through it (:func:`minimal`): a pattern found
under a time limit, or a master solution that passed the attacker LPs, often hides cells
that can be published again, one by one, without making any cell unsafe.

A candidate is tried in turn, dearest first. It stays hidden when one requirement fails
without it, and three cheap tests come before any LP: the requirement's witness (the cells
its attacker move uses) does not use it; some attacker move found earlier, still feasible,
meets the requirement without it (:class:`MoveStore`); or a single equation already shows a
failure (:func:`~cellsuppress.suppress.model.single_equation_cuts`). Only what is left gets
attacker LPs, on one model whose bounds change in place. Each decision is exact, so the
clean-up ends on the same pattern whichever of these tests settles it.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import time

from ..clock import NEVER, Deadline
from ..errors import VerificationError
from ..solvers import HighsModel, LinearProgram
from . import schedule
from ..tables.linear import block_members, hidden_blocks
from .batch import check_certified
from .model import single_equation_cuts
from .problem import Problem
from .separation import TOL, MovePool, OutOfTime, Separator, equation_sum_disclosures, filter_either_side


def minimal(p: Problem, x: np.ndarray, until: Deadline, sep: Separator | None = None,
            end: Deadline = NEVER, seeds=None, moves: list | None = None,
            witnesses: dict | None = None) -> tuple[np.ndarray, bool]:
    """The protected pattern ``x`` cleaned up: ``(pattern, complete)``, ``complete`` when every
    candidate was tried in time (then no single complementary cell can be published without a
    failing requirement, under presets where hiding fewer cells never helps). The attacker LPs
    run on ``sep`` (a new :class:`Separator` by default), which counts them.

    It has until ``until``, or longer when the check of ``x`` it starts with (by attacker LPs,
    without ``seeds``) says the final audit will be short: up to ``end`` (the end of the run,
    the audit included) less what the audit is expected to need
    (:func:`~cellsuppress.suppress.schedule.audit_after_check`).

    ``seeds`` are attacker moves of ``x`` (one per row, e.g. the certificates of the method built
    for size): the check verifies them first (:func:`~cellsuppress.suppress.batch.check_certified`)
    and their supports are the witnesses of the requirements they meet, which spares a large
    pattern an LP per requirement before its first candidate. ``witnesses``: those of a check of
    ``x`` that passed (every requirement's, as :meth:`Separator.violations` fills them), in
    place of the check. ``moves``, if given, receives the moves the clean-up found (as
    :func:`cleanup` hands them out)."""
    if until.expired() and (not end.limited or end.remaining() <= schedule.AUDIT_MIN):
        # however short its check, the audit's least time leaves no candidate any: the check
        # would only delay the audit
        return x, False
    sep = Separator(p) if sep is None else sep
    if witnesses is not None:
        return cleanup(p, x, sep, dict(witnesses), until, moves=moves)
    witnesses = {}
    t = time.perf_counter()
    # ``end`` may lengthen the time, never remove its limit (NEVER, its default, is no end given)
    latest = max(until, end) if end.limited else until
    if end.limited and seeds is None:
        # a check by attacker LPs passes ``until`` only as far as the audit's share after it allows
        latest = max(until, Deadline(schedule.longest_check(end.remaining())))
    try:
        viol = (sep.violations(x, witnesses=witnesses, give_up=latest) if seeds is None else
                check_certified(p, sep, x, witnesses, NEVER, latest, seeds=seeds, give_up=latest))
        if filter_either_side(p, viol):
            raise VerificationError("internal error: a pattern that passed its checks fails an attacker LP; "
                                    "please report this table")
    except OutOfTime:
        return x, False
    if end.limited and seeds is None:
        # a check by the seeds says little of the audit after the clean-up, which breaks them
        until = max(until, Deadline.until(end.at - schedule.audit_after_check(time.perf_counter() - t)))
    return cleanup(p, x, sep, witnesses, until, moves=moves)


def cleanup(p: Problem, x: np.ndarray, sep: Separator, witnesses: dict, until: Deadline,
            moves: list | None = None, cutoff: float = np.inf) -> tuple[np.ndarray, bool]:
    """Un-hide complementary cells (dearest first) that no requirement needs; ``witnesses`` are
    those of a check of ``x`` that passed (:meth:`Separator.violations`). Returns the pattern
    and whether every candidate was tried before ``until``; it also stops, incomplete, once the
    pattern cannot end below ``cutoff`` (its cost less that of every candidate not yet tried), for
    a run that only a cheaper pattern would serve. ``moves``, if given, receives the
    attacker moves found on the way that the returned pattern still allows (a sparse matrix,
    one per row over the cells): certificates for its audit.

    Publishing a cell can only break requirements of its own block of hidden cells (blocks share
    no equation), so each block has its own attacker LP and store of moves, made when a
    candidate of it first needs them: an LP over every hidden cell of a large pattern of many
    blocks takes many times as long as one over the candidate's block."""
    x = x.copy()
    hidden = x > 0.5
    nb, bcell, _ = hidden_blocks(sep.M, hidden)
    order, cuts = block_members(bcell, nb)
    # the stores of all blocks together hold as many entries as one over every hidden cell would
    limit = max(2, min(2000, STORE_ENTRIES // max(int(hidden.sum()), 1)))
    parts: dict = {}
    members: dict = {}  # block -> the requirements (witnesses' cells) in it
    for k in witnesses:
        members.setdefault(int(bcell[k]), []).append(k)

    def part(b: int) -> _Part:
        if b not in parts:
            parts[b] = _Part(p, sep.M, order[cuts[b]:cuts[b + 1]], limit, x)
        return parts[b]

    try:
        return _cleanup(p, x, sep, witnesses, until, bcell, members, part, parts, cutoff)
    finally:
        if moves is not None:
            got = [q.store.moves() for q in parts.values()]
            moves.append(sp.csr_matrix(sp.vstack(got, format="csr")) if got else sp.csr_matrix((0, p.n)))


class _Part:
    """One block of hidden cells in the clean-up: its attacker LP (one live model whose column
    bounds change in place), the bounds as they are now, and its stored moves."""

    def __init__(self, p: Problem, M, cols: np.ndarray, limit: int, x: np.ndarray):
        self.cols = cols
        self.rows = np.flatnonzero(np.asarray(abs(M[:, cols]).sum(axis=1)).ravel() > 0)
        self.lo, self.hi = -p.cap_dn[cols], p.cap_up[cols]
        self.model = HighsModel(LinearProgram(c=np.zeros(cols.size), A=M[self.rows][:, cols],
                                              row_lo=np.zeros(self.rows.size), row_hi=np.zeros(self.rows.size),
                                              col_lo=self.lo, col_hi=self.hi))
        self.store = MoveStore(p, cols, self.lo, self.hi, limit=limit)
        self.local = {c: i for i, c in enumerate(cols.tolist())}
        self.cur_lo, self.cur_hi = self.lo.copy(), self.hi.copy()
        gone = np.flatnonzero(x[cols] < 0.5)  # published since the clean-up began
        if gone.size:
            self.fix(gone, True)
            for j in gone.tolist():
                self.store.publish(j)

    def fix(self, jj: np.ndarray, published: bool) -> None:
        """Local columns ``jj`` published (bounds 0), or hidden again."""
        lo, hi = (np.zeros(jj.size), np.zeros(jj.size)) if published else (self.lo[jj], self.hi[jj])
        self.model.set_col_bounds(jj, lo, hi)
        self.cur_lo[jj], self.cur_hi[jj] = lo, hi


def _cleanup(p, x, sep, witnesses, until, bcell, members, part, built, cutoff=np.inf) -> tuple[np.ndarray, bool]:
    equations = EquationTest(p, x)
    cand = np.flatnonzero((x > 0.5) & ~p.force_hidden)
    cand = cand[np.argsort(-p.weight[cand], kind="stable")]
    # the least cost the pattern can still reach: every candidate from this step on published
    total = float(p.cost[x > 0.5].sum())
    rest = np.concatenate([np.cumsum(p.cost[cand][::-1])[::-1], [0.0]])
    last_failed: dict = {}  # requirement -> the step at which it last kept a candidate hidden
    for step, j in enumerate(cand):
        if until.expired() or total - rest[step] >= cutoff:
            return x, False
        b = int(bcell[j])
        mine = members.get(b, [])
        affected = [k for k in mine if _needs(p, witnesses[k], j)]
        x[j] = 0.0
        if (p.equation_sum_rule and equation_sum_disclosures(p, x)) or equations.fails_without(j):
            x[j] = 1.0
            continue
        if not affected:  # no requirement of its block uses it: no LP, and no model made for it
            equations.publish(j)
            total -= float(p.cost[j])
            if b in built:
                built[b].fix(np.array([built[b].local[j]]), True)
                built[b].store.publish(built[b].local[j])
            _forget(witnesses, mine, j, {})
            continue
        q = part(b)
        jj = np.array([q.local[j]])
        affected = q.store.unmet(affected, jj[0])
        q.fix(jj, True)
        pool = _Recording(q.cur_lo, q.cur_hi)  # moves found while checking j serve the other cells
        new: dict = {}
        # most candidates stay hidden, and one failing requirement is enough to know it: the
        # requirements that failed last are checked first, and the first failure ends the check
        affected.sort(key=lambda k: -last_failed.get(k, -1))
        failed = False
        for k in affected:
            try:
                if until.expired():
                    raise OutOfTime()
                # an LP over a block of thousands of hidden cells may take many seconds: it stops at until
                viol = sep.check_cell(q.model, k, q.local[k], q.cols, q.rows, x, None, new, pool, give_up=until)
            except OutOfTime:  # out of time mid-check: keep j hidden and stop
                x[j] = 1.0
                q.fix(jj, False)
                return x, False
            if filter_either_side(p, viol):
                last_failed[k] = step
                failed = True
                break
        q.store.add(pool.moves)
        if failed:
            x[j] = 1.0
            q.fix(jj, False)
            continue
        q.store.publish(jj[0])
        equations.publish(j)
        total -= float(p.cost[j])
        witnesses.update(new)
        _forget(witnesses, mine, j, new)
    return x, True


def _forget(witnesses: dict, cells: list, j: int, new: dict) -> None:
    """``j`` is published: a witness of ``cells`` that moved it no longer exists, so that
    requirement has none until it is checked again (the stored moves may have met it without
    ``j``, but they are not its witness); those just found (``new``) stay."""
    for k in cells:
        if k not in new:
            witnesses[k] = {kind: None if w is None or j in w else w for kind, w in witnesses[k].items()}


def _needs(p: Problem, held: dict, j: int) -> bool:
    """Whether a cell's requirements may fail once ``j`` is published (a requirement without a
    witness, None, may fail whatever is published)."""
    uses = [w is None or j in w for w in held.values()]
    if not uses:  # no requirement recorded: check again
        return True
    return all(uses) if p.either_side else any(uses)


class _Recording(MovePool):
    """A :class:`MovePool` that also keeps the moves themselves."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray):
        super().__init__(lo, hi)
        self.moves: list[np.ndarray] = []

    def add(self, z) -> None:
        super().add(z)
        if z is not None and np.all(np.isfinite(z)):
            self.moves.append(np.where(np.abs(z) > 1e-9, z, 0.0))


# the moves a clean-up keeps fill at most this many entries (256 MB): over the hidden cells of a
# table of a million cells, 2,000 dense moves would take gigabytes
STORE_ENTRIES = 1 << 25


class MoveStore:
    """Attacker moves found during a clean-up (over its columns ``cols``), kept while they stay
    feasible, that is while no cell they move has been published.

    A move ``z`` is feasible for every pattern that still hides its support, and so is ``-t z``
    for the largest ``t <= 1`` the bounds allow, and so is any convex combination of feasible
    moves. A requirement that one of them meets without moving cell ``j`` holds once ``j`` is
    published, with no LP: a move that leaves ``j`` alone, or a combination of two that move it
    in opposite directions and cancel out at ``j``. Some pair's combination ``w z_p + (1 - w)
    z_n`` reaches a level ``L`` at cell ``k`` exactly when
    ``max_p (z_pk - L) / z_pj + max_n (z_nk - L) / -z_nj >= 0``, which takes one pass over the
    moves (and is all an LP over the stored moves could find: with two rows, an optimal vertex
    has two moves at most). When ``j`` is published, the moves that used it go and the
    combinations that met a requirement stay. The newest ``limit`` moves are kept, fewer over
    many columns (at most :data:`STORE_ENTRIES` entries: the moves are dense).
    """

    def __init__(self, p: Problem, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray, limit: int = 2000):
        self.p, self.cols, self.lo, self.hi = p, cols, lo, hi
        self.local = np.full(p.n, -1)
        self.local[cols] = np.arange(cols.size)
        limit = max(2, min(limit, STORE_ENTRIES // max(cols.size, 1)))
        self.buf = np.zeros((limit, cols.size))  # the moves and their flips, one per row
        self.size = 0
        self.pairs = np.zeros((0, cols.size))  # combinations that met a requirement in the last unmet()

    @property
    def V(self) -> np.ndarray:
        return self.buf[:self.size]

    def _append(self, rows: np.ndarray) -> None:
        limit = self.buf.shape[0]
        rows = rows[-limit:]
        if self.size + rows.shape[0] > limit:  # drop the oldest
            keep = max(0, limit - rows.shape[0])
            self.buf[:keep] = self.buf[self.size - keep:self.size]
            self.size = keep
        self.buf[self.size:self.size + rows.shape[0]] = rows
        self.size += rows.shape[0]

    def moves(self) -> sp.csr_matrix:
        """The moves kept, one per row over the problem's cells."""
        V = sp.csr_matrix(self.V)
        return sp.csr_matrix((V.data, self.cols[V.indices], V.indptr), shape=(V.shape[0], self.p.n))

    def add(self, moves: list[np.ndarray]) -> None:
        if not moves:
            return
        Z = np.array(moves)
        pos, neg = Z > 0, Z < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.minimum(np.min(np.where(pos, -self.lo / Z, np.inf), axis=1),
                           np.min(np.where(neg, self.hi / -Z, np.inf), axis=1))
        t = np.clip(t, 0.0, 1.0)
        self._append(np.vstack([Z, -t[t > 0, None] * Z[t > 0]]))

    def publish(self, j: int) -> None:
        """Local column ``j`` is published: the moves that use it go, the combinations stay."""
        keep = np.flatnonzero(np.abs(self.V[:, j]) <= 1e-12)
        self.buf[:keep.size] = self.buf[keep]
        self.size = keep.size
        if self.pairs.shape[0]:
            self._append(self.pairs)
        self.pairs = self.pairs[:0]

    def unmet(self, cells: list, j: int) -> list:
        """The sensitive ``cells`` whose requirements no stored move (or pair of moves) meets
        without local column ``j``."""
        self.pairs = self.pairs[:0]
        if not cells or not self.size:
            return list(cells)
        p = self.p
        ks = np.asarray(cells)
        V = self.V
        a = V[:, j]
        zero = np.abs(a) <= 1e-12
        P, N = np.flatnonzero(a > 1e-12), np.flatnonzero(a < -1e-12)
        G = {d: d * V[:, self.local[ks]] for d in (1.0, -1.0)}
        g0 = {d: G[d][zero].max(axis=0, initial=0.0) for d in G}
        # the level each direction must reach; a sliding level is shared with what the other
        # direction reaches without a combination
        if p.either_side:
            target = {1.0: p.up[ks], -1.0: p.dn[ks]}
        else:
            target = {1.0: np.maximum(p.up[ks], p.spl[ks] - g0[-1.0]),
                      -1.0: np.maximum(p.dn[ks], p.spl[ks] - g0[1.0])}
        reach, pairs = {}, []
        for d in G:
            T = target[d] - TOL * np.maximum(1.0, target[d])
            reach[d] = (target[d] <= 0) | (g0[d] >= T)
            if P.size and N.size and not reach[d].all():
                up = (G[d][P] - T) / a[P][:, None]
                dn = (G[d][N] - T) / -a[N][:, None]
                ip, jn = up.argmax(axis=0), dn.argmax(axis=0)
                cols = np.arange(ks.size)
                paired = ~reach[d] & (up[ip, cols] + dn[jn, cols] >= 0)
                reach[d] |= paired
                for i in np.flatnonzero(paired):
                    zp, zn = V[P[ip[i]]], V[N[jn[i]]]
                    w = zn[j] / (zn[j] - zp[j])  # the weight of zp that cancels out at j
                    pairs.append(w * zp + (1.0 - w) * zn)
        if p.either_side:
            held = ~((p.up[ks] > 0) | (p.dn[ks] > 0)) | ((p.up[ks] > 0) & reach[1.0]) | ((p.dn[ks] > 0) & reach[-1.0])
        else:
            held = reach[1.0] & reach[-1.0]
        if pairs:
            self.pairs = np.array(pairs)
        return [k for k, h in zip(cells, held) if not h]


class EquationTest:
    """The single-equation cuts at a pattern, kept up to date as cells are published: a cell whose
    publication violates one (both sides' under an either-side preset) is needed, with no LP."""

    def __init__(self, p: Problem, x: np.ndarray):
        self.either = p.either_side
        A, rhs, (self.cell, direction) = single_equation_cuts(p)
        self.up = direction > 0
        self.A = sp.csc_matrix(A)
        self.slack = self.A @ (np.asarray(x) > 0.5).astype(float) - rhs
        self.tol = TOL * np.maximum(1.0, rhs)

    def fails_without(self, j: int) -> bool:
        lo, hi = self.A.indptr[j], self.A.indptr[j + 1]
        r = self.A.indices[lo:hi]
        bad = r[self.A.data[lo:hi] > self.slack[r] + self.tol[r]]
        if not bad.size:
            return False
        if not self.either:
            return True
        # under either_side a cell fails only when every side it has fails
        ks = np.unique(self.cell[bad])
        for k in ks:
            mine = self.cell == k
            sides = np.unique(self.up[mine])
            failing = np.unique(self.up[bad[self.cell[bad] == k]])
            if failing.size == sides.size:
                return True
        return False

    def publish(self, j: int) -> None:
        lo, hi = self.A.indptr[j], self.A.indptr[j + 1]
        self.slack[self.A.indices[lo:hi]] -= self.A.data[lo:hi]
