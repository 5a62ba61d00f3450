"""Separation: the attacker LPs of a pattern, and the capacity cuts they give when it fails.

For a (possibly fractional) pattern ``x`` every hidden cell ``i`` may move
within ``[-cap_dn_i x_i, cap_up_i x_i]`` subject to ``M z = 0``. For each
sensitive cell and required direction we maximise its move; when that falls
short of the protection level the LP's row duals give a violated cut
(:func:`cellsuppress.model.capacity_cut`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline
from ..errors import SolverError
from ..solvers import HighsModel, LinearProgram
from ..tables.linear import block_members, hidden_blocks, known_sum_rows
from . import schedule
from .model import CutRow, attacker_bound, capacity_cut
from .problem import Problem

TOL = 1e-6


class OutOfTime(Exception):
    """Work that was asked to give up at a deadline did."""


@dataclass
class Violation:
    """A sensitive cell whose requirement fails at the pattern, with the cut(s) that exclude it.

    ``kind`` is ``up``, ``dn`` or ``spl``. ``coef`` is a sparse row over the
    problem's cells; the cut reads ``coef @ x >= level`` (for an either-side
    preset, conditional on the side chosen).
    """

    cell: int
    kind: str
    level: float
    gain: float
    coef: CutRow


class Separator:
    """Attacker LPs over the cells a pattern hides (or partly hides)."""

    def __init__(self, p: Problem, cap_limit: float | None = None):
        """With ``cap_limit``, the attacker LPs cap every capacity at that value (for fractional
        patterns: an infinite capacity times a tiny ``x_i`` would otherwise let the attacker move
        freely, and no capacity cut, whose coefficients are capped at the level, would be found).
        The cuts are still built with the true capacities, so they stay valid, and only those
        violated at ``x`` are returned; an empty list then proves nothing about ``x``."""
        self.p = p
        self.M = sp.csr_matrix(p.M)
        self.MT = sp.csr_matrix(self.M.T)
        self.n_lps = 0
        self._last = None  # see _block
        self.cap_limit = cap_limit
        self.unbounded = np.isinf(p.cap_up) | np.isinf(p.cap_dn)
        if cap_limit is None:
            self.cap_up, self.cap_dn = p.cap_up, p.cap_dn
        else:
            self.cap_up, self.cap_dn = np.minimum(p.cap_up, cap_limit), np.minimum(p.cap_dn, cap_limit)

    def violations(self, x: np.ndarray, side: np.ndarray | None = None,
                   witnesses: dict | None = None, deadline: Deadline = NEVER,
                   give_up: Deadline = NEVER) -> list[Violation]:
        """Violated requirements at ``x``. Under ``either_side``, ``side`` is the chosen side per
        sensitive cell (1 upward, 0 downward, fractional in the LP relaxation); without it both
        sides are checked at their full levels.

        ``witnesses``, if given, is filled with ``cell -> {kind: cells the attacker moves}``
        for the requirements that hold: the pattern stays safe for them as long as those
        cells stay hidden.
        Past ``deadline`` it may return early, once it has found a violation: an empty list
        always means every requirement was checked. Past ``give_up`` it raises :class:`OutOfTime`,
        also from within an attacker LP (each has the time left to ``give_up``: one LP over a
        block of thousands of hidden cells may take many seconds).
        """
        p = self.p
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        # an LP point's round-off (SCIP's gives 2e-9) makes column bounds of 1e-8 that HiGHS
        # may call infeasible: such a cell is not hidden
        x[x < 1e-6] = 0.0
        support = x > 0.0
        nb, bcell, brow = hidden_blocks(self.M, support)
        sens = np.flatnonzero(p.sensitive)
        side_of = {}
        if p.either_side and side is not None:
            side_of = dict(zip(np.flatnonzero(p.sensitive), np.asarray(side, dtype=float)))
        out: list[Violation] = []
        order = np.argsort(bcell[sens], kind="stable")
        sens = sens[order]
        blocks = bcell[sens]
        cell_order, cell_cuts = block_members(bcell, nb)
        row_order, row_cuts = block_members(brow, nb)
        for b in np.unique(blocks):
            if b < 0:
                continue
            ks = sens[blocks == b]
            cols = cell_order[cell_cuts[b]:cell_cuts[b + 1]]
            rows = row_order[row_cuts[b]:row_cuts[b + 1]]
            A = self.M[rows][:, cols]
            lp = LinearProgram(c=np.zeros(cols.size), A=A, row_lo=np.zeros(rows.size), row_hi=np.zeros(rows.size),
                               col_lo=-self.cap_dn[cols] * x[cols], col_hi=self.cap_up[cols] * x[cols])
            model = HighsModel(lp)
            pool = MovePool(lp.col_lo, lp.col_hi)
            local = {c: i for i, c in enumerate(cols)}
            for k in ks:
                if give_up.expired():
                    raise OutOfTime()
                out.extend(self.check_cell(model, k, local[k], cols, rows, x, side_of.get(k), witnesses, pool,
                                           give_up=give_up))
                if out and deadline.expired():
                    return out
        return out

    def _gain(self, model, j, ncols, direction, give_up: Deadline = NEVER):
        """Best move of local column j in ``direction`` (+1 up, -1 down): (gain, row duals, moves).
        An LP still running at ``give_up`` stops there and raises :class:`OutOfTime`."""
        c = np.zeros(ncols)
        c[j] = direction
        model.set_objective(c, maximize=True)
        sol = model.solve_lp(time_limit=give_up.limit())
        self.n_lps += 1
        if sol.status == "time_limit":
            raise OutOfTime()
        if sol.status == "unbounded":
            return np.inf, None, None
        if sol.status != "optimal":
            raise SolverError(f"attacker LP failed: {sol.status}")
        return sol.objective, sol.row_duals, sol.x

    def check_cell(self, model, k, j, cols, rows, x, side, witnesses=None, pool: "MovePool | None" = None,
                   give_up: Deadline = NEVER):
        """Violations of cell ``k`` (local column ``j``); ``pool`` holds moves already found on
        this very model, so a requirement one of them meets needs no LP. Its LPs stop at
        ``give_up`` (:class:`OutOfTime`)."""
        p = self.p

        def solve(direction):
            g, duals, z = self._gain(model, j, cols.size, direction, give_up)
            if pool is not None:
                pool.add(z)
            return g, duals, z

        needs = []
        if p.either_side and side is not None:
            if p.up[k] > 0 and side > TOL:
                needs.append(("up", p.up[k] * side, p.up[k]))
            if p.dn[k] > 0 and 1 - side > TOL:
                needs.append(("dn", p.dn[k] * (1 - side), p.dn[k]))
        else:
            if p.up[k] > 0:
                needs.append(("up", p.up[k], p.up[k]))
            if p.dn[k] > 0:
                needs.append(("dn", p.dn[k], p.dn[k]))
        out = []
        held = {}
        for kind, required, level in needs:
            direction = 1.0 if kind == "up" else -1.0
            enough = required - TOL * max(1.0, required)
            if pool is not None:
                g, moved = pool.best(j, direction)
                if g >= enough:
                    held[kind] = cols[moved]
                    continue
            gain, duals, z = solve(direction)
            if gain >= enough:
                held[kind] = _moved(cols, z)
                continue
            coef = self._cut(k, direction, duals, rows, x, gain, level)
            if self.cap_limit is None or coef @ x < enough:
                out.append(Violation(k, kind, level, gain, coef))
        if p.spl[k] > 0 and not p.either_side:
            spl_tol = p.spl[k] - TOL * max(1.0, p.spl[k])
            if pool is not None and pool.best(j, 1.0)[0] + pool.best(j, -1.0)[0] >= spl_tol:
                held["spl"] = cols[np.union1d(pool.best(j, 1.0)[1], pool.best(j, -1.0)[1])]
            else:
                gu, du, zu = solve(1.0)
                gd, dd, zd = solve(-1.0)
                if gu + gd >= spl_tol:
                    mu, md = _moved(cols, zu), _moved(cols, zd)
                    held["spl"] = None if mu is None or md is None else np.union1d(mu, md)
                else:
                    cu = self._cut(k, 1.0, du, rows, x, gu, p.spl[k])
                    cd = self._cut(k, -1.0, dd, rows, x, gd, p.spl[k])
                    coef = cu.plus(cd).capped(p.spl[k])
                    if self.cap_limit is None or coef @ x < spl_tol:
                        out.append(Violation(k, "spl", p.spl[k], gu + gd, coef))
        if witnesses is not None:
            witnesses[k] = held
        return out

    def _block(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, sp.csr_matrix]:
        """The cells of the equations ``rows`` and ``k`` (sorted), and the transpose of those
        equations on them; kept for the next cut of the same block (a block's cells are
        separated one after the other, with the same ``rows``)."""
        if self._last is None or self._last[0] is not rows or k not in self._last[1]:
            cells = np.union1d(self.M[rows].indices, [k])
            self._last = (rows, frozenset(cells.tolist()), cells, sp.csr_matrix(self.MT[cells][:, rows]))
        return self._last[2], self._last[3]

    def _cut(self, k, direction, duals, rows, x, gain, level) -> CutRow:
        """Capacity cut from the row duals; the sign convention is checked against the LP value."""
        p = self.p
        # the reduced costs are zero but on the cells of the block's equations (and k itself)
        cells, MT = self._block(rows, k)
        unbounded = self.unbounded[cells]
        at_k = np.searchsorted(cells, k)
        cap_up, cap_dn, xc = self.cap_up[cells], self.cap_dn[cells], x[cells]
        best = None
        for sgn in (1.0, -1.0):
            d = -(MT @ (sgn * duals))
            d[at_k] += direction
            # HiGHS's reduced costs on cells of infinite capacity come out as 1e-17 where they
            # are 0 (dual feasible within its tolerance); times the infinite capacity that made
            # the bound infinite, this check fail and the cut one the pattern itself meets
            d[unbounded & (np.abs(d) <= 1e-9)] = 0.0
            bound = attacker_bound(d, cap_up, cap_dn, xc)
            if abs(bound - gain) <= 1e-5 * max(1.0, abs(gain)):
                return capacity_cut(cells, d, p.cap_up, p.cap_dn, level, p.n)
            if best is None or bound < best[0]:
                best = (bound, d)
        # duals off by numerics: the closest bound is still a valid cut (weak duality)
        return capacity_cut(cells, best[1], p.cap_up, p.cap_dn, level, p.n)


def filter_either_side(p: Problem, viol: list[Violation]) -> list[Violation]:
    """Under ``either_side`` a cell fails only when both sides fail; keep its cheaper-to-fix side."""
    if not p.either_side:
        return viol
    by_cell: dict[int, list[Violation]] = {}
    for v in viol:
        by_cell.setdefault(v.cell, []).append(v)
    out = []
    for k, vs in by_cell.items():
        need = int(p.up[k] > 0) + int(p.dn[k] > 0)
        if len(vs) >= need:
            out.append(min(vs, key=lambda v: v.level - v.gain))
    return out


class MovePool:
    """The best move per cell and direction among the attacker moves found on one LP.

    Every optimal attacker move ``z`` is feasible for the whole block, and so is
    ``-t z`` for the largest ``t <= 1`` the bounds allow: a cell that some move
    already shifts by its protection level is protected without an LP of its own,
    and that move's support is its witness.
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray):
        self.lo = np.asarray(lo, dtype=float)
        self.hi = np.asarray(hi, dtype=float)
        n = self.lo.size
        self.gain = {1.0: np.zeros(n), -1.0: np.zeros(n)}
        self.source = {1.0: np.full(n, -1), -1.0: np.full(n, -1)}
        self.supports: list[np.ndarray] = []

    def add(self, z) -> None:
        if z is None or not np.all(np.isfinite(z)):
            return
        z = np.where(np.abs(z) > 1e-9, z, 0.0)
        pos, neg = z > 0, z < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = min(1.0, np.min(-self.lo[pos] / z[pos], initial=np.inf),
                    np.min(self.hi[neg] / -z[neg], initial=np.inf))
        t = max(t, 0.0)
        i = len(self.supports)
        self.supports.append(np.flatnonzero(z))
        for d in (1.0, -1.0):
            g = np.maximum(d * z, -t * d * z)
            better = g > self.gain[d]
            self.gain[d][better] = g[better]
            self.source[d][better] = i

    def best(self, j: int, direction: float) -> tuple[float, np.ndarray]:
        """Largest known move of local column ``j`` in ``direction``, and the cells it uses."""
        i = self.source[direction][j]
        if i < 0:
            return 0.0, np.array([], dtype=int)
        return float(self.gain[direction][j]), self.supports[i]


