"""Linked tables (several tables of one population, protected and audited as one system), tables
from microdata, and cells the user fixes (force_published, force_hidden, a status column).

The joint system is checked independently: its cells against the tables' codes, its equations
against each table's, its optimum against brute force (tests/test_protect.py's BruteForce, with the
audit of the joint table as judge) and the compact model.
"""
from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cellsuppress as cs
from cellsuppress import HierarchyError, InfeasibleError, Table, TableError, audit, protect
from cellsuppress.cli import main
from cellsuppress.linked import LinkedPart, LinkedResult
from cellsuppress.rules import requirement
from cellsuppress.tables.linked import LinkedTables
from test_protect import BruteForce, compact_cost

DATA = Path(__file__).resolve().parents[1] / "data" / "synthetic"
PEOPLE = DATA / "people.csv"
PEOPLE_TABLES = (["age", "sex"], ["age", "region"], ["sex", "region"])


def people() -> pd.DataFrame:
    return pd.read_csv(PEOPLE, dtype=str)


def microdata(cube, dims=("a", "b", "c")) -> pd.DataFrame:
    """One row per person from a cube of counts (codes a1, a2, ... per dimension)."""
    cube = np.asarray(cube)
    rows = []
    for idx in itertools.product(*[range(s) for s in cube.shape]):
        rows += [tuple(f"{d}{i + 1}" for d, i in zip(dims, idx))] * int(cube[idx])
    return pd.DataFrame(rows, columns=list(dims))


def crosstabs(df: pd.DataFrame, lists) -> list[Table]:
    return [Table.from_microdata(df, dims=list(d)) for d in lists]


def code_key(frame: pd.DataFrame, dims) -> pd.Series:
    return frame[list(dims)].astype(str).agg("|".join, axis=1)


def union_codes(t: Table, dims: list[str], roots: dict) -> pd.DataFrame:
    """A table's cells as codes over ``dims``, a dimension it lacks at its root: the definition
    of a shared cell, written out."""
    f = t.frame
    return pd.DataFrame({d: f[d] if d in t.dims else roots[d] for d in dims})


# -- the joint table -------------------------------------------------------------------------
def test_joint_cells_are_the_distinct_code_tuples_and_values_agree():
    tables = crosstabs(people(), PEOPLE_TABLES)
    joint = LinkedTables(tables)
    assert joint.dims == ["age", "sex", "region"]
    roots = {"age": "Total", "sex": "Total", "region": "Total"}
    keys = [code_key(union_codes(t, joint.dims, roots), joint.dims) for t in tables]
    distinct = pd.unique(pd.concat(keys, ignore_index=True))
    assert joint.n_cells == distinct.size == 15 + 30 + 18 - 5 - 3 - 6 + 1  # each shared margin once
    joint_keys = code_key(joint.frame, joint.dims).to_numpy()
    for t, key, cells in zip(tables, keys, joint.cells):
        # each cell of a table is the joint cell with the same codes, with the same value
        assert (joint_keys[cells] == key.to_numpy()).all()
        assert np.array_equal(joint.values[cells], t.values)
    # a cell in two tables is one joint cell: the age totals of age x sex and age x region
    ages = [np.asarray(cells)[(t.frame["age"] != "Total") & (t.frame.drop(columns=["age", "value"]) == "Total").all(axis=1)]
            for t, cells in zip(tables[:2], joint.cells[:2])]
    assert ages[0].size == 4 and np.array_equal(ages[0], ages[1])


def test_joint_equations_are_each_tables_equations_once():
    tables = crosstabs(people(), PEOPLE_TABLES)
    joint = LinkedTables(tables)
    M = joint.M.toarray()
    assert len({r.tobytes() for r in M}) == M.shape[0], "an equation appears twice"
    rows = {r.tobytes() for r in M}
    for t, cells in zip(tables, joint.cells):
        mapped = np.zeros((t.n_equations, joint.n_cells))
        mapped[:, cells] = t.M.toarray()
        assert all(r.tobytes() in rows for r in mapped)
    # nothing but the tables' equations: the count is theirs minus the repeated margins
    own = sum(t.n_equations for t in tables)
    assert M.shape[0] == own - 3  # the three 1-way margins' equations are in two tables each
    assert np.allclose(joint.M @ joint.values, 0)


