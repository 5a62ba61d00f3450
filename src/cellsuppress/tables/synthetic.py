"""Synthetic count tables for tests and benchmarks.

:func:`generate` makes a cross-classified count table with flat or
hierarchical dimensions, random leaf counts and the hierarchies that go with
them, reproducibly from a seed. Everything is vectorised: a three-way table
of 100 x 50 x 40 leaves takes a few milliseconds.

Codes are nested, fixed-width level codes: each level uses as many digits as
its number of codes needs, zero-padded. With ``levels=(12, 4)`` the top
codes are ``'01'..'12'`` and the children of ``'03'`` are ``'031'..'034'``;
so every hierarchy is also valid for
:meth:`~cellsuppress.hierarchy.Hierarchy.from_level_codes` with the level
widths as lengths. The root of every dimension is ``'Total'``.
"""
from __future__ import annotations

import itertools
import numbers
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TableError
from .hierarchy import Hierarchy
from .table import Table

__all__ = ["SyntheticTable", "generate"]

TOTAL = "Total"
COUNT = "n"


@dataclass(eq=False)
class SyntheticTable:
    """A generated table: leaf counts in long format and the dimensions' hierarchies.

    Attributes
    ----------
    frame : DataFrame with one string column per dimension and the count
        column ``'n'`` (int64); leaf cells only, every combination of leaves,
        in C order over the dimensions.
    dims : the dimension names (column names of ``frame``).
    hierarchies : ``dim -> Hierarchy``; flat dimensions get one too
        (``Hierarchy.flat``), all rooted at ``'Total'``.
    description : a short string of the parameters that made the table.
    levels : ``dim -> tuple`` of codes per level.
    threshold : the sensitivity threshold the counts were drawn for.
    """

    frame: pd.DataFrame
    dims: list
    hierarchies: dict
    description: str
    levels: dict = field(default_factory=dict)
    threshold: int = 20

    def __repr__(self) -> str:
        return f"SyntheticTable({self.description})"

    def table(self) -> Table:
        """The :class:`~cellsuppress.table.Table` (margins included) of these counts."""
        return Table.from_frame(self.frame, dims=self.dims, count=COUNT,
                                hierarchies=self.hierarchies, total_code=TOTAL)

    def write(self, directory, name: str) -> list[Path]:
        """Write ``<name>.csv`` and, per dimension of depth > 1, ``<name>_<dim>_hierarchy.csv``.

        The data file has the dimension columns and ``n``; hierarchy files
        have columns ``parent,child``. ``directory`` is created if needed.
        Returns the written paths, the data file first.

        Codes are zero-padded digit strings: read the files back with
        ``dtype=str`` for the dimension columns (``pd.read_csv(path,
        dtype={dim: str, ...})``), or flat codes like ``'01'`` become numbers.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = directory / f"{name}.csv"
        self.frame.to_csv(data, index=False)
        paths = [data]
        for d in self.dims:
            h = self.hierarchies[d]
            if int(h.depth.max(initial=0)) > 1:
                p = directory / f"{name}_{d}_hierarchy.csv"
                h.to_frame().to_csv(p, index=False)
                paths.append(p)
        return paths


def generate(dims: int = 2, levels=None, seed=0, mean: float = 30.0,
             small_share: float = 0.2, zero_share: float = 0.05, skewed: bool = False,
             threshold: int = 20, names: Sequence[str] | None = None,
             dispersion: float = 0.5) -> SyntheticTable:
    """A random count table with ``dims`` dimensions.

    Parameters
    ----------
    dims : number of dimensions (>= 1).
    levels : codes per level, per dimension: ``((5, 4), (10,))`` gives
        dimension A five top codes with four children each (20 leaves,
        depth 2 under ``'Total'``) and a flat dimension B of 10 codes. A
        single tuple of ints (``(5, 4)``) or an int (``10``) applies to
        every dimension. Default: ``(10,)`` for every dimension (so
        ``((10,), (10,))`` for two).
    seed : seed (or anything else) for ``numpy.random.default_rng``.
    mean : mean of the large counts (Poisson), or of all counts when
        ``skewed``.
    small_share, zero_share : probabilities that a leaf count is ``0``
        (``zero_share``) or uniform in ``1..threshold`` (``small_share``);
        the rest are Poisson(``mean``), some of which may be small too when
        ``mean`` is near the threshold. Ignored when ``skewed``.
    skewed : draw every count from a negative binomial with mean ``mean``
        and dispersion ``dispersion`` (variance ``mean + mean**2 /
        dispersion``): most cells small or zero, a few large, like deep
        tables of health data.
    threshold : the sensitivity threshold (the upper end of small counts).
    names : dimension names; default ``'A'``, ``'B'``, ``'C'``, ...
    dispersion : the negative binomial's shape parameter (> 0) when ``skewed``.

    Raises
    ------
    ValueError naming the argument when an argument is invalid.

    Examples
    --------
    >>> st = generate(dims=2, levels=((3, 2), (4,)), seed=1)
    >>> st.dims, len(st.frame), list(st.frame.columns)
    (['A', 'B'], 24, ['A', 'B', 'n'])
    >>> st.hierarchies["A"].codes
    ['Total', '1', '11', '12', '2', '21', '22', '3', '31', '32']
    >>> st.hierarchies["B"].leaves
    ['1', '2', '3', '4']
    >>> t = st.table()
    >>> t.n_cells == 10 * 5
    True
    >>> int(t.frame.iloc[0]["value"]) == int(st.frame["n"].sum())
    True
    """
    dims, per_dim = _check_args(dims, levels, mean, small_share, zero_share, threshold, dispersion)
    if names is None:
        names = _default_names(dims)
    names = _check_names(names, dims)
    rng = np.random.default_rng(seed)

    hierarchies: dict[str, Hierarchy] = {}
    leaf_codes: list[np.ndarray] = []
    for d, lv in zip(names, per_dim):
        leaves, widths = _level_codes(lv)
        if len(lv) == 1:
            h = Hierarchy.flat(leaves, total=TOTAL, name=d)
        else:
            h = Hierarchy.from_level_codes(leaves, widths, total=TOTAL, name=d)
        hierarchies[d] = h
        leaf_codes.append(np.asarray(h.leaves, dtype=object))

    shape = tuple(c.size for c in leaf_codes)
    size = int(np.prod(shape))
    if skewed:
        p = dispersion / (dispersion + mean)
        n = rng.negative_binomial(dispersion, p, size=size)
    else:
        u = rng.random(size)
        small = rng.integers(1, threshold + 1, size=size)
        large = rng.poisson(mean, size=size)
        n = np.where(u < zero_share, 0, np.where(u < zero_share + small_share, small, large))
    n = n.astype(np.int64)

    idx = np.indices(shape).reshape(len(shape), -1)
    frame = pd.DataFrame({d: c[i] for d, c, i in zip(names, leaf_codes, idx)})
    frame[COUNT] = n

    lv_text = " x ".join(f"{d}({'x'.join(map(str, lv))})" for d, lv in zip(names, per_dim))
    counts = (f"negative binomial mean={mean:g} dispersion={dispersion:g}" if skewed else
              f"mixture zero_share={zero_share:g} small_share={small_share:g} poisson mean={mean:g}")
    description = (f"{dims}-way synthetic table {lv_text}, {size} leaf cells, seed={seed}, "
                   f"{counts}, threshold={threshold}")
    return SyntheticTable(frame=frame, dims=list(names), hierarchies=hierarchies,
                          description=description, levels=dict(zip(names, per_dim)),
                          threshold=int(threshold))


# -- helpers -----------------------------------------------------------------
def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_args(dims, levels, mean, small_share, zero_share, threshold, dispersion):
    if not _is_int(dims) or dims < 1:
        raise TableError(f"dims must be an integer >= 1, got {dims!r}")
    dims = int(dims)
    if levels is None:
        per_dim = [(10,)] * dims
    elif _is_int(levels):
        per_dim = [(levels,)] * dims
    else:
        try:
            items = list(levels)
        except TypeError:
            raise TableError(f"levels must be an int, a tuple of ints, or one tuple per dimension; "
                             f"got {levels!r}") from None
        if not items:
            raise TableError("levels is empty; give at least one count of codes")
        if all(_is_int(x) for x in items):
            per_dim = [tuple(items)] * dims
        elif all(not _is_int(x) and not isinstance(x, (str, bytes)) for x in items):
            per_dim = []
            for x in items:
                try:
                    t = tuple(x)
                except TypeError:
                    raise TableError(f"levels: {x!r} is not a tuple of counts") from None
                if not t or not all(_is_int(c) for c in t):
                    raise TableError(f"levels: each dimension needs a non-empty tuple of integer "
                                     f"counts, got {x!r}")
                per_dim.append(t)
            if len(per_dim) != dims:
                raise TableError(f"levels gives {len(per_dim)} dimension(s) but dims={dims}")
        else:
            raise TableError(f"levels mixes counts and tuples: {levels!r}; give one tuple of ints "
                             "for all dimensions or one tuple per dimension")
    for d, t in enumerate(per_dim):
        bad = [c for c in t if c < 1]
        if bad:
            raise TableError(f"levels: every level needs at least 1 code; dimension {d} has {t!r}")
    per_dim = [tuple(int(c) for c in t) for t in per_dim]

    if not _is_number(mean) or not np.isfinite(mean) or mean <= 0:
        raise TableError(f"mean must be a finite number > 0, got {mean!r}")
    for nm, v in (("small_share", small_share), ("zero_share", zero_share)):
        if not _is_number(v) or not 0 <= v <= 1:
            raise TableError(f"{nm} must be in [0, 1], got {v!r}")
    if small_share + zero_share > 1 + 1e-12:
        raise TableError(f"small_share + zero_share must not exceed 1, got "
                         f"{small_share!r} + {zero_share!r}")
    if not _is_int(threshold) or threshold < 1:
        raise TableError(f"threshold must be an integer >= 1, got {threshold!r}")
    if not _is_number(dispersion) or not np.isfinite(dispersion) or dispersion <= 0:
        raise TableError(f"dispersion must be a finite number > 0, got {dispersion!r}")
    return dims, per_dim


def _default_names(dims: int) -> list[str]:
    letters = string.ascii_uppercase
    return [letters[i] if i < len(letters) else f"D{i + 1}" for i in range(dims)]


def _check_names(names, dims: int) -> list[str]:
    if isinstance(names, str):
        raise TableError(f"names must be a sequence of {dims} dimension names, got the string {names!r}")
    names = list(names)
    if len(names) != dims:
        raise TableError(f"names gives {len(names)} name(s) but dims={dims}")
    if not all(isinstance(x, str) and x for x in names):
        raise TableError(f"names must be non-empty strings, got {names!r}")
    if len(set(names)) != len(names):
        raise TableError(f"names must be distinct, got {names!r}")
    if COUNT in names:
        raise TableError(f"names must not include {COUNT!r}, the count column")
    return names


def _level_codes(counts: tuple[int, ...]) -> tuple[list[str], list[int]]:
    """Leaf codes (nested, zero-padded per level) and the level widths."""
    widths = [len(str(c)) for c in counts]
    per_level = [[str(i).zfill(w) for i in range(1, c + 1)] for c, w in zip(counts, widths)]
    leaves = ["".join(parts) for parts in itertools.product(*per_level)]
    return leaves, widths
