"""protect: optimal against brute force, properties on random tables, the compact model, edge cases.

Brute force: every subset of the non-sensitive cells (sensitive cells always hidden) is a candidate;
the audit (LP attacker, the definition protect itself is held to) decides which protect; the
cheapest of those is the optimum. protect must reach exactly that cost.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cellsuppress import Hierarchy, Table
from cellsuppress.auditing.report import audit
from cellsuppress.clock import NEVER, Deadline
from cellsuppress.suppress.model import compact_program
from cellsuppress.suppress.problem import build_problem, cost_weights
from cellsuppress.protect import InfeasibleError, protect
from cellsuppress.rules import requirement
from cellsuppress.solvers import HighsModel

PRESETS = ("strict", "policy", "exact")
COSTS = ("value", "unity", "log")


# -- tables ------------------------------------------------------------------------------------
def leaf_frame(hierarchies: list[Hierarchy], counts) -> pd.DataFrame:
    combos = list(itertools.product(*[h.leaves for h in hierarchies]))
    df = pd.DataFrame(combos, columns=[f"d{j}" for j in range(len(hierarchies))])
    df["n"] = list(counts)
    return df


def make_table(hierarchies: list[Hierarchy], counts, **kw) -> Table:
    df = leaf_frame(hierarchies, counts)
    dims = list(df.columns[:-1])
    return Table.from_frame(df, dims=dims, count="n", hierarchies=dict(zip(dims, hierarchies)), **kw)


def flat(prefix: str, k: int) -> Hierarchy:
    return Hierarchy.flat([f"{prefix}{i}" for i in range(k)])


def groups() -> Hierarchy:
    """Two groups of two leaves: T > g1 > {a, b}, T > g2 > {c, d}."""
    return Hierarchy.from_mapping({"T": ["g1", "g2"], "g1": ["a", "b"], "g2": ["c", "d"]})


def grid(rows: list[list[int]]) -> Table:
    """A flat 2-way table from a matrix of leaf counts."""
    return make_table([flat("r", len(rows)), flat("c", len(rows[0]))], [v for r in rows for v in r])


# -- brute force -------------------------------------------------------------------------------
class BruteForce:
    """The optimum over all patterns of a tiny table, by exhaustive search with the audit as judge.

    Every subset of the non-sensitive cells is enumerated; candidates are examined cheapest first,
    so the first that passes the audit is optimal. Candidates that a single equation already
    refutes are skipped without an audit (see :func:`single_equation_ok`: a necessary condition,
    so no protected pattern is lost); every other candidate is audited.
    """

    def __init__(self, t: Table, preset: str, hidden_nonzero: bool = False):
        self.t, self.preset, self.hidden_nonzero = t, preset, hidden_nonzero
        req = requirement(t, preset, hidden_nonzero=hidden_nonzero)
        self.sensitive = req.sensitive
        # with hidden_nonzero a zero is never hidden
        free = np.flatnonzero(~req.sensitive & ((t.values != 0) if hidden_nonzero else True))
        assert free.size <= 12, f"{free.size} free cells: too many subsets"
        bits = np.array(list(itertools.product([False, True], repeat=free.size)), dtype=bool).reshape(-1, free.size)
        H = np.zeros((bits.shape[0], t.n_cells), dtype=bool)
        H[:, req.sensitive] = True
        H[:, free] = bits
        self.n_subsets = bits.shape[0]
        self.candidates = H[single_equation_ok(t, req, H)]
        self.cache: dict[bytes, bool] = {}
        self.audits = 0

    def ok(self, hidden: np.ndarray) -> bool:
        key = hidden.tobytes()
        if key not in self.cache:
            self.audits += 1
            self.cache[key] = bool(audit(self.t, hidden=hidden, preset=self.preset,
                                         hidden_nonzero=self.hidden_nonzero).ok)
        return self.cache[key]

    def optimum(self, cost: str) -> tuple[float, np.ndarray | None]:
        w = cost_weights(self.t.values, cost)
        c = self.candidates.astype(float) @ w
        for i in np.argsort(c, kind="stable"):
            if self.ok(self.candidates[i]):
                return float(c[i]), self.candidates[i]
        return np.inf, None


def single_equation_ok(t: Table, req, H: np.ndarray) -> np.ndarray:
    """Which patterns (rows of ``H``) pass a necessary condition, equation by equation.

    For sensitive cell ``k`` to move up by ``L``, every equation holding ``k`` must be balanced by
    its other hidden cells, each within its own room in the compensating direction (down for a
    cell on the same side of the equation, up for one on the other side): the sum of
    ``min(room, L)`` over them is at least ``L``. Likewise downwards. ``strict`` needs both
    directions at their levels, ``policy`` one of them (up to T+1 or down to 0), ``exact`` one of
    them by any positive amount.
    """
    M = sp.csr_matrix(t.M)
    assert set(np.abs(M.data)) <= {1.0}
    a, lb, ub = t.values, req.attacker_lb, t.ub
    room_up, room_dn = ub - a, a - lb
    T = req.threshold
    ok = np.ones(H.shape[0], dtype=bool)
    Hf = H.astype(float)
    for k in np.flatnonzero(req.sensitive):
        if req.preset.name == "strict":
            levels = {1: T + 1 - a[k], -1: a[k] - lb[k]}
        elif req.preset.name == "policy":
            levels = {1: T + 1 - a[k], -1: a[k]}
        else:  # any positive move: count the cells with room (room as 0 or infinite)
            levels = {1: 1.0, -1: 1.0}
        side_ok = {}
        for d, L in levels.items():
            good = np.ones(H.shape[0], dtype=bool)
            if L > 0:
                for r in np.flatnonzero(M[:, k].toarray().ravel()):
                    cols = M.indices[M.indptr[r]:M.indptr[r + 1]]
                    sgn = M.data[M.indptr[r]:M.indptr[r + 1]]
                    sk = sgn[cols == k][0]
                    moves_up = (sgn != sk) == (d > 0)  # same side: opposite move
                    room = np.where(moves_up, room_up[cols], room_dn[cols])
                    if req.preset.name == "exact":
                        room = np.where(room > 1e-9, np.inf, 0.0)
                    coef = np.minimum(room, L)
                    coef[cols == k] = 0.0
                    good &= Hf[:, cols] @ coef >= L - 1e-9
            side_ok[d] = good
        if req.preset.name == "strict":
            ok &= side_ok[1] & side_ok[-1]
        else:
            ok &= side_ok[1] | side_ok[-1]
    return ok


TINY = {
    "2x3": lambda: make_table([flat("a", 2), flat("b", 3)], [3, 25, 0, 30, 7, 40]),
    "2x3b": lambda: make_table([flat("a", 2), flat("b", 3)], [12, 0, 28, 5, 22, 30]),
    "3x3": lambda: make_table([flat("a", 3), flat("b", 3)], [29, 19, 20, 27, 17, 23, 25, 6, 0]),
    "3x3b": lambda: make_table([flat("a", 3), flat("b", 3)], [8, 8, 26, 28, 0, 14, 25, 3, 24]),
    "2x2x2": lambda: make_table([flat("a", 2), flat("b", 2), flat("c", 2)], [9, 26, 5, 9, 1, 2, 17, 0]),
    "2x2x2b": lambda: make_table([flat("a", 2), flat("b", 2), flat("c", 2)], [13, 0, 17, 19, 0, 12, 5, 2]),
    "hier": lambda: make_table([groups(), flat("b", 2)], [8, 5, 0, 10, 24, 12, 1, 1]),
    "hierb": lambda: make_table([groups(), flat("b", 2)], [5, 13, 17, 4, 0, 9, 27, 7]),
}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", sorted(TINY))
def test_brute_force(name, preset):
    t = TINY[name]()
    bf = BruteForce(t, preset)
    assert bf.sensitive.any() and bf.n_subsets <= 2 ** 12
    for cost in COSTS:
        best, pattern = bf.optimum(cost)
        res = protect(t, preset=preset, cost=cost)
        assert res.audit.ok
        assert np.isfinite(best), "brute force found no protected pattern"
        tol = 1e-6 if cost == "log" else 1e-9
        assert res.cost == pytest.approx(best, abs=tol), (cost, res.cost, best, np.flatnonzero(pattern),
                                                          np.flatnonzero(res.hidden))
        assert res.lower_bound <= res.cost + 1e-9
        if cost != "log":  # non-integral costs: see test_log_cost_optimal_flag
            assert res.optimal and res.gap == 0
            assert res.lower_bound == pytest.approx(best)
        # the pattern protect found is one brute force accepts
        assert bf.ok(res.hidden)


@pytest.mark.parametrize("cost", ["value", "unity"])
def test_sensitive_cells_that_protect_each_other_end_at_the_first_master_solve(cost):
    """Four sensitive cells at the corners of a rectangle protect each other (exact preset): the
    master's first solution hides them alone, passes every attacker LP and is the optimum, with
    no heuristic and no root; brute force agrees and the audit passes."""
    t = make_table([flat("a", 3), flat("b", 3)], [3, 50, 4, 60, 70, 80, 5, 90, 6])
    best, _ = BruteForce(t, "exact").optimum(cost)
    res = protect(t, preset="exact", cost=cost)
    assert res.optimal and res.audit.ok and res.cost == pytest.approx(best)
    assert np.array_equal(res.hidden, requirement(t, "exact").sensitive)
    assert res.stats["mip_solves"] == 1 and res.stats["root_rounds"] == 0


def test_many_sensitive_cells_protected_by_one_another_end_at_the_first_master_solve():
    """A two-way table where most cells are small: the sensitive cells protect one another, the
    master's first solution passes the attacker LPs and is proven optimal at once (its check
    starts with verified batch moves, as there are hundreds of requirements); it passes the
    audit and an independent one. The final audit verifies those moves and needs no LP of its
    own."""
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=2, levels=(40,), seed=1, mean=40, small_share=0.45, zero_share=0.05).table()
    sensitive = requirement(t, "strict").sensitive
    assert sensitive.sum() >= 500
    res = protect(t, time_limit=60)
    assert res.optimal and res.gap == 0 and res.audit.ok
    assert res.stats["mip_solves"] == 1 and res.stats["root_rounds"] == 0
    assert res.hidden[sensitive].all() and audit(t, hidden=res.hidden).ok
    assert res.audit.stats["certified"] == sensitive.sum() and res.audit.stats["solves"] == 0


NONZERO_TINY = {**TINY, "subtotal16": lambda: make_table([groups(), flat("b", 2)], [4, 4, 4, 4, 9, 30, 0, 25])}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", sorted(NONZERO_TINY))
def test_brute_force_hidden_nonzero(name, preset):
    # hidden cells known to be non-zero: every subtotal's floor is its count of non-zero cells
    t = NONZERO_TINY[name]()
    bf = BruteForce(t, preset, hidden_nonzero=True)
    best, pattern = bf.optimum("value")
    assert np.isfinite(best), "brute force found no protected pattern"
    res = protect(t, preset=preset, hidden_nonzero=True)
    assert res.audit.ok and bf.ok(res.hidden)
    assert not (res.hidden & (t.values == 0)).any()
    assert res.cost == best and res.optimal, (res.cost, best, np.flatnonzero(pattern), np.flatnonzero(res.hidden))
    if preset == "strict":  # the compact model with the floors' capacities agrees
        p = build_problem(t, requirement(t, preset, hidden_nonzero=True), "value", hidden_nonzero=True)
        lp, _ = compact_program(p)
        sol = HighsModel(lp).solve(mip_gap=0)
        assert float(p.cost @ np.round(sol.x[:p.n])) == best


def test_strict_hidden_nonzero_two_cells_totalling_16():
    # Total = a + b = 8 + 8, all sensitive: once hidden cells are known to be non-zero the total
    # is at least 2, and strict asks its interval to reach down to that
    t = make_table([flat("a", 2)], [8, 8])
    res = protect(t, preset="strict", hidden_nonzero=True)
    assert res.hidden.all() and res.audit.ok and res.optimal
    for integer in (False, True):
        rep = audit(t, hidden=res.hidden, preset="strict", hidden_nonzero=True, integer=integer)
        assert rep.ok
        assert (rep.lo.tolist(), rep.hi.tolist()) == ([2, 1, 1], [np.inf] * 3)
    assert res.frame.query("status == 'published'").empty


@st.composite
def nonzero_cases(draw):
    """A small hierarchical table with zeros, and a priori upper bounds on some cells (so that
    some sensitive cells cannot be protected at all)."""
    dims = draw(st.sampled_from([[groups()], [groups(), flat("b", 2)], [flat("a", 3), flat("b", 2)]]))
    n = int(np.prod([len(h.leaves) for h in dims]))
    counts = draw(st.lists(st.one_of(st.just(0), st.integers(1, 20), st.integers(21, 60)), min_size=n, max_size=n))
    probe = make_table(dims, counts)
    tight = draw(st.lists(st.booleans(), min_size=probe.n_cells, max_size=probe.n_cells))
    ub = np.where(np.array(tight) & draw(st.booleans()), probe.values + 3, np.inf)
    return make_table(dims, counts, ub=ub), draw(st.sampled_from(["optimal", "fast"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nonzero_cases())
def test_hidden_nonzero_protects_or_names_what_cannot_be(case):
    t, method = case
    everything = t.values != 0  # every cell that may be hidden
    all_hidden = audit(t, hidden=everything, preset="strict", hidden_nonzero=True)
    fails = all_hidden.unprotected
    try:
        res = protect(t, preset="strict", hidden_nonzero=True, method=method)
    except InfeasibleError as e:
        named = set(re.findall(r"\(d0=[^()]*\)", str(e)))
        failing = set(t.cell_labels(fails.index.to_numpy()))
        assert named and named <= failing, (str(e), failing)
        event("cannot be protected")
        return
    # nothing is beyond protection, and the pattern passes an independent audit
    assert fails.empty and all_hidden.ok
    rep = audit(t, hidden=res.hidden, preset="strict", hidden_nonzero=True)
    assert rep.ok, rep.summary()
    sens = requirement(t, "strict").sensitive
    assert res.hidden[sens].all() and not (res.hidden & (t.values == 0)).any()
    event("protected")


# -- properties on random tables ---------------------------------------------------------------
@st.composite
def tables(draw, kind: str):
    if kind == "2way":
        hs = [flat("a", draw(st.integers(2, 6))), flat("b", draw(st.integers(2, 6)))]
    elif kind == "3way":
        hs = [flat("a", draw(st.integers(2, 3))), flat("b", draw(st.integers(2, 3))), flat("c", draw(st.integers(2, 3)))]
    else:
        hs = [groups(), flat("b", draw(st.integers(2, 4)))]
    n = int(np.prod([len(h.leaves) for h in hs]))
    small = st.integers(1, 20)
    counts = draw(st.lists(st.one_of(st.just(0), small, st.integers(21, 60)), min_size=n, max_size=n))
    return make_table(hs, counts)


def check_result(t: Table, preset: str, res, tiny: bool):
    req = requirement(t, preset)
    # an independent audit of the returned pattern
    rep = audit(t, hidden=res.hidden, preset=preset)
    assert rep.ok, rep.summary()
    assert res.audit.ok
    assert res.cost >= res.lower_bound - 1e-9
    if res.optimal:
        assert res.gap == 0
    status = res.status
    assert (status[req.sensitive] == "primary").all()
    assert not (status[~req.sensitive] == "primary").any()
    assert np.array_equal(status != "published", res.hidden)
    assert res.cost == pytest.approx(float(t.values[res.hidden].sum()))  # cost="value"
    if tiny and preset in ("exact", "strict"):
        # protect guarantees the LP attacker's verdict; the integer attacker can narrow intervals
        # (integral vertices), so an LP-protected pattern may fail it. Reported, not asserted.
        irep = audit(t, hidden=res.hidden, preset=preset, integer=True)
        if not irep.ok:
            warnings.warn(f"integer attacker breaks an LP-protected pattern ({preset}): values "
                          f"{t.values.tolist()}, hidden {np.flatnonzero(res.hidden).tolist()}")


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@settings(max_examples=25, **SETTINGS)
@given(tables("2way"), st.sampled_from(PRESETS))
def test_random_two_way(t, preset):
    res = protect(t, preset=preset)
    check_result(t, preset, res, tiny=t.n_cells <= 16)


@pytest.mark.slow
@settings(max_examples=8, **SETTINGS)
@given(tables("3way"), st.sampled_from(PRESETS))
def test_random_three_way(t, preset):
    # a time limit bounds the slow cases (3x3x3 strict can take 15 s); the pattern is audited whatever happens
    res = protect(t, preset=preset, time_limit=2)
    check_result(t, preset, res, tiny=t.n_cells <= 27)


@pytest.mark.slow
@settings(max_examples=15, **SETTINGS)
@given(tables("hier"), st.sampled_from(PRESETS))
def test_random_hierarchical(t, preset):
    res = protect(t, preset=preset)
    check_result(t, preset, res, tiny=t.n_cells <= 21)


# -- the compact model -------------------------------------------------------------------------
def compact_cost(t: Table, preset: str, cost: str) -> float:
    p = build_problem(t, requirement(t, preset), cost, hidden_nonzero=False)
    lp, _ = compact_program(p)
    sol = HighsModel(lp).solve(mip_gap=0)
    assert sol.status == "optimal"
    x = np.round(sol.x[:p.n])
    return float(p.cost @ x)


COMPACT_TABLES = {
    "2x3": TINY["2x3"],
    "3x3": TINY["3x3b"],
    "2x2x2": TINY["2x2x2"],
    "hier": TINY["hier"],
    "4x4": lambda: grid([[3, 40, 0, 25], [22, 8, 31, 0], [50, 27, 15, 33], [0, 12, 45, 26]]),
}


@pytest.mark.parametrize("preset", ["strict", "exact"])
@pytest.mark.parametrize("name", sorted(COMPACT_TABLES))
def test_compact_model_same_optimum(name, preset):
    t = COMPACT_TABLES[name]()
    for cost in ("value", "unity"):
        assert compact_cost(t, preset, cost) == pytest.approx(protect(t, preset=preset, cost=cost).cost)


def test_compact_model_rejects_policy():
    t = TINY["2x3"]()
    p = build_problem(t, requirement(t, "policy"), "value", hidden_nonzero=False)
    with pytest.raises(ValueError, match="policy"):
        compact_program(p)


def test_a_new_preset_is_one_object(monkeypatch):
    """A preset registered in ``rules.PRESETS`` is all protect and audit need: here one that asks
    only that a value above the threshold cannot be ruled out."""
    from cellsuppress import rules

    class Upward(rules.Preset):
        def bounds(self, table, threshold, sensitive, floor, given, by_rule):
            n = table.n_cells
            return np.full(n, np.inf), np.full(n, threshold + 1), np.zeros(n)

    monkeypatch.setitem(rules.PRESETS, "upward", Upward("upward"))
    t = TINY["3x3b"]()
    res = protect(t, preset="upward")
    rep = audit(t, hidden=res.hidden, preset="upward")
    sens = requirement(t, "upward").sensitive
    assert rep.ok and rep.preset == "upward" and res.hidden[sens].all()
    assert (rep.hi[sens] >= 21 - 1e-6).all()
    # a weaker requirement than strict's: never dearer, and still the brute-force optimum
    assert res.cost <= protect(t, preset="strict").cost
    assert res.cost == BruteForce(t, "upward").optimum("value")[0]
    # an interval that stops short of 21 is explained by the generic rule
    bad = rep.hi.copy()
    k = int(np.flatnonzero(sens)[0])
    bad[k] = 20
    req = requirement(t, "upward")
    assert not req.satisfied(rep.lo, bad)[k]
    expected = "interval inside 1..20" if rep.lo[k] >= 1 else "upper bound below 21"
    assert req.why(rep.lo[[k]], bad[[k]], np.array([k]))[0] == expected


# -- edge cases --------------------------------------------------------------------------------
def test_zero_hidden_as_cheapest_complement():
    # x = 3 at (r0, c0) needs (policy) to be able to reach 0 or 21. Through the 4-cycle with the
    # 0 on its diagonal it can go up (the 0 goes up with it): 3 + 40 + 25 + 0 = 68; every other
    # way needs margins and costs more
    t = grid([[3, 40], [25, 0]])
    res = protect(t, preset="policy", cost="value")
    f = res.frame
    zero = np.flatnonzero((t.values == 0) & (f["d0"] != "Total").to_numpy() & (f["d1"] != "Total").to_numpy())
    assert zero.size == 1
    assert res.hidden[zero[0]] and res.status[zero[0]] == "secondary"
    assert res.cost == 68 and res.hidden.sum() == 4
    assert audit(t, hidden=res.hidden, preset="policy").ok
    # the zero is needed: brute force over the patterns that publish it finds only dearer ones
    bf = BruteForce(t, "policy")
    assert bf.optimum("value")[0] == 68
    bf.candidates = bf.candidates[~bf.candidates[:, zero[0]]]
    assert bf.optimum("value")[0] > 68
    # with hidden_nonzero the zero must stay published, and the cost goes up
    res_nz = protect(t, preset="policy", cost="value", hidden_nonzero=True)
    assert not res_nz.hidden[zero[0]] and res_nz.cost > 68
    assert audit(t, hidden=res_nz.hidden, preset="policy", hidden_nonzero=True).ok


def test_zero_hidden_strict():
    # strict: a zero can only absorb an upward move, yet here the optimum (138) hides zeros, and
    # every pattern that publishes all the zero cells costs more (144)
    t = grid([[3, 3, 50], [0, 5, 0]])
    res = protect(t, preset="strict", cost="value")
    assert audit(t, hidden=res.hidden, preset="strict").ok
    f = res.frame
    leaf_zero = (t.values == 0) & (f["d0"] != "Total").to_numpy() & (f["d1"] != "Total").to_numpy()
    assert (res.hidden & leaf_zero).any()
    assert (res.status[res.hidden & leaf_zero] == "secondary").all()
    bf = BruteForce(t, "strict")
    assert res.cost == bf.optimum("value")[0] == 138
    bf.candidates = bf.candidates[~bf.candidates[:, leaf_zero].any(axis=1)]
    assert bf.optimum("value")[0] == 144


def test_no_sensitive_cell():
    t = grid([[0, 25, 40], [30, 0, 21]])
    res = protect(t)
    assert not res.hidden.any()
    assert res.cost == 0 and res.optimal and res.gap == 0 and res.lower_bound == 0
    assert (res.status == "published").all()
    assert res.audit.ok


@pytest.mark.parametrize("preset", PRESETS)
def test_grand_total_sensitive(preset):
    # every nonzero cell is small, the grand total too: all of them must be hidden
    t = grid([[1, 2, 0], [3, 4, 1]])
    assert t.values.max() <= 20 and t.values[0] == 11
    res = protect(t, preset=preset)
    assert res.audit.ok and audit(t, hidden=res.hidden, preset=preset).ok
    nonzero = t.values > 0
    assert res.hidden[nonzero].all()
    assert res.cost == pytest.approx(t.values[nonzero].sum())
    assert res.optimal


def test_grand_total_sensitive_with_big_cells():
    # only the grand total and a few leaves are small (the total counts a 0 margin)
    t = grid([[0, 0], [4, 9]])
    res = protect(t, preset="strict")
    assert res.audit.ok
    assert res.hidden[0]  # the grand total (13) is sensitive
    bf = BruteForce(t, "strict")
    assert res.cost == bf.optimum("value")[0]


def test_infeasible_names_the_cell():
    df = pd.DataFrame({"r": ["a", "a", "b", "b"], "c": ["x", "y", "x", "y"], "n": [3, 40, 25, 30]})
    probe = Table.from_frame(df, dims=["r", "c"], count="n")
    ub = np.full(probe.n_cells, np.inf)
    k = int(np.flatnonzero((probe.frame["r"] == "a").to_numpy() & (probe.frame["c"] == "x").to_numpy())[0])
    ub[k] = 10  # the attacker knows it is at most 10: it can never reach 21
    t = Table.from_frame(df, dims=["r", "c"], count="n", ub=ub)
    with pytest.raises(InfeasibleError, match=r"r=a, c=x"):
        protect(t, preset="strict")
    # policy only needs one side: down to 0 is still possible
    res = protect(t, preset="policy")
    assert res.audit.ok


@pytest.mark.parametrize("preset", PRESETS)
def test_tiny_time_limit_still_audited(preset):
    t = grid([[3, 40, 0, 25, 7], [22, 8, 31, 0, 50], [50, 27, 15, 33, 2], [0, 12, 45, 26, 30]])
    res = protect(t, preset=preset, time_limit=0.001)
    assert res.audit.ok
    assert audit(t, hidden=res.hidden, preset=preset).ok
    assert res.cost >= res.lower_bound - 1e-9
    if not res.optimal:
        assert res.gap > 0 and "time limit" in res.message


def test_cbc_end_to_end():
    t = grid([[3, 40, 0, 25], [22, 8, 31, 0], [50, 27, 15, 33]])
    for preset in PRESETS:
        a = protect(t, preset=preset, solver="highs")
        b = protect(t, preset=preset, solver="cbc")
        assert b.audit.ok and b.optimal
        assert a.cost == b.cost


def test_cbc_export_model(tmp_path):
    t = grid([[3, 40, 0], [22, 8, 31]])
    path = tmp_path / "master.lp"
    protect(t, solver="cbc", export_model=str(path))
    assert path.exists() and "Minimize" in path.read_text()


@pytest.mark.parametrize("solver", ("highs", "cbc"))
def test_export_model_to_a_missing_directory_fails_before_solving(tmp_path, solver):
    from cellsuppress.errors import SolverError

    t = grid([[3, 40, 0], [22, 8, 31]])
    for bad, says in ((tmp_path / "nodir" / "m.mps", "nodir.*does not exist"), (tmp_path / "m.txt", "suffix")):
        with pytest.raises(SolverError, match=says):
            protect(t, solver=solver, export_model=str(bad))
    path = tmp_path / "m.mps"
    protect(t, solver=solver, export_model=str(path))
    assert "ROWS" in path.read_text()


def test_attacker_lps_on_unbounded_blocks():
    # a pattern whose blocks let cells grow without bound: HiGHS, re-solving in place, ended some of
    # these LPs with "Unknown" and the separation raised "attacker LP failed: error"
    from cellsuppress.suppress.separation import Separator

    t = make_table([groups(), flat("b", 2)], [26, 29, 13, 15, 2, 2, 5, 0])
    x = np.zeros(t.n_cells)
    x[[0, 1, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]] = 1
    for preset in ("strict", "exact", "policy"):
        p = build_problem(t, requirement(t, preset), "value", hidden_nonzero=False)
        Separator(p).violations(x, witnesses={})
        Separator(p).violations(x)
    for preset in PRESETS:
        for integer in (False, True):
            audit(t, hidden=x > 0.5, preset=preset, integer=integer)


def test_log_cost_optimal_flag():
    t = TINY["2x3"]()
    res = protect(t, preset="strict", cost="log")
    bf = BruteForce(t, "strict")
    assert res.cost == pytest.approx(bf.optimum("log")[0], abs=1e-6)
    assert res.optimal and "tie-break" in res.message


def test_floors_of_a_time_limit_stop_at_the_end_of_the_run():
    # a solver call or stage with a minimum time may pass its own deadline, never its run's end
    run = Deadline(2.0)
    part = run.share(0.1)
    assert 0.0 < part.limit(floor=0.5) and 0.4 < part.limit(floor=0.5) <= 0.5
    assert part.limit(floor=10.0) <= 2.0
    assert 1.5 < Deadline(10.0, within=part).remaining() <= 2.0
    assert Deadline(10.0, within=part).limit(floor=30.0) <= 2.0
    assert Deadline(1.0).limit(floor=30.0) <= 1.0  # made from seconds alone: a run of its own
    assert NEVER.limit(floor=1.0) is None and not Deadline(5.0, within=NEVER).limit(floor=30.0) < 29.0
    # the few floors that must not be cut short pass it: a run of their own
    assert 9.0 < part.at_least(10.0).remaining() <= 10.0 and 9.0 < part.at_least(10.0).limit(floor=1.0) <= 10.0
    assert 0.0 < part.at_least(0.01).remaining() <= 0.2 and NEVER.at_least(10.0) is NEVER


def test_a_small_table_searches_for_nearly_all_of_its_limit():
    # the audit of a small table takes a fraction of a second: the reserve for it must not keep a
    # tenth of the limit from the search, while a large table keeps its seconds for the audit
    from cellsuppress.suppress import schedule
    from cellsuppress.tables.synthetic import generate

    assert schedule.audit_reserve(60.0, 1661, 10733) == schedule.audit_reserve(60.0) == schedule.AUDIT_RESERVE_MIN
    assert schedule.audit_reserve(60.0, 13, 210) < 0.4 * schedule.AUDIT_RESERVE_MIN
    t = generate(dims=3, levels=(6,), seed=3, mean=30, small_share=0.25).table()
    res = protect(t, preset="strict", time_limit=10.0)
    assert res.audit.ok and not res.optimal  # not proven within the limit: the search ran to its end
    # the reserve this table keeps is what the two asserts above check; here only that the search
    # ran into the last tenth of the limit (its stages' ends vary by a few tenths with the load)
    assert 8.5 <= res.stats["seconds"] <= 11.0


@pytest.mark.parametrize("preset", PRESETS)
def test_heuristic_out_of_time_still_protects(preset):
    # with its deadline (its run's end) already gone the heuristic has no time for its LP moves
    # and hides every free cell: whatever it returns must pass the audit, and return soon
    import time

    from cellsuppress.suppress.heuristic import heuristic
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(6,), seed=3, mean=30, small_share=0.25).table()
    p = build_problem(t, requirement(t, preset), "value", hidden_nonzero=False)
    t0 = time.perf_counter()
    x, stats = heuristic(p, deadline=Deadline(-10.0, start=t0))
    assert time.perf_counter() - t0 < 30
    assert audit(t, hidden=x > 0.5, preset=preset).ok
    assert (x[p.sensitive] > 0.5).all()


def test_an_attacker_lp_stops_at_the_time_its_check_gives_up_by(monkeypatch):
    # one attacker LP over a block of thousands of hidden cells may take many seconds: a check or
    # a clean-up with a time to give up by hands each LP the time left, and one cut short there
    # ends it as out of time (the pattern as it was), never as a failed LP
    from cellsuppress.suppress.cleanup import cleanup, minimal
    from cellsuppress.suppress.separation import OutOfTime, Separator
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(4,), seed=2, mean=30, small_share=0.25).table()
    p = build_problem(t, requirement(t, "strict"), "value", hidden_nonzero=False)
    x = np.where(p.blocked, 0.0, 1.0)  # one block of every free cell: each requirement needs an LP
    witnesses: dict = {}
    sep = Separator(p)
    assert not sep.violations(x, witnesses=witnesses)
    limits = []
    solve_lp = HighsModel.solve_lp

    def cut_short(self, switch_after=None, time_limit=None, cold=False):
        limits.append(time_limit)
        return dataclasses.replace(solve_lp(self, switch_after, time_limit, cold), status="time_limit")

    monkeypatch.setattr(HighsModel, "solve_lp", cut_short)
    with pytest.raises(OutOfTime):
        Separator(p).violations(x, give_up=Deadline(30.0))
    assert len(limits) == 1 and 25.0 < limits[0] <= 30.0
    y, complete = minimal(p, x, Deadline(30.0))
    assert not complete and np.array_equal(y, x)
    assert len(limits) == 2 and limits[1] <= 30.0
    # the clean-up stops at the first candidate that needs an LP, that candidate kept hidden
    y, complete = cleanup(p, x, sep, witnesses, Deadline(30.0))
    assert not complete and len(limits) == 3 and limits[2] <= 30.0
    assert audit(t, hidden=y > 0.5, preset="strict").ok


@pytest.mark.parametrize("preset", ("strict", "exact"))
@pytest.mark.parametrize("seed", (1, 2, 3))
def test_heuristic_clean_up_leaves_no_cell_it_could_publish(preset, seed):
    """Given the time, the clean-up keeps only complementary cells that are needed: publishing any
    one of them alone makes a requirement fail (hiding fewer cells never helps under these
    presets, so a cell kept at its turn is still needed at the end)."""
    from cellsuppress.suppress.heuristic import heuristic
    from cellsuppress.suppress.separation import Separator
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(4,), seed=seed, mean=30, small_share=0.2).table()
    p = build_problem(t, requirement(t, preset), "value", hidden_nonzero=False)
    x, _ = heuristic(p, cleanup_budget=1e9)
    assert audit(t, hidden=x > 0.5, preset=preset).ok
    sep = Separator(p)
    secondary = np.flatnonzero((x > 0.5) & ~p.force_hidden)
    assert secondary.size
    for j in secondary:
        y = x.copy()
        y[j] = 0.0
        assert sep.violations(y), f"cell {j} could be published"


def _publishable(t, hidden: np.ndarray, preset) -> list:
    """The hidden complementary cells that could each be published again alone without a failing
    requirement (an attacker LP per requirement decides)."""
    from cellsuppress.suppress.separation import Separator

    p = build_problem(t, requirement(t, preset), "value", hidden_nonzero=False)
    sep = Separator(p)
    x = hidden.astype(float)
    out = []
    for j in np.flatnonzero(hidden & ~p.force_hidden):
        y = x.copy()
        y[j] = 0.0
        if not sep.violations(y):
            out.append(int(j))
    return out


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("seed", (1, 2))
def test_clean_up_keeps_the_pattern_protected_and_minimal(seed, preset):
    """From a protected pattern with extra cells hidden (every free cell; or a heuristic pattern
    with cells added at random), the clean-up publishes all it can: the pattern still passes the
    attacker LPs and, where hiding fewer cells never helps, no single complementary cell can be
    published again. Many of its decisions come from stored moves and single equations, and
    requirements they settle keep no witness: this checks that no needed cell is published."""
    from cellsuppress.clock import NEVER
    from cellsuppress.suppress.cleanup import minimal
    from cellsuppress.suppress.heuristic import heuristic
    from cellsuppress.suppress.separation import Separator, equation_sum_disclosures, filter_either_side
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(5,), seed=seed, mean=40, small_share=0.14, zero_share=0.05).table()
    p = build_problem(t, requirement(t, preset), "value", hidden_nonzero=False)
    base, _ = heuristic(p, cleanup_budget=0)
    starts = [np.where(p.blocked, 0.0, 1.0)]
    starts += [np.where((np.random.default_rng(r).random(p.n) < share) & ~p.blocked, 1.0, base)
               for r, share in ((5, 0.2), (6, 0.4))]
    starts = [x for x in starts if not (p.equation_sum_rule and equation_sum_disclosures(p, x))]
    assert starts  # (a start that discloses an equation's sum is not protected under policy)
    for x in starts:
        y, complete = minimal(p, x, NEVER)
        assert complete and y.sum() < x.sum()
        assert not filter_either_side(p, Separator(p).violations(y))
        if preset != "policy":  # under policy publishing a cell can end a disclosure of an equation's sum
            assert _publishable(t, y > 0.5, preset) == []
    assert audit(t, hidden=y > 0.5, preset=preset).ok


@pytest.mark.parametrize("preset", ("strict", "exact"))
@pytest.mark.parametrize("levels, limit, method", [((5,), 3, "optimal"), ((6,), 5, "optimal"), ((6,), 2, "fast")])
def test_time_limited_patterns_are_cleaned_up(levels, limit, method, preset):
    """A pattern returned at its time limit, not proven optimal, has been through the clean-up: no
    single hidden complementary cell can be published again without a failing requirement. Its
    bound and gap are those of the cleaned pattern."""
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=levels, seed=2, mean=40, small_share=0.14, zero_share=0.05).table()
    res = protect(t, preset=preset, time_limit=limit, method=method)
    assert res.audit.ok
    assert "clean-up" not in res.message  # the clean-up had the time it needed
    assert _publishable(t, res.hidden, preset) == []
    assert res.lower_bound <= res.cost
    assert res.cost == pytest.approx(float(cost_weights(t.values, "value")[res.hidden].sum()))
    assert res.gap == pytest.approx(0.0 if res.optimal else (res.cost - res.lower_bound) / res.cost)


@pytest.mark.parametrize("preset", ("strict", "exact"))
@pytest.mark.parametrize("name", ("3x3", pytest.param("2x2x2b", marks=pytest.mark.slow), "hier"))
def test_capped_fractional_cuts_keep_every_protected_pattern(name, preset):
    """The cuts separated at fractional points with capped capacities are still valid: every
    pattern that violates one of them fails its attacker LPs."""
    from cellsuppress.suppress.master import Master
    from cellsuppress.suppress.separation import Separator

    t = TINY[name]()
    bf = BruteForce(t, preset)
    p = build_problem(t, requirement(t, preset), "value", False)
    m = Master(p, "highs")
    rng = np.random.default_rng(7)
    coefs, levels = [], []
    for _ in range(20):
        x = rng.uniform(0.0, 1.0, p.n) ** 3  # mostly small values: where capping matters
        x[p.force_hidden] = 1.0
        for v in m.sep_frac.violations(x):
            assert v.coef @ x < v.level  # only violated cuts are returned
            coefs.append(v.coef.toarray())
            levels.append(v.level)
    assert coefs
    H = bf.candidates.astype(float)
    cut_off = (H @ np.array(coefs).T < np.array(levels) - 1e-7).any(axis=1)
    assert cut_off.any()
    judge = Separator(p)
    for h in H[cut_off]:
        assert judge.violations(h), f"a cut excludes the protected pattern {np.flatnonzero(h)}"


def _assert_excluded_patterns_fail(cuts, candidates, judge) -> None:
    """Every candidate pattern a cut excludes fails that cut's requirement (cell and
    direction) in ``judge``'s attacker LPs, and the cuts exclude some pattern."""
    H = candidates.astype(float)
    failing: dict = {}
    excluded = 0
    for v in cuts:
        for h in np.flatnonzero(H @ v.coef.toarray() < v.level - 1e-7):
            if h not in failing:
                failing[h] = {(w.cell, w.kind) for w in judge.violations(H[h])}
            assert (v.cell, v.kind) in failing[h], f"{v.kind} cut of cell {v.cell} excludes {np.flatnonzero(H[h])}"
            excluded += 1
    assert excluded