def test_different_values_of_a_shared_cell_name_it_and_the_tables():
    df = people()
    other = df.iloc[1:]  # one person fewer: every margin of his codes differs
    with pytest.raises(TableError, match=r"age=Total.*table 1 \(age x sex\).*table 2 \(age x region\)"
                                          r"|age=Total.*table 2 \(age x region\).*table 1 \(age x sex\)"):
        LinkedTables([Table.from_microdata(df, ["age", "sex"]), Table.from_microdata(other, ["age", "region"])])
    with pytest.raises(TableError, match="one population"):
        protect([Table.from_microdata(df, ["age", "sex"]), Table.from_microdata(other, ["age", "region"])])


def test_different_hierarchies_of_a_shared_dimension_name_it():
    df = people()
    t1 = Table.from_microdata(df, ["age", "sex"])
    grouped = {"Total": ["young", "old"], "young": ["0-17", "18-39"], "old": ["40-64", "65+"]}
    t2 = Table.from_microdata(df, ["age", "region"], hierarchies={"age": grouped})
    with pytest.raises(HierarchyError, match=r"dimension 'age' has different hierarchies in table 1 \(age x sex\) "
                                             r"and table 2 \(age x region\)"):
        protect([t1, t2])
    with pytest.raises(HierarchyError, match="'age'"):
        audit([t1, t2], hidden=[np.zeros(t1.n_cells, bool), np.zeros(t2.n_cells, bool)])
    # the same tree with its codes in another order is the same hierarchy
    t3 = Table.from_microdata(df.iloc[::-1], ["age", "region"])
    assert LinkedTables([t1, t3]).n_cells == LinkedTables([t1, Table.from_microdata(df, ["age", "region"])]).n_cells


def test_only_tables_with_dimensions_link():
    t = Table.from_microdata(people(), ["age", "sex"])
    lin = cs.LinearTable(values=t.values, M=t.M)
    with pytest.raises(TableError, match="linked table 2 is a LinearTable"):
        protect([t, lin])
    with pytest.raises(TableError, match="no tables"):
        protect([])


# -- optimal joint protection ------------------------------------------------------------------
TINY_CUBES = {  # 2 x 2 x 2 cubes of counts; a x b and a x c cut from them have 15 distinct cells
    "c1": [12, 8, 8, 30, 2, 25, 12, 0],
    "c2": [5, 5, 20, 25, 0, 30, 8, 3],
    "c3": [3, 1, 8, 30, 3, 25, 3, 25],
    "c4": [2, 5, 3, 2, 25, 25, 1, 30],
}


def assert_one_status(res: LinkedResult) -> None:
    """Every table's status of a shared cell is the joint one."""
    for part, cells in zip(res.results, res.table.cells):
        assert np.array_equal(part.status, res.status[cells])
        assert np.array_equal(part.hidden, res.hidden[cells])
    for (p, cp), (q, cq) in itertools.combinations(zip(res.results, res.table.cells), 2):
        shared, ip, iq = np.intersect1d(cp, cq, return_indices=True)
        assert np.array_equal(p.status[ip], q.status[iq])


@pytest.mark.parametrize("preset", ["strict", "policy", "exact"])
@pytest.mark.parametrize("name", sorted(TINY_CUBES))
def test_joint_optimum_equals_brute_force(name, preset):
    tables = crosstabs(microdata(np.reshape(TINY_CUBES[name], (2, 2, 2))), (["a", "b"], ["a", "c"]))
    joint = LinkedTables(tables)
    assert joint.n_cells == 15
    bf = BruteForce(joint, preset)
    for cost in ("value", "unity"):
        best, _ = bf.optimum(cost)
        res = protect(tables, preset=preset, cost=cost)
        assert isinstance(res, LinkedResult) and len(res.results) == 2
        assert res.cost == pytest.approx(best), (name, preset, cost)
        assert res.optimal and res.lower_bound == pytest.approx(best)
        # an independent audit of the joint system, from the per-table patterns
        assert audit(tables, hidden=[r.hidden for r in res.results], preset=preset).ok
        assert bf.ok(res.hidden)
        assert_one_status(res)
        # the cost counts a shared cell once
        w = joint.values if cost == "value" else np.ones(joint.n_cells)
        assert res.cost == pytest.approx(float(w[res.hidden].sum()))


