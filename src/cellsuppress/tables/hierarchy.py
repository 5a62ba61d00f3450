"""A dimension's tree of codes: built, validated, and turned into arrays.

Codes are kept as strings. The canonical order of a hierarchy's codes is a
depth-first preorder (root, then each child's subtree in the order given),
which is how tables list their cells.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import HierarchyError
from .messages import numbered_by_line, rows_named, some


class Hierarchy:
    """A rooted tree of codes for one dimension.

    Build it with one of the ``from_*`` constructors; all of them validate.

    >>> h = Hierarchy.from_pairs([("Total", "North"), ("Total", "South"),
    ...                           ("North", "N1"), ("North", "N2")])
    >>> h.codes
    ['Total', 'North', 'N1', 'N2', 'South']
    >>> h.leaves
    ['N1', 'N2', 'South']
    >>> h.parent_of("N2")
    'North'
    """

    def __init__(self, root: str, children: Mapping[str, Sequence[str]], name: str | None = None):
        self.name = name
        self.root = str(root)
        self.children: dict[str, list[str]] = {str(k): [str(c) for c in v] for k, v in children.items() if len(v)}
        self._build()

    # -- construction ----------------------------------------------------
    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple], name: str | None = None, root: str | None = None) -> "Hierarchy":
        """From ``(parent, child)`` pairs. The root is the one parent that is nobody's child."""
        children: dict[str, list[str]] = {}
        parent_of: dict[str, str] = {}
        order: list[str] = []
        for p, c in pairs:
            p, c = as_code(p), as_code(c)
            if p == c:
                raise HierarchyError(f"hierarchy{_nm(name)}: code {c!r} is its own parent (a cycle)")
            if c in parent_of and parent_of[c] != p:
                raise HierarchyError(
                    f"hierarchy{_nm(name)}: code {c!r} has two parents, {parent_of[c]!r} and {p!r}")
            if c in parent_of:
                continue  # repeated pair
            parent_of[c] = p
            children.setdefault(p, []).append(c)
            for x in (p, c):
                if x not in order:
                    order.append(x)
        roots = [x for x in order if x not in parent_of]
        if not order:
            raise HierarchyError(f"hierarchy{_nm(name)} is empty")
        if not roots:
            raise HierarchyError(f"hierarchy{_nm(name)} has a cycle: every code has a parent")
        if len(roots) > 1:
            if root is not None and str(root) not in roots:
                # a flat list of top codes under an implied root
                children[str(root)] = roots
                roots = [str(root)]
            else:
                raise HierarchyError(
                    f"hierarchy{_nm(name)} has several roots: {', '.join(map(repr, roots[:10]))}; "
                    "add the total they sum to as their parent")
        return cls(roots[0], children, name=name)

    @classmethod
    def from_mapping(cls, mapping: Mapping, name: str | None = None) -> "Hierarchy":
        """From a dict ``parent -> list of children``."""
        return cls.from_pairs(((p, c) for p, cs in mapping.items() for c in cs), name=name)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, parent: str = "parent", child: str = "child",
                   name: str | None = None) -> "Hierarchy":
        """From a DataFrame with ``parent`` and ``child`` columns."""
        missing = [c for c in (parent, child) if c not in df.columns]
        if missing:
            raise HierarchyError(
                f"hierarchy{_nm(name)} table lacks column(s) {missing}; it has {list(df.columns)}")
        bad = np.flatnonzero(df[[parent, child]].isna().any(axis=1).to_numpy())
        if bad.size:
            raise HierarchyError(f"hierarchy{_nm(name)}: empty parent or child in {rows_named(df.index, bad[:1])}")
        return cls.from_pairs(zip(df[parent], df[child]), name=name)

    @classmethod
    def from_csv(cls, path: str | Path, name: str | None = None, sep: str = ",") -> "Hierarchy":
        """From a CSV file with columns ``parent,child`` (messages name its lines)."""
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], sep=sep)
        return cls.from_frame(numbered_by_line(df), name=name)

    @classmethod
    def from_graph(cls, graph, name: str | None = None) -> "Hierarchy":
        """From a networkx DiGraph with edges parent -> child."""
        import networkx as nx

        if not graph.is_directed():
            raise HierarchyError(f"hierarchy{_nm(name)}: the graph must be directed (parent -> child)")
        if not nx.is_directed_acyclic_graph(graph):
            cyc = nx.find_cycle(graph)
            raise HierarchyError(f"hierarchy{_nm(name)} has a cycle: {cyc}")
        if graph.number_of_edges() == 0:
            nodes = list(graph.nodes)
            if len(nodes) == 1:
                return cls(nodes[0], {}, name=name)
        # isolated nodes are codes without a parent too: roots, not silently dropped
        roots = [n for n in graph.nodes if graph.in_degree(n) == 0]
        if len(roots) > 1:
            raise HierarchyError(
                f"hierarchy{_nm(name)} has several roots: {', '.join(repr(as_code(r)) for r in roots[:10])}; "
                "add the total they sum to as their parent")
        return cls.from_pairs(graph.edges(), name=name)

    @classmethod
    def from_level_codes(cls, codes: Iterable, lengths: Sequence[int], total: str = "Total",
                         name: str | None = None) -> "Hierarchy":
        """From nested level codes: with ``lengths=(2, 2)`` code ``"0103"`` is a child of ``"01"``.

        Every prefix is a code of the hierarchy, whether or not it is listed.

        >>> Hierarchy.from_level_codes(["0101", "0102", "0201"], [2, 2]).codes
        ['Total', '01', '0101', '0102', '02', '0201']
        """
        cuts = np.cumsum(lengths).tolist()
        pairs = []
        for code in codes:
            code = as_code(code)
            if code == total:  # the data's own grand-total rows
                continue
            if len(code) not in cuts:
                raise HierarchyError(
                    f"hierarchy{_nm(name)}: code {code!r} has length {len(code)}, "
                    f"not one of the level lengths {cuts}")
            level = cuts.index(len(code))
            chain = [total] + [code[:cuts[k]] for k in range(level + 1)]
            pairs.extend(zip(chain[:-1], chain[1:]))
        return cls.from_pairs(pairs, name=name)

    @classmethod
    def flat(cls, codes: Iterable, total: str = "Total", name: str | None = None) -> "Hierarchy":
        """A one-level dimension: ``total`` over the given codes (in their order)."""
        seen = list(dict.fromkeys(as_code(c) for c in codes))
        if total in seen:
            seen.remove(total)
        return cls(total, {total: seen} if seen else {}, name=name)

    @classmethod
    def coerce(cls, obj, name: str | None = None) -> "Hierarchy":
        """Accept any of the supported forms: Hierarchy, DataFrame, dict, DiGraph, CSV path, pairs."""
        if isinstance(obj, Hierarchy):
            return obj
        if isinstance(obj, pd.DataFrame):
            return cls.from_frame(obj, name=name)
        if isinstance(obj, Mapping):
            return cls.from_mapping(obj, name=name)
        if isinstance(obj, (str, Path)):
            return cls.from_csv(obj, name=name)
        if hasattr(obj, "edges") and hasattr(obj, "is_directed"):
            return cls.from_graph(obj, name=name)
        return cls.from_pairs(obj, name=name)

    # -- derived structure -------------------------------------------------
    def _build(self) -> None:
        codes: list[str] = []
        depth: list[int] = []
        parent: list[int] = []
        seen: set[str] = set()
        stack = [(self.root, 0, -1)]
        while stack:
            code, d, par = stack.pop()
            if code in seen:
                raise HierarchyError(f"hierarchy{_nm(self.name)}: code {code!r} is reached twice (a cycle)")
            seen.add(code)
            me = len(codes)
            codes.append(code)
            depth.append(d)
            parent.append(par)
            for c in reversed(self.children.get(code, [])):
                stack.append((c, d + 1, me))
        unreachable = set(self.children) - seen
        if unreachable:
            if unreachable <= {c for cs in self.children.values() for c in cs}:
                # every such code has a parent, none reachable from the root: they form a cycle
                raise HierarchyError(
                    f"hierarchy{_nm(self.name)} has a cycle among codes not under the root "
                    f"{self.root!r}: {some(sorted(unreachable))}")
            raise HierarchyError(
                f"hierarchy{_nm(self.name)}: codes not under the root {self.root!r}: {some(sorted(unreachable))}")
        self.codes = codes
        self.index = {c: i for i, c in enumerate(codes)}
        self.depth = np.asarray(depth, dtype=np.int64)
        self.parent = np.asarray(parent, dtype=np.int64)
        is_leaf = np.ones(len(codes), dtype=bool)
        is_leaf[self.parent[self.parent >= 0]] = False
        self.is_leaf = is_leaf
        self.leaves = [c for c, lf in zip(codes, is_leaf) if lf]

    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, code) -> bool:
        return str(code) in self.index

    def __repr__(self) -> str:
        return f"Hierarchy({self.name or ''!s}: {len(self.codes)} codes, {len(self.leaves)} leaves, root {self.root!r})"

    def parent_of(self, code: str) -> str | None:
        p = self.parent[self.index[str(code)]]
        return None if p < 0 else self.codes[p]

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """``(parent_index, child_index)`` arrays of all parent-child links."""
        child = np.flatnonzero(self.parent >= 0)
        return self.parent[child], child

    def leaf_aggregator(self) -> sp.csr_matrix:
        """(codes x leaves) 0/1 matrix: code ``i`` is the sum of the leaves below it."""
        n = len(self.codes)
        leaf_idx = np.flatnonzero(self.is_leaf)
        rows, cols = [], []
        anc = leaf_idx.copy()
        col = np.arange(leaf_idx.size)
        while anc.size:  # walk every leaf up to the root, one level per step
            rows.append(anc)
            cols.append(col)
            keep = self.parent[anc] >= 0
            anc, col = self.parent[anc[keep]], col[keep]
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        return sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, leaf_idx.size))

    def to_frame(self) -> pd.DataFrame:
        """The hierarchy as ``parent,child`` rows (for CSV files)."""
        p, c = self.edges()
        return pd.DataFrame({"parent": [self.codes[i] for i in p], "child": [self.codes[i] for i in c]})

    def check_codes(self, codes: Iterable, dim: str) -> None:
        """Raise naming the codes of the data that the hierarchy lacks."""
        missing = sorted({str(c) for c in codes} - set(self.index))
        if missing:
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise HierarchyError(
                f"codes of dimension {dim!r} missing from its hierarchy: "
                f"{', '.join(map(repr, missing[:10]))}{more}")


def as_code(x) -> str:
    """A code as the string tables and hierarchies use (``3.0`` read from a CSV is ``"3"``)."""
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return str(x)


def _nm(name) -> str:
    return f" {name!r}" if name else ""
