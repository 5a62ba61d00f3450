"""The restarts of the heuristic in other orders (``suppress/restarts.py``): on a small
hierarchical three-way table they leave the optimal method an incumbent that the audit passes,
cheaper than the heuristic's first pattern, and without a time limit the same one every time."""
import numpy as np

import cellsuppress as cs
from cellsuppress.auditing.report import audit
from cellsuppress.clock import Deadline
from cellsuppress.rules import requirement
from cellsuppress.suppress.heuristic import heuristic
from cellsuppress.suppress.master import Master
from cellsuppress.suppress.optimal import first_incumbent
from cellsuppress.suppress.problem import build_problem
from cellsuppress.suppress.restarts import restarts
from cellsuppress.tables.synthetic import generate


def _table(seed: int = 4):
    # region > 2 sub-regions x age group > 2 bands x 3 sexes: 400 cells, 11 sensitive
    return generate(dims=3, levels=((3, 2), (3, 2), (3,)), seed=seed, mean=40, small_share=0.12,
                    zero_share=0.05).table()


def _restarted(t):
    """The first incumbent and the master after restarts given four times its work."""
    p = build_problem(t, requirement(t, "strict"), "value", False)
    m = Master(p, "highs")
    took = first_incumbent(m)
    first = m.incumbent.x.copy()
    runs = restarts(m, Deadline.of_work(4 * took))  # no time limit: a budget of work
    return p, first, m, runs


def test_restarts_give_a_cheaper_audited_pattern_and_the_same_one_again():
    t = _table()
    p, first, m, runs = _restarted(t)
    assert runs >= 2
    assert m.incumbent.cost < float(p.cost[first > 0.5].sum())
    assert m.incumbent.cost == float(p.cost[m.incumbent.x > 0.5].sum())
    report = audit(t, m.incumbent.x > 0.5, preset="strict")
    assert report.ok
    assert not (m.incumbent.x > 0.5)[p.blocked].any() and (m.incumbent.x > 0.5)[p.force_hidden].all()
    _, first_again, again, runs_again = _restarted(t)
    assert runs_again == runs
    assert np.array_equal(first_again, first) and np.array_equal(again.incumbent.x, m.incumbent.x)


def test_no_restarts_on_a_two_way_table():
    """Two-way tables' master solutions fail a few cells: the restarts never start there."""
    t = generate(dims=2, levels=((4, 3), (5,)), seed=2, mean=40, small_share=0.15).table()
    res = cs.protect(t, method="optimal", time_limit=30)
    assert res.audit.ok
    assert res.stats["restarts"] == 0


def test_restarts_never_leave_a_dearer_incumbent():
    """Restarts again from the incumbent the first restarts left (their best pattern) keep it or
    find a cheaper one: runs that end dearer are dropped, and the incumbent is audited safe."""
    t = _table()
    p = build_problem(t, requirement(t, "strict"), "value", False)
    m = Master(p, "highs")
    took = first_incumbent(m)
    restarts(m, Deadline.of_work(4 * took))
    kept, cost = m.incumbent.x.copy(), m.incumbent.cost
    assert restarts(m, Deadline.of_work(4 * took)) >= 2
    assert m.incumbent.cost <= cost
    if m.incumbent.cost == cost:
        assert np.array_equal(m.incumbent.x, kept)
    assert m.incumbent.cost == float(p.cost[m.incumbent.x > 0.5].sum())
    assert audit(t, m.incumbent.x > 0.5, preset="strict").ok


def test_a_run_cut_off_above_its_cost_is_the_same_and_one_below_stops_protected():
    """The clean-up's cutoff (a run that only a cheaper pattern would serve) changes nothing when
    the run ends below it; below the run's cost it stops early, on a pattern still protected
    and no cheaper than the cutoff."""
    t = _table()
    p = build_problem(t, requirement(t, "strict"), "value", False)
    order = np.random.default_rng(3).permutation(p.n)
    x, st = heuristic(p, None, order=order)
    cost = float(p.cost[x > 0.5].sum())
    assert st["clean"]
    y, st_y = heuristic(p, None, order=order, cutoff=cost + 1.0)
    assert st_y["clean"] and np.array_equal(x, y)
    z, st_z = heuristic(p, None, order=order, cutoff=cost - 1.0)
    assert not st_z["clean"]
    assert float(p.cost[z > 0.5].sum()) >= cost - 1.0
    assert ((z > 0.5) | ~(x > 0.5)).all()  # what the whole clean-up keeps stays hidden
    assert audit(t, z > 0.5, preset="strict").ok
