"""The audit: attacker's intervals against hand-derived and brute-force answers, verdicts, inputs."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellsuppress import Hierarchy, HierarchyError, LinearTable, Table
from cellsuppress.auditing.intervals import feasibility_intervals
from cellsuppress.auditing.report import AuditError, audit
from cellsuppress.rules import RuleError, requirement
from helpers import leaves_below


def grid_table(rows: list[list[int]]) -> Table:
    """A 2-way table r x c (flat dimensions) from a matrix of leaf counts."""
    recs = [(f"r{i}", f"c{j}", v) for i, row in enumerate(rows) for j, v in enumerate(row)]
    return Table.from_frame(pd.DataFrame(recs, columns=["r", "c", "n"]), dims=["r", "c"], count="n")


def line_table(values: dict) -> Table:
    """A 1-way table Total = sum of the given cells."""
    df = pd.DataFrame({"d": list(values), "n": list(values.values())})
    return Table.from_frame(df, dims=["d"], count="n")


def mask(t: Table, cells: list[tuple]) -> np.ndarray:
    f = t.frame
    out = np.zeros(t.n_cells, dtype=bool)
    for codes in cells:
        sel = np.ones(t.n_cells, dtype=bool)
        for d, c in zip(t.dims, codes):
            sel &= (f[d] == c).to_numpy()
        assert sel.sum() == 1
        out |= sel
    return out


def cell(t: Table, *codes) -> int:
    return int(np.flatnonzero(mask(t, [codes]))[0])


# -- known cases -------------------------------------------------------------------
@pytest.mark.parametrize("integer", [False, True])
def test_single_hidden_cell_is_exactly_disclosed(integer):
    t = grid_table([[3, 40], [25, 30]])
    k = cell(t, "r0", "c0")
    rep = audit(t, hidden=mask(t, [("r0", "c0")]), integer=integer)
    assert rep.ok is False
    assert rep.lo[k] == rep.hi[k] == 3
    row = rep.frame.loc[k]
    assert (row.lo, row.hi, row.value) == (3, 3, 3)
    assert row.reason == "exactly disclosed"
    assert bool(row.sensitive) is True and bool(row.protected) is False
    assert len(rep.unprotected) == 1 and rep.n_hidden == 1


def test_two_hidden_cells_in_a_row_give_their_sum():
    t = line_table({"a": 3, "b": 4, "c": 10, "d": 25})
    hidden = mask(t, [("a",), ("b",)])
    rep = audit(t, hidden=hidden)
    a, b = cell(t, "a"), cell(t, "b")
    assert (rep.lo[a], rep.hi[a]) == (0, 7)
    assert (rep.lo[b], rep.hi[b]) == (0, 7)
    assert rep.ok is False
    assert len(rep.multi_cell) == 1
    mc = rep.multi_cell.iloc[0]
    assert mc["sum"] == 7
    assert mc["equation"] == "(d=Total) = (d=a) + (d=b) + (d=c) + (d=d)"
    assert mc["cells"] == "(d=a); (d=b)"
    # strict rejects each cell on its own too: the interval does not reach 21
    assert rep.frame.loc[a, "protected"] == False  # noqa: E712
    assert "upper bound below 21" in rep.frame.loc[a, "reason"]


def test_two_hidden_cells_with_a_large_sum_are_no_multi_cell_disclosure():
    t = line_table({"a": 3, "b": 40, "c": 50})
    rep = audit(t, hidden=mask(t, [("a",), ("b",)]))
    assert rep.multi_cell.empty
    a = cell(t, "a")
    assert (rep.lo[a], rep.hi[a]) == (0, 43)
    assert rep.ok is True
    assert rep.frame.loc[a, "reason"] == "protected"
    assert rep.frame.loc[cell(t, "b"), "reason"] == "not sensitive"


@pytest.mark.parametrize("a, b, c, d", [(5, 8, 3, 12), (1, 30, 25, 2), (7, 7, 7, 7), (0, 4, 9, 6)])
@pytest.mark.parametrize("integer", [False, True])
def test_rectangle_textbook_intervals(a, b, c, d, integer):
    # 3x3 interior; the 2x2 rectangle rows r0,r1 x columns c0,c1 is hidden
    t = grid_table([[a, b, 11], [c, d, 13], [17, 19, 23]])
    cells = [("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1")]
    rep = audit(t, hidden=mask(t, cells), integer=integer)
    # a deviation t moves a+t, b-t, c-t, d+t
    expected = {
        ("r0", "c0"): (a - min(a, d), a + min(b, c)),
        ("r0", "c1"): (b - min(b, c), b + min(a, d)),
        ("r1", "c0"): (c - min(b, c), c + min(a, d)),
        ("r1", "c1"): (d - min(a, d), d + min(b, c)),
    }
    for codes, (lo, hi) in expected.items():
        k = cell(t, *codes)
        assert (rep.lo[k], rep.hi[k]) == (lo, hi), codes
    assert rep.stats["blocks"] == 1


def test_published_cells_keep_their_value():
    t = grid_table([[5, 8], [3, 12]])
    rep = audit(t, hidden=mask(t, [("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1")]))
    pub = ~mask(t, [("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1")])
    assert np.array_equal(rep.lo[pub], t.values[pub]) and np.array_equal(rep.hi[pub], t.values[pub])


def test_published_sensitive_cell_fails():
    t = grid_table([[5, 30], [40, 50]])
    rep = audit(t, hidden=np.zeros(t.n_cells, bool))
    k = cell(t, "r0", "c0")
    assert rep.ok is False
    assert rep.frame.loc[k, "reason"] == "published"
    assert rep.frame.loc[k, "protected"] == False  # noqa: E712


def test_zero_is_publishable_and_large_cells_safe():
    t = grid_table([[0, 30], [40, 50]])
    rep = audit(t, hidden=np.zeros(t.n_cells, bool))
    assert rep.ok is True and rep.frame.empty


# -- brute force on small random tables ----------------------------------------------


def compositions(total: int, k: int) -> np.ndarray:
    """All k-tuples of non-negative integers that sum to ``total`` (stars and bars)."""
    if total < 0 or k == 0:
        return np.zeros((1 if total == 0 else 0, k), dtype=np.int64)
    if k == 1:
        return np.array([[total]], dtype=np.int64)
    bars = np.array(list(itertools.combinations(range(total + k - 1), k - 1)), dtype=np.int64)
    edges = np.hstack([np.full((bars.shape[0], 1), -1), bars, np.full((bars.shape[0], 1), total + k - 1)])
    return np.diff(edges, axis=1) - 1


def brute_force(t: Table, hidden: np.ndarray, hidden_lb: int = 0):
    """Integer min and max of every hidden cell over all tables consistent with what is published.

    Every leaf-level table is enumerated whose hidden leaves sum to what the published grand total
    leaves for them; margins are computed from the leaves independently of the library.
    """
    f = t.frame
    below = [{c: leaves_below(h, c) for c in h.codes} for h in t.hierarchies]
    is_leaf_cell = np.ones(t.n_cells, dtype=bool)
    for d, h in zip(t.dims, t.hierarchies):
        is_leaf_cell &= f[d].isin(h.leaves).to_numpy()
    leaf_cells = np.flatnonzero(is_leaf_cell)
    B = np.zeros((t.n_cells, leaf_cells.size), dtype=np.int64)
    for i in range(t.n_cells):
        for j, lc in enumerate(leaf_cells):
            B[i, j] = all(f.loc[lc, d] in below[k][f.loc[i, d]] for k, d in enumerate(t.dims))
    assert (B[0] == 1).all() and not hidden[0]  # the grand total is cell 0 and published
    a = t.values.astype(np.int64)
    h_leaf = hidden[leaf_cells]
    rest = int(a[0] - a[leaf_cells[~h_leaf]].sum())
    k = int(h_leaf.sum())
    comps = compositions(rest - hidden_lb * k, k) + hidden_lb
    Y = np.tile(a[leaf_cells], (comps.shape[0], 1))
    Y[:, h_leaf] = comps
    V = Y @ B.T
    ok = (V[:, ~hidden] == a[~hidden]).all(axis=1) & (V[:, hidden] >= hidden_lb).all(axis=1)
    assert ok.any()  # the true table is one of them
    return V[ok].min(axis=0), V[ok].max(axis=0)


def leaf_frame(hierarchies: list[Hierarchy], counts: list[int]) -> pd.DataFrame:
    combos = list(itertools.product(*[h.leaves for h in hierarchies]))
    df = pd.DataFrame(combos, columns=[f"d{j}" for j in range(len(hierarchies))])
    df["n"] = counts
    return df


KINDS = {
    "2way": lambda draw: [Hierarchy.flat([f"a{i}" for i in range(draw(st.integers(2, 3)))]),
                          Hierarchy.flat([f"b{i}" for i in range(draw(st.integers(2, 3)))])],
    "3way": lambda draw: [Hierarchy.flat(["a0", "a1"]), Hierarchy.flat(["b0", "b1"]),
                          Hierarchy.flat(["c0", "c1"])],
    "hier": lambda draw: [Hierarchy.from_mapping({"T": ["g1", "g2"], "g1": ["a", "b"], "g2": ["c", "d"]}),
                          Hierarchy.flat([f"b{i}" for i in range(draw(st.integers(2, 3)))])],
}


@st.composite
def small_cases(draw, kind, nonzero=False):
    hs = KINDS[kind](draw)
    n_leaves = int(np.prod([len(h.leaves) for h in hs]))
    lo = 1 if nonzero else 0
    counts = draw(st.lists(st.integers(lo, 6), min_size=n_leaves, max_size=n_leaves))
    df = leaf_frame(hs, counts)
    dims = list(df.columns[:-1])
    t = Table.from_frame(df, dims=dims, count="n", hierarchies=dict(zip(dims, hs)))
    f = t.frame
    is_leaf_cell = np.ones(t.n_cells, dtype=bool)
    for d, h in zip(dims, hs):
        is_leaf_cell &= f[d].isin(h.leaves).to_numpy()
    leaf_cells = np.flatnonzero(is_leaf_cell).tolist()
    margins = [i for i in range(1, t.n_cells) if not is_leaf_cell[i]]  # never the grand total (cell 0)
    hidden = np.zeros(t.n_cells, dtype=bool)
    hidden[sorted(draw(st.sets(st.sampled_from(leaf_cells), min_size=1, max_size=5)))] = True
    hidden[sorted(draw(st.sets(st.sampled_from(margins), max_size=len(margins))))] = True
    return t, hidden


def check_against_brute_force(t: Table, hidden: np.ndarray, hidden_nonzero: bool = False):
    lb = 1 if hidden_nonzero else 0
    blo, bhi = brute_force(t, hidden, hidden_lb=lb)
    ilp = audit(t, hidden=hidden, integer=True, hidden_nonzero=hidden_nonzero)
    lp = audit(t, hidden=hidden, integer=False, hidden_nonzero=hidden_nonzero)
    h = np.flatnonzero(hidden)
    assert np.array_equal(ilp.lo[h], blo[h]), (ilp.lo[h], blo[h])
    assert np.array_equal(ilp.hi[h], bhi[h]), (ilp.hi[h], bhi[h])
    assert (lp.lo[h] <= ilp.lo[h] + 1e-6).all()
    assert (lp.hi[h] >= ilp.hi[h] - 1e-6).all()
    # the true value is always inside
    assert ((lp.lo[h] <= t.values[h] + 1e-6) & (t.values[h] <= lp.hi[h] + 1e-6)).all()


@settings(max_examples=60, deadline=None)
@given(small_cases("2way"))
def test_brute_force_two_way(case):
    check_against_brute_force(*case)


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(small_cases("3way"))
def test_brute_force_three_way(case):
    check_against_brute_force(*case)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(small_cases("hier"))
def test_brute_force_two_way_with_hierarchy(case):
    check_against_brute_force(*case)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["2way", "3way", "hier"]).flatmap(lambda k: small_cases(k, nonzero=True)))
def test_brute_force_hidden_nonzero(case):
    check_against_brute_force(*case, hidden_nonzero=True)


def test_three_way_integer_attacker_is_tighter_than_lp():
    """A 3x3x3 table (all 2-way margins published) where the LP has a half-integral vertex.

    The LP attacker sees non-degenerate intervals (mostly of width 1/2) for the 17 hidden cells; the
    integer attacker knows each of them exactly.
    """
    hs = [Hierarchy.flat([f"{p}{i}" for i in range(3)]) for p in "abc"]
    counts = [2, 3, 0, 2, 2, 1, 3, 2, 3, 2, 2, 1, 1, 3, 1, 3, 0, 3, 0, 3, 0, 1, 1, 0, 1, 3, 1]
    t = Table.from_frame(leaf_frame(hs, counts), dims=["d0", "d1", "d2"], count="n")
    codes = ["000", "002", "010", "012", "100", "101", "102", "111", "112", "120", "122",
             "201", "202", "210", "211", "220", "222"]
    hidden = mask(t, [(f"a{x}", f"b{y}", f"c{z}") for x, y, z in codes])
    h = np.flatnonzero(hidden)
    lp = audit(t, hidden=hidden, preset="exact", sensitive=hidden)
    ilp = audit(t, hidden=hidden, preset="exact", sensitive=hidden, integer=True)
    width = lp.hi[h] - lp.lo[h]
    assert (width > 0.25).all()
    # 16 cells are within less than 1 of their integer value, so integral tables keep them; the last
    # one (LP width 1) is then fixed by an equation it shares with them
    strictly = (lp.lo[h] > t.values[h] - 1) & (lp.hi[h] < t.values[h] + 1)
    assert strictly.sum() == 16
    assert np.array_equal(ilp.lo[h], t.values[h]) and np.array_equal(ilp.hi[h], t.values[h])
    # only the integer attacker sees the disclosure
    assert lp.ok is True
    assert ilp.ok is False
    assert set(ilp.frame.loc[h, "reason"]) == {"exactly disclosed"}


# -- hidden_nonzero --------------------------------------------------------------------------
def test_hidden_nonzero_pins_two_ones():
    # 15 = 10 + 3 + x + x: with hidden cells at least 1, both are 1
    t = line_table({"a": 10, "b": 3, "c": 1, "d": 1})
    hidden = mask(t, [("c",), ("d",)])
    rep = audit(t, hidden=hidden)
    c = cell(t, "c")
    assert (rep.lo[c], rep.hi[c]) == (0, 2)
    rep1 = audit(t, hidden=hidden, hidden_nonzero=True)
    assert (rep1.lo[c], rep1.hi[c]) == (1, 1)
    assert rep1.frame.loc[c, "reason"] == "exactly disclosed"


def test_hidden_nonzero_with_a_hidden_zero_is_an_error():
    t = line_table({"a": 25, "b": 0, "c": 30})
    with pytest.raises(AuditError, match=r"hidden_nonzero=True, but hidden cell\(s\) \(d=b\) are 0"):
        audit(t, hidden=mask(t, [("b",), ("c",)]), hidden_nonzero=True)


def test_hidden_nonzero_raises_the_lower_bound():
    t = line_table({"a": 25, "b": 3, "c": 30})
    hidden = mask(t, [("b",), ("c",)])
    b, c = cell(t, "b"), cell(t, "c")
    rep = audit(t, hidden=hidden)
    assert (rep.lo[b], rep.hi[b], rep.lo[c], rep.hi[c]) == (0, 33, 0, 33)
    rep1 = audit(t, hidden=hidden, hidden_nonzero=True, integer=True)
    assert (rep1.lo[b], rep1.hi[b], rep1.lo[c], rep1.hi[c]) == (1, 32, 1, 32)
    # strict then asks the interval to reach down to the attacker's bound 1, which it does
    assert rep1.frame.loc[b, "protected"] == True  # noqa: E712
    assert rep1.ok is True


# -- the attacker's floor under hidden_nonzero ----------------------------------------------
NESTED = {"T": ["g1", "e"], "g1": ["g2", "c"], "g2": ["a", "b"]}
FLOOR_HIERARCHIES = {
    "flat2": lambda: Hierarchy.flat(["a", "b"]),
    "flat3": lambda: Hierarchy.flat(["a", "b", "c"]),
    "groups": lambda: Hierarchy.from_mapping({"T": ["g1", "g2"], "g1": ["a", "b"], "g2": ["c", "d"]}),
    "nested": lambda: Hierarchy.from_mapping(NESTED),
}


def nonzero_leaves_below(t: Table) -> np.ndarray:
    """Per cell, the number of non-zero (or unknown) finest-level cells below it, by walking codes."""
    f = t.frame
    below = [{c: leaves_below(h, c) for c in h.codes} for h in t.hierarchies]
    is_leaf_cell = np.ones(t.n_cells, dtype=bool)
    for d, h in zip(t.dims, t.hierarchies):
        is_leaf_cell &= f[d].isin(h.leaves).to_numpy()
    nonzero_leaves = [i for i in np.flatnonzero(is_leaf_cell) if t.values[i] != 0]
    return np.array([sum(all(f.loc[j, d] in below[k][f.loc[i, d]] for k, d in enumerate(t.dims))
                         for j in nonzero_leaves) for i in range(t.n_cells)], dtype=float)


@st.composite
def floor_tables(draw):
    names = draw(st.lists(st.sampled_from(sorted(FLOOR_HIERARCHIES)), min_size=1, max_size=2))
    hs = [FLOOR_HIERARCHIES[nm]() for nm in names]
    n_leaves = int(np.prod([len(h.leaves) for h in hs]))
    counts = draw(st.lists(st.sampled_from([0, 0, 1, 2, 7, 30]), min_size=n_leaves, max_size=n_leaves))
    df = leaf_frame(hs, counts)
    dims = list(df.columns[:-1])
    return Table.from_frame(df, dims=dims, count="n", hierarchies=dict(zip(dims, hs)))


@settings(max_examples=30, deadline=None)
@given(floor_tables(), st.randoms(use_true_random=False))
def test_nonzero_floor_counts_the_nonzero_cells_below(t, rnd):
    expected = nonzero_leaves_below(t)
    assert np.array_equal(t.nonzero_floor(), expected)
    # without dimensions (as from a JJ file) the equations give the same floor
    flat_t = LinearTable(values=t.values, M=t.M)
    assert np.array_equal(flat_t.nonzero_floor(), expected)
    # published with its non-zero cells hidden at random: a hidden cell counts as non-zero
    f = t.frame.rename(columns={"value": "n"}).astype({"n": object})
    hide = (t.values != 0) & np.array([rnd.random() < 0.5 for _ in range(t.n_cells)])
    f.loc[hide, "n"] = "x"
    pub = Table.from_published(f, dims=t.dims, count="n", hierarchies=dict(zip(t.dims, t.hierarchies)))
    assert np.array_equal(pub.nonzero_floor(), expected)
    req = requirement(pub, "strict", hidden_nonzero=True)
    assert np.array_equal(req.attacker_lb, expected) and np.array_equal(req.need_lo, expected)


def test_hidden_nonzero_floor_of_a_subtotal():
    # g1 = a + b = 8 + 8: hidden cells known to be non-zero make g1 at least 2, so strict asks
    # its interval to reach down to 2 (it can never reach 1)
    t = Table.from_frame(pd.DataFrame({"d": ["a", "b", "c"], "n": [8, 8, 50]}), dims=["d"], count="n",
                         hierarchies={"d": {"T": ["g1", "c"], "g1": ["a", "b"]}})
    g1, a = cell(t, "g1"), cell(t, "a")
    req = requirement(t, "strict", hidden_nonzero=True)
    assert (req.need_lo[g1], req.need_lo[a]) == (2, 1)
    hidden = mask(t, [("g1",), ("a",), ("b",), ("c",)])
    for integer in (False, True):
        rep = audit(t, hidden=hidden, hidden_nonzero=True, integer=integer)
        assert (rep.lo[g1], rep.hi[g1], rep.lo[a]) == (2, 65, 1)
        assert rep.ok


def test_hidden_nonzero_lower_bound_above_the_floor():
    # g1 = a + b + z with z = 5 published: g1 is at least 7, above its floor of 3
    t = Table.from_frame(pd.DataFrame({"d": ["a", "b", "z", "c"], "n": [3, 4, 5, 50]}), dims=["d"], count="n",
                         hierarchies={"d": {"T": ["g1", "c"], "g1": ["a", "b", "z"]}})
    g1 = cell(t, "g1")
    rep = audit(t, hidden=mask(t, [("g1",), ("a",), ("b",), ("c",)]), hidden_nonzero=True)
    assert (rep.lo[g1], rep.hi[g1]) == (7, 61)
    assert rep.frame.loc[g1, "reason"] == "lower bound above 3"
    assert not rep.ok
    # hiding z too lets g1 reach its floor
    rep = audit(t, hidden=mask(t, [("g1",), ("a",), ("b",), ("z",), ("c",)]), hidden_nonzero=True)
    assert rep.lo[g1] == 3 and rep.ok


def test_published_table_audits_against_the_floor():
    # Total = a + b = 16 with every cell hidden: the total is at least 2, no more is known
    t = published({"Total": "x", "a": "x", "b": "x"})
    rep = audit(t, hidden_nonzero=True)
    k = cell(t, "Total")
    assert (rep.lo[k], rep.hi[k]) == (2, np.inf)
    assert rep.frame.loc[k, "reason"] == "protected whatever its value"
    assert rep.ok


def brute_force_nonzero(t: Table, hidden: np.ndarray) -> np.ndarray:
    """Integer min of every cell over all tables consistent with what is published, each hidden
    leaf between 1 and the grand total (the box holds a minimiser on these tiny tables)."""
    f = t.frame
    below = [{c: leaves_below(h, c) for c in h.codes} for h in t.hierarchies]
    is_leaf_cell = np.ones(t.n_cells, dtype=bool)
    for d, h in zip(t.dims, t.hierarchies):
        is_leaf_cell &= f[d].isin(h.leaves).to_numpy()
    leaf_cells = np.flatnonzero(is_leaf_cell)
    B = np.array([[all(f.loc[lc, d] in below[k][f.loc[i, d]] for k, d in enumerate(t.dims)) for lc in leaf_cells]
                  for i in range(t.n_cells)], dtype=np.int64)
    a = t.values.astype(np.int64)
    h_leaf = hidden[leaf_cells]
    top = max(int(a.max()), 1)
    Y = np.tile(a[leaf_cells], (top ** int(h_leaf.sum()), 1))
    Y[:, h_leaf] = np.array(list(itertools.product(range(1, top + 1), repeat=int(h_leaf.sum()))))
    V = Y @ B.T
    ok = (V[:, ~hidden] == a[~hidden]).all(axis=1)
    assert ok.any()  # the true table is one of them
    return V[ok].min(axis=0)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["groups", "nested", "2x2"]), st.lists(st.integers(0, 3), min_size=4, max_size=4),
       st.randoms(use_true_random=False))
def test_floor_is_what_the_integer_attacker_can_reach(kind, counts, rnd):
    hs = ([Hierarchy.flat(["a", "b"]), Hierarchy.flat(["c", "d"])] if kind == "2x2"
          else [FLOOR_HIERARCHIES[kind]()])
    df = leaf_frame(hs, counts)
    dims = list(df.columns[:-1])
    t = Table.from_frame(df, dims=dims, count="n", hierarchies=dict(zip(dims, hs)))
    floor = requirement(t, "strict", hidden_nonzero=True).attacker_lb
    nonzero = t.values != 0
    some = nonzero & np.array([rnd.random() < 0.6 for _ in range(t.n_cells)])
    for hidden in (nonzero, some):
        if not hidden.any():
            continue
        lo = brute_force_nonzero(t, hidden)
        h = np.flatnonzero(hidden)
        # the attacker always knows the floor, and the audit's integer attacker no more than that
        assert (lo[h] >= floor[h]).all()
        rep = audit(t, hidden=hidden, hidden_nonzero=True, integer=True)
        assert np.array_equal(rep.lo[h], lo[h]), (rep.lo[h], lo[h])
    # hiding every non-zero cell takes every cell down to its floor: strict asks no less
    if nonzero.any():
        h = np.flatnonzero(nonzero)
        assert np.array_equal(brute_force_nonzero(t, nonzero)[h], floor[h])


# -- the audit's shortcuts against one solve per cell and direction -------------------------
def every_solve_reference(t: Table, hidden: np.ndarray, integer: bool):
    """Min and max of every hidden cell, each by its own solve (scipy's HiGHS), no shortcuts."""
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp

    h = np.flatnonzero(hidden)
    M = t.M.tocsr()
    A = M[:, h]
    rows = np.flatnonzero(np.diff(A.tocsr().indptr))
    A = A[rows]
    target = A @ t.values[h]
    lb, ub = t.lb[h], t.ub[h]
    lo, hi = np.empty(h.size), np.empty(h.size)
    for i in range(h.size):
        for sign, out in ((1.0, lo), (-1.0, hi)):
            c = np.zeros(h.size)
            c[i] = sign
            if integer:
                res = milp(c, constraints=LinearConstraint(A, target, target), bounds=Bounds(lb, ub),
                           integrality=np.ones(h.size))
            else:
                res = linprog(c, A_eq=A, b_eq=target, bounds=np.column_stack([lb, ub]), method="highs")
            assert res.status in (0, 3), res.message
            out[i] = sign * res.fun if res.status == 0 else sign * -np.inf
    return lo, hi


def random_hier_table(seed: int) -> tuple[Table, np.ndarray]:
    """A (region > district) x age [x sex] table with random counts, bounds and hidden cells."""
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(2, 4))
    mapping = {"T": [f"g{g}" for g in range(n_groups)]}
    for g in range(n_groups):
        mapping[f"g{g}"] = [f"g{g}d{d}" for d in range(int(rng.integers(2, 4)))]
    hs = [Hierarchy.from_mapping(mapping), Hierarchy.flat([f"a{i}" for i in range(int(rng.integers(3, 6)))])]
    if seed % 3 == 0:
        hs.append(Hierarchy.flat(["m", "f"]))
    n_leaves = int(np.prod([len(h.leaves) for h in hs]))
    counts = np.where(rng.random(n_leaves) < 0.2, 0, rng.integers(1, 15, n_leaves)).tolist()
    df = leaf_frame(hs, counts)
    dims = list(df.columns[:-1])
    t = Table.from_frame(df, dims=dims, count="n", hierarchies=dict(zip(dims, hs)))
    n = t.n_cells
    # finite upper bounds on some cells, so that tables reaching them occur
    t.ub = np.where(rng.random(n) < 0.5, t.values + rng.integers(0, 4, n), np.inf)
    hidden = rng.random(n) < rng.uniform(0.3, 0.6)
    hidden[0] = False
    return t, hidden


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_intervals_equal_one_solve_per_cell(seed, integer):
    t, hidden = random_hier_table(seed)
    iv = feasibility_intervals(t, hidden, integer=integer)
    ref_lo, ref_hi = every_solve_reference(t, hidden, integer)
    h = np.flatnonzero(hidden)
    if integer:
        ref_lo, ref_hi = np.ceil(ref_lo - 1e-6), np.floor(ref_hi + 1e-6)
        assert np.array_equal(iv.lo[h], ref_lo) and np.array_equal(iv.hi[h], ref_hi)
    else:
        np.testing.assert_allclose(iv.lo[h], ref_lo, rtol=1e-9, atol=1e-7)
        np.testing.assert_allclose(iv.hi[h], ref_hi, rtol=1e-9, atol=1e-7)
    # the shortcuts did take the place of solves
    assert iv.n_solves < 2 * h.size


