"""The certifier: batch attacker moves against the exact per-cell LPs, and its callers."""
from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import cellsuppress as cs
from cellsuppress.auditing.report import audit
from cellsuppress.auditing.certify import certify, certify_levels
from cellsuppress.clock import Deadline
from cellsuppress.suppress.batch import check_certified
from cellsuppress.suppress.problem import build_problem
from cellsuppress.rules import requirement
from cellsuppress.suppress.separation import Separator
from cellsuppress.tables.synthetic import generate


def exact_gain(M, hidden, cap_up, cap_dn, k, direction):
    """The attacker's largest move of cell k (scipy's HiGHS, one LP, no shortcuts)."""
    h = np.flatnonzero(hidden)
    A = M.tocsr()[:, h]
    rows = np.flatnonzero(np.diff(A.tocsr().indptr))
    A = A[rows]
    c = np.zeros(h.size)
    c[np.searchsorted(h, k)] = -direction
    bounds = np.column_stack([-cap_dn[h], np.where(np.isinf(cap_up[h]), None, cap_up[h])])
    res = linprog(c, A_eq=A, b_eq=np.zeros(rows.size), bounds=bounds, method="highs")
    if res.status == 3:
        return np.inf
    assert res.status == 0, res.message
    return -res.fun


def random_case(seed: int):
    """A small 2- or 3-way table (sometimes hierarchical), finite upper bounds on some cells, and a
    random pattern (sometimes every cell hidden)."""
    rng = np.random.default_rng(seed)
    dims = int(rng.integers(2, 4))
    levels = (int(rng.integers(2, 4)),) if rng.random() < 0.6 else (2, 2)
    t = generate(dims=dims, levels=levels, seed=seed, mean=25, small_share=0.35).table()
    n = t.n_cells
    t.ub = np.where(rng.random(n) < 0.3, t.values + rng.integers(0, 30, n), np.inf)
    if rng.random() < 0.25:
        hidden = np.ones(n, dtype=bool)
    else:
        hidden = rng.random(n) < rng.uniform(0.3, 0.8)
    return t, hidden


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_certified_requirements_hold_by_the_exact_lp(seed):
    """Never a requirement certified that the exact LP says fails; every gain is reachable."""
    t, hidden = random_case(seed)
    req = requirement(t, "strict", 20)
    a = t.values
    cap_up, cap_dn = t.ub - a, a - t.lb
    want = hidden & req.sensitive
    up = np.where(want, req.need_hi - a, 0.0)
    dn = np.where(want, a - req.need_lo, 0.0)
    cert, held = certify_levels(t.M, hidden, cap_up, cap_dn, up, dn)
    for k in np.flatnonzero(want):
        g_up = exact_gain(t.M, hidden, cap_up, cap_dn, k, 1.0)
        g_dn = exact_gain(t.M, hidden, cap_up, cap_dn, k, -1.0)
        assert cert.gain_up[k] <= g_up + 1e-6 * max(1, g_up)
        assert cert.gain_dn[k] <= g_dn + 1e-6 * max(1, g_dn)
        if held[k]:
            assert g_up >= up[k] - 1e-6 and g_dn >= dn[k] - 1e-6
        # the witness moves exist and are feasible tables
        for d in (1.0, -1.0):
            w = cert.witness(k, d)
            assert (w is None) == ((cert.gain_up if d > 0 else cert.gain_dn)[k] == 0)
            if w is not None:
                assert hidden[w].all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 1_000))