@pytest.mark.parametrize("preset", ("strict", "policy"))
@pytest.mark.parametrize("name", (pytest.param("3x3", marks=pytest.mark.slow),
                                  pytest.param("2x2x2b", marks=pytest.mark.slow), "hier"))
def test_pareto_cuts_keep_every_protected_pattern(name, preset):
    """Pareto-optimal cuts (the dual tightest at a core point) are violated at the failing
    pattern they come from, and every pattern that violates one fails that very requirement
    (cell and direction) in its attacker LPs."""
    from cellsuppress.suppress.master import Master
    from cellsuppress.suppress.optimal import lp_rounds
    from cellsuppress.suppress.separation import Separator

    t = TINY[name]()
    bf = BruteForce(t, preset)
    p = build_problem(t, requirement(t, preset), "value", False)
    m = Master(p, "highs")
    lp_rounds(m, 50)
    assert m.pareto is not None
    rng = np.random.default_rng(3)
    cuts = []
    for _ in range(20):
        x = (rng.uniform(size=p.n) < 0.3).astype(float)
        x[p.force_hidden] = 1.0
        viols = m.sep.violations(x)
        for v in m.pareto.cuts(x, viols):
            assert v.coef @ x < v.level - 1e-9
            assert any(w.cell == v.cell and w.kind == v.kind for w in viols)
            cuts.append(v)
    assert cuts
    judge = Separator(dataclasses.replace(p, either_side=False, equation_sum_rule=False))  # each side on its own
    _assert_excluded_patterns_fail(cuts, bf.candidates, judge)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ("strict", "policy"))