@pytest.mark.parametrize("preset", ["strict", "exact"])
def test_joint_optimum_equals_the_compact_model(preset):
    cube = np.array([[[2, 0, 0], [1, 0, 2]], [[13, 7, 8], [6, 10, 16]], [[11, 11, 7], [8, 7, 14]]])
    tables = crosstabs(microdata(cube), (["a", "b"], ["a", "c"], ["b", "c"]))
    joint = LinkedTables(tables)
    for cost in ("value", "unity"):
        res = protect(tables, preset=preset, cost=cost)
        assert res.optimal
        assert res.cost == pytest.approx(compact_cost(joint, preset, cost))
        assert audit(joint, hidden=res.hidden, preset=preset).ok
        assert_one_status(res)


def test_each_table_of_a_safe_set_is_safe_alone_and_results_line_up():
    tables = crosstabs(people(), PEOPLE_TABLES)
    res = protect(tables)
    assert res.audit.ok and res.optimal
    for part, t in zip(res.results, tables):
        assert isinstance(part, LinkedPart) and part.table is t
        assert list(part.frame.columns) == t.dims + ["value", "status"]
        assert part.frame[t.dims].equals(t.frame[t.dims])
        assert np.array_equal(part.frame["value"], t.values)
        assert np.array_equal(part.hidden, part.status != "published")
        assert part.cost == pytest.approx(float(t.values[part.hidden].sum()))
        assert audit(t, hidden=part.hidden).ok  # an attacker of one table knows less
        # the part's audit rows are its own cells, named by its codes
        assert set(part.audit.frame.index) <= set(range(t.n_cells))
        assert list(part.audit.frame.columns[:len(t.dims)]) == t.dims
        assert (part.audit.frame["hidden"] == part.hidden[part.audit.frame.index]).all()
        assert part.published().shape[0] == t.n_cells
    assert res.cost == pytest.approx(float(res.table.values[res.hidden].sum()))
    assert res.cost < sum(p.cost for p in res.results)  # shared hidden cells count once in the set
    assert "linked" in res.summary() and "3 linked tables" in res.results[0].summary()


def test_a_part_shows_the_intervals_of_the_whole_set():
    tables = crosstabs(people(), PEOPLE_TABLES)
    res = protect(tables)
    part = res.results[1]  # age x region
    page = part.to_html()
    assert "3 linked tables" in page
    # the hover intervals are the joint attacker's: the interval of each hidden cell in the set
    # is never wider than in the table alone, and narrower for some
    from cellsuppress.release.view import build_view, full_intervals

    view = build_view(part)
    lo_alone, hi_alone = full_intervals(part.table, part.hidden, "strict", False)
    lo_set, hi_set = full_intervals(res.table, res.hidden, "strict", False)
    cells = res.table.cells[1]
    h = np.flatnonzero(part.hidden)
    assert (lo_set[cells][h] >= lo_alone[h] - 1e-9).all() and (hi_set[cells][h] <= hi_alone[h] + 1e-9).all()
    for i in h:
        hi = hi_set[cells][i]
        assert f"[{lo_set[cells][i]:g}, {'infinity' if np.isinf(hi) else f'{hi:g}'}]" in view.tip[i]


# -- table by table is not enough --------------------------------------------------------------
CUBE = np.array([[[2, 0, 0], [1, 0, 2]], [[13, 7, 8], [6, 10, 16]], [[11, 11, 7], [8, 7, 14]]])


def hide(t: Table, *codes) -> np.ndarray:
    """A mask of ``t``'s cells from tuples of codes in ``t.dims`` order."""
    frame = t.frame
    out = np.zeros(t.n_cells, dtype=bool)
    for c in codes:
        out |= (frame[t.dims].astype(str) == pd.Series(c, index=t.dims)).all(axis=1).to_numpy()
    assert out.sum() == len(codes)
    return out