def test_a_single_requirement_agrees_with_the_exact_lp(seed, pick):
    """With one requirement the batch LP is the exact LP: certified exactly when it holds."""
    t, hidden = random_case(seed)
    cand = np.flatnonzero(hidden)
    if not cand.size:
        return
    k = cand[pick % cand.size]
    a = t.values
    cap_up, cap_dn = t.ub - a, a - t.lb
    for direction in (1.0, -1.0):
        level = 21.0 - a[k] if direction > 0 else a[k]
        if level <= 0:
            continue
        need = np.zeros(t.n_cells)
        need[k] = level
        cert = certify(t.M, hidden, cap_up, cap_dn, need if direction > 0 else 0 * need,
                       need if direction < 0 else 0 * need)
        exact = exact_gain(t.M, hidden, cap_up, cap_dn, k, direction)
        got = cert.reaches(need, direction)[k]
        if exact >= level * (1 + 1e-6) + 1e-6:
            assert got
        elif exact < level - 1e-6 * max(1, level):
            assert not got


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["strict", "policy", "exact"]))
def test_audit_with_certificates_gives_the_same_verdict(seed, preset):
    t, hidden = random_case(seed)
    ref = audit(t, hidden=hidden, preset=preset, sensitive_only=True)
    rep = audit(t, hidden=hidden, preset=preset, sensitive_only=True, certify=True)
    assert rep.ok == ref.ok
    assert (rep.frame["protected"].astype(object) == ref.frame["protected"].astype(object)).all()
    sens = np.flatnonzero(hidden & requirement(t, preset, 20).sensitive)
    # a certified cell's [lo, hi] lies inside its interval; the others' are the exact intervals
    assert (rep.lo[sens] >= ref.lo[sens] - 1e-6).all() and (rep.hi[sens] <= ref.hi[sens] + 1e-6).all()
    if rep.stats["certified"] < sens.size:
        same = np.isclose(rep.lo[sens], ref.lo[sens]) & np.isclose(rep.hi[sens], ref.hi[sens])
        assert same.sum() >= sens.size - rep.stats["certified"]