@pytest.mark.parametrize("seed", [1, 2, 4, 5, 7, 8])
def test_relations_hold_on_every_table(seed):
    """The relations the audit finds between hidden cells hold on many tables."""
    from scipy.optimize import linprog

    from cellsuppress.auditing.intervals import _relations

    t, hidden = random_hier_table(seed)
    h = np.flatnonzero(hidden)
    A = t.M.tocsr()[:, h]
    A = A[np.flatnonzero(np.diff(A.indptr))]
    target = A @ t.values[h]
    bounds = np.column_stack([t.lb[h], t.ub[h]])
    group, const, scale = _relations(A, target, t.lb[h], t.ub[h])
    assert (group == -2).any() and (group >= 0).any()
    rng = np.random.default_rng(seed)
    Y = np.array([linprog(rng.standard_normal(h.size), A_eq=A, b_eq=target, bounds=bounds, method="highs").x
                  for _ in range(40)])
    pinned = group == -2
    assert np.abs(Y[:, pinned] - const[pinned]).max() < 1e-6
    moved = 0
    for g in np.unique(group[group >= 0]):
        mem = np.flatnonzero(group == g)
        a = mem[(scale[mem] == 1) & (const[mem] == 0)][0]
        assert np.abs(Y[:, mem] - (const[mem] + np.outer(Y[:, a], scale[mem]))).max() < 1e-6
        moved += np.ptp(Y[:, a]) > 1e-6
    assert moved


