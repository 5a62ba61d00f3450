"""Hierarchies: every way to build one, their canonical order, and precise errors."""
from __future__ import annotations


import networkx as nx
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellsuppress import Table
from cellsuppress.tables.hierarchy import Hierarchy, HierarchyError

REGION_PAIRS = [("Total", "North"), ("Total", "South"), ("North", "N1"), ("North", "N2"),
                ("South", "S1")]
REGION_CODES = ["Total", "North", "N1", "N2", "South", "S1"]
REGION_LEAVES = ["N1", "N2", "S1"]


# -- construction ------------------------------------------------------------
def test_from_pairs():
    h = Hierarchy.from_pairs(REGION_PAIRS, name="region")
    assert h.root == "Total"
    assert h.codes == REGION_CODES
    assert h.leaves == REGION_LEAVES
    assert h.parent_of("N2") == "North"
    assert h.parent_of("South") == "Total"
    assert h.parent_of("Total") is None
    assert h.depth.tolist() == [0, 1, 2, 2, 1, 2]
    assert len(h) == 6 and "S1" in h and "S2" not in h
    assert h.name == "region"


def test_from_pairs_repeated_pair_is_harmless():
    h = Hierarchy.from_pairs(REGION_PAIRS + [("North", "N1")])
    assert h.codes == REGION_CODES


def test_from_pairs_numeric_codes_become_strings():
    h = Hierarchy.from_pairs([(0, 1), (0, 2.0), (1, 11)])
    assert h.codes == ["0", "1", "11", "2"]


def test_from_mapping():
    h = Hierarchy.from_mapping({"Total": ["North", "South"], "North": ["N1", "N2"], "South": ["S1"]})
    assert h.codes == REGION_CODES
    assert h.leaves == REGION_LEAVES


def test_from_frame_default_and_named_columns():
    df = pd.DataFrame(REGION_PAIRS, columns=["parent", "child"])
    assert Hierarchy.from_frame(df).codes == REGION_CODES
    df2 = df.rename(columns={"parent": "up", "child": "down"})
    assert Hierarchy.from_frame(df2, parent="up", child="down").codes == REGION_CODES
    with pytest.raises(HierarchyError, match=r"lacks column\(s\) \['parent', 'child'\]"):
        Hierarchy.from_frame(df2)


def test_from_frame_empty_cell_names_row():
    df = pd.DataFrame({"parent": ["T", None], "child": ["a", "b"]}, index=[5, 7])
    with pytest.raises(HierarchyError, match="empty parent or child in row 7"):
        Hierarchy.from_frame(df)


