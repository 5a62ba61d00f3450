"""The methods built for size: a hierarchical table's subtables, the local (box) method for
tables without hierarchy, the modular method for hierarchical ones, and how ``auto`` picks."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cellsuppress import RuleError, Table, audit, protect
from cellsuppress.auditing.certify import certify_levels
from cellsuppress.rules import requirement
from cellsuppress.suppress import methods
from cellsuppress.suppress import local as local_module
from cellsuppress.suppress.local import boxes, certificates, grid_of, local, rebox
from cellsuppress.clock import NEVER
from cellsuppress.suppress.cleanup import minimal
from cellsuppress.suppress.modular import by_subtables, modular, verify_and_repair
from cellsuppress.suppress.separation import Separator
from cellsuppress.suppress.problem import build_problem
from cellsuppress.suppress.subtables import subtables
from cellsuppress.tables.linear import LinearTable
from cellsuppress.tables.synthetic import generate


def _problem(t, preset="strict"):
    return build_problem(t, requirement(t, preset, 20), "value", False)


@pytest.mark.parametrize("levels", [((2, 2), (3,)), ((3, 2), (2, 2)), ((2, 2), (2, 3), (3,)), ((2, 2, 2), (4,))])
def test_subtables_hold_every_equation_and_decide_each_cell_once(levels):
    t = generate(dims=len(levels), levels=levels, seed=3).table()
    p = _problem(t)
    subs = subtables(p)
    groups = [1 + sum(1 for c in h.codes if not h.is_leaf[h.index[c]]) - 1 for h in t.hierarchies]
    assert len(subs) == np.prod(groups)  # one subtable per choice of a parent code in every dimension
    M = sp.csr_matrix(t.M)
    for s in subs:
        inside = np.zeros(t.n_cells, dtype=bool)
        inside[s.cells] = True
        # a subtable's equations lie within its cells, and every equation within them is one of them
        assert abs(M[s.rows][:, ~inside]).sum() == 0
        within = np.flatnonzero(np.asarray(abs(M)[:, ~inside].sum(axis=1)).ravel() == 0)
        within = within[np.asarray(abs(M)[within][:, inside].sum(axis=1)).ravel() > 0]
        assert np.array_equal(np.sort(s.rows), within)
        # its cells are the codes of one group per dimension: a table without hierarchy
        assert grid_of(p.restrict(s.cells, s.rows)) is not None
    assert np.array_equal(np.unique(np.concatenate([s.rows for s in subs])), np.arange(t.n_equations))
    # the first (shallowest) subtable of every cell is the only one of its level that holds it
    first = np.full(t.n_cells, np.inf)
    count = np.zeros(t.n_cells, dtype=int)
    for s in sorted(subs, key=lambda s: s.level):
        new = s.level < first[s.cells]
        first[s.cells[new]] = s.level
        count[s.cells[new]] = 0
        count[s.cells[s.level == first[s.cells]]] += 1
    assert np.isfinite(first).all() and (count == 1).all()


def test_a_table_without_hierarchy_is_its_own_grid_and_a_hierarchy_is_not():
    flat = _problem(generate(dims=3, levels=(3,), seed=1).table())
    g = grid_of(flat)
    assert g.shape == (4, 4, 4) and list(g.head) == [0, 0, 0] and (g.cell >= 0).all()
    assert grid_of(_problem(generate(dims=2, levels=((2, 2), (3,)), seed=1).table())) is None


def _witness_moves(bx, n):
    """Per covered cell and direction its witness holds: the cell, the direction (0 up, 1 down)
    and the move over ``n`` cells."""
    for k, corners, signs, has in zip(bx.cells, bx.corners, bx.signs, bx.has):
        for d in (0, 1):
            if has[d]:
                z = np.zeros(n)
                np.add.at(z, corners[d], signs[d])
                yield k, d, corners[d], z


def _reach(p, z):
    """How far the move ``z`` carries its cells up and down, within every cell's capacities."""
    nz = np.flatnonzero(z)
    up = np.min(np.where(z[nz] > 0, p.cap_up[nz] / z[nz], p.cap_dn[nz] / -z[nz]))
    dn = np.min(np.where(z[nz] > 0, p.cap_dn[nz] / z[nz], p.cap_up[nz] / -z[nz]))
    return up, dn