# -- published tables audited without the hidden values --------------------------------------
def published(values: dict) -> Table:
    df = pd.DataFrame({"d": list(values), "n": [str(v) for v in values.values()]})
    return Table.from_published(df, dims=["d"], count="n")


def test_published_cell_disclosed_inside_1_to_20():
    t = published({"Total": 10, "a": 5, "b": "x", "c": 0})
    rep = audit(t)
    b = cell(t, "b")
    assert (rep.lo[b], rep.hi[b]) == (5, 5)
    assert bool(rep.frame.loc[b, "sensitive"]) is True
    assert bool(rep.frame.loc[b, "protected"]) is False
    assert rep.frame.loc[b, "reason"] == "exactly disclosed"
    assert rep.ok is False


def test_published_cell_interval_inside_1_to_20():
    # a published 3x3 grid whose 2x2 rectangle a=4, b=8 / c=5, d=25 carries markers
    full = grid_table([[4, 8, 30], [5, 25, 30], [30, 30, 30]])
    f = full.frame.rename(columns={"value": "n"}).astype({"n": object})
    hide = mask(full, [("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1")])
    f.loc[hide, "n"] = "x"
    t = Table.from_published(f, dims=["r", "c"], count="n")
    rep = audit(t)
    k = cell(t, "r0", "c0")
    # a + min(b, c) = 4 + 5 = 9 and a - min(a, d) = 0: interval [0, 9]; here the sum a + c = 9
    assert (rep.lo[k], rep.hi[k]) == (0, 9)
    k = cell(t, "r0", "c1")  # b in [8 - min(8, 5), 8 + min(4, 25)] = [3, 12]: inside 1..20
    assert (rep.lo[k], rep.hi[k]) == (3, 12)
    assert bool(rep.frame.loc[k, "sensitive"]) is True
    assert bool(rep.frame.loc[k, "protected"]) is False
    assert rep.frame.loc[k, "reason"] == "interval inside 1..20"
    assert rep.ok is False