def test_from_csv_keeps_leading_zeros(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("parent,child\nTotal,01\nTotal,02\n01,0101\n01,0102\n02,0201\n")
    h = Hierarchy.from_csv(p)
    assert h.codes == ["Total", "01", "0101", "0102", "02", "0201"]
    assert h.leaves == ["0101", "0102", "0201"]
    # also accepted by coerce (a path or a string)
    assert Hierarchy.coerce(p).codes == h.codes
    assert Hierarchy.coerce(str(p)).codes == h.codes


def test_to_frame_round_trip(tmp_path):
    h = Hierarchy.from_pairs(REGION_PAIRS)
    p = tmp_path / "h.csv"
    h.to_frame().to_csv(p, index=False)
    assert Hierarchy.from_csv(p).codes == h.codes


def test_from_graph():
    g = nx.DiGraph()
    g.add_edges_from(REGION_PAIRS)
    h = Hierarchy.from_graph(g)
    assert h.codes == REGION_CODES
    assert h.leaves == REGION_LEAVES
    assert Hierarchy.coerce(g).codes == REGION_CODES


def test_from_graph_single_node():
    g = nx.DiGraph()
    g.add_node("Total")
    h = Hierarchy.from_graph(g)
    assert h.codes == ["Total"] and h.leaves == ["Total"]


def test_from_graph_errors():
    with pytest.raises(HierarchyError, match="must be directed"):
        Hierarchy.from_graph(nx.Graph([("T", "a")]))
    with pytest.raises(HierarchyError, match="has a cycle"):
        Hierarchy.from_graph(nx.DiGraph([("T", "a"), ("a", "b"), ("b", "a")]))
    g = nx.DiGraph(REGION_PAIRS)
    g.add_node("West")  # a code without a parent: a second root
    with pytest.raises(HierarchyError, match="several roots: 'Total', 'West'"):
        Hierarchy.from_graph(g)


def test_from_level_codes_three_levels():
    codes = ["010101", "010102", "0102", "020101", "01"]
    h = Hierarchy.from_level_codes(codes, [2, 2, 2])
    assert h.codes == ["Total", "01", "0101", "010101", "010102", "0102", "02", "0201", "020101"]
    assert h.leaves == ["010101", "010102", "0102", "020101"]
    assert h.parent_of("010102") == "0101"
    assert h.parent_of("0201") == "02"  # implied by "020101"
    assert h.depth[h.index["020101"]] == 3


def test_from_level_codes_other_total_and_total_in_the_data():
    h = Hierarchy.from_level_codes(["All", "0101", "0201"], [2, 2], total="All")
    assert h.codes == ["All", "01", "0101", "02", "0201"]


def test_from_level_codes_wrong_length():
    with pytest.raises(HierarchyError, match=r"code '011' has length 3, not one of the level lengths \[2, 4, 6\]"):
        Hierarchy.from_level_codes(["0101", "011"], [2, 2, 2], name="ward")


def test_flat():
    h = Hierarchy.flat(["b", "a", "b", "Total", 3])
    assert h.codes == ["Total", "b", "a", "3"]
    assert h.leaves == ["b", "a", "3"]
    h = Hierarchy.flat(["x"], total="All")
    assert h.codes == ["All", "x"]
    assert Hierarchy.flat([]).codes == ["Total"]


def test_coerce_keeps_a_hierarchy_and_reads_pairs():
    h = Hierarchy.from_pairs(REGION_PAIRS)
    assert Hierarchy.coerce(h) is h
    assert Hierarchy.coerce(REGION_PAIRS).codes == REGION_CODES
    assert Hierarchy.coerce(pd.DataFrame(REGION_PAIRS, columns=["parent", "child"])).codes == REGION_CODES


# -- canonical order and derived arrays -------------------------------------
def test_canonical_order_follows_the_given_child_order():
    h = Hierarchy.from_pairs([("T", "z"), ("T", "a"), ("z", "z2"), ("z", "z1"), ("a", "a1")])
    assert h.codes == ["T", "z", "z2", "z1", "a", "a1"]
    assert h.leaves == ["z2", "z1", "a1"]


def test_edges_and_leaf_aggregator():
    h = Hierarchy.from_pairs(REGION_PAIRS)
    par, child = h.edges()
    assert {(h.codes[p], h.codes[c]) for p, c in zip(par, child)} == set(REGION_PAIRS)
    A = h.leaf_aggregator().toarray()
    assert A.shape == (6, 3)
    # rows: Total, North, N1, N2, South, S1; columns: leaves N1, N2, S1
    expected = [[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]
    assert A.tolist() == expected


@st.composite
def random_trees(draw):
    """Random trees as parent lists (node i > 0 has a parent < i), shuffled into pairs."""
    n = draw(st.integers(1, 12))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    pairs = [(f"c{p}", f"c{i}") for i, p in zip(range(1, n), parents)]
    pairs = draw(st.permutations(pairs)) if pairs else pairs
    return n, dict(zip(range(1, n), parents)), pairs


@settings(max_examples=60, deadline=None)
@given(random_trees())
def test_random_tree_structure(tree):
    n, parents, pairs = tree
    if not pairs:
        return
    h = Hierarchy.from_pairs(pairs)
    assert h.root == "c0"
    assert sorted(h.codes) == sorted(f"c{i}" for i in range(n))
    for i, p in parents.items():
        assert h.parent_of(f"c{i}") == f"c{p}"
    pos = h.index
    # preorder: a parent comes before its children and every subtree is contiguous
    for code in h.codes[1:]:
        assert pos[h.parent_of(code)] < pos[code]
    kids = {c: [] for c in h.codes}
    for c in h.codes[1:]:
        kids[h.parent_of(c)].append(c)
    for code in h.codes:
        sub = [code]
        stack = list(kids[code])
        while stack:
            x = stack.pop()
            sub.append(x)
            stack.extend(kids[x])
        idx = sorted(pos[x] for x in sub)
        assert idx == list(range(pos[code], pos[code] + len(sub)))
    assert h.leaves == [c for c in h.codes if not kids[c]]
    A = h.leaf_aggregator().toarray()
    assert (A[0] == 1).all()  # the root sums every leaf
    # each leaf is counted once by itself and once per ancestor
    leaf_depth = h.depth[h.is_leaf]
    assert A.sum(axis=0).tolist() == (leaf_depth + 1).tolist()


# -- errors --------------------------------------------------------------------
def test_cycle_two_codes():
    with pytest.raises(HierarchyError, match="has a cycle"):
        Hierarchy.from_pairs([("A", "B"), ("B", "A")], name="x")


def test_cycle_apart_from_the_root():
    with pytest.raises(HierarchyError, match=r"cycle.*'B'.*'C'"):
        Hierarchy.from_pairs([("T", "A"), ("B", "C"), ("C", "B")])


def test_code_is_its_own_parent():
    with pytest.raises(HierarchyError, match="code 'A' is its own parent"):
        Hierarchy.from_pairs([("T", "A"), ("A", "A")])


def test_two_parents():
    with pytest.raises(HierarchyError, match="hierarchy 'region': code 'N1' has two parents, 'North' and 'South'"):
        Hierarchy.from_pairs(REGION_PAIRS + [("South", "N1")], name="region")
    with pytest.raises(HierarchyError, match="code 'b' has two parents, 'a' and 'T'"):
        Hierarchy.from_mapping({"a": ["b"], "T": ["a", "b"]})


def test_several_roots():
    with pytest.raises(HierarchyError, match="several roots: 'North', 'South'; add the total"):
        Hierarchy.from_pairs([("North", "N1"), ("South", "S1")])


def test_several_roots_under_an_implied_root():
    h = Hierarchy.from_pairs([("North", "N1"), ("South", "S1")], root="Total")
    assert h.codes == ["Total", "North", "N1", "South", "S1"]


def test_empty():
    with pytest.raises(HierarchyError, match="empty"):
        Hierarchy.from_pairs([])


def test_table_with_a_code_missing_from_the_hierarchy():
    df = pd.DataFrame({"region": ["N1", "N2", "S1", "W1"], "sex": ["F", "M", "F", "M"], "n": [1, 2, 3, 4]})
    with pytest.raises(HierarchyError, match="codes of dimension 'region' missing from its hierarchy: 'W1'"):
        Table.from_frame(df, dims=["region", "sex"], count="n", hierarchies={"region": REGION_PAIRS})


def test_check_codes_lists_at_most_ten():
    h = Hierarchy.flat(["a"])
    with pytest.raises(HierarchyError, match=r"and 2 more$"):
        h.check_codes([f"x{i:02d}" for i in range(12)], "d")