@pytest.mark.parametrize("name", ("2x2x2", "2x2x2b"))
def test_slice_cuts_keep_every_protected_pattern(name, preset):
    """Cuts from the two-way slices of a three-way table are violated at the pattern they come
    from, and every pattern one of them excludes fails that requirement in the whole table."""
    from cellsuppress.suppress.separation import Separator, SliceCuts

    t = TINY[name]()
    bf = BruteForce(t, preset)
    p = build_problem(t, requirement(t, preset), "value", False)
    sc = SliceCuts(p)
    # each sensitive cell lies in three planes of 3x3 cells (margins included)
    assert {c.size for c, _ in sc.slices} == {9}
    in_planes = np.zeros(p.n, int)
    for c, _ in sc.slices:
        in_planes[c] += 1
    assert (in_planes[p.sensitive] == 3).all()
    rng = np.random.default_rng(5)
    judge = Separator(dataclasses.replace(p, either_side=False, equation_sum_rule=False))  # each side on its own
    cuts = []
    for _ in range(30):
        x = (rng.uniform(size=p.n) < 0.35).astype(float)
        x[p.force_hidden] = 1.0
        full = {(w.cell, w.kind) for w in judge.violations(x)}
        for v in sc.cuts(x):
            assert v.coef @ x < v.level - 1e-9
            assert (v.cell, v.kind) in full, "a slice fails where the table does not"
            cuts.append(v)
    assert cuts
    _assert_excluded_patterns_fail(cuts, bf.candidates, judge)