def _assert_witnesses_hold(p, t, bx, hidden, preset):
    """Every witness is an attacker move over hidden cells that moves its cell by 1 and, scaled,
    meets the cell's levels: its move up reaches the level up, its move down the level down."""
    M = sp.csr_matrix(t.M)
    reach = {}
    for k, d, corners, z in _witness_moves(bx, t.n_cells):
        assert hidden[corners].all() and corners[0] == k
        assert z[k] == pytest.approx(1.0)
        assert np.abs(M @ z).max() < 1e-9  # the move keeps every equation
        reach.setdefault(k, [0.0, 0.0])[d] = _reach(p, z)[d]
    assert sorted(reach) == sorted(bx.cells.tolist())
    for k, (up, dn) in reach.items():
        if preset == "policy":
            assert up >= p.up[k] - 1e-9 or dn >= p.dn[k] - 1e-9
        else:
            assert up >= p.up[k] - 1e-9 and dn >= p.dn[k] - 1e-9 and up + dn >= p.spl[k] - 1e-9


@pytest.mark.parametrize("dims", [2, 3])
def test_every_witness_is_an_attacker_move_that_meets_its_cells_levels(dims):
    t = generate(dims=dims, levels=(5,) if dims == 2 else (3,), seed=2, small_share=0.3).table()
    p = _problem(t)
    x, bx = boxes(p, grid_of(p), p.force_hidden.astype(float), defer=np.inf)
    assert bx.cells.size == int(p.sensitive.sum()) and bx.uncovered.size == 0
    _assert_witnesses_hold(p, t, bx, x == 1, "strict")


def test_a_fan_of_boxes_protects_where_no_single_box_does(monkeypatch):
    """3 x 3 counts of 10: a cell must rise by 11, and every other inner cell can fall by only
    10, so no box of inner cells carries it; two boxes that share only the cell, each carrying
    half, do. Every inner cell is sensitive, so the fans hide nothing more; single boxes need
    the margins."""
    df = pd.DataFrame([(f"r{i}", f"c{j}", 10) for i in range(3) for j in range(3)], columns=["r", "c", "n"])
    t = Table.from_frame(df, dims=["r", "c"], count="n")
    p = _problem(t)
    x, bx = boxes(p, grid_of(p), p.force_hidden.astype(float))
    hidden = x > 0.5
    assert np.array_equal(hidden, p.sensitive) and bx.uncovered.size == 0
    _assert_witnesses_hold(p, t, bx, hidden, "strict")
    assert audit(t, hidden).ok
    monkeypatch.setattr(local_module, "MAX_FAN", 1)
    single, _ = boxes(p, grid_of(p), p.force_hidden.astype(float))
    assert ((single > 0.5) & ~p.sensitive).any()


def test_skewed_tables_take_fans_and_a_witness_per_direction():
    """Where most cells are small, witnesses of a box per direction and fans of boxes are the
    cheap ones; each is a move that meets its levels."""
    t = generate(dims=3, levels=(6,), seed=1, skewed=True, mean=8).table()
    p = _problem(t)
    x, bx = boxes(p, grid_of(p), p.force_hidden.astype(float), defer=np.inf)
    split = (bx.corners[:, 0] != bx.corners[:, 1]).any(axis=1)
    fan = (np.abs(bx.signs[:, :, 1:]) % 1 > 0).any(axis=(1, 2))  # a share of a move: 1/2 or 1/3
    assert split.any() and fan.any()
    _assert_witnesses_hold(p, t, bx, x > 0.5, "strict")


