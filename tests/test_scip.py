"""solver="scip": SCIP's branch-and-cut on the master (the optional extra ``scip``), against brute
force on tiny tables, against HiGHS's proven optimum, and within its time limit."""
import time

import numpy as np
import pytest

from cellsuppress import audit, protect
from cellsuppress.errors import SolverError
from cellsuppress.rules import requirement
from cellsuppress.suppress.problem import build_problem
from cellsuppress.tables.synthetic import generate
from helpers import time_bound
from test_protect import TINY, BruteForce


def test_scip_missing_is_a_clear_error(monkeypatch):
    """Without PySCIPOpt, solver="scip" stops before any work and says how to install it."""
    from cellsuppress.solvers import check_solver, scip_bc

    monkeypatch.setattr(scip_bc, "pyscipopt", None)
    with pytest.raises(SolverError, match=r"cellsuppress\[scip\]"):
        check_solver("scip")
    with pytest.raises(SolverError, match=r"cellsuppress\[scip\]"):
        protect(TINY["2x3"](), solver="scip")


pytest.importorskip("pyscipopt", reason="solver='scip' needs PySCIPOpt (pip install 'cellsuppress[scip]')")

from cellsuppress.suppress.branch_cut import branch_and_cut  # noqa: E402
from cellsuppress.suppress.master import Master  # noqa: E402


@pytest.mark.parametrize("preset", ["strict", "policy", "exact"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_branch_and_cut_alone_finds_the_brute_force_optimum(name, preset):
    """SCIP's tree with nothing but the single-equation cuts, no incumbent and no root: every
    capacity cut (and, under policy, every side and rule cut) comes from the separation at its
    nodes, and it proves brute force's optimum."""
    t = TINY[name]()
    bf = BruteForce(t, preset)
    for cost in ("value", "unity"):
        best, _ = bf.optimum(cost)
        m = Master(build_problem(t, requirement(t, preset), cost, False), "scip")
        assert branch_and_cut(m)
        assert m.incumbent.cost == pytest.approx(best)
        assert m.lower == pytest.approx(best, abs=0.5)
        assert bf.ok(m.incumbent.x > 0.5)
        assert m.stats["bc_nodes"] >= 1 and m.stats["cut_rounds"] >= 1


def three_way(size: int, seed: int):
    return generate(dims=3, levels=(size,), seed=seed, mean=40, small_share=0.15, zero_share=0.05).table()


@pytest.mark.parametrize("seed", [1, 2])
def test_small_three_way_table_same_optimum_as_highs(seed):
    """A 4x4x4 table whose first master solution fails: the branch-and-cut runs and proves the
    optimum that HiGHS's row generation proves."""
    t = three_way(4, seed)
    ref = protect(t, time_limit=120)
    res = protect(t, solver="scip", time_limit=120)
    assert ref.optimal and res.optimal
    assert res.stats.get("bc_nodes", 0) >= 1
    assert res.cost == pytest.approx(ref.cost)
    assert res.audit.ok and audit(t, hidden=res.hidden).ok


def test_proof_that_needs_a_tree_agrees_with_highs():
    """A 4x4x4 table whose proof takes SCIP's tree a hundred nodes or more: it is proven within
    the minute, the kept rows answer rounds in place of the attacker LPs (which run at fewer
    nodes than the tree has), and HiGHS's search, given a short limit, neither finds a cheaper
    pattern nor a bound above the optimum."""
    t = generate(dims=3, levels=(4,), seed=3, mean=40, small_share=0.15, zero_share=0.05).table()
    res = protect(t, solver="scip", time_limit=60)
    assert res.optimal and res.audit.ok and audit(t, hidden=res.hidden).ok
    assert res.lower_bound == pytest.approx(res.cost, abs=0.5)
    assert res.stats["bc_nodes"] >= 50
    assert 0 < res.stats["bc_separations"] < res.stats["bc_nodes"] and res.stats["bc_pool_rounds"] > 0
    ref = protect(t, time_limit=10)
    assert ref.cost >= res.cost - 1e-9 and ref.lower_bound <= res.cost + 1e-9


def test_time_limit_holds():
    """A 3-way 10x10x10 table is not proven in 15 s: the run ends within the limit (+10% and the
    grace for a loaded machine) with an audited pattern and a bound below its cost."""
    t = three_way(10, 1)
    t0 = time.perf_counter()
    res = protect(t, solver="scip", time_limit=15)
    took = time.perf_counter() - t0
    assert took <= time_bound(15), took
    assert res.audit.ok
    assert res.lower_bound <= res.cost + 1e-9
    assert not res.optimal and "time limit" in res.message
    assert res.hidden[requirement(t, "strict").sensitive].all()


def test_time_limit_holds_under_policy():
    """The either-side preset (side columns, rule cuts) within its limit too."""
    t = three_way(8, 3)
    t0 = time.perf_counter()
    res = protect(t, preset="policy", solver="scip", time_limit=10)
    assert time.perf_counter() - t0 <= time_bound(10)
    assert res.audit.ok and res.lower_bound <= res.cost + 1e-9
    assert np.isfinite(res.cost)


def test_master_heuristics_give_the_tree_cheaper_patterns():
    """On a 6x6x5 table the heuristics SCIP's tree calls (repairs of its failing integer points,
    the LP-guided heuristic at its LP points) hand it patterns cheaper than the heuristic
    incumbent it starts from; the pattern it ends with is one of them or cheaper, and passes
    the audit."""
    from cellsuppress.clock import Deadline
    from cellsuppress.suppress.optimal import first_incumbent, lp_rounds

    t = generate(dims=3, levels=((6,), (6,), (5,)), seed=3, mean=40, small_share=0.15, zero_share=0.05).table()
    m = Master(build_problem(t, requirement(t, "strict"), "value", False), "scip", deadline=Deadline(25.0))
    took = first_incumbent(m)
    start = m.incumbent.cost
    lp_rounds(m)
    branch_and_cut(m, guide_after=2.0 * took + 1.0)
    assert m.stats["bc_heuristic_patterns"] >= 1
    assert m.incumbent.cost < start
    assert audit(t, hidden=m.incumbent.x > 0.5).ok
    assert m.lower <= m.incumbent.cost + 0.5


def test_the_stall_rule_leaves_a_growing_tree_alone():
    """A tree whose bound stays flat for half a minute is stopped (local branching takes the
    rest) while it has few nodes, the tree of a larger table that hardly leaves its root; a tree
    of many nodes, whose bound rises in steps with plateaus between, goes on to its proof."""
    from cellsuppress.clock import Deadline
    from cellsuppress.suppress import schedule
    from cellsuppress.suppress.branch_cut import CapacityRows

    t = generate(dims=3, levels=(4,), seed=3, mean=30, small_share=0.25).table()
    p = build_problem(t, requirement(t, "strict"), "value", hidden_nonzero=False)

    def flat_for_half_a_minute(nodes: int) -> bool:
        m = Master(p, "highs", Deadline(600.0))
        m.incumbent.offer(np.ones(p.n))  # an incumbent: every cell hidden
        rows = CapacityRows(m)
        stopped = False
        for ago in (30.0, 20.0, 10.0, 0.0):  # the same bound asked 30 s, 20 s, 10 s ago and now
            rows.t0 = time.perf_counter() - (30.0 - ago)
            stopped = rows.stop(100.0 + m.tb_total, nodes=nodes)
        return stopped

    assert flat_for_half_a_minute(nodes=5)
    assert not flat_for_half_a_minute(nodes=schedule.STALL_NODES)