def test_patterns_safe_one_by_one_are_not_safe_together():
    ab, ac = crosstabs(microdata(CUBE), (["a", "b"], ["a", "c"]))
    # each table protected on its own (both hide a1, a2 and a3's totals: one status per shared cell)
    h_ab = hide(ab, ("a1", "Total"), ("a1", "b1"), ("a1", "b2"), ("a2", "Total"), ("a3", "Total"),
                ("a3", "b1"), ("a3", "b2"))
    h_ac = hide(ac, ("a1", "Total"), ("a1", "c1"), ("a1", "c3"), ("a2", "Total"), ("a2", "c1"), ("a2", "c2"),
                ("a3", "Total"), ("a3", "c1"), ("a3", "c2"), ("a3", "c3"))
    assert audit(ab, hidden=h_ab).ok and audit(ac, hidden=h_ac).ok
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the statuses agree: no warning
        rep = audit([ab, ac], hidden=[h_ab, h_ac])
    assert not rep.ok
    bad = rep.unprotected
    assert ((bad["a"] == "a2") & (bad["b"] == "Total") & (bad["c"] == "c1")).any()
    # protected together, the set is safe, and no dearer than the two patterns
    res = protect([ab, ac])
    assert res.audit.ok and audit([ab, ac], hidden=[r.hidden for r in res.results]).ok
    joint = res.table
    assert res.cost <= joint.values[joint.join([h_ab, h_ac], "hidden", how="any")].sum()


def test_a_cell_hidden_in_one_table_and_shown_in_another_is_published():
    ab, ac = crosstabs(microdata(CUBE), (["a", "b"], ["a", "c"]))
    h_ab = hide(ab, ("a1", "Total"), ("a1", "b1"), ("a1", "b2"), ("a3", "Total"), ("a3", "b1"), ("a3", "b2"))
    h_ac = hide(ac, ("a1", "Total"), ("a1", "c1"), ("a1", "c3"), ("a2", "Total"), ("a2", "c1"), ("a2", "c2"),
                ("a3", "c1"), ("a3", "c2"), ("a3", "c3"))
    assert audit(ab, hidden=h_ab).ok and audit(ac, hidden=h_ac).ok
    with pytest.warns(UserWarning, match=r"2 shared cell\(s\) hidden in one table but shown in another.*a=a2"):
        rep = audit([ab, ac], hidden=[h_ab, h_ac])
    assert not rep.ok
    # a3's total is shown by a x c, so a1's total follows from a x b's margin: 5 exactly
    row = rep.frame[(rep.frame["a"] == "a1") & (rep.frame["b"] == "Total") & (rep.frame["c"] == "Total")].iloc[0]
    assert row["lo"] == row["hi"] == 5


def test_linked_audit_of_published_tables_takes_values_from_the_table_that_shows_them():
    ab, ac = crosstabs(microdata(CUBE), (["a", "b"], ["a", "c"]))
    res = protect([ab, ac])
    pubs = []
    for part, t in zip(res.results, (ab, ac)):
        pub = part.published()
        pubs.append(Table.from_published(pub, dims=t.dims, count="value"))
    rep = audit(pubs)
    assert rep.n_hidden == int(res.hidden.sum())
    assert not rep.frame["protected"].eq(False).any()  # never disclosed; some may be undetermined


# -- microdata ---------------------------------------------------------------------------------
def test_from_microdata_counts_rows():
    df = people()
    t = Table.from_microdata(df, ["age", "sex"])
    f = t.frame.set_index(["age", "sex"])["value"]
    assert f[("Total", "Total")] == len(df)
    expect = df.groupby(["age", "sex"]).size()
    for (a, s), n in expect.items():
        assert f[(a, s)] == n
    assert f[("65+", "Total")] == (df["age"] == "65+").sum()


# -- cells fixed by the user -------------------------------------------------------------------
def grid_table() -> Table:
    df = pd.DataFrame({"r": list("aaabbb"), "c": list("xyz") * 2, "n": [3, 40, 25, 30, 22, 8]})
    return Table.from_frame(df, dims=["r", "c"], count="n")


def test_forced_cells_are_honoured_at_the_constrained_optimum():
    t = grid_table()
    f = t.frame
    keep = ((f.r == "b") & (f.c == "y")).to_numpy()  # hidden by the unconstrained optimum
    must = ((f.r == "a") & (f.c == "Total")).to_numpy()
    res = protect(t, force_published=keep, force_hidden=must)
    assert not res.hidden[keep].any() and res.hidden[must].all()
    assert audit(t, hidden=res.hidden).ok and res.optimal
    # brute force over the patterns that honour them
    bf = BruteForce(t, "strict")
    ok = bf.candidates[:, must].all(axis=1) & ~bf.candidates[:, keep].any(axis=1)
    bf.candidates = bf.candidates[ok]
    best, _ = bf.optimum("value")
    assert res.cost == pytest.approx(best)
    assert res.cost > protect(t).cost  # the forced cells cost something here
    assert res.status[must][0] == "secondary"