def test_published_protected_whatever_its_value():
    t = published({"Total": 100, "a": 50, "b": "x", "c": "*"})
    rep = audit(t)
    for code in ("b", "c"):
        k = cell(t, code)
        assert (rep.lo[k], rep.hi[k]) == (0, 50)
        assert bool(rep.frame.loc[k, "protected"]) is True
        assert rep.frame.loc[k, "reason"] == "protected whatever its value"
        assert pd.isna(rep.frame.loc[k, "value"])
    assert rep.ok is True


def test_published_undetermined():
    t = published({"Total": 25, "a": 10, "b": "x", "c": "x"})
    rep = audit(t)
    b = cell(t, "b")
    assert (rep.lo[b], rep.hi[b]) == (0, 15)
    assert pd.isna(rep.frame.loc[b, "protected"])
    assert rep.frame.loc[b, "reason"].startswith("undetermined")
    assert len(rep.undetermined) == 2
    assert rep.multi_cell["sum"].tolist() == [15]
    assert rep.ok is False


def test_published_not_sensitive_whatever_its_value():
    t = published({"Total": 100, "a": 50, "b": "x", "c": 20})
    rep = audit(t)
    b = cell(t, "b")
    assert (rep.lo[b], rep.hi[b]) == (30, 30)
    assert bool(rep.frame.loc[b, "sensitive"]) is False
    assert bool(rep.frame.loc[b, "protected"]) is True
    # c = 20 is published and sensitive
    assert rep.frame.loc[cell(t, "c"), "reason"] == "published"
    assert rep.ok is False