def test_audit_certifies_an_all_hidden_pattern_without_interval_lps():
    t = generate(dims=3, levels=(3, 2), seed=2, mean=40, small_share=0.12).table()
    hidden = np.ones(t.n_cells, dtype=bool)
    rep = audit(t, hidden=hidden, sensitive_only=True, certify=True)
    n_sens = int(requirement(t, "strict", 20).sensitive.sum())
    assert rep.ok and rep.stats["certified"] == n_sens
    assert rep.stats["solves"] <= 4  # batch LPs only
    ref = audit(t, hidden=hidden, sensitive_only=True)
    assert ref.ok and ref.stats["solves"] > rep.stats["solves"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_heuristic_check_finds_what_the_separator_finds(seed):
    t, hidden = random_case(seed)
    req = requirement(t, "strict", 20)
    p = build_problem(t, req, "value", False)
    x = (hidden | p.force_hidden).astype(float)
    sep = Separator(p)
    ref = {(v.cell, v.kind) for v in sep.violations(x)}
    witnesses: dict = {}
    got = {(v.cell, v.kind) for v in check_certified(p, Separator(p), x, witnesses)}
    assert got == ref
    # every cell that holds has a witness of every requirement it has
    failing = {c for c, _ in ref}
    for k in np.flatnonzero(p.sensitive):
        if k not in failing:
            kinds = {kd for kd, lv in (("up", p.up[k]), ("dn", p.dn[k]), ("spl", p.spl[k])) if lv > 0}
            assert kinds <= set(witnesses[k])


@pytest.mark.slow
def test_protect_honours_the_time_limit_on_a_big_table():
    # 4,096 cells in three hierarchical dimensions; unlimited, protect takes minutes
    from helpers import time_bound

    t = generate(dims=3, levels=(5, 2), seed=1, mean=40, small_share=0.12).table()
    limit = 4.0
    t0 = time.perf_counter()
    res = cs.protect(t, time_limit=limit)
    took = time.perf_counter() - t0
    assert took <= time_bound(limit), took
    assert res.audit.ok
    assert "time limit" in res.message
    assert res.hidden[requirement(t, "strict", 20).sensitive].all()


def test_certifier_agrees_with_the_exact_audit_on_fixed_cases():
    """On these 40 random tables (1 to 50 sensitive hidden cells) the batch moves certify exactly the
    cells whose exact intervals protect them: nothing is left to the per-cell LPs that holds."""
    agree = 0
    for seed in range(40):
        t, hidden = random_case(seed)
        req = requirement(t, "strict", 20)
        a = t.values
        want = hidden & req.sensitive
        _, held = certify_levels(t.M, hidden, t.ub - a, a - t.lb, np.where(want, req.need_hi - a, 0.0),
                                 np.where(want, a - req.need_lo, 0.0))
        ref = audit(t, hidden=hidden, sensitive_only=True)
        protected = ref.frame.loc[np.flatnonzero(want), "protected"].astype(bool).to_numpy()
        assert not (held[want] & ~protected).any()  # never certified when it fails
        agree += int((held[want] == protected).all())
    assert agree == 40


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["strict", "policy"]))
def test_batch_moves_give_a_protected_pattern(seed, preset):
    """The heuristic's last resort before hiding every cell: the cells of one move per direction."""
    from cellsuppress.suppress.batch import batch_moves
    from cellsuppress.suppress.separation import filter_either_side

    t, _ = random_case(seed)
    p = build_problem(t, requirement(t, preset, 20), "value", False)
    out = batch_moves(p, p.force_hidden.astype(float))
    if out is None:  # some level cannot be met by one move for all cells at once
        return
    x, moves = out
    assert (x[p.force_hidden] == 1).all()
    assert not filter_either_side(p, Separator(p).violations(x))
    # the moves certify every requirement by themselves
    _, held = certify_levels(p.M, x > 0.5, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, either=p.either_side,
                             seeds=moves, max_rounds=0)
    need = p.sensitive & ((p.up > 0) | (p.dn > 0) | (p.spl > 0))
    assert held[need].all()


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["strict", "policy"]))
def test_chunk_cleanup_keeps_the_pattern_protected(seed, preset):
    from cellsuppress.suppress.batch import chunk_cleanup
    from cellsuppress.suppress.separation import filter_either_side
    from cellsuppress.protect import unprotectable
    from cellsuppress.suppress.separation import equation_sum_disclosures

    t, _ = random_case(seed)
    p = build_problem(t, requirement(t, preset, 20), "value", False)
    if unprotectable(p).size:
        return
    x = np.where(p.blocked, 0.0, 1.0)
    y = chunk_cleanup(p, x, [], Separator(p), Deadline(5.0))
    assert (y[p.force_hidden] == 1).all() and y.sum() <= x.sum()
    assert not filter_either_side(p, Separator(p).violations(y))
    assert not (p.equation_sum_rule and equation_sum_disclosures(p, y))


def _move(M, hidden, cap_up, cap_dn, k, direction):
    """The attacker's largest move of cell k as a vector over every cell (None: unbounded)."""
    h = np.flatnonzero(hidden)
    A = M.tocsr()[:, h]
    c = np.zeros(h.size)
    c[np.searchsorted(h, k)] = -direction
    bounds = np.column_stack([-cap_dn[h], np.where(np.isinf(cap_up[h]), None, cap_up[h])])
    res = linprog(c, A_eq=A, b_eq=np.zeros(A.shape[0]), bounds=bounds, method="highs")
    if res.status != 0:
        return None
    z = np.zeros(M.shape[1])
    z[h] = res.x
    return z


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_seeds_count_once_verified_given_dense_or_sparse(seed):
    """Moves given to the certifier prove what they reach, as a list or as sparse rows alike;
    a vector that is not a move (an equation broken, or a published cell moved) proves nothing."""
    import scipy.sparse as sp

    t, hidden = random_case(seed)
    req = requirement(t, "strict", 20)
    cap_up, cap_dn = req.capacities(t)
    up, dn, _ = req.levels(t.values, where=hidden)
    ks = np.flatnonzero(hidden & req.sensitive)
    if not ks.size:
        return
    moves = [z for z in (_move(t.M, hidden, cap_up, cap_dn, k, d) for k in ks[:3] for d in (1.0, -1.0))
             if z is not None]
    rng = np.random.default_rng(seed)
    junk = [np.where(hidden, rng.normal(size=t.n_cells), 0.0), np.where(~hidden, 1.0, 0.0)]
    kw = dict(max_rounds=0, focus=0)
    dense = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=moves + junk, **kw)
    sparse = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=sp.csr_matrix(np.array(moves + junk)), **kw)
    alone = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=moves or None, **kw)
    assert np.allclose(dense.gain_up, sparse.gain_up) and np.allclose(dense.gain_dn, sparse.gain_dn)
    assert np.allclose(dense.gain_up, alone.gain_up) and np.allclose(dense.gain_dn, alone.gain_dn)
    nothing = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=junk, **kw)
    assert not nothing.gain_up.any() and not nothing.gain_dn.any()
    for z in moves:  # each move proves at least what it moves, within tolerance
        assert (dense.gain_up >= np.maximum(z, 0) * (1 - 1e-6) - 1e-6).all()
        assert (dense.gain_dn >= np.maximum(-z, 0) * (1 - 1e-6) - 1e-6).all()