def test_every_witness_certifies_its_cell_for_the_audit():
    """The witnesses go to the audit as moves to verify: each, a move down included (where a
    zero can rise but not fall), meets its cell's requirements there with no LP."""
    t = generate(dims=3, levels=(6,), seed=1, skewed=True, mean=8).table()
    p = _problem(t)
    g = grid_of(p)
    x, bx = boxes(p, g, p.force_hidden.astype(float), defer=np.inf)
    hidden = x > 0.5
    _, held = certify_levels(t.M, hidden, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, seeds=certificates(p, g, x, bx),
                             max_rounds=0, focus=0)
    assert held[bx.cells].all()


@pytest.mark.parametrize("levels", [(6,), (8,)])
def test_cells_with_dear_witnesses_are_left_to_the_lps(monkeypatch, levels):
    """A witness of many times the usual cost (through the totals) is not taken: the cell is
    protected by longer cycles through what the others hid, or by the cheapest attacker move,
    for less than that witness costs."""
    t = generate(dims=3, levels=levels, seed=1, skewed=True, mean=8).table()
    p = _problem(t)
    v = np.asarray(t.values)
    x, st = local(p, cleanup_budget=0.0)
    assert audit(t, x > 0.5).ok
    monkeypatch.setattr(local_module, "DEFER", np.inf)
    y, st_all = local(p, cleanup_budget=0.0)
    assert audit(t, y > 0.5).ok
    assert st["built"].uncovered.size > st_all["built"].uncovered.size  # some cells deferred
    assert v[(x > 0.5) & ~p.sensitive].sum() < v[(y > 0.5) & ~p.sensitive].sum()


def test_the_batch_moves_that_certify_cells_without_a_witness_are_handed_on():
    """The cells without a witness are certified by batch moves; those moves come back as
    certificates of the pattern, so a later check meets those cells with no LP of its own."""
    t = generate(dims=3, levels=(8,), seed=1, skewed=True, mean=8).table()
    p = _problem(t)
    g = grid_of(p)
    x, st = local(p, cleanup_budget=0.0)
    assert st["batch"] is not None and st["batch"].shape[0] > 0
    hidden = x > 0.5

    def held(W):
        _, ok = certify_levels(t.M, hidden, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, seeds=W, max_rounds=0, focus=0)
        return ok

    without = held(certificates(p, g, x, st["built"]))
    with_batch = held(certificates(p, g, x, st["built"], batch=st["batch"]))
    assert (with_batch >= without).all() and with_batch.sum() > without.sum()
    assert with_batch[st["built"].uncovered].any()


flat_tables = st.builds(lambda dims, k, seed, small: generate(dims=dims, levels=(k,), seed=seed, mean=30,
                                                                small_share=small, zero_share=0.1).table(),
                        st.integers(2, 3), st.integers(2, 5), st.integers(0, 10_000), st.sampled_from([0.2, 0.5]))
hier_tables = st.builds(lambda levels, seed, small: generate(dims=len(levels), levels=levels, seed=seed, mean=30,
                                                             small_share=small, zero_share=0.15).table(),
                        st.sampled_from([((2, 2), (2,)), ((2, 2), (3,)), ((3, 2), (2, 2)), ((2, 2), (2,), (2,)),
                                         ((2, 2, 2), (3,))]),
                        st.integers(0, 10_000), st.sampled_from([0.2, 0.5]))


@settings(max_examples=25, deadline=None)
@given(t=flat_tables, preset=st.sampled_from(["strict", "policy", "exact"]))
def test_the_local_pattern_passes_an_independent_audit(t, preset):
    p = _problem(t, preset)
    x, _ = local(p)
    hidden = x > 0.5
    assert hidden[p.sensitive].all()
    assert audit(t, hidden, preset=preset).ok