@pytest.mark.slow
def test_slice_cuts_on_a_hierarchical_three_way_table():
    """Slices of a table with a hierarchy hold the hierarchy's equations; a pattern that
    violates a slice cut fails that requirement in the whole table (random patterns)."""
    from cellsuppress.suppress.separation import Separator, SliceCuts

    rng = np.random.default_rng(11)
    counts = rng.integers(0, 45, size=4 * 3 * 3)
    t = make_table([groups(), flat("b", 3), flat("c", 3)], counts)
    p = build_problem(t, requirement(t, "strict"), "value", False)
    assert p.sensitive.any()
    sc = SliceCuts(p)
    # every slice is a whole two-way table: (7 codes x 4 codes) or (4 x 4)
    assert {c.size for c, _ in sc.slices} <= {28, 16}
    judge = Separator(p)
    n_cuts = n_checked = 0
    for _ in range(40):
        x = (rng.uniform(size=p.n) < 0.3).astype(float)
        x[p.force_hidden] = 1.0
        cuts = sc.cuts(x)
        n_cuts += len(cuts)
        for _ in range(20):
            y = np.maximum(x, rng.uniform(size=p.n) < 0.2)
            fails = {(w.cell, w.kind) for w in judge.violations(y)}
            for v in cuts:
                if v.coef @ y < v.level - 1e-7:
                    assert (v.cell, v.kind) in fails
                    n_checked += 1
    assert n_cuts and n_checked


