import time

import numpy as np
import pandas as pd
import pytest

from cellsuppress.tables.hierarchy import Hierarchy
from cellsuppress.tables.synthetic import SyntheticTable, generate
from cellsuppress.tables.table import Table


def test_same_seed_same_frame():
    a = generate(dims=3, levels=(4, 3), seed=7)
    b = generate(dims=3, levels=(4, 3), seed=7)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    a = generate(dims=2, levels=(6,), seed=7, skewed=True)
    b = generate(dims=2, levels=(6,), seed=7, skewed=True)
    pd.testing.assert_frame_equal(a.frame, b.frame)


def test_different_seeds_differ():
    a = generate(dims=2, levels=((10,), (10,)), seed=1)
    b = generate(dims=2, levels=((10,), (10,)), seed=2)
    assert not a.frame["n"].equals(b.frame["n"])
    assert a.frame[["A", "B"]].equals(b.frame[["A", "B"]])


def test_defaults():
    st = generate()
    assert isinstance(st, SyntheticTable)
    assert st.dims == ["A", "B"]
    assert len(st.frame) == 100
    assert list(st.frame.columns) == ["A", "B", "n"]
    assert st.frame["n"].dtype == np.int64
    assert st.hierarchies["A"].leaves == [f"{i:02d}" for i in range(1, 11)]
    assert st.levels == {"A": (10,), "B": (10,)}
    assert "seed=0" in st.description
    # the default adapts to dims
    assert generate(dims=3).dims == ["A", "B", "C"]


@pytest.mark.parametrize("levels,dims", [
    (((5, 4), (10,)), 2),
    ((3, 2, 2), 2),
    (((12, 3), (2,), (1, 2)), 3),
    (7, 1),
])
def test_sizes_match_levels(levels, dims):
    st = generate(dims=dims, levels=levels, seed=3)
    per_dim = [levels] * dims if isinstance(levels, int) else (
        [levels] * dims if all(isinstance(x, int) for x in levels) else list(levels))
    per_dim = [(x,) if isinstance(x, int) else tuple(x) for x in per_dim]
    assert len(st.frame) == np.prod([np.prod(lv) for lv in per_dim])
    for d, lv in zip(st.dims, per_dim):
        h = st.hierarchies[d]
        assert isinstance(h, Hierarchy)
        assert h.root == "Total"
        assert len(h.leaves) == np.prod(lv)
        # 1 root + c1 + c1*c2 + ...
        assert len(h) == 1 + sum(np.prod(lv[:k + 1]) for k in range(len(lv)))
        assert int(h.depth.max()) == len(lv)
        # codes per level are nested and fixed width
        widths = [len(str(c)) for c in lv]
        for k in range(1, len(lv) + 1):
            at = [c for c, dep in zip(h.codes, h.depth) if dep == k]
            assert len(at) == np.prod(lv[:k])
            assert {len(c) for c in at} == {sum(widths[:k])}
        assert set(st.frame[d]) == set(h.leaves)
        assert Hierarchy.from_level_codes(h.leaves, widths).codes == h.codes


def test_level_codes_fixed_width():
    st = generate(dims=1, levels=(10, 12), seed=0)
    h = st.hierarchies["A"]
    assert h.codes[:3] == ["Total", "01", "0101"]
    assert "1012" in h.leaves and h.parent_of("1012") == "10"


def test_every_leaf_combination_once():
    st = generate(dims=3, levels=((3, 2), (4,), (2, 2)), seed=0)
    assert not st.frame.duplicated(st.dims).any()
    assert len(st.frame) == 6 * 4 * 4


def test_shares_roughly_as_asked():
    st = generate(dims=2, levels=(300,), seed=11, mean=60, small_share=0.3, zero_share=0.1)
    n = st.frame["n"].to_numpy()
    assert n.size == 90_000
    assert abs((n == 0).mean() - 0.1) < 0.01
    # Poisson(60) almost never gives 1..20, so the small share is the uniform part
    small = (n >= 1) & (n <= 20)
    assert abs(small.mean() - 0.3) < 0.01
    assert abs(n[n > 20].mean() - 60) < 1
    assert n.min() >= 0


def test_shares_zero_and_one():
    n = generate(dims=2, levels=(50,), small_share=0, zero_share=1).frame["n"]
    assert (n == 0).all()
    n = generate(dims=2, levels=(50,), small_share=1, zero_share=0, threshold=5).frame["n"]
    assert n.between(1, 5).all() and set(n) == {1, 2, 3, 4, 5}


def test_skewed_counts():
    st = generate(dims=2, levels=(300,), seed=5, skewed=True, mean=30, small_share=0.9)
    n = st.frame["n"].to_numpy()
    assert abs(n.mean() - 30) < 1.5
    # dispersion 0.5: variance mean + 2 mean^2
    assert n.var() > 10 * n.mean()
    assert ((n >= 1) & (n <= 20)).mean() + (n == 0).mean() > 0.5
    assert np.median(n) < 20
    assert n.max() > 200
    assert "negative binomial" in st.description