def test_audit_moves_change_no_verdict_and_must_be_cells_wide():
    import scipy.sparse as sp

    t = generate(dims=2, levels=(4,), seed=3, mean=25, small_share=0.35).table()
    req = requirement(t, "strict", 20)
    k = int(np.flatnonzero(req.sensitive)[0])
    hidden = np.zeros(t.n_cells, dtype=bool)
    hidden[k] = True  # alone: disclosed by its equations
    fake = sp.csr_matrix(np.where(np.arange(t.n_cells) == k, 1.0, 0.0).reshape(1, -1))
    rep = audit(t, hidden, sensitive_only=True, certify=True, moves=fake)
    assert not rep.ok and rep.stats["certified"] == 0
    with pytest.raises(cs.AuditError, match=r"moves must be a sparse matrix with one column per cell"):
        audit(t, hidden, sensitive_only=True, certify=True, moves=sp.csr_matrix((1, 3)))


def _check_sources(t, hidden, cap_up, cap_dn, cert):
    """Each cell's recorded source is a move that, applied to the published table, moves the cell
    by exactly its recorded gain, keeps every equation and bound, and uses the cells of its witness."""
    n = t.n_cells
    Z = cert.moves(n).toarray()
    for d, gain, src in ((1.0, cert.gain_up, cert.src_up), (-1.0, cert.gain_dn, cert.src_dn)):
        assert ((src >= 0) == (gain > 0)).all() and (src < Z.shape[0]).all()
        # the gain is the furthest any kept move takes the cell that way
        assert np.array_equal(gain, np.maximum(d * Z, 0).max(axis=0, initial=0.0))
        for k in np.flatnonzero(src >= 0):
            z = Z[src[k]]
            assert d * z[k] == gain[k], (k, d)
            assert not z[~hidden].any()
            b = t.values + z
            assert np.abs(t.M @ z).max() <= 1e-7 * (1 + np.abs(t.values).max())
            assert (z <= cap_up + 1e-9 * np.maximum(1, cap_up)).all() and (z >= -cap_dn - 1e-9 * np.maximum(1, cap_dn)).all()
            assert (b >= t.lb - 1e-6).all() and (b <= t.ub + 1e-6).all()
            assert np.array_equal(cert.witness(k, d), np.flatnonzero(z))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_the_moves_without_the_seeds_are_the_lps_and_with_the_seeds_certify_as_much(seed):
    """A caller that hands the seeds on takes only the moves the LPs found: the two together
    certify every requirement the certificate held."""
    t, hidden = random_case(seed)
    req = requirement(t, "strict", 20)
    cap_up, cap_dn = req.capacities(t)
    up, dn, _ = req.levels(t.values, where=hidden)
    first = certify(t.M, hidden, cap_up, cap_dn, up, dn, focus=10)
    W = first.moves(t.n_cells)
    assert first.moves(t.n_cells, seeds=False).shape[0] == W.shape[0]  # no seeds: every move an LP's
    again = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=W, max_rounds=0)  # no LP
    assert again.moves(t.n_cells, seeds=False).shape[0] == 0
    assert (again.moves(t.n_cells).shape[0] > 0) == (W.shape[0] > 0)
    half = W[: W.shape[0] // 2]
    part = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=half, focus=10)
    both = sp.vstack([half, part.moves(t.n_cells, seeds=False)], format="csr")
    replay = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=both, max_rounds=0)
    held = part.held_levels(up, dn) & hidden
    assert (replay.held_levels(up, dn) & hidden)[held].all()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_each_gain_is_made_by_its_recorded_move(seed):
    """The source of every certified gain is the move that makes it: from the batch LPs, and
    from the same moves given back as seeds (many per block, whose rows are kept per offer)."""
    t, hidden = random_case(seed)
    req = requirement(t, "strict", 20)
    cap_up, cap_dn = req.capacities(t)
    up, dn, _ = req.levels(t.values, where=hidden)
    cert = certify(t.M, hidden, cap_up, cap_dn, up, dn, focus=10)
    _check_sources(t, hidden, cap_up, cap_dn, cert)
    # the moves in reverse order: later rows of one offer must win where they go further
    again = certify(t.M, hidden, cap_up, cap_dn, up, dn, seeds=cert.moves(t.n_cells)[::-1], max_rounds=0)
    _check_sources(t, hidden, cap_up, cap_dn, again)
    # given back, the moves (scaled as far as the bounds allow) reach at least as far
    assert (again.gain_up >= cert.gain_up * (1 - 1e-9)).all() and (again.gain_dn >= cert.gain_dn * (1 - 1e-9)).all()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_seeds_verified_in_parts_prove_as_much_and_stop_once_every_requirement_is_met(seed):
    """Seeds are verified a part at a time (a clean-up hands on thousands of dense moves): the
    parts hold the requirements one offer of them all holds, and once every requirement is met
    the seeds left are not verified at all."""
    import cellsuppress.auditing.certify as certify_module

    t, hidden = random_case(seed)
    req = requirement(t, "strict", 20)
    cap_up, cap_dn = req.capacities(t)
    up, dn, _ = req.levels(t.values, where=hidden)
    W = certify(t.M, hidden, cap_up, cap_dn, up, dn, focus=10).moves(t.n_cells)
    if not W.shape[0]:
        return
    rng = np.random.default_rng(seed)
    junk = sp.csr_matrix(np.where(hidden, rng.normal(size=(2, t.n_cells)), 0.0))
    seeds = sp.vstack([junk, W], format="csr")
    kw = dict(seeds=seeds, max_rounds=0, focus=0)
    whole = certify(t.M, hidden, cap_up, cap_dn, up, dn, **kw)
    offered = []
    original = certify_module._Block.offer_many

    def spy(self, rows, seeded=False):
        offered.append(rows.shape[0])
        return original(self, rows, seeded)

    saved = certify_module.SEED_ENTRIES, certify_module._Block.offer_many
    certify_module.SEED_ENTRIES, certify_module._Block.offer_many = 1, spy  # a move per part
    try:
        parts = certify(t.M, hidden, cap_up, cap_dn, up, dn, **kw)
        # only what the moves meet is asked for: met after at most the junk and W's rows
        held = whole.held_levels(up, dn) & hidden
        offered.clear()
        again = certify(t.M, hidden, cap_up, cap_dn, np.where(held, up, 0.0), np.where(held, dn, 0.0),
                        seeds=sp.vstack([seeds, W, W], format="csr"), max_rounds=0, focus=0)
    finally:
        certify_module.SEED_ENTRIES, certify_module._Block.offer_many = saved
    assert np.array_equal(parts.held_levels(up, dn), whole.held_levels(up, dn))
    assert (again.held_levels(up, dn) & hidden)[held].all()
    assert sum(offered) <= seeds.shape[0]