@pytest.mark.parametrize("preset", ("strict", "policy"))
@pytest.mark.parametrize("name", ("hier", "hierb"))
def test_subtable_cuts_keep_every_protected_pattern(name, preset):
    """The cuts of row generation on each subtable of a hierarchical two-way table exclude only
    patterns that fail that very requirement in the whole table (brute force)."""
    from cellsuppress.suppress.separation import Separator
    from cellsuppress.suppress.subtable_rounds import subtable_rounds
    from cellsuppress.suppress.subtables import subtables

    t = TINY[name]()
    bf = BruteForce(t, preset)
    p = build_problem(t, requirement(t, preset), "value", False)
    subs = subtables(p)
    assert len(subs) == 3
    pieces = [(s.cells, s.rows) for s in subs if p.sensitive[s.cells].any()]
    cuts, union, st = subtable_rounds(p, pieces, "highs", Deadline(30.0))
    assert cuts and st["subtables"] == len(pieces)
    # the union of the subtables' optima protects every sensitive cell in each subtable (both
    # sides checked: strict only)
    assert union is not None
    if preset == "strict":
        for cells, rows in pieces:
            assert not Separator(p.restrict(cells, rows)).violations(union[cells])
    judge = Separator(dataclasses.replace(p, either_side=False, equation_sum_rule=False))  # each side on its own
    _assert_excluded_patterns_fail(cuts, bf.candidates, judge)


