"""Tables from pandas: margins, validation of the input, published tables, the additivity system."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellsuppress import Hierarchy, Table, TableError
from cellsuppress.tables.table import DEFAULT_MARKERS, additivity_matrix
from helpers import leaves_below

REGION = {"Total": ["North", "South"], "North": ["N1", "N2"], "South": ["S1"]}


def value_of(t: Table, **codes) -> float:
    """The value of the cell with the given codes, looked up in ``t.frame``."""
    f = t.frame
    sel = np.ones(len(f), dtype=bool)
    for d, c in codes.items():
        sel &= (f[d] == c).to_numpy()
    assert sel.sum() == 1, codes
    return float(f.loc[sel, "value"].iloc[0])


def leaf_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "region": ["N1", "N1", "N2", "N2", "S1", "S1"],
        "sex": ["F", "M", "F", "M", "F", "M"],
        "n": [3, 40, 25, 30, 0, 7],
    })


# -- from_frame ------------------------------------------------------------------
def test_from_frame_leaf_rows_margins_by_hand():
    t = Table.from_frame(leaf_frame(), dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    assert t.dims == ["region", "sex"]
    assert t.shape == (6, 3)
    assert t.n_cells == 18
    f = t.frame
    assert list(f.columns) == ["region", "sex", "value"]
    # canonical order: hierarchies' preorder, C order over dimensions
    assert f[["region", "sex"]].iloc[:4].values.tolist() == [
        ["Total", "Total"], ["Total", "F"], ["Total", "M"], ["North", "Total"]]
    assert value_of(t, region="Total", sex="Total") == 105
    assert value_of(t, region="North", sex="Total") == 98
    assert value_of(t, region="North", sex="F") == 28
    assert value_of(t, region="South", sex="M") == 7
    assert value_of(t, region="Total", sex="F") == 28
    assert value_of(t, region="Total", sex="M") == 77
    assert value_of(t, region="N2", sex="Total") == 55
    assert value_of(t, region="N1", sex="M") == 40


def test_leaf_without_a_row_is_zero():
    df = leaf_frame().iloc[:-1]  # (S1, M) missing
    t = Table.from_frame(df, dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    assert value_of(t, region="S1", sex="M") == 0
    assert value_of(t, region="Total", sex="Total") == 98


def test_from_frame_with_correct_margin_rows():
    leaves = Table.from_frame(leaf_frame(), dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    f = leaves.frame.rename(columns={"value": "n"})
    full = Table.from_frame(f.sample(frac=1, random_state=1), dims=["region", "sex"], count="n",
                            hierarchies={"region": REGION})
    assert np.array_equal(full.values, leaves.values)
    # the flat dimension's total code is recognised as a margin, not a new code
    assert full.hierarchies[1].codes == ["Total", "F", "M"]


def test_from_frame_with_a_wrong_margin_names_it_and_both_numbers():
    df = pd.concat([leaf_frame(), pd.DataFrame({"region": ["North"], "sex": ["F"], "n": [30]})])
    with pytest.raises(TableError, match=r"margin \(region=North, sex=F\) is 30 in the data "
                                         r"but its children add up to 28"):
        Table.from_frame(df, dims=["region", "sex"], count="n", hierarchies={"region": REGION})


def test_extra_columns_are_kept():
    df = leaf_frame().assign(note=list("abcdef"), flag=[True, False] * 3)
    t = Table.from_frame(df, dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    f = t.frame
    row = (f.region == "N2") & (f.sex == "F")
    assert f.loc[row, "note"].item() == "c"
    assert bool(f.loc[row, "flag"].item()) is True
    assert f.loc[(f.region == "Total") & (f.sex == "Total"), "note"].isna().all()


def test_extra_integer_column_is_carried_as_nullable_integers():
    # cells without an input row (the margins) need a missing value an int64 column cannot hold
    df = leaf_frame().assign(year=2020, code=np.arange(6, dtype="uint8"))
    t = Table.from_frame(df, dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    f = t.frame
    leaf = (f.region == "N2") & (f.sex == "M")
    assert f.loc[leaf, "year"].item() == 2020 and f.loc[leaf, "code"].item() == 3
    assert str(f["year"].dtype) == "Int64" and str(f["code"].dtype) == "UInt8"
    assert f.loc[f.region == "Total", "year"].isna().all()


def test_extra_column_named_value_does_not_replace_the_values():
    df = leaf_frame().assign(value=99)
    t = Table.from_frame(df, dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    assert value_of(t, region="N1", sex="F") == 3


@pytest.mark.parametrize("bad, what", [
    (2.5, "is not an integer"),
    (-1, "is negative"),
    ("abc", "is not a number"),
    (None, "is not a number"),
    (np.inf, "is not finite"),
])
def test_bad_counts_name_the_row(bad, what):
    df = leaf_frame().astype({"n": object})
    df.index = [10, 11, 12, 13, 14, 15]
    df.loc[13, "n"] = bad
    with pytest.raises(TableError, match=rf"row 13: count .* in column 'n' {what}"):
        Table.from_frame(df, dims=["region", "sex"], count="n")


def test_numeric_strings_are_counts():
    df = leaf_frame().astype({"n": str})
    t = Table.from_frame(df, dims=["region", "sex"], count="n")
    assert value_of(t, region="Total", sex="Total") == 105


def test_duplicate_rows():
    df = pd.concat([leaf_frame(), leaf_frame().iloc[[2]]], ignore_index=True)
    with pytest.raises(TableError, match=r"rows 2 and 6 give the same cell \(region=N2, sex=F\)"):
        Table.from_frame(df, dims=["region", "sex"], count="n")


def test_missing_column():
    with pytest.raises(TableError, match=r"column\(s\) \['age'\] not in the data"):
        Table.from_frame(leaf_frame(), dims=["region", "age"], count="n")
    with pytest.raises(TableError, match=r"column\(s\) \['count'\] not in the data"):
        Table.from_frame(leaf_frame(), dims=["region", "sex"], count="count")


def test_hierarchy_for_an_unknown_dimension():
    with pytest.raises(TableError, match=r"hierarchies given for \['age'\]"):
        Table.from_frame(leaf_frame(), dims=["region", "sex"], count="n", hierarchies={"age": REGION})


def test_numeric_codes_match_string_hierarchies():
    df = pd.DataFrame({"age": [1, 2, 3], "n": [4, 5, 6]})
    t = Table.from_frame(df, dims=["age"], count="n", hierarchies={"age": {"T": ["1", "2", "3"]}})
    assert t.values.tolist() == [15, 4, 5, 6]


# -- from_microdata -------------------------------------------------------------
def test_from_microdata_counts():
    rng = np.random.default_rng(3)
    people = pd.DataFrame({
        "region": rng.choice(["N1", "N2", "S1"], 200),
        "sex": rng.choice(["F", "M"], 200),
        "age": rng.integers(0, 90, 200),
    })
    t = Table.from_microdata(people, dims=["region", "sex"], hierarchies={"region": REGION})
    assert value_of(t, region="Total", sex="Total") == 200
    for (r, s), n in people.groupby(["region", "sex"]).size().items():
        assert value_of(t, region=r, sex=s) == n
    assert value_of(t, region="North", sex="M") == ((people.region != "S1") & (people.sex == "M")).sum()
    assert np.abs(t.residuals()).max() == 0
    assert "age" not in t.frame.columns


# -- from_published ------------------------------------------------------------
def published_frame(markers) -> pd.DataFrame:
    """A 1-D table Total = a + ... with the given markers on cells after 'a'."""
    codes = ["Total", "a"] + [f"c{i}" for i in range(len(markers))]
    vals = [str(100 + len(markers)), "100"] + list(markers)
    return pd.DataFrame({"d": codes, "n": vals})


def test_from_published_default_markers():
    markers = list(DEFAULT_MARKERS)
    assert set(markers) == {"", "NA", "*", "x", "X", "S", "D", "<20", "<=20", ".."}
    df = published_frame(markers)
    df.loc[len(df)] = ["c_nan", np.nan]
    df.loc[len(df)] = ["c_sp", " x "]
    df.loc[0, "n"] = " 300 "  # spaces around numbers are fine too
    t = Table.from_published(df, dims=["d"], count="n")
    f = t.frame.set_index("d")
    assert f.loc["a", "value"] == 100 and f.loc["Total", "value"] == 300
    hidden_codes = [c for c in f.index if c.startswith("c")]
    assert len(hidden_codes) == len(markers) + 2
    assert f.loc[hidden_codes, "value"].isna().all()
    assert t.hidden.tolist() == [c.startswith("c") for c in f.index]
    assert not t.known[t.hidden].any()


def test_from_published_custom_markers():
    df = published_frame(["-", "-"])
    t = Table.from_published(df, dims=["d"], count="n", markers=["-"])
    assert t.hidden.sum() == 2
    with pytest.raises(TableError, match=r"row 2: count '-' in column 'n' is neither a number nor a suppression"):
        Table.from_published(df, dims=["d"], count="n")


def test_from_published_numeric_column_with_nan():
    df = pd.DataFrame({"d": ["Total", "a", "b", "c"], "n": [30.0, 10.0, np.nan, np.nan]})
    t = Table.from_published(df, dims=["d"], count="n")
    assert t.hidden.tolist() == [False, False, True, True]
    assert t.values[:2].tolist() == [30, 10]


def test_from_published_two_dims_and_hierarchy():
    full = Table.from_frame(leaf_frame(), dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    f = full.frame.rename(columns={"value": "n"}).astype({"n": object})
    hide = (f.region.isin(["N1", "N2"])) & (f.sex == "F")
    f.loc[hide, "n"] = "x"
    t = Table.from_published(f, dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    assert np.array_equal(t.hidden, hide.to_numpy())
    assert np.array_equal(t.values[~t.hidden], full.values[~t.hidden])


def test_from_published_margin_that_does_not_add_up():
    df = pd.DataFrame({"d": ["Total", "a", "b", "c"], "n": ["100", "50", "40", "*"]})
    Table.from_published(df, dims=["d"], count="n")  # a hidden cell: nothing to check
    df.loc[3, "n"] = "5"
    with pytest.raises(TableError, match=r"\(d=Total\) = \(d=a\) \+ \(d=b\) \+ \(d=c\) does not hold: "
                                         r"the margin is 100 but its children add up to 95"):
        Table.from_published(df, dims=["d"], count="n")


def test_from_published_lacking_a_cell():
    df = pd.DataFrame({"d": ["a", "b"], "n": ["5", "x"]})
    with pytest.raises(TableError, match=r"lacks 1 cell\(s\), e.g. \(d=Total\); a published"):
        Table.from_published(df, dims=["d"], count="n")


def test_from_published_negative_count():
    df = pd.DataFrame({"d": ["Total", "a", "b"], "n": ["5", "-1", "x"]})
    with pytest.raises(TableError, match="row 1: count .* is negative"):
        Table.from_published(df, dims=["d"], count="n")


# -- the additivity system --------------------------------------------------------
def expected_equations(hierarchies) -> int:
    total = 0
    for d, h in enumerate(hierarchies):
        internal = int((~h.is_leaf).sum()) if len(h) > 1 else 0
        others = int(np.prod([len(g) for k, g in enumerate(hierarchies) if k != d]))
        total += internal * others
    return total


def test_additivity_matrix_small_by_hand():
    a = Hierarchy.flat(["x", "y"])
    b = Hierarchy.flat(["u", "v"])
    M = additivity_matrix([a, b]).toarray()
    # cells (a, b) in C order: (T,T) (T,u) (T,v) (x,T) (x,u) (x,v) (y,T) (y,u) (y,v)
    rows = {tuple(r) for r in M.astype(int).tolist()}
    expected = {
        (-1, 0, 0, 1, 0, 0, 1, 0, 0),   # (T,T) = (x,T) + (y,T)
        (0, -1, 0, 0, 1, 0, 0, 1, 0),   # (T,u) = (x,u) + (y,u)
        (0, 0, -1, 0, 0, 1, 0, 0, 1),
        (-1, 1, 1, 0, 0, 0, 0, 0, 0),   # (T,T) = (T,u) + (T,v)
        (0, 0, 0, -1, 1, 1, 0, 0, 0),
        (0, 0, 0, 0, 0, 0, -1, 1, 1),
    }
    assert rows == expected and M.shape == (6, 9)


@st.composite
def random_hierarchy(draw, max_nodes=7):
    n = draw(st.integers(1, max_nodes))
    if n == 1:
        return Hierarchy("T", {})
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    return Hierarchy.from_pairs([(f"n{p}", f"n{i}") for i, p in zip(range(1, n), parents)])


@st.composite
def random_tables(draw):
    k = draw(st.integers(1, 3))
    hs = [draw(random_hierarchy(6 if k < 3 else 4)) for _ in range(k)]
    dims = [f"d{j}" for j in range(k)]
    leaf_combos = list(itertools.product(*[h.leaves for h in hs]))
    counts = draw(st.lists(st.integers(0, 50), min_size=len(leaf_combos), max_size=len(leaf_combos)))
    df = pd.DataFrame(leaf_combos, columns=dims)
    df["n"] = counts
    return dims, hs, df




@settings(max_examples=40, deadline=None)
@given(random_tables())
def test_margins_and_equations_on_random_tables(case):
    dims, hs, df = case
    t = Table.from_frame(df, dims=dims, count="n", hierarchies=dict(zip(dims, hs)))
    assert t.n_cells == int(np.prod([len(h) for h in hs]))
    # every equation holds on the computed values
    assert np.abs(t.residuals()).max(initial=0) == 0
    assert t.n_equations == expected_equations(hs)
    # every equation is one parent (-1) and its children (+1)
    M = t.M.tocsr()
    for r in range(t.n_equations):
        data = M.data[M.indptr[r]:M.indptr[r + 1]]
        assert (data == -1).sum() == 1 and (data == 1).sum() == data.size - 1 >= 1
    # each cell is the sum of the data rows below it, checked independently
    below = [{c: leaves_below(h, c) for c in h.codes} for h in hs]
    f = t.frame
    for i in range(t.n_cells):
        sel = np.ones(len(df), dtype=bool)
        for j, d in enumerate(dims):
            sel &= df[d].isin(below[j][f.loc[i, d]]).to_numpy()
        assert f.loc[i, "value"] == df.loc[sel, "n"].sum()


def test_large_three_way_table_builds():
    rng = np.random.default_rng(0)
    A = [f"{g}{j}" for g in range(10) for j in range(10)]   # 10 groups x 10
    B = [f"{g}{j}" for g in range(5) for j in range(10)]    # 5 groups x 10
    C = [f"{g}{j}" for g in range(4) for j in range(10)]    # 4 groups x 10
    df = pd.MultiIndex.from_product([A, B, C], names=["A", "B", "C"]).to_frame(index=False)
    df["n"] = rng.integers(0, 30, len(df))
    hier = {d: Hierarchy.from_level_codes(codes, [1, 1]) for d, codes in zip("ABC", (A, B, C))}
    t = Table.from_frame(df, dims=["A", "B", "C"], count="n", hierarchies=hier)
    assert len(df) == 200_000
    assert t.shape == (111, 56, 45)
    assert t.n_cells == 111 * 56 * 45
    assert t.n_equations == 11 * 56 * 45 + 111 * 6 * 45 + 111 * 56 * 5
    assert t.values[0] == df["n"].sum()
    assert np.abs(t.residuals()).max() == 0


# -- degenerate input, and how messages name rows and values -------------------------
def test_a_frame_without_rows_is_an_error_not_a_table_of_zeros():
    empty = leaf_frame().iloc[:0]
    for make in (lambda: Table.from_frame(empty, dims=["region", "sex"], count="n"),
                 lambda: Table.from_published(empty, dims=["region", "sex"], count="n"),
                 lambda: Table.from_microdata(empty, dims=["region", "sex"])):
        with pytest.raises(TableError, match="^the table has no rows$"):
            make()


def test_a_row_without_a_code_is_named():
    df = leaf_frame().astype({"region": object})
    df.index = [10, 11, 12, 13, 14, 15]
    df.loc[12, "region"] = None
    df.loc[14, "region"] = " "
    with pytest.raises(TableError, match=r"^rows 12 and 14: no code in column 'region'$"):
        Table.from_frame(df, dims=["region", "sex"], count="n")


def test_hierarchy_codes_without_data_warn_and_count_as_zero():
    df = leaf_frame()[lambda d: d.region != "S1"]
    with pytest.warns(UserWarning, match=r"^1 code\(s\) of the hierarchy of 'region' have no row in the data "
                                         r"and count as 0: 'S1'$"):
        t = Table.from_frame(df, dims=["region", "sex"], count="n", hierarchies={"region": REGION})
    assert value_of(t, region="South", sex="Total") == 0
    many = {"Total": [f"c{i:02d}" for i in range(13)]}
    with pytest.warns(UserWarning, match=r"12 code\(s\) .*: 'c01', 'c02', .*'c10', ...$"):
        Table.from_frame(pd.DataFrame({"d": ["c00"], "n": [4]}), dims=["d"], count="n", hierarchies={"d": many})


def test_every_hierarchy_code_in_the_data_gives_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Table.from_frame(leaf_frame(), dims=["region", "sex"], count="n", hierarchies={"region": REGION})


def test_messages_show_numbers_as_written():
    df = leaf_frame()
    df.loc[1, "n"] = -3  # an int64 column: numpy 2 would show np.int64(-3)
    with pytest.raises(TableError) as e:
        Table.from_frame(df, dims=["region", "sex"], count="n")
    assert str(e.value).startswith("row 1: count -3 in column 'n' is negative")
    assert "np." not in str(e.value)


def test_rows_read_from_a_file_are_named_by_their_line(tmp_path):
    from cellsuppress.tables.messages import numbered_by_line

    f = tmp_path / "t.csv"
    leaf_frame().assign(n=[3, 40, 25, 2.5, 0, 7]).to_csv(f, index=False)
    df = numbered_by_line(pd.read_csv(f))
    with pytest.raises(TableError, match=r"^line 5: count 2.5 in column 'n' is not an integer"):
        Table.from_frame(df, dims=["region", "sex"], count="n")
    h = tmp_path / "h.csv"
    h.write_text("parent,child\nTotal,North\nNorth,\n")
    with pytest.raises(TableError, match=r"empty parent or child in line 3$"):
        Hierarchy.from_csv(h)