@settings(max_examples=25, deadline=None)
@given(t=flat_tables, preset=st.sampled_from(["strict", "exact"]))
# a cell without a box, protected by the boxes' first pattern, and not by the cleaned one
@example(t=generate(dims=3, levels=(3,), seed=330, mean=30, small_share=0.5, zero_share=0.1).table(), preset="strict")
def test_rebox_publishes_cells_and_keeps_a_box_of_hidden_cells_per_sensitive_cell(t, preset):
    """The clean-up by boxes: fewer cells hidden, never a forced one published, and every
    sensitive cell with a box still has a box of hidden cells that meets its levels (its
    proof). The cells without one are the caller's to check again (``local`` does)."""
    p = _problem(t, preset)
    g = grid_of(p)
    x, bx = boxes(p, g, p.force_hidden.astype(float), defer=np.inf)
    y, moved = rebox(p, g, x, bx)
    hidden = y > 0.5
    assert (y <= x).all() and hidden[p.force_hidden].all()
    assert np.array_equal(moved.cells, bx.cells)
    _assert_witnesses_hold(p, t, moved, hidden, preset)
    report = audit(t, hidden, preset=preset)
    failed = set(report.unprotected.index) | set(report.undetermined.index)
    assert report.ok or (failed and failed <= set(bx.uncovered.tolist())), sorted(failed)


def test_rebox_frees_cells_on_a_table_with_many_sensitive_cells():
    t = generate(dims=3, levels=(8,), seed=1, skewed=True, mean=8).table()
    p = _problem(t)
    g = grid_of(p)
    x, bx = boxes(p, g, p.force_hidden.astype(float), defer=np.inf)
    y, _ = rebox(p, g, x, bx)
    assert y.sum() < x.sum() and audit(t, y > 0.5).ok


@settings(max_examples=25, deadline=None)
@given(t=hier_tables, preset=st.sampled_from(["strict", "policy", "exact"]))
def test_the_modular_pattern_passes_an_independent_audit(t, preset):
    p = _problem(t, preset)
    x, _ = modular(p)
    hidden = x > 0.5
    assert hidden[p.sensitive].all()
    assert audit(t, hidden, preset=preset).ok


@pytest.mark.parametrize("dims,codes", [(2, 9), (3, 5)])
def test_the_local_methods_boxes_certify_its_pattern_to_the_audit(dims, codes):
    """The boxes are moves the audit verifies: before the clean-up they certify every sensitive
    cell with no LP; after it, those it left whole spare the audit LPs."""
    t = generate(dims=dims, levels=(codes,), seed=3, small_share=0.25).table()
    p = _problem(t)
    need = np.flatnonzero(p.sensitive & ((p.up > 0) | (p.dn > 0) | (p.spl > 0)))
    x, stats = local(p, cleanup_budget=0.0)
    rep = audit(t, x > 0.5, sensitive_only=True, certify=True, moves=certificates(p, grid_of(p), x, stats["built"]))
    assert rep.ok and rep.stats["certified"] == need.size and rep.stats["solves"] == 0
    x, stats = local(p)
    hidden = x > 0.5
    only = audit(t, hidden, sensitive_only=True, certify=True, moves=certificates(p, grid_of(p), x, stats["built"]))
    plain = audit(t, hidden, sensitive_only=True, certify=True)
    assert only.ok and plain.ok and only.stats["solves"] <= plain.stats["solves"]


def test_protect_gives_the_audit_the_local_methods_boxes(monkeypatch):
    monkeypatch.setattr(methods, "AUTO_CELLS", 20)
    t = generate(dims=3, levels=(5,), seed=3, small_share=0.25).table()
    res = protect(t)
    assert res.stats["method"] == "local" and res.audit.ok
    plain = audit(t, res.hidden, sensitive_only=True, certify=True)
    # the boxes and the clean-up's moves certify every sensitive cell: the audit solves no LP
    assert res.audit.stats["certified"] == plain.stats["certified"]
    assert res.audit.stats["solves"] == 0 < plain.stats["solves"]