@pytest.mark.parametrize("seed", [0, 2])  # tables the master's first solution does not solve
def test_hierarchical_two_way_optimum_with_the_subtables_cuts(seed):
    """protect on a hierarchical two-way table starts from the cuts of its subtables and still
    proves the optimum of the compact model, which has no cuts at all."""
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=2, levels=((3, 2), (2, 3)), seed=seed, mean=30, small_share=0.15).table()
    res = protect(t)
    assert res.audit.ok and res.optimal
    assert res.stats["subtable_cuts"] > 0
    assert res.cost == pytest.approx(compact_cost(t, "strict", "value"))


def test_cuts_take_memory_by_their_cells_not_by_the_tables():
    """The first check of a large table fails for most of its sensitive cells at once; each cut
    holds the cells of the equations around its cell, so the cuts' memory does not grow as
    cells x cuts (as dense rows it would: gigabytes at 80,000 cells)."""
    import tracemalloc

    from cellsuppress.suppress.separation import Separator
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=((3, 20), (18,), (3,)), seed=1, mean=40, small_share=0.12,
                 zero_share=0.05).table()
    p = build_problem(t, requirement(t, "strict"), "value", False)
    x = p.force_hidden.astype(float)
    sep = Separator(p)
    tracemalloc.start()
    try:
        viols = sep.violations(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(viols) > 500 and p.n > 4000
    assert peak < len(viols) * p.n * 8 / 10
    for v in viols[:50]:
        dense = v.coef.toarray()
        assert dense.size == p.n and np.count_nonzero(dense) == v.coef.cols.size < p.n / 50
        assert v.coef @ x == pytest.approx(dense @ x) and v.coef @ x < v.level


@pytest.mark.parametrize("seed", (1, 2))
def test_cuts_cut_off_the_pattern_they_were_separated_at(seed):
    """Row generation only progresses when each cut separated at a failing 0/1 pattern excludes
    that very pattern. Cells with no upper bound (strict) are where round-off in the attacker
    LP's duals used to turn a cut into one every pattern meets (random patterns, 7x7x7)."""
    from cellsuppress.suppress.separation import Separator
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(7,), seed=seed, mean=40, small_share=0.14, zero_share=0.05).table()
    p = build_problem(t, requirement(t, "strict"), "value", False)
    assert np.isinf(p.cap_up).any()
    rng = np.random.default_rng(seed)
    sep = Separator(p)
    n_cuts = 0
    for share in (0.1, 0.2, 0.3, 0.4):
        for _ in range(5):
            x = (rng.uniform(size=p.n) < share).astype(float)
            x[p.force_hidden] = 1.0
            for v in sep.violations(x):
                assert v.coef @ x <= v.gain + 1e-6 * max(1.0, v.level), f"{v.kind} cut of cell {v.cell}"
                n_cuts += 1
    assert n_cuts


@pytest.mark.parametrize("solver", ("highs", "highs+bound", "cbc"))
@pytest.mark.parametrize("preset", ("strict", "policy"))
@pytest.mark.parametrize("name", ("3x3b", pytest.param("2x2x2", marks=pytest.mark.slow), "hierb"))
def test_local_branching_reaches_the_brute_force_optimum(name, preset, solver):
    """Local branching from the dearest protected pattern (every free cell hidden) ends at the
    brute-force optimum, proves it (its neighbourhood grows to the whole table), and leaves
    the master with its cuts but without its own rows. On HiGHS the solves run in another
    thread, ahead of the repairs (``highs+bound``: beside a copy of the master solved for the
    bound, as in the optimal method); on CBC on the master itself."""
    from cellsuppress.suppress.local_branching import local_branching
    from cellsuppress.suppress.master import Master

    t = TINY[name]()
    best, _ = BruteForce(t, preset).optimum("value")
    p = build_problem(t, requirement(t, preset), "value", False)
    m = Master(p, solver.split("+")[0])
    assert m.can_solve_in_background == solver.startswith("highs")
    m.incumbent.offer(np.where(p.blocked, 0.0, 1.0))
    assert m.incumbent.cost > best
    rows_before, cuts_before = m.model.n_rows, m.stats["cuts"]
    if solver == "highs+bound":
        m.bound.start()
        assert m.bound.job is not None
    local_branching(m, until=Deadline(60), k=1)
    m.bound.poll(stop=True)
    assert not _background_threads()
    assert m.incumbent.cost == pytest.approx(best)
    assert m.lower >= best - 1 + 1e-9
    assert audit(t, hidden=m.incumbent.x > 0.5, preset=preset).ok
    assert m.model.n_rows == rows_before + m.stats["cuts"] - cuts_before


@pytest.mark.parametrize("slice_", (None, 0.001))
@pytest.mark.parametrize("preset", ("strict", "policy"))
@pytest.mark.parametrize("name", ("3x3b", pytest.param("2x2x2", marks=pytest.mark.slow), "hierb"))
def test_background_master_solves_reach_the_brute_force_optimum(name, preset, slice_):
    """Copies of the master solved in another thread alone (each optimum, or with ``slice_``
    each solution at the end of its slice, separated, its cuts added, a new copy started) end
    at the brute-force optimum, with its bound."""
    from cellsuppress.suppress.master import Master

    t = TINY[name]()
    best, _ = BruteForce(t, preset).optimum("value")
    p = build_problem(t, requirement(t, preset), "value", False)
    m = Master(p, "highs", Deadline(60))
    assert m.can_solve_in_background
    m.bound.start(slice_)
    m.bound.poll(wait=True)  # and every copy started after it
    assert m.bound.job is None
    assert m.incumbent.cost == pytest.approx(best)
    assert m.lower >= best - 1 + 1e-9
    assert audit(t, hidden=m.incumbent.x > 0.5, preset=preset).ok
    assert m.cuts.snapshot().A.shape[0] == m.model.n_rows  # the copies had every cut of the pool


def _background_threads() -> list:
    import threading

    from cellsuppress.solvers.background import THREAD_NAME

    return [th for th in threading.enumerate() if th.name == THREAD_NAME]