def test_published_values_that_contradict():
    t = published({"Total": 10, "a": 5, "b": "x", "c": 8})
    with pytest.raises(AuditError, match="contradict"):
        audit(t)


def test_published_custom_preset_is_an_error():
    t = published({"Total": 100, "a": 50, "b": "x", "c": "x"})
    with pytest.raises(RuleError, match="custom.*true values"):
        audit(t, preset="custom", lpl=1, upl=1)
    with pytest.raises(RuleError, match="custom"):
        audit(t, preset="custom")


def test_custom_preset_with_known_values():
    t = line_table({"a": 5, "b": 8, "c": 30})
    hidden = mask(t, [("a",), ("b",)])
    a = cell(t, "a")
    # a is in [0, 13]: UPL 8 is met, UPL 9 is not
    assert audit(t, hidden=hidden, preset="custom", upl=8).frame.loc[a, "protected"] == True  # noqa: E712
    rep = audit(t, hidden=hidden, preset="custom", upl=9)
    assert rep.frame.loc[a, "protected"] == False  # noqa: E712
    assert "upper bound below 14" in rep.frame.loc[a, "reason"]


# -- forms of `hidden` -----------------------------------------------------------------------
def frame_with_flag() -> pd.DataFrame:
    return pd.DataFrame({"r": ["a", "a", "b", "b"], "c": ["x", "y", "x", "y"],
                         "n": [3, 40, 25, 30], "supp": [True, True, False, False]})