def test_forced_cells_from_codes_and_a_status_column():
    t = grid_table()
    codes = pd.DataFrame({"r": ["b"], "c": ["y"]})
    by_codes = protect(t, force_published=codes)
    df = pd.DataFrame({"r": list("aaabbb"), "c": list("xyz") * 2, "n": [3, 40, 25, 30, 22, 8],
                       "fixed": ["", "", "", "", "Published", ""]})
    df = pd.concat([df, pd.DataFrame({"r": ["a"], "c": ["Total"], "n": [68], "fixed": [" hidden"]})], ignore_index=True)
    ts = Table.from_frame(df, dims=["r", "c"], count="n")
    by_status = protect(ts, status_column="fixed")
    by_masks = protect(t, force_published=hide(t, ("b", "y")), force_hidden=hide(t, ("a", "Total")))
    assert np.array_equal(by_status.hidden, by_masks.hidden)
    assert by_status.hidden[hide(t, ("a", "Total"))].all()
    assert not by_codes.hidden[hide(t, ("b", "y"))].any()
    df.loc[0, "fixed"] = "maybe"
    with pytest.raises(TableError, match=r"status column 'fixed' says 'maybe' for \(r=a, c=x\)"):
        protect(Table.from_frame(df, dims=["r", "c"], count="n"), status_column="fixed")
    with pytest.raises(TableError, match="status column 'nope' not in the table"):
        protect(ts, status_column="nope")


def test_impossible_requests_name_the_cells():
    t = grid_table()
    with pytest.raises(InfeasibleError, match=r"must stay published but are sensitive.*\(r=a, c=x\) \(sensitive\)"):
        protect(t, force_published=hide(t, ("a", "x")))
    with pytest.raises(InfeasibleError, match=r"required both published and hidden: \(r=b, c=y\)"):
        protect(t, force_published=hide(t, ("b", "y")), force_hidden=hide(t, ("b", "y")))
    # every other cell of a's row published: (a, x) cannot be protected
    row_a = hide(t, ("a", "y"), ("a", "z"), ("a", "Total"))
    with pytest.raises(InfeasibleError, match=r"cannot be protected.*\(r=a, c=x\)"):
        protect(t, force_published=row_a)
    with pytest.raises(InfeasibleError, match=r"cannot be protected.*\(r=a, c=x\)"):
        protect(t, force_published=row_a, method="fast")


def test_a_new_table_protected_consistently_with_an_earlier_release():
    df = people()
    age_region, sex_region = crosstabs(df, (["age", "region"], ["sex", "region"]))
    released = protect(age_region)  # published earlier, alone
    res = protect([age_region, sex_region], force_published=[~released.hidden, None],
                  force_hidden=[released.hidden, None])
    assert np.array_equal(res.results[0].hidden, released.hidden)  # the release stands
    free = protect([age_region, sex_region])
    assert not np.array_equal(free.results[0].hidden, released.hidden)  # unforced, it would not
    assert res.audit.ok
    assert audit([age_region, sex_region], hidden=[r.hidden for r in res.results]).ok
    assert_one_status(res)
    # the same from the earlier output's status column
    earlier = released.frame.rename(columns={"value": "n"})
    t1 = Table.from_frame(earlier, dims=["age", "region"], count="n")
    again = protect([t1, sex_region], status_column="status")
    assert np.array_equal(again.hidden, res.hidden)
    # a shared cell fixed both ways by two tables is named
    sr = sex_region.frame
    shared = ((sr.sex == "Total") & (sr.region == "West")).to_numpy()
    ar = age_region.frame
    with pytest.raises(InfeasibleError, match=r"region=West.*table 1 \(age x region\), table 2 \(sex x region\)"):
        protect([age_region, sex_region], force_published=[((ar.age == "Total") & (ar.region == "West")).to_numpy(),
                                                            None], force_hidden=[None, shared])