@pytest.mark.slow
def test_background_master_solves_in_slices_feed_the_next_copy():
    """With slices, a copy of the master cut short has its solution separated and the next
    copy holds the new cuts; the bound only rises and stays below a protected pattern's cost."""
    from cellsuppress.suppress.master import Master
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(5,), seed=1, mean=40, small_share=0.14, zero_share=0.05).table()
    p = build_problem(t, requirement(t, "strict"), "value", False)
    m = Master(p, "highs", Deadline(8))
    m.incumbent.offer(np.where(p.blocked, 0.0, 1.0))  # every free cell hidden: protected
    m.bound.start(0.5)
    bounds, cuts = [], [m.stats["cuts"]]
    while m.bound.job is not None:
        m.bound.job.result(wait=True)
        m.bound.poll()
        bounds.append(m.lower)
        cuts.append(m.stats["cuts"])
    assert m.stats["background_solves"] > 2
    assert cuts[-1] > cuts[0]  # solutions cut short were separated
    assert bounds == sorted(bounds) and bounds[-1] <= m.incumbent.cost + 1e-9
    assert audit(t, hidden=m.incumbent.x > 0.5, preset="strict").ok
    assert not _background_threads()


def test_milp_rounds_have_every_cut_the_root_pruned():
    """The root prunes cuts with slack at its points from the live model; before the MILP
    rounds they all come back (the model then holds every cut of the pool, as a copy does),
    and the master's MILP optimum with them is at least its optimum without."""
    from cellsuppress.suppress.master import Master
    from cellsuppress.suppress.optimal import lp_rounds
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(4,), seed=2, mean=40, small_share=0.14, zero_share=0.05).table()
    p = build_problem(t, requirement(t, "strict"), "value", False)
    m = Master(p, "highs")
    lp_rounds(m)
    assert m.cuts.parked.size > 0
    without = m.solve_milp(None)
    back = m.cuts.restore()
    assert back > 0 and m.cuts.parked.size == 0
    assert m.model.n_rows == m.cuts.snapshot().A.shape[0]
    with_all = m.solve_milp(None)
    assert without.status == with_all.status == "optimal"
    assert with_all.objective >= without.objective - 1e-6


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 7), st.integers(1, 12), st.integers(0, 4))
def test_rows_dropped_near_a_centre_hold_throughout_its_neighbourhood(seed, n, rows, k):
    """Every row rows_kept_near lets go holds at every 0/1 point within k movable cells of
    the centre (enumerated); rows with a negative coefficient or one on a further column
    are always kept."""
    from cellsuppress.suppress.local_branching import rows_kept_near

    rng = np.random.default_rng(seed)
    extra = int(rng.integers(0, 2))  # a further column, like a policy side
    A = rng.choice([0.0, 0.0, 1.0, 2.5, 7.0], size=(rows, n + extra))
    A[rng.random(rows) < 0.15, 0] = -1.0
    lo = rng.choice([0.5, 1.0, 2.5, 7.0, 10.0], size=rows)
    centre = rng.random(n) < 0.6
    movable = rng.random(n) < 0.8
    keep = rows_kept_near(sp.csr_matrix(A), lo, centre, movable, k)
    assert keep[(A < 0).any(axis=1) | (A[:, n:] != 0).any(axis=1)].all()
    dropped = A[~keep]
    for x in itertools.product((0.0, 1.0), repeat=n):
        x = np.array(x)
        if (x[~movable] != centre[~movable]).any() or (x != centre).sum() > k:
            continue
        assert (dropped[:, :n] @ x >= lo[~keep] - 1e-9).all()
    # the centre's own activity minus its k largest movable coefficients: rows that meet lo
    # that way are the ones let go
    if k == 0 and not extra:
        ok = (A >= 0).all(axis=1) & (A @ centre >= lo - 1e-9)
        assert (~keep == ok).all()


@pytest.mark.slow
def test_time_limited_three_way_run_takes_its_bound_from_the_background():
    """A 6x6x6 table (strict) is not solved in 30 s: from 35% of the time left a copy of the
    master is solved on the second core for the bound while rounds go on. The run ends
    within its limit with an audited pattern and a valid bound, and no solve left running."""
    from cellsuppress.tables.synthetic import generate
    from helpers import time_bound

    t = generate(dims=3, levels=(6,), seed=1, mean=40, small_share=0.14, zero_share=0.05).table()
    # the copy starts with the first round that begins in the last 35% of the time; a round is a
    # master solve of up to 5 s and its repair, longer on a loaded machine: 30 s leaves room for
    # more than one round there
    limit = 30
    t0 = time.perf_counter()
    res = protect(t, time_limit=limit)
    assert time.perf_counter() - t0 < time_bound(limit)
    assert res.stats.get("background_solves", 0) >= 1
    assert res.audit.ok and audit(t, hidden=res.hidden).ok
    assert 0 < res.lower_bound <= res.cost
    assert res.gap == pytest.approx((res.cost - res.lower_bound) / res.cost)
    assert not _background_threads()


def _interrupt_at_round(monkeypatch, which: int, master_no: int = 1, start_bound: bool = False) -> list:
    """Make the ``which``-th MILP round of the ``master_no``-th master raise KeyboardInterrupt, as a
    Ctrl-C there would (with ``start_bound``, while a copy of the master solves in another
    thread); returns the masters seen."""
    from cellsuppress.suppress.optimal import RowGeneration

    masters: list = []
    calls: dict = {}
    original = RowGeneration._round

    def round_(self, limit):
        if self.m not in masters:
            masters.append(self.m)
        calls[id(self.m)] = calls.get(id(self.m), 0) + 1
        if masters.index(self.m) + 1 == master_no and calls[id(self.m)] == which:
            if start_bound:
                self.m.bound.start()
                assert self.m.bound.job is not None
            raise KeyboardInterrupt
        return original(self, limit)

    monkeypatch.setattr(RowGeneration, "_round", round_)
    return masters


THREE_WAY = dict(dims=3, levels=(4,), seed=1, mean=40, small_share=0.14, zero_share=0.05)


def test_ctrl_c_returns_the_best_audited_pattern(monkeypatch):
    """Ctrl-C during the MILP rounds, while a copy of the master solves in another thread for
    the bound: protect returns the best pattern found so far, audited, says so, and leaves no
    solve running."""
    from cellsuppress.tables.synthetic import generate

    t = generate(**THREE_WAY).table()
    _interrupt_at_round(monkeypatch, 2, start_bound=True)
    res = protect(t)
    assert res.message.startswith("interrupted: returning the best audited pattern, gap ")
    assert f"{res.gap:.2%}" in res.message.splitlines()[0]
    assert res.audit.ok and audit(t, hidden=res.hidden).ok
    assert res.hidden[requirement(t, "strict").sensitive].all()
    assert 0 < res.lower_bound <= res.cost
    assert res.stats["mip_solves"] == 2  # the master's first solve and one round: the second never solved
    assert not _background_threads()


def test_ctrl_c_during_a_master_solve_stops_it(monkeypatch):
    """A real SIGINT while the master's MILP runs in the solver (not in Python): the solve is
    stopped at once and protect returns the audited incumbent. Uninterrupted, this table is
    not solved within the time limit."""
    import os
    import signal
    import threading

    from cellsuppress.solvers.background import THREAD_NAME
    from cellsuppress.solvers.highs import HighsModel
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(6,), seed=1, mean=40, small_share=0.14, zero_share=0.05).table()
    fired = []
    milps = []
    original = HighsModel.solve

    def solve(self, *args, **kwargs):
        # the master's MILP, solved in a thread of its own: Ctrl-C as the second starts (the
        # first comes before the heuristic, when there is no protected pattern to return yet)
        if not self.relaxed and threading.current_thread().name == THREAD_NAME:
            milps.append(1)
            if len(milps) == 2:
                fired.append(time.perf_counter())
                os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HighsModel, "solve", solve)
    # Python's own handler, even where the tests run with SIGINT ignored (a background job)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        res = protect(t, time_limit=120)
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped protect")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert fired and time.perf_counter() - fired[0] < 30  # the solve stopped, the audit ran
    assert res.message.startswith("interrupted")
    assert res.audit.ok and audit(t, hidden=res.hidden).ok
    assert not res.optimal and res.lower_bound < res.cost
    assert not _background_threads()


def test_ctrl_c_before_a_protected_pattern_goes_on(monkeypatch):
    """Ctrl-C while the heuristic looks for the first protected pattern: nothing to return."""
    import cellsuppress.suppress.optimal as optimal_mod
    from cellsuppress.tables.synthetic import generate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(optimal_mod, "heuristic", interrupted)
    with pytest.raises(KeyboardInterrupt):
        protect(generate(**THREE_WAY).table())
    assert not _background_threads()


