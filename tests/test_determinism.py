"""Without a time limit the pattern depends on the input only: the same table gives the same
hidden cells on a fast machine and a slow one."""
import itertools
import time

import numpy as np
import pytest

import cellsuppress as cs
from cellsuppress.solvers import highs
from cellsuppress.tables.synthetic import generate

BASE = dict(seed=1, mean=40, small_share=0.12, zero_share=0.05)

TABLES = {
    "2-way 20x20": (dict(dims=2, levels=(20,)), "optimal"),
    "3-way 4x4x4": (dict(dims=3, levels=(4,)), "optimal"),
    # above AUTO_CELLS (10,000 cells): auto takes the modular method for a hierarchy ...
    "2-way hier (10,10)x90": (dict(dims=2, levels=((10, 10), (90,))), "modular"),
    # ... and the local method for a table without one
    "2-way 110x110": (dict(dims=2, levels=(110,)), "local"),
}


@pytest.fixture
def slow_clock(monkeypatch):
    """The clock as a machine ten times slower would see it, and slower still where the code reads
    it often (2 ms more per reading): every measured share and ratio of time changes."""
    real_perf, real_time = time.perf_counter, time.time
    start_perf, start_time = real_perf(), real_time()
    readings = itertools.count()

    def perf_counter():
        return start_perf + 10.0 * (real_perf() - start_perf) + 0.002 * next(readings)

    def wall():
        return start_time + 10.0 * (real_time() - start_time) + 0.002 * next(readings)

    monkeypatch.setattr(time, "perf_counter", perf_counter)
    monkeypatch.setattr(time, "time", wall)


def _table(name):
    spec, _ = TABLES[name]
    return generate(**BASE, **spec).table()


@pytest.fixture(scope="module")
def first_runs():
    """Each table protected once on the real clock (shared by the tests of this module)."""
    return {name: cs.protect(_table(name)) for name in TABLES}


@pytest.mark.parametrize("name", list(TABLES))
def test_the_same_pattern_on_a_slower_clock(name, first_runs, slow_clock):
    first = first_runs[name]
    assert first.stats["method"] == TABLES[name][1]
    again = cs.protect(_table(name))
    assert again.stats["method"] == first.stats["method"]
    assert again.audit.ok
    np.testing.assert_array_equal(np.flatnonzero(again.hidden), np.flatnonzero(first.hidden))
    assert again.cost == first.cost


@pytest.mark.parametrize("name", ["3-way 4x4x4", "2-way 110x110"])
def test_no_solver_call_has_a_time_limit_without_one(name, monkeypatch):
    """HiGHS's own clock decides too when a solve gets seconds (a first master solve cut short,
    simplex left for the interior point method after a second): without a time limit no solve
    of the search gets any."""
    limits = []
    solve = highs.HighsModel.solve

    def recording(self, time_limit=None, **options):
        limits.append(time_limit)
        return solve(self, time_limit=time_limit, **options)

    monkeypatch.setattr(highs.HighsModel, "solve", recording)
    res = cs.protect(_table(name))
    assert res.stats["method"] == TABLES[name][1]
    assert limits and all(t is None for t in limits), sorted({t for t in limits if t is not None})