def test_hidden_as_a_column_name():
    t = Table.from_frame(frame_with_flag(), dims=["r", "c"], count="n")
    rep = audit(t, hidden="supp")
    expected = mask(t, [("a", "x"), ("a", "y")])
    assert rep.n_hidden == 2
    assert sorted(rep.frame.index[rep.frame["hidden"]]) == sorted(np.flatnonzero(expected))
    k = cell(t, "a", "x")
    assert (rep.lo[k], rep.hi[k]) == (3, 3)  # the column (x) equation pins it
    with pytest.raises(AuditError, match="hidden column 'nope' not in the table"):
        audit(t, hidden="nope")
    with pytest.raises(AuditError, match="must be boolean"):
        audit(t, hidden="c")


@pytest.mark.parametrize("yes, no", [("1", "0"), ("TRUE", "false"), ("Yes", "no"), (1, 0), (1.0, 0.0)])
def test_hidden_column_accepts_0_1_true_false_yes_no(yes, no):
    df = frame_with_flag().assign(supp=[yes, yes, no, no])
    t = Table.from_frame(df, dims=["r", "c"], count="n")
    rep = audit(t, hidden="supp")
    assert sorted(rep.frame.index[rep.frame["hidden"]]) == sorted(np.flatnonzero(mask(t, [("a", "x"), ("a", "y")])))