@pytest.mark.parametrize("master_no", (1, 2))
def test_ctrl_c_with_two_parts_returns_only_when_both_have_a_pattern(monkeypatch, master_no):
    """A table of two independent parts: Ctrl-C while the first is solved leaves the second
    without a pattern (KeyboardInterrupt goes on); while the second is, both have one."""
    from cellsuppress import LinearTable
    from cellsuppress.tables.synthetic import generate

    t = generate(**THREE_WAY).table()
    two = LinearTable(values=np.concatenate([t.values, t.values]), M=sp.block_diag([t.M, t.M], format="csr"))
    masters = _interrupt_at_round(monkeypatch, 2, master_no=master_no)
    if master_no == 1:
        with pytest.raises(KeyboardInterrupt):
            protect(two)
        assert len(masters) == 1
        return
    res = protect(two)
    assert len(masters) == 2 and res.stats["components"] == 2
    assert res.message.startswith("interrupted") and res.audit.ok
    assert audit(two, hidden=res.hidden).ok


# -- the root: the cut loop on the LP relaxation ----------------------------------------------
@pytest.mark.parametrize("levels, seed", [((4,), 1), ((5,), 1), ((5,), 2)])
def test_root_runs_until_no_violated_cut_or_tail_off(levels, seed):
    """Without a cap or a time limit the root's cut loop ends at an LP point where no violated
    cut is found, or when its bound tails off; protect reports its bound, rounds and time, and
    the bound is at most its lower bound."""
    from cellsuppress.suppress.master import Master
    from cellsuppress.suppress.optimal import _tailing_off, first_incumbent, lp_rounds
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=levels, seed=seed, mean=40, small_share=0.14, zero_share=0.05).table()
    p = build_problem(t, requirement(t, "strict"), "value", hidden_nonzero=False)
    said: list = []
    m = Master(p, "highs", say=lambda msg, force=False: said.append(msg))
    first_incumbent(m)
    lp_rounds(m)
    bounds = [float(re.search(r"bound (\S+),", msg).group(1)) for msg in said if msg.startswith("LP round")]
    assert m.stats["root_rounds"] == len(bounds) > 1
    # the last LP point has no violated cut, or the bound tailed off
    assert not m.separate(m.pareto.core, integral=False) or _tailing_off(bounds)
    res = protect(t, time_limit=5)
    assert res.stats["root_rounds"] > 1 and res.stats["root_seconds"] > 0
    assert res.stats["root_bound"] <= res.lower_bound + 1e-6 <= res.cost + 1e-6


def test_max_root_rounds_caps_the_root():
    from cellsuppress.tables.synthetic import generate

    t = generate(dims=3, levels=(5,), seed=1, mean=40, small_share=0.14, zero_share=0.05).table()
    capped = protect(t, max_root_rounds=2, time_limit=5)
    assert capped.stats["root_rounds"] == 2
    full = protect(t, time_limit=5)
    assert full.stats["root_rounds"] > 2 and full.stats["root_bound"] > capped.stats["root_bound"]
    assert capped.audit.ok and full.audit.ok


def test_pruned_cuts_stay_in_the_pool_and_come_back_when_violated():
    """A cut with slack for a few rounds leaves the live model but not the pool: the copies of the
    master have it, and a point that violates it (or a separation that finds it again) puts it
    back."""
    from cellsuppress.suppress.master import Master

    t = TINY["3x3"]()
    p = build_problem(t, requirement(t, "strict"), "value", hidden_nonzero=False)
    m = Master(p, "highs")
    x = p.force_hidden.astype(float)
    viols = m.separate(x, integral=True)
    rows0 = m.model.n_rows
    assert m.cuts.add(viols) == len(viols) > 0
    every = np.ones(p.n)  # every cut has slack here
    for _ in range(2):
        assert m.cuts.prune(every, after=3) == 0
    assert m.cuts.prune(every, after=3) == len(viols)
    assert m.model.n_rows == rows0
    snap = m.cuts.snapshot()
    assert snap.A.shape[0] == rows0 + len(viols)
    assert m.cuts.add(viols[:1]) == 1 and m.model.n_rows == rows0 + 1  # found again
    assert m.cuts.revive(x) == len(viols) - 1  # x violates them all
    assert m.model.n_rows == rows0 + len(viols) and m.cuts.revive(x) == 0


@pytest.mark.parametrize("name", ["3x3", "2x2x2", "hier", "hierb"])
def test_bridgeless_rows_hold_at_every_minimal_protected_pattern(name):
    """The bridgeless rows cut off only patterns that are not minimal: every protected pattern from
    which no single complementary cell can be published (brute force, the audit as judge) meets
    them all, so the optimum is never cut off. A minimal pattern with one more cell hidden, alone
    in one of its equations, violates one."""
    from cellsuppress.suppress.cuts_bridgeless import BridgelessCuts

    t = TINY[name]()
    bf = BruteForce(t, "strict")
    p = build_problem(t, requirement(t, "strict"), "value", hidden_nonzero=False)
    family = BridgelessCuts(p)
    M = sp.csr_matrix(t.M).toarray() != 0
    minimal = []
    for h in (h for h in bf.candidates if bf.ok(h)):
        if not any(bf.ok(np.where(np.arange(t.n_cells) == j, False, h)) for j in np.flatnonzero(h & ~p.force_hidden)):
            minimal.append(h)
    assert minimal
    found = 0
    for h in minimal:
        assert not family.cuts(h.astype(float)), np.flatnonzero(h)
        for j in np.flatnonzero(~h & ~p.blocked):
            y = h.copy()
            y[j] = True
            alone = any(not (y & M[r] & (np.arange(t.n_cells) != j)).any() for r in np.flatnonzero(M[:, j]))
            assert bool(family.cuts(y.astype(float))) == alone
            found += alone
    assert found
    # not under a preset with the rule on equation sums
    policy = build_problem(t, requirement(t, "policy"), "value", hidden_nonzero=False)
    assert not BridgelessCuts(policy).cuts(np.where(policy.force_hidden, 1.0, 0.5))


@pytest.mark.parametrize("shape, only_subtables", [
    (dict(dims=3, levels=(5,), seed=2, mean=40, small_share=0.14, zero_share=0.05), False),
    # hierarchical two-way: only the masters of its subtables hang (subtable_rounds)
    (dict(dims=2, levels=((4, 4), (3, 5)), seed=1), True),
], ids=["3-way", "2-way hierarchical, a subtable's master"])
def test_master_solve_that_ignores_its_time_limit_ends_the_search_in_time(monkeypatch, shape, only_subtables):
    """HiGHS does not check its time limit everywhere: a master MILP that neither stops at its
    limit nor when asked must not hold the run past it. The search ends with its incumbent,
    audited, not claimed optimal, with a warning that one solve is left running."""
    import threading

    from cellsuppress.solvers.background import BackgroundSolve
    from cellsuppress.solvers.base import Solution
    from cellsuppress.suppress import master as master_module
    from cellsuppress.tables.synthetic import generate
    from helpers import time_bound

    release = threading.Event()
    real_make_model = master_module.make_model

    class Stuck:
        """The real master model, except that its MILP solves hang and ignore stop()."""

        def __init__(self, model, hangs):
            self._model = model
            self.hangs = hangs

        def __getattr__(self, name):
            return getattr(self._model, name)

        def solve(self, **options):
            if self.integral and self.hangs:  # the root's LP solves go through
                release.wait(60.0)
                return Solution(status="time_limit")
            return self._model.solve(**options)

        def set_integer(self, on):
            self.integral = on
            self._model.set_integer(on)

        def stop(self):
            pass

        integral = True

    t = generate(**shape).table()
    monkeypatch.setattr(master_module, "make_model", lambda lp, solver: Stuck(
        real_make_model(lp, solver), hangs=not only_subtables or lp.c.size < t.n_cells))
    monkeypatch.setattr(BackgroundSolve, "GRACE", 0.5)
    limit = 4
    t0 = time.perf_counter()
    try:
        with pytest.warns(RuntimeWarning, match="did not stop at its time limit"):
            res = protect(t, time_limit=limit)
        assert time.perf_counter() - t0 < time_bound(limit)  # not the 60 s the solve hangs for
    finally:
        release.set()
    for thread in _background_threads():
        thread.join(5.0)
    assert not _background_threads()
    assert res.audit.ok and audit(t, hidden=res.hidden).ok
    assert not res.optimal and res.lower_bound <= res.cost
