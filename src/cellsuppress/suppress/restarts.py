"""Restarts of the heuristic in other orders, for the optimal method after the root on tables
where it ends far from any protected pattern (its master solutions fail nearly every sensitive
cell).

On hierarchical tables of three or more dimensions the heuristic's pattern is one rigid block:
a single attacker move through every hidden cell protects every sensitive cell, and publishing
any one of its complementary cells leaves many of them disclosed. A cheaper pattern is then not
a few cells away (the clean-up, local branching and the repairs of master solutions all stay
near it): it is built of other moves. Which moves the heuristic makes depends on the order in
which it meets the requirements, as each cheapest move reuses what the moves before it hid, and
two orders give patterns a tenth or more apart. So the heuristic is run again from scratch in
random orders, and every other time from the cells that two of the cheapest patterns so far
share (the backbone they agree on, where its moves cost less), each pattern cleaned up and
offered as incumbent.

Most runs end dearer than every pattern kept, and a run's clean-up is about half its time: it
stops once its pattern can no longer end below the dearest of the patterns kept (its cost less
that of every cell it has still to try), which spares part of a losing run's clean-up
and changes no pattern kept. The cost before the clean-up says too little of the cost after it
to stop a run sooner.

The orders come from a generator with a fixed seed, and without a time limit the phase has a
budget of work: the same table gives the same pattern every time.
"""
from __future__ import annotations

import numpy as np

from ..clock import Deadline
from .heuristic import OutOfTime, heuristic
from .master import Master

# the seed of the orders (a run without a time limit gives the same pattern every time)
SEED = 0
# the cheapest patterns kept, whose shared cells start every other run
ELITE = 4


def restarts(m: Master, until: Deadline) -> int:
    """Runs of the heuristic in random orders of the sensitive cells until ``until``, every other
    one (once three patterns are known) from the cells two of the ``ELITE`` cheapest patterns so
    far both hide; each protected pattern is offered to ``m`` (cleaned up) and the cuts met on
    the way join its pool. Once ``ELITE`` patterns are kept, a run's clean-up stops when its
    pattern cannot end cheaper than the dearest of them (it would be neither kept nor offered).
    A run is started only when the time left is longer than the longest run so far (one cut
    short gives nothing). The copies of the master solved in the background
    for the bound, if any, are polled between runs. Returns how many runs ended."""
    p = m.p
    rng = np.random.default_rng(SEED)
    best = [] if m.incumbent.x is None else [(m.incumbent.cost, m.incumbent.x > 0.5)]
    runs, longest = 0, 0.0
    while not until.expired() and not (until.limited and until.remaining() <= longest):
        m.bound.poll()
        if m.closed():
            break
        x0 = None
        if runs % 2 == 1 and len(best) >= 3:
            i, j = rng.choice(len(best), 2, replace=False)
            x0 = (best[i][1] & best[j][1]).astype(float)
        order = rng.permutation(p.n)
        t0 = until.now()
        found: list = []
        cutoff = best[-1][0] if len(best) >= ELITE else np.inf
        try:
            x, st = heuristic(p, None, until, x0=x0, cuts=found, give_up=until, order=order, cutoff=cutoff)
        except OutOfTime:
            break
        finally:
            m.cuts.add(found)
        longest = max(longest, until.now() - t0)
        runs += 1
        m.stats["lps"] += st.get("lps", 0)
        cost = float(p.cost[x > 0.5].sum())
        if cost >= cutoff:  # its clean-up stopped: no cheaper than the patterns kept
            m.say(f"restart {runs}{'' if x0 is None else ' from two patterns'}: no cheaper than {cutoff:g}")
            continue
        m.say(f"restart {runs}{'' if x0 is None else ' from two patterns'}: cost {cost:g}"
              f"{'' if st['clean'] else ' (clean-up cut short)'}")
        m.offer(x, clean=st["clean"])
        best = sorted(best + [(cost, x > 0.5)], key=lambda b: b[0])[:ELITE]
    m.stats["restarts"] += runs
    return runs