def _unsafe_by_subtables() -> Table:
    """Region 1 has one non-empty area (11), region 2 two. The top subtable (regions x B)
    protects region 1's small cell (1, y) = 11 with a box through region 2's cells; region 2's
    subtable, with those cells hidden but its areas' cells published and nothing sensitive in
    them, hides nothing more: there (2, x) and (2, y) are the sums of published cells, the box
    of the top subtable cannot move, and (1, y), and with it (11, y), are disclosed."""
    df = pd.DataFrame({"area": ["11", "11", "12", "12", "21", "21", "22", "22"],
                       "b": ["x", "y"] * 4, "n": [37, 11, 0, 0, 33, 32, 33, 33]})
    region = {"Total": ["1", "2"], "1": ["11", "12"], "2": ["21", "22"]}
    return Table.from_frame(df, dims=["area", "b"], count="n", hierarchies={"area": region})


def test_a_pattern_unsafe_for_the_whole_table_is_caught_and_repaired():
    t = _unsafe_by_subtables()
    p = _problem(t)
    x0, _ = by_subtables(p)
    rep = audit(t, x0 > 0.5)
    assert not rep.ok
    assert set(rep.unprotected["area"]) == {"1", "11"} and set(rep.unprotected["b"]) == {"y"}
    x, stats = modular(p)
    assert stats["repaired"] == 2 and (x >= x0).all()
    assert audit(t, x > 0.5).ok
    res = protect(t, method="modular")
    assert res.audit.ok and res.stats["method"] == "modular" and "method: modular" in res.message


def test_auto_takes_the_optimal_method_up_to_its_size_and_says_so():
    t = generate(dims=2, levels=((3, 2), (4,)), seed=1).table()
    res = protect(t)
    assert res.stats["method"] == "optimal" and res.optimal
    assert "method: optimal" in res.message and f"at most {methods.AUTO_CELLS:,}" in res.message
    same = protect(t, method="optimal")
    assert np.array_equal(res.hidden, same.hidden) and res.cost == same.cost


def test_auto_above_its_size_takes_modular_with_a_hierarchy_and_local_without(monkeypatch):
    monkeypatch.setattr(methods, "AUTO_CELLS", 20)
    hier = generate(dims=2, levels=((3, 2), (4,)), seed=1).table()
    res = protect(hier)
    assert res.stats["method"] == "modular" and res.audit.ok and not res.optimal
    assert "with a hierarchy (4 subtables)" in res.message
    flat = generate(dims=3, levels=(4,), seed=1).table()
    res = protect(flat)
    assert res.stats["method"] == "local" and res.audit.ok and "without hierarchy" in res.message
    # the optimal method above the size starts from that pattern, and ends no dearer
    two_way = generate(dims=2, levels=(6,), seed=1, small_share=0.3).table()
    start = protect(two_way, method="local")
    opt = protect(two_way, method="optimal")
    assert opt.optimal and opt.audit.ok and opt.cost <= start.cost


def test_methods_built_for_size_need_their_structure():
    hier = generate(dims=2, levels=((3, 2), (4,)), seed=1).table()
    with pytest.raises(RuleError, match="method='local' needs a table without hierarchy"):
        protect(hier, method="local")
    bare = LinearTable(values=hier.values, M=hier.M)  # equations without dimensions
    with pytest.raises(RuleError, match="needs a table with dimensions"):
        protect(bare, method="modular")
    assert protect(bare).stats["method"] == "optimal"
    with pytest.raises(RuleError, match="workers"):
        protect(hier, method="modular", workers=0)


@pytest.mark.slow
def test_modular_on_worker_processes_gives_a_safe_pattern():
    t = generate(dims=2, levels=((4, 3), (5,)), seed=2, small_share=0.3).table()
    res = protect(t, method="modular", workers=2)
    assert res.audit.ok and res.stats["method"] == "modular"
    assert audit(t, res.hidden).ok