def test_hidden_column_with_other_values_names_them():
    t = Table.from_frame(frame_with_flag().assign(supp=["yes", "maybe", "no", "2"]), dims=["r", "c"], count="n")
    with pytest.raises(AuditError, match=r"hidden column 'supp' must be boolean \(0/1, true/false or yes/no\); "
                                         r"found 'maybe', '2'"):
        audit(t, hidden="supp")


def test_hidden_as_a_frame_of_codes():
    t = Table.from_frame(frame_with_flag(), dims=["r", "c"], count="n")
    codes = pd.DataFrame({"r": ["a", "a", "b", "b"], "c": ["x", "y", "x", "y"]})
    rep = audit(t, hidden=codes)
    assert rep.n_hidden == 4
    k = cell(t, "a", "x")
    assert (rep.lo[k], rep.hi[k]) == (3 - 3, 3 + 25)
    with pytest.raises(HierarchyError, match="'z'"):
        audit(t, hidden=pd.DataFrame({"r": ["z"], "c": ["x"]}))


def test_hidden_as_a_boolean_array_and_wrong_length():
    t = Table.from_frame(frame_with_flag(), dims=["r", "c"], count="n")
    m = mask(t, [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")])
    assert audit(t, hidden=m).n_hidden == 4
    assert audit(t, hidden=list(m)).n_hidden == 4
    with pytest.raises(AuditError, match=f"hidden has 3 entries but the table has {t.n_cells} cells"):
        audit(t, hidden=np.array([True, False, True]))
    with pytest.raises(AuditError, match="no hidden cells given"):
        audit(t)


# -- presets -----------------------------------------------------------------------------
def test_presets_on_intervals():
    t = line_table({"a": 5, "b": 30})
    req = {p: requirement(t, p, threshold=20) for p in ("strict", "policy", "exact")}
    a = cell(t, "a")
    assert req["strict"].sensitive[a] and req["strict"].need_hi[a] == 21
    lo = t.values.copy()
    hi = t.values.copy()
    lo[a], hi[a] = 0, 10
    assert req["policy"].satisfied(lo, hi)[a]
    assert not req["strict"].satisfied(lo, hi)[a]
    assert req["exact"].satisfied(lo, hi)[a]
    lo[a], hi[a] = 4, 6  # inside 1..20 but not exact
    assert not req["policy"].satisfied(lo, hi)[a]
    assert req["exact"].satisfied(lo, hi)[a]
    lo[a], hi[a] = 3, 21  # reaches above T: policy yes, strict no (lo above 0)
    assert req["policy"].satisfied(lo, hi)[a]
    assert not req["strict"].satisfied(lo, hi)[a]
    lo[a] = hi[a] = 5
    assert not any(req[p].satisfied(lo, hi)[a] for p in req)


def test_presets_in_the_audit():
    # a and b hidden in one row: each in [0, 10], their sum 10 is known
    t = line_table({"a": 4, "b": 6, "c": 30})
    hidden = mask(t, [("a",), ("b",)])
    a = cell(t, "a")
    strict = audit(t, hidden=hidden, preset="strict")
    policy = audit(t, hidden=hidden, preset="policy")
    exact = audit(t, hidden=hidden, preset="exact")
    for rep in (strict, policy, exact):
        assert (rep.lo[a], rep.hi[a]) == (0, 10)
    assert strict.frame.loc[a, "protected"] == False  # noqa: E712
    assert policy.frame.loc[a, "protected"] == True  # noqa: E712
    assert exact.frame.loc[a, "protected"] == True  # noqa: E712
    # the known sum 10 of a and b is a multi-cell disclosure for strict and policy, not for exact
    assert strict.ok is False and policy.ok is False and exact.ok is True
    assert len(policy.multi_cell) == 1


def test_threshold_parameter():
    t = line_table({"a": 4, "b": 6, "c": 30})
    hidden = mask(t, [("a",), ("b",)])
    rep = audit(t, hidden=hidden, threshold=3)  # 4 and 6 are not sensitive with T = 3
    assert rep.ok is True and rep.multi_cell.empty
    rep = audit(t, hidden=hidden, threshold=5)  # a is, and [0, 10] reaches 6 = T + 1
    assert rep.frame.loc[cell(t, "a"), "protected"] == True  # noqa: E712
    assert rep.ok is True


def test_unknown_preset():
    t = line_table({"a": 4, "b": 6})
    with pytest.raises(RuleError, match="unknown preset 'loose'"):
        audit(t, hidden=mask(t, [("a",), ("b",)]), preset="loose")


def test_summary_mentions_the_verdict():
    t = line_table({"a": 3, "b": 4, "c": 10, "d": 25})
    rep = audit(t, hidden=mask(t, [("a",), ("b",)]))
    s = rep.summary()
    assert "NOT SAFE" in s and "multi-cell disclosures: 1" in s


def test_sensitive_only_same_verdict_and_intervals():
    from cellsuppress import protect
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=2, levels=(8,), seed=5, mean=30, small_share=0.2).table()
    hidden = protect(t, method="fast").hidden
    full = audit(t, hidden=hidden)
    part = audit(t, hidden=hidden, sensitive_only=True)
    assert full.ok and part.ok
    sens = np.flatnonzero(hidden & (t.values >= 1) & (t.values <= 20))
    comp = np.flatnonzero(hidden & ~((t.values >= 1) & (t.values <= 20)))
    assert sens.size and comp.size
    np.testing.assert_allclose(part.lo[sens], full.lo[sens], atol=1e-6)
    np.testing.assert_allclose(part.hi[sens], full.hi[sens], atol=1e-6)
    assert np.isnan(part.lo[comp]).any()
    # a pattern that fails for a sensitive cell fails in both
    bad = hidden.copy()
    bad[comp] = False
    assert audit(t, hidden=bad).ok == audit(t, hidden=bad, sensitive_only=True).ok is False


# -- parameters are checked at the entry ---------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    ({"threshold": -3}, r"threshold must be a number of at least 1 .* got -3$"),
    ({"threshold": 0}, r"threshold must be .* got 0$"),
    ({"threshold": float("nan")}, r"threshold must be .* got nan$"),
    ({"threshold": np.int64(0)}, r"got 0$"),
    ({"time_limit": -1}, r"time_limit must be a positive number of seconds .* got -1$"),
    ({"time_limit": 0}, r"time_limit must be .* got 0$"),
    ({"mip_gap": -0.1}, r"mip_gap must be a relative gap from 0 to 1 .* got -0.1$"),
    ({"method": "quick"}, r"unknown method 'quick'; choose one of auto, optimal, fast, modular, local"),
    ({"method": "fast", "export_model": "m.mps"}, r"export_model needs method='optimal'"),
    ({"max_root_rounds": 0}, r"max_root_rounds must be a whole number of at least 1 .* got 0$"),
    ({"max_root_rounds": 2.5}, r"max_root_rounds must be .* got 2.5$"),
])
def test_protect_rejects_nonsense_parameters(kw, match):
    from cellsuppress import protect

    t = grid_table([[3, 40], [25, 30]])
    with pytest.raises(RuleError, match=match):
        protect(t, **kw)