# -- command line ------------------------------------------------------------------------------
def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_protects_crosstabs_of_microdata_and_audits_them_together(capsys, tmp_path):
    out, pub, html = tmp_path / "out", tmp_path / "pub", tmp_path / "html"
    code, stdout, err = run(capsys, "protect", PEOPLE, "--microdata", "--dims", "age,sex;age,region;sex,region",
                            "-o", out, "--published", pub, "--html", html, "--quiet")
    assert code == 0, err
    assert "3 linked tables: SAFE" in stdout
    api = protect(crosstabs(people(), PEOPLE_TABLES))
    assert f"cost: {api.cost:g}" in stdout
    for name, part in zip(("age_sex", "age_region", "sex_region"), api.results):
        cells = pd.read_csv(out / f"{name}.csv", dtype={"age": str})
        assert np.array_equal(cells["hidden"].to_numpy(), part.hidden)
        published = pd.read_csv(pub / f"{name}.csv", dtype=str)
        assert (published["n"] == "*").sum() == part.hidden.sum()
        assert (html / f"{name}.html").exists()
    outs = [out / f"{n}.csv" for n in ("age_sex", "age_region", "sex_region")]
    code, stdout, _ = run(capsys, "audit", *outs, "--dims", "age,sex;age,region;sex,region", "--count", "value",
                          "--hidden-column", "hidden", "--quiet")
    assert code == 0 and "3 linked tables audited together" in stdout and "SAFE" in stdout


def test_cli_several_inputs_each_with_its_dims_and_a_status_column(capsys, tmp_path):
    df = people()
    age_region, sex_region = crosstabs(df, (["age", "region"], ["sex", "region"]))
    released = protect(age_region)
    earlier = tmp_path / "age_region.csv"
    released.frame.to_csv(earlier, index=False)  # an earlier output: value and status per cell
    new = tmp_path / "sex_region.csv"
    sex_region.frame.query("sex != 'Total' and region != 'Total'").rename(columns={"value": "n"}).to_csv(new, index=False)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "protect", earlier, new, "--dims", "age,region;sex,region", "--count", "value;n",
                            "--status-column", "status", "-o", out, "--quiet")
    assert code == 0, err
    first = pd.read_csv(out / "age_region.csv", dtype=str)
    assert (first["status"].to_numpy() == released.frame["status"].to_numpy()).all()
    second = pd.read_csv(out / "sex_region.csv", dtype=str)
    both = [pd.read_csv(out / f"{n}.csv") for n in ("age_region", "sex_region")]
    rep = audit(crosstabs(df, (["age", "region"], ["sex", "region"])),
                hidden=[b["hidden"].to_numpy(dtype=bool) for b in both])
    assert rep.ok and len(second) == sex_region.n_cells


def test_cli_linked_errors(capsys, tmp_path):
    def err_of(*argv):
        code, _, err = run(capsys, *argv)
        assert code == 2, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        return lines[0]

    a = tmp_path / "a.csv"
    pd.DataFrame({"r": ["x", "y"], "c": ["u", "v"], "n": [5, 30]}).to_csv(a, index=False)
    b = tmp_path / "b.csv"
    pd.DataFrame({"r": ["x", "y"], "d": ["p", "q"], "n": [5, 30]}).to_csv(b, index=False)
    other = tmp_path / "other.csv"
    pd.DataFrame({"r": ["x", "y"], "d": ["p", "q"], "n": [6, 30]}).to_csv(other, index=False)
    o = tmp_path / "o"
    assert "one population" in err_of("protect", a, other, "--dims", "r,c;r,d", "--count", "n", "-o", o)
    assert "--dims gives 3 lists for 2 input(s)" in err_of("protect", a, b, "--dims", "r,c;r,d;c,d", "--count", "n",
                                                            "-o", o)
    assert "--microdata takes one input file" in err_of("protect", PEOPLE, PEOPLE, "--microdata",
                                                          "--dims", "age;sex", "-o", o)
    assert "would both write age.csv" in err_of("protect", PEOPLE, "--microdata", "--dims", "age;age", "-o", o)
    f = tmp_path / "file"
    f.write_text("x")
    assert "this is a directory" in err_of("protect", PEOPLE, "--microdata", "--dims", "age,sex;age,region",
                                           "-o", f)
    assert "also written for --output" in err_of("protect", PEOPLE, "--microdata", "--dims", "age,sex;age,region",
                                                 "-o", o, "--published", o)
    assert "status column 'zz' is in none" in err_of("protect", a, b, "--dims", "r,c;r,d", "--count", "n",
                                                     "--status-column", "zz", "-o", o)
    assert "status column 'zz' not in the table" in err_of("protect", a, "--dims", "r,c", "--count", "n",
                                                           "--status-column", "zz", "-o", tmp_path / "x.csv")
    assert "cannot be linked" in err_of("protect", a, tmp_path / "t.jj", "--dims", "r,c;r,d", "--count", "n",
                                        "-o", o)
    assert "--count is for tables of counts" in err_of("protect", PEOPLE, "--microdata", "--dims", "age,sex",
                                                       "--count", "n", "-o", tmp_path / "x.csv")
    assert not o.exists()  # nothing written by a failed run