def test_the_clean_up_of_a_modular_pattern_starts_from_its_certificates():
    """Given the subtables' certificates, the clean-up's first check verifies them instead of
    solving an LP per requirement: the same cells are published (each decision is exact), with
    fewer LPs, and the pattern passes the audit. The pattern's blocks (one per state) each have
    their own attacker LP."""
    t = generate(dims=3, levels=((3, 4), (4,), (2,)), seed=2, skewed=True, mean=8).table()
    p = _problem(t)
    x, st = by_subtables(p)
    x, _ = verify_and_repair(p, x, seeds=st["moves"])
    x[np.flatnonzero(x < 0.5)[::7]] = 1.0  # cells a clean-up can publish again (the pattern stays safe)
    plain, seeded = Separator(p), Separator(p)
    y, complete = minimal(p, x, NEVER, plain)
    z, complete_z = minimal(p, x, NEVER, seeded, seeds=st["moves"])
    assert complete and complete_z and np.array_equal(y, z) and (z < x).any()
    assert seeded.n_lps < plain.n_lps
    assert audit(t, z > 0.5).ok


def test_the_clean_up_of_a_modular_pattern_takes_its_checks_witnesses_in_place_of_its_own_check():
    """Where the check of the whole pattern repaired nothing, its witnesses are the clean-up's:
    the same cells are published as after the clean-up's own check (each decision is exact),
    with fewer LPs, and the pattern passes the audit."""
    t = generate(dims=3, levels=((3, 4), (4,), (2,)), seed=2, skewed=True, mean=8).table()
    p = _problem(t)
    x, st = by_subtables(p)
    x, _ = verify_and_repair(p, x, seeds=st["moves"])
    x[np.flatnonzero(x < 0.5)[::7]] = 1.0  # cells a clean-up can publish again (the pattern stays safe)
    x0 = x.copy()
    x, rst = verify_and_repair(p, x, seeds=st["moves"])
    assert rst["failed"] == 0 and np.array_equal(x, x0)
    assert set(rst["witnesses"]) >= set(np.flatnonzero(p.has_requirement).tolist())
    own, given = Separator(p), Separator(p)
    y, complete = minimal(p, x, NEVER, own, seeds=st["moves"])
    z, complete_z = minimal(p, x, NEVER, given, witnesses=rst["witnesses"])
    assert complete and complete_z and np.array_equal(y, z) and (z < x).any()
    assert given.n_lps < own.n_lps
    assert audit(t, z > 0.5).ok


def test_a_tight_limit_holds_on_a_sparse_hierarchical_table():
    # half of the cells sensitive, subtables of hundreds of cells each: with a limit this short
    # the subtables' fixed costs, started late, and the floors of their LPs used to run past
    # the limit; the pattern returned in time is still audited
    import time

    from helpers import time_bound

    t = generate(dims=3, levels=((3, 20), (18,), (3,)), names=["county", "age", "sex"], seed=1, skewed=True,
                 mean=8, small_share=0.12, zero_share=0.05).table()
    limit = 3.0
    t0 = time.perf_counter()
    res = protect(t, method="modular", time_limit=limit, workers=1)
    assert time.perf_counter() - t0 < time_bound(limit)
    assert res.audit.ok and "modular" in res.stats["method"]
    assert audit(t, hidden=res.hidden).ok


def test_the_subtables_leave_the_check_and_repair_their_time_at_any_limit():
    # the check and repair of the whole pattern take about as long per cell at any limit: at a
    # short limit the subtables end that long before the deadline, at a long one at their share
    from cellsuppress.clock import Deadline
    from cellsuppress.suppress import schedule
    from cellsuppress.suppress.modular import subtables_until

    cells = 15_625
    short, long_ = Deadline(10.0), Deadline(600.0)
    after = schedule.MODULAR_CHECK_PER_CELL * cells
    assert after > (1 - schedule.MODULAR_SUBTABLES) * 10.0
    assert subtables_until(short, cells).at == pytest.approx(short.at - after)
    assert subtables_until(long_, cells).remaining() == pytest.approx(schedule.MODULAR_SUBTABLES * 600.0, abs=0.05)
    assert subtables_until(NEVER, cells) == NEVER