def test_protect_rejects_an_unknown_solver_whatever_the_method():
    from cellsuppress import SolverError, protect

    t = grid_table([[3, 40], [25, 30]])
    for method in ("fast", "optimal"):
        with pytest.raises(SolverError, match=r"unknown solver 'bogus'; choose 'highs', 'scip' or one of"):
            protect(t, method=method, solver="bogus")


def test_audit_rejects_a_nonsense_threshold():
    t = grid_table([[3, 40], [25, 30]])
    with pytest.raises(RuleError, match=r"threshold must be a number of at least 1 .* got 0$"):
        audit(t, hidden=np.zeros(t.n_cells, bool), threshold=0)


@pytest.mark.parametrize("what", ["protect", "audit"])
def test_a_dataframe_instead_of_a_table_says_how_to_build_one(what):
    import cellsuppress as cs

    df = pd.DataFrame({"r": list("aabb"), "c": list("xyxy"), "n": [3, 40, 25, 30]})
    with pytest.raises(cs.TableError, match=rf"{what} needs a cellsuppress Table or LinearTable, got a DataFrame: "
                                            r"build one with cellsuppress.Table.from_frame"):
        getattr(cs, what)(df)


def test_a_table_with_its_own_levels_and_costs_is_protected_with_them_by_default(tmp_path):
    # total = a + b + c; a (3) is unsafe with LPL 3 and UPL 2; every cell at most 5 above its value,
    # so strict (a must reach 21) is impossible; costs favour hiding c (32) over b (25)
    from cellsuppress import InfeasibleError, protect, read_jj

    f = tmp_path / "t.jj"
    f.write_text("0\n4\n0 60 60 s 0 65 0 0 0\n1 3 3 u 0 8 3 2 0\n2 25 100 s 0 30 0 0 0\n"
                 "3 32 1 s 0 37 0 0 0\n1\n0 4 : 0 (-1) 1 (1) 2 (1) 3 (1)\n")
    t = read_jj(f)
    res = protect(t)
    assert np.flatnonzero(res.hidden).tolist() == [1, 3]
    assert res.cost == 3 + 1  # the file's costs
    assert audit(t, hidden=res.hidden).preset == "custom"
    assert audit(t, hidden=res.hidden).ok
    with pytest.raises(InfeasibleError, match="cannot be protected"):
        protect(t, preset="strict")


def _published(rows) -> Table:
    return Table.from_published(pd.DataFrame(rows, columns=["r", "c", "n"]), dims=["r", "c"], count="n")


def test_summary_says_how_to_settle_undetermined_cells():
    # a x in [10, 50]: a count of 1..20 or a larger one, the published table cannot tell
    t = _published([("Total", "Total", 100), ("Total", "x", 50), ("Total", "y", 50), ("a", "Total", 60),
                    ("a", "x", "*"), ("a", "y", "*"), ("b", "Total", 40), ("b", "x", "*"), ("b", "y", "*")])
    rep = audit(t)
    assert not rep.ok and len(rep.undetermined) == 2 and len(rep.unprotected) == 0
    hint = [ln for ln in rep.summary().splitlines() if "every failure is undetermined" in ln]
    assert len(hint) == 1 and "--hidden-column" in hint[0] and "audit(table, hidden=...)" in hint[0]
    # a disclosed cell is a failure the true values cannot lift: no such hint then
    t = _published([("Total", "Total", 100), ("Total", "x", 50), ("Total", "y", 50), ("a", "Total", 60),
                    ("a", "x", "*"), ("a", "y", 30), ("b", "Total", 40), ("b", "x", 20), ("b", "y", 20)])
    rep = audit(t)
    assert not rep.ok and len(rep.unprotected)
    assert "every failure is undetermined" not in rep.summary()