def _moved(cols: np.ndarray, z) -> np.ndarray | None:
    """Cells an attacker's optimal move uses (None: unbounded, no finite witness)."""
    if z is None:
        return None
    return cols[np.abs(z) > 1e-9]


def equation_sum_disclosures(p: Problem, x: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Equations whose hidden cells (two or more, one side, a sensitive one among them) have a
    known sum in 1..threshold.

    Returns ``(row, hidden cells, published cells)`` of each, for presets with an
    ``equation_sum_rule``.
    """
    hidden = np.asarray(x) > 0.5
    M = sp.csr_matrix(p.M)
    Mh = sp.csr_matrix(M.multiply(hidden[None, :]))
    rows = known_sum_rows(Mh, Mh @ p.a, p.threshold, TOL)
    rows = rows[np.asarray(abs(Mh[rows]) @ p.sensitive.astype(float)).ravel() > 0]
    out = []
    for r in rows:  # flagged equations only
        cols = M.indices[M.indptr[r]:M.indptr[r + 1]]
        out.append((int(r), cols[hidden[cols]], cols[~hidden[cols]]))
    return out


class ParetoCuts:
    """Capacity cuts chosen, among the attacker duals that prove a pattern fails, to be as tight
    as possible at a core point (Magnanti and Wong's Pareto-optimal cuts).

    At a rigid pattern (every sensitive cell pinned, as the master's integer solutions of
    three-way tables usually are) a great many duals prove the failure, and the one the
    attacker LP happens to return often cuts off little beyond that pattern. Here the dual is
    the solution of ``min sum_i w_i c_i(pi)`` over the multipliers ``pi`` of the equations of
    the cell's hidden block, where ``c_i`` is the capped capacity coefficient of cell ``i`` and
    ``w = x + share * core``: the failing pattern's cells dominate (so the cut stays violated
    there) and the core point (the root LP's solution) breaks the ties towards the cut it
    needs most: with both cuts the master's bound rises faster than with the plain ones.

    >>> import numpy as np, scipy.sparse as sp
    >>> from cellsuppress.suppress.model import Problem
    >>> M = sp.csr_matrix([[1., 1., -1.]])                      # a + b = total
    >>> p = Problem(M=M, a=np.array([3., 9., 12.]), cap_up=np.full(3, np.inf),
    ...             cap_dn=np.array([3., 9., 12.]), sensitive=np.array([True, False, False]),
    ...             up=np.array([18., 0, 0]), dn=np.array([3., 0, 0]), spl=np.zeros(3),
    ...             weight=np.ones(3), cost=np.ones(3), force_hidden=np.array([True, False, False]),
    ...             force_published=np.zeros(3, bool))
    >>> x = np.array([1., 0, 0])
    >>> cuts = ParetoCuts(p, core=np.array([1., .2, .9])).cuts(x, Separator(p).violations(x))
    >>> [(v.kind, v.coef.toarray().tolist()) for v in cuts]
    [('up', [0.0, 9.0, 18.0]), ('dn', [0.0, 3.0, 3.0])]
    """

    def __init__(self, p: Problem, core: np.ndarray, share: float = 0.2):
        self.p = p
        self.M = sp.csr_matrix(p.M)
        self.core = np.clip(np.asarray(core, dtype=float)[:p.n], 0.0, 1.0)
        self.share = share
        self.n_lps = 0

    def cuts(self, x: np.ndarray, viols: list[Violation], deadline: Deadline = NEVER) -> list[Violation]:
        """A Pareto cut for each up/down violation at the pattern ``x`` that one exists for
        (those done by ``deadline``).

        As in :class:`Separator`, the multipliers live on the equations of the failing cell's
        block of hidden cells; the LP has a column pair per cell of those equations (on a large
        table with small blocks an LP over every cell would make each round much dearer).
        """
        p = self.p
        todo = [v for v in viols if v.kind in ("up", "dn")]
        if not todo:
            return []
        n = p.n
        x = np.clip(np.asarray(x, dtype=float)[:n], 0.0, 1.0)
        w = x + self.share * self.core + 1e-4
        nb, bcell, brow = hidden_blocks(self.M, x > 0.5)
        row_order, row_cuts = block_members(brow, nb)
        by_block: dict[int, list[Violation]] = {}
        for v in todo:
            by_block.setdefault(int(bcell[v.cell]), []).append(v)
        out = []
        for b, vs in by_block.items():
            if b < 0:
                continue
            rows = row_order[row_cuts[b]:row_cuts[b + 1]]
            A = self.M[rows]
            cols = np.unique(A.indices)
            B = sp.csr_matrix(A[:, cols].T)  # cells x equations
            nc, nr = cols.size, rows.size
            local = {c: i for i, c in enumerate(cols)}
            # columns alpha (nc), beta (nc), pi (nr); rows alpha - beta + B pi = direction * e_k
            eye = sp.identity(nc, format="csr")
            model = HighsModel(LinearProgram(
                c=np.zeros(2 * nc + nr), A=sp.hstack([eye, -eye, B], format="csr"),
                row_lo=np.zeros(nc), row_hi=np.zeros(nc),
                col_lo=np.concatenate([np.zeros(2 * nc), np.full(nr, -np.inf)]), col_hi=np.full(2 * nc + nr, np.inf)))
            last = None
            for v in vs:
                if deadline.expired():
                    return out
                direction = 1.0 if v.kind == "up" else -1.0
                # capped capacities in units of the level: the same optimum, and sane numbers
                # when the cells hold values like 1e12 (unscaled, such an LP can run for minutes)
                cu = np.minimum(p.cap_up[cols] / v.level, 1.0)
                cd = np.minimum(p.cap_dn[cols] / v.level, 1.0)
                model.set_objective(np.concatenate([w[cols] * cu, w[cols] * cd, np.zeros(nr)]))
                j = local[v.cell]
                if last is not None:
                    model.set_row_bounds([last], [0.0], [0.0])
                model.set_row_bounds([j], [direction], [direction])
                last = j
                sol = model.solve_lp(time_limit=deadline.limit(floor=schedule.PARETO_LP_MIN))
                self.n_lps += 1
                if sol.status != "optimal" or sol.x is None:
                    continue
                coef = capacity_cut(cols, sol.x[:nc] - sol.x[nc:2 * nc], p.cap_up, p.cap_dn, v.level, n)
                if coef @ x < v.level - TOL * max(1.0, v.level):
                    out.append(Violation(v.cell, v.kind, v.level, v.gain, coef))
        return out


class SliceCuts:
    """Capacity cuts from the two-dimensional slices of a table with three or more dimensions.

    A slice fixes the codes of every dimension but two; its equations are those of the table
    whose cells all lie in it. An attacker bound by fewer equations can do at least as much,
    so a requirement that fails in a slice fails in the table, and the slice's attacker dual,
    with zero multipliers elsewhere, gives a valid cut. At the master's integer solutions of
    three-way tables every sensitive cell is often pinned by the whole block of hidden cells,
    and the dual the attacker LP returns there cuts off little else; in a slice the failure
    is a two-way one (no cycle of hidden cells through the cell), whose cuts are the strong
    ones that solve two-way tables in a round or two. With both, the bound of a time-limited
    ``protect`` on a three-way table rises well above the one of the whole-table cuts alone.

    >>> import pandas as pd
    >>> from cellsuppress import Table
    >>> from cellsuppress.suppress.problem import build_problem
    >>> from cellsuppress.rules import requirement
    >>> df = pd.DataFrame([(a, b, c, 5 if (a, b, c) == (1, 1, 1) else 30)
    ...                    for a in (1, 2) for b in (1, 2) for c in (1, 2)], columns=["A", "B", "C", "n"])
    >>> t = Table.from_frame(df, dims=["A", "B", "C"], count="n")
    >>> p = build_problem(t, requirement(t, "strict", 20), "value", False)
    >>> sc = SliceCuts(p)
    >>> len(sc.slices)                  # the three planes through the small cell
    3
    >>> x = p.force_hidden.astype(float)  # nothing but the small cell hidden
    >>> sorted({v.kind for v in sc.cuts(x)})
    ['dn', 'up']
    """

    def __init__(self, p: Problem):
        self.p = p
        # (cells, rows) of every slice through a sensitive cell; its Separator is built on first use
        self.slices: list[tuple[np.ndarray, np.ndarray]] = []
        self._seps: dict[int, Separator] = {}
        codes = p.codes
        if codes is None or codes.shape[1] < 3 or not p.sensitive.any():
            return
        M = sp.csr_matrix(p.M)
        nonempty = np.flatnonzero(np.diff(M.indptr) > 0)
        starts = M.indptr[nonempty]
        self.sens_pos = np.full(p.n, -1)
        self.sens_pos[p.sensitive] = np.arange(int(p.sensitive.sum()))
        ndim = codes.shape[1]
        size = codes.max(axis=0) + 1
        for free in itertools.combinations(range(ndim), 2):
            fixed = [d for d in range(ndim) if d not in free]
            key = np.ravel_multi_index(tuple(codes[:, fixed].T), tuple(size[fixed]))
            # an equation lies in a slice when all its cells share the slice's key
            kc = key[M.indices]
            kmin, kmax = np.minimum.reduceat(kc, starts), np.maximum.reduceat(kc, starts)
            inside = nonempty[kmin == kmax]
            row_key = kmin[kmin == kmax]
            wanted = np.unique(key[p.sensitive])
            cells_of = _group(key, wanted)
            rows_of = _group(row_key, wanted, inside)
            for k in wanted:
                if k in rows_of:
                    self.slices.append((cells_of[k], rows_of[k]))

    @property
    def n_lps(self) -> int:
        return sum(s.n_lps for s in self._seps.values())

    def _separator(self, i: int) -> Separator:
        if i not in self._seps:
            cells, rows = self.slices[i]
            self._seps[i] = Separator(self.p.restrict(cells, rows))
        return self._seps[i]

    def cuts(self, x: np.ndarray, side: np.ndarray | None = None, deadline: Deadline = NEVER,
             failing: np.ndarray | None = None, limit: int | None = None) -> list[Violation]:
        """The violated requirements of the slices at the pattern ``x``, with cuts over all
        cells (``side`` as in :meth:`Separator.violations`): those found by ``deadline``,
        at most about ``limit`` of them, only in slices through the
        ``failing`` cells if given (a requirement that holds in the table holds in its slices)."""
        x = np.asarray(x, dtype=float)[:self.p.n]
        todo = range(len(self.slices))
        if failing is not None:
            bad = np.zeros(self.p.n, dtype=bool)
            bad[np.asarray(failing, dtype=np.int64)] = True
            todo = [i for i, (cells, _) in enumerate(self.slices) if bad[cells].any()]
        out: list[Violation] = []
        for i in todo:
            if deadline.expired() or (limit is not None and len(out) >= limit):
                break
            cells = self.slices[i][0]
            sep = self._separator(i)
            sub_side = None
            if side is not None:
                sub_side = np.asarray(side)[self.sens_pos[cells[sep.p.sensitive]]]
            for v in sep.violations(x[cells], sub_side, deadline=deadline):
                out.append(Violation(int(cells[v.cell]), v.kind, v.level, v.gain, v.coef.embedded(cells, self.p.n)))
        return out


def _group(keys: np.ndarray, wanted: np.ndarray, items: np.ndarray | None = None) -> dict:
    """``{key: items whose key it is}`` for the keys in ``wanted`` (sorted, unique) that some
    item has (items default to positions)."""
    items = np.arange(keys.size) if items is None else items
    label = np.searchsorted(wanted, keys)
    label[~np.isin(keys, wanted)] = -1  # keys outside ``wanted`` belong to no group
    order, cuts = block_members(label, wanted.size)
    return {int(w): items[order[cuts[i]:cuts[i + 1]]] for i, w in enumerate(wanted) if cuts[i + 1] > cuts[i]}