def test_a_subtable_started_late_takes_its_boxes_and_still_protects_its_cells():
    from cellsuppress.suppress.modular import carried_into, protect_subtable
    from cellsuppress.suppress.subtables import by_level

    t = generate(dims=3, levels=((3, 4), (4,), (2,)), seed=2, skewed=True, mean=8).table()
    p = _problem(t)
    s = by_level(subtables(p))[-1][0]
    task = carried_into(p, s, np.zeros(p.n, dtype=bool), np.where(p.force_hidden, 1.0, 0.0), 1e9)
    import time

    task.seconds, task.until, task.end = 5.0, time.time() - 1.0, time.time() + 60.0
    x, st = protect_subtable(task)
    assert st["late"] == 1
    sub = task.p
    assert not Separator(sub).violations(x)  # protected within the subtable
    # its moves certify its cells: boxes and batch LPs
    cert, held = certify_levels(sub.M, x > 0.5, sub.cap_up, sub.cap_dn, sub.up, sub.dn, sub.spl,
                                seeds=st["moves"], max_rounds=0)
    assert held[sub.sensitive & (x > 0.5)].mean() > 0.5


def test_a_subtable_given_too_short_a_share_takes_its_boxes_and_still_protects_its_cells():
    # its whole work costs more than such a share: it takes the late subtable's way at once
    import time

    from cellsuppress.suppress import schedule
    from cellsuppress.suppress.modular import carried_into, protect_subtable
    from cellsuppress.suppress.subtables import by_level

    t = generate(dims=3, levels=((3, 4), (4,), (2,)), seed=2, skewed=True, mean=8).table()
    p = _problem(t)
    s = by_level(subtables(p))[-1][0]
    zero = np.zeros(p.n, dtype=bool)
    for seconds, late in ((schedule.SUBTABLE_SHORT / 2, 1), (5.0, 0)):
        task = carried_into(p, s, zero, np.where(p.force_hidden, 1.0, 0.0), 1e9)
        task.seconds, task.until, task.end = seconds, time.time() + 60.0, time.time() + 60.0
        x, st = protect_subtable(task)
        assert st.get("late", 0) == late
        assert not Separator(task.p).violations(x)  # protected within the subtable


def test_with_no_time_left_the_check_repairs_what_it_has_not_settled_by_batch_moves():
    # past its time the check counts every requirement it has not settled as failing: the
    # repair still ends on a pattern that passes the audit, certified by the moves handed on
    from cellsuppress.clock import Deadline

    t = _unsafe_by_subtables()
    p = _problem(t)
    x0, st = by_subtables(p)
    x, rst = verify_and_repair(p, x0, Deadline(0.0), seeds=st["moves"])
    assert rst["failed"] >= 2 and (x >= x0).all()
    assert audit(t, x > 0.5).ok
    assert "witnesses" not in rst  # a repaired pattern: its clean-up checks it
    # with the subtables' moves, as the modular method hands them on
    moves = sp.vstack([rst["moves"], st["moves"]], format="csr")
    _, held = certify_levels(p.M, x > 0.5, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, seeds=moves, max_rounds=0)
    assert held[p.sensitive].all()


def test_the_clean_up_skips_its_check_when_no_candidate_could_be_tried():
    from cellsuppress.clock import Deadline
    from cellsuppress.suppress import schedule

    t = generate(dims=2, levels=((3, 2), (4,)), seed=1).table()
    p = _problem(t)
    x = np.where(p.blocked, 0.0, 1.0)
    sep = Separator(p)
    y, complete = minimal(p, x, Deadline(0.0), sep, end=Deadline(schedule.AUDIT_MIN / 2))
    assert not complete and np.array_equal(x, y) and sep.n_lps == 0
    # with time for the audit and some candidates, it checks and cleans up
    y, complete = minimal(p, x, Deadline(0.0), sep, end=Deadline(60.0))
    assert sep.n_lps > 0 and (y < x).any()