def test_big_table_is_fast():
    # CPU time, which other processes on a loaded machine do not inflate as they do wall time
    t0 = time.process_time()
    st = generate(dims=3, levels=((100,), (50,), (40,)), seed=0)
    elapsed = time.process_time() - t0
    assert len(st.frame) == 200_000
    assert elapsed < 1.0
    t0 = time.process_time()
    generate(dims=3, levels=((10, 10), (5, 10), (4, 10)), seed=0, skewed=True)
    assert time.process_time() - t0 < 1.0


@pytest.mark.parametrize("kwargs", [
    dict(dims=2, levels=((3, 2), (4,))),
    dict(dims=3, levels=(3, 2), skewed=True),
    dict(dims=1, levels=(5, 2, 2)),
])
def test_table_builds_and_adds_up(kwargs):
    st = generate(seed=4, **kwargs)
    t = st.table()
    assert isinstance(t, Table)
    assert t.dims == st.dims
    assert t.shape == tuple(len(st.hierarchies[d]) for d in st.dims)
    assert np.abs(t.residuals()).max() == 0
    assert t.values[0] == st.frame["n"].sum()  # grand total first
    # leaf cells of the table carry the generated counts
    f = t.frame
    leaf = f.merge(st.frame, on=st.dims)
    assert len(leaf) == len(st.frame)
    assert (leaf["value"] == leaf["n"]).all()


def test_names():
    st = generate(dims=2, levels=((2, 2), (3,)), names=["region", "age"])
    assert st.dims == ["region", "age"]
    assert list(st.frame.columns) == ["region", "age", "n"]
    assert set(st.hierarchies) == {"region", "age"}
    assert st.hierarchies["region"].name == "region"
    assert st.table().dims == ["region", "age"]


def test_write_and_read_back(tmp_path):
    st = generate(dims=3, levels=((3, 2), (12,), (2, 3)), seed=9, names=["X", "Y", "Z"])
    paths = st.write(tmp_path / "out", "tab")
    assert paths[0] == tmp_path / "out" / "tab.csv"
    assert sorted(p.name for p in paths[1:]) == ["tab_X_hierarchy.csv", "tab_Z_hierarchy.csv"]
    assert all(p.exists() for p in paths)

    df = pd.read_csv(paths[0], dtype={d: str for d in st.dims})
    assert list(df.columns) == ["X", "Y", "Z", "n"]
    pd.testing.assert_frame_equal(df, st.frame)
    hx = pd.read_csv(paths[1], dtype=str)
    assert list(hx.columns) == ["parent", "child"]
    hier = {d: Hierarchy.from_csv(tmp_path / "out" / f"tab_{d}_hierarchy.csv") for d in ("X", "Z")}
    for d in hier:
        assert hier[d].codes == st.hierarchies[d].codes
    back = Table.from_frame(df, dims=st.dims, count="n", hierarchies=hier)
    orig = st.table()
    assert back.shape == orig.shape
    np.testing.assert_array_equal(back.values, orig.values)
    pd.testing.assert_frame_equal(back.frame, orig.frame)


def test_write_flat_only(tmp_path):
    st = generate(dims=2, levels=(4,))
    paths = st.write(tmp_path, "flat")
    assert [p.name for p in paths] == ["flat.csv"]


@pytest.mark.parametrize("kwargs,arg", [
    (dict(dims=0), "dims"),
    (dict(dims=-1), "dims"),
    (dict(dims=2.5), "dims"),
    (dict(dims=2, levels=((3,), (0,))), "levels"),
    (dict(dims=2, levels=(3, 0)), "levels"),
    (dict(dims=2, levels=0), "levels"),
    (dict(dims=2, levels=()), "levels"),
    (dict(dims=2, levels=((3,), ())), "levels"),
    (dict(dims=3, levels=((3,), (4,))), "levels"),
    (dict(dims=2, levels=((3,), (4,), (5,))), "levels"),
    (dict(dims=2, levels=(3, (4,))), "levels"),
    (dict(small_share=-0.1), "small_share"),
    (dict(small_share=1.5), "small_share"),
    (dict(zero_share=-0.01), "zero_share"),
    (dict(zero_share=2), "zero_share"),
    (dict(small_share=0.7, zero_share=0.4), "small_share + zero_share"),
    (dict(mean=0), "mean"),
    (dict(mean=-3), "mean"),
    (dict(mean=float("nan")), "mean"),
    (dict(threshold=0), "threshold"),
    (dict(dispersion=0, skewed=True), "dispersion"),
    (dict(names=["A"]), "names"),
    (dict(names=["A", "A"]), "names"),
    (dict(names=["A", "n"]), "names"),
    (dict(names="AB"), "names"),
])
def test_invalid_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg.replace("+", r"\+")):
        generate(**kwargs)