def test_cli_one_table_from_microdata(capsys, tmp_path):
    out = tmp_path / "age_sex.csv"
    code, stdout, err = run(capsys, "protect", PEOPLE, "--microdata", "--dims", "age,region", "-o", out,
                            "--published", tmp_path / "pub.csv", "--quiet")
    assert code == 0, err
    t = Table.from_microdata(people(), ["age", "region"])
    cells = pd.read_csv(out, dtype=str)
    assert np.array_equal(cells["value"].astype(float).to_numpy(), t.values)
    assert np.array_equal(cells["hidden"].eq("True").to_numpy(), protect(t).hidden)
    assert "n" in pd.read_csv(tmp_path / "pub.csv").columns


def test_a_shared_hierarchical_dimension():
    groups = {"T": ["g1", "g2"], "g1": ["a", "b"], "g2": ["c", "d"]}
    rng = np.random.default_rng(5)
    n = 160
    df = pd.DataFrame({"area": rng.choice(list("abcd"), n, p=[.45, .05, .3, .2]),
                       "sex": rng.choice(["F", "M"], n), "age": rng.choice(["young", "old"], n)})
    tables = [Table.from_microdata(df, dims=d, hierarchies={"area": groups}) for d in (["area", "sex"], ["area", "age"])]
    joint = LinkedTables(tables)
    assert joint.n_cells == 21 + 21 - 7
    assert requirement(joint, "strict").sensitive.any()
    res = protect(tables)
    assert res.optimal and res.audit.ok
    assert res.cost == pytest.approx(compact_cost(joint, "strict", "value"))
    assert_one_status(res)
    assert audit(tables, hidden=[r.hidden for r in res.results]).ok


def test_the_readme_example_one_by_one_is_unsafe_together():
    """data/synthetic/people.csv: its crosstabs protected one at a time disclose West's total (17)
    when read together; protected together they are safe (README, Linked tables)."""
    tables = crosstabs(people(), PEOPLE_TABLES)
    alone = [protect(t) for t in tables]
    with pytest.warns(UserWarning, match="shown in another"):
        rep = audit(tables, hidden=[r.hidden for r in alone])
    assert not rep.ok
    west = rep.frame[(rep.frame["region"] == "West") & (rep.frame["age"] == "Total") & (rep.frame["sex"] == "Total")]
    assert west["lo"].iloc[0] == west["hi"].iloc[0] == 17
    assert len(rep.unprotected) == 8
    res = protect(tables)
    assert res.audit.ok and res.cost == 405 and int(res.hidden.sum()) == 19


def test_sensitivity_flags_per_table():
    tables = crosstabs(people(), PEOPLE_TABLES)
    t2 = tables[1]
    flag = hide(t2, ("Total", "Central"))  # 117 people: sensitive only by the user's word
    res = protect(tables, sensitive=[None, flag, None])
    for part in (res.results[1], res.results[2]):  # the Central total is in both region tables
        f = part.frame
        central = ((f["region"] == "Central") & (f.drop(columns=["region", "value", "status"]) == "Total").all(axis=1))
        assert (part.status[central.to_numpy()] == "primary").all()
    # a table given None keeps the rule's cells: (F, West) = 6 of sex x region; the flags given
    # replace the rule in their own table, as for one table: (0-17, West) = 3 is not flagged there
    f = res.results[2].frame
    assert f[(f.sex == "F") & (f.region == "West")]["status"].iloc[0] == "primary"
    f = res.results[1].frame
    assert f[(f.age == "0-17") & (f.region == "West")]["status"].iloc[0] != "primary"
    rep = audit(tables, hidden=[r.hidden for r in res.results], sensitive=[None, flag, None])
    assert rep.ok and rep.frame["sensitive"].sum() == int((res.status == "primary").sum())
