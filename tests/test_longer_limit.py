"""A longer time limit keeps what a shorter one finds: the first incumbent does not depend on the
limit once it has time to end, and the MILP rounds of a run long enough for local branching
repair their failing solutions as a shorter run's do, so that the longer run first does what the
shorter one does (a 600 s run used to skip those repairs and return a dearer pattern than a 60 s
one)."""
import numpy as np
import pytest

import cellsuppress as cs
from cellsuppress.clock import Deadline
from cellsuppress.rules import requirement
from cellsuppress.solvers.background import SolveThread
from cellsuppress.suppress import schedule
from cellsuppress.suppress.master import Master
from cellsuppress.suppress.optimal import Root, RowGeneration, first_incumbent
from cellsuppress.suppress.problem import build_problem
from cellsuppress.tables.synthetic import generate


def _table(seed: int):
    # a 4x4x4 table with margins: 125 cells, a few sensitive; its master solutions fail at first
    return generate(dims=3, levels=((4,), (4,), (4,)), seed=seed, mean=40, small_share=0.15,
                    zero_share=0.05).table()


def _after_first_round(t, limit: float):
    """The first incumbent and the incumbent after the first MILP round of a search given
    ``limit`` seconds (the round's solve runs to its end, so only the limit differs), and
    whether local branching was to come."""
    p = build_problem(t, requirement(t, "strict"), "value", False)
    m = Master(p, "highs", Deadline(limit))
    with SolveThread() as m.thread:
        first_incumbent(m)
        first = m.incumbent.x.copy()
        Root(m).run(schedule.ROOT)
        rounds = RowGeneration(m)
        m.cuts.restore()
        rounds._round(None)
        m.bound.poll(stop=True)
    return p, first, m.incumbent.x.copy(), not rounds.no_polish


@pytest.mark.parametrize("seed", [1, 2])
def test_a_longer_limit_repairs_the_same_round_to_the_same_pattern(seed):
    t = _table(seed)
    p, first_short, short, polish_short = _after_first_round(t, 20.0)
    _, first_long, long_, polish_long = _after_first_round(t, 600.0)
    assert not polish_short and polish_long  # only the long run has local branching to come
    assert np.array_equal(first_short, first_long)  # the first heuristic ends at both limits
    cost = lambda x: float(p.cost[x > 0.5].sum())  # noqa: E731
    assert cost(short) < cost(first_short)  # the round's repair found a cheaper pattern ...
    assert np.array_equal(long_, short)  # ... and the longer run found it too


def test_protect_with_a_relative_gap_returns_a_pattern_within_it():
    """With ``mip_gap`` the search ends once its pattern is within the gap of the bound, never
    before it has a pattern (a gap relative to no pattern's infinite cost held at once)."""
    t = _table(0)
    res = cs.protect(t, time_limit=60, mip_gap=0.05)
    assert res.audit.ok
    assert np.isfinite(res.cost) and res.cost - res.lower_bound <= 0.05 * res.cost + 1e-9


def test_rounds_last_rounds_min_before_local_branching_where_the_limit_allows():
    # local branching starts at POLISH_LEFT of the time left, but never before ROUNDS_MIN seconds
    # of rounds, as far as that leaves it MIN_POLISH before the final phase
    from cellsuppress.clock import NEVER
    assert schedule.polish_start(NEVER) is NEVER
    for limit, rounds in ((60.0, 15.0), (120.0, schedule.ROUNDS_MIN), (600.0, 150.0),
                          (100.0, 0.85 * 100.0 - schedule.MIN_POLISH)):
        assert abs(schedule.polish_start(Deadline(limit)).remaining() - rounds) < 0.05
