"""The tau-ARGUS JJ format: read it into a :class:`~cellsuppress.linear.LinearTable`
and write any linear table in it.

Layout (whitespace separated, one record per line)::

    0                                    header line
    <nCells>
    <idx> <value> <cost> <status> <lowerbound> <upperbound> <LPL> <UPL> <SPL>
    ...                                  one line per cell, idx 0-based, in order
    <nRelations>
    <rhs> <k> : <cell> (<coef>) <cell> (<coef>) ...
    ...                                  one line per relation, k cells in it

Status is ``s`` safe, ``u`` unsafe (sensitive), ``m`` manually hidden, ``z``
must stay published.

The reader is tolerant where real files vary: decimals in integer fields
(``3.0``), ``( -1 )`` with spaces or ``0(-1)`` glued to the cell, a missing
SPL column (read as 0), blank lines, Windows or old Mac line ends, a byte
order mark, upper-case status letters. It is strict where a file is broken: a
relation naming a cell that does not exist, a cell count, relation count or
per-relation ``k`` that does not match, a cell index out of order or
duplicated, a non-numeric or non-finite number, an unknown status, ``lb > ub``.
Those raise :class:`JJFormatError` whose message names the file and the
1-based line number.

A table whose relations do not hold with the written values (several of
Castro's instances, whose values were rounded to 6 digits at the source) is
read all the same, with a :class:`NonAdditiveWarning`: protection works on
deviations from the values, so such a table can still be protected and audited.

JJ has no infinity. :func:`write_jj` writes an infinite upper bound as
``max(10 * max(values), 1e9)`` (and an infinite lower bound as its negative).
Reading such a file back gives that finite bound, not ``inf``; it lies far
above every cell of a count table, but an audit of the re-read table does
see it as a real bound.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Union

import numpy as np
import scipy.sparse as sp

from ..errors import JJFormatError, NonAdditiveWarning, TableError
from ..tables.linear import LinearTable

__all__ = ["read_jj", "write_jj", "JJFormatError", "NonAdditiveWarning"]

PathOrFile = Union[str, "os.PathLike[str]", IO[str], IO[bytes]]

_STATUSES = ("s", "u", "m", "z")
# relative tolerance for "a relation holds": |res| <= _ADD_TOL * max(1, max |value|)
_ADD_TOL = 1e-9


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def _read_text(source: PathOrFile) -> tuple[str, str]:
    """Return ``(text, name)`` from a path or a file-like object."""
    if hasattr(source, "read"):
        data = source.read()
        name = getattr(source, "name", None)
        name = os.fspath(name) if isinstance(name, (str, os.PathLike)) else "<stream>"
    else:
        data = Path(source).read_bytes()
        name = os.fspath(source)
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig", errors="replace")
    if data.startswith("\ufeff"):
        data = data[1:]
    return data, name


class _Lines:
    """The non-blank lines of a JJ file, read in order, with their 1-based line numbers.

    Knows the file's name, so every error it raises names the file and the line.
    """

    def __init__(self, text: str, name: str):
        self.name = name
        self.lines: list[str] = []
        self.linenos: list[int] = []
        # splitlines handles \n, \r\n and \r; blank lines count for the line numbers only
        for i, ln in enumerate(text.splitlines(), start=1):
            s = ln.strip()
            if s:
                self.lines.append(s)
                self.linenos.append(i)
        self.pos = 0

    @property
    def last_lineno(self) -> int | None:
        return self.linenos[-1] if self.linenos else None

    def error(self, message: str, lineno: int | None) -> JJFormatError:
        return JJFormatError(message, self.name, lineno)

    def next(self, what: str) -> tuple[str, int]:
        """The next line and its number; ``what`` names what was expected if the file ends."""
        if self.pos >= len(self.lines):
            raise self.error(f"file ends early: expected {what}", self.last_lineno)
        out = self.lines[self.pos], self.linenos[self.pos]
        self.pos += 1
        return out

    def peek(self) -> tuple[str, int] | None:
        """The next line and its number without reading it; ``None`` at the end."""
        if self.pos >= len(self.lines):
            return None
        return self.lines[self.pos], self.linenos[self.pos]

    def take(self, count: int) -> tuple[list[str], list[int]]:
        """The next ``count`` lines and their numbers (fewer if the file ends first)."""
        out = self.lines[self.pos:self.pos + count], self.linenos[self.pos:self.pos + count]
        self.pos += count
        return out

    def whole(self, tok: str, what: str, lineno: int) -> int:
        """An integer field, tolerating ``3.0``."""
        try:
            v = float(tok)
        except ValueError:
            raise self.error(f"{what} must be a number, got {tok!r}", lineno) from None
        if not math.isfinite(v) or v != int(v):
            raise self.error(f"{what} must be a whole number, got {tok!r}", lineno)
        return int(v)

    def count(self, what: str) -> tuple[int, int]:
        """The number of ``what`` (``'cells'``, ``'relations'``), alone on the next line, and its line."""
        s, ln = self.next(f"the number of {what}")
        toks = s.split()
        if len(toks) != 1:
            raise self.error(f"expected the number of {what} alone on the line, got {s!r}", ln)
        v = self.whole(toks[0], f"number of {what}", ln)
        if v < 0:
            raise self.error(f"number of {what} must be >= 0, got {v}", ln)
        return v, ln

    def fail_first(self, mask: np.ndarray, linenos: np.ndarray, message) -> None:
        """Raise on the first record where ``mask`` is set: ``message(r)`` on line ``linenos[r]``."""
        if mask.any():
            r = int(np.flatnonzero(mask)[0])
            raise self.error(message(r), int(linenos[r]))

    def first_non_number(self, tokens, what, linenos) -> None:
        """Raise on the first of ``tokens`` that is no number (``what(q)`` names token ``q``,
        ``linenos[q]`` its line); the slow path after a vectorised conversion failed."""
        for q, tok in enumerate(tokens):
            try:
                float(tok)
            except ValueError:
                raise self.error(f"{what(q)} must be a number, got {tok!r}", int(linenos[q])) from None


_CELL_FIELDS = ("index", "value", "cost", "status", "lowerbound", "upperbound", "LPL", "UPL", "SPL")
_NUMBER_FIELDS = [0, 1, 2, 4, 5, 6, 7, 8]  # all but the status


@dataclass
class _Cells:
    """The cell records: one entry per cell, in index order."""

    values: np.ndarray
    cost: np.ndarray
    status: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    lpl: np.ndarray
    upl: np.ndarray
    spl: np.ndarray

    @property
    def n(self) -> int:
        return self.values.shape[0]


def read_jj(source: PathOrFile) -> LinearTable:
    """Read a tau-ARGUS JJ file into a dims-free :class:`LinearTable`.

    Parameters
    ----------
    source : a path (``str`` or ``os.PathLike``) or a file-like object opened in
        text or binary mode.

    Returns
    -------
    LinearTable
        ``values``, ``M`` (CSR, one row per relation), ``rhs``, ``lb``, ``ub``,
        ``cost``, ``status`` (one-character strings), ``lpl``, ``upl``, ``spl``
        (zeros when the SPL column is missing), ``depth`` zeros, ``labels``
        ``None``; ``hidden`` is ``status == "m"`` when some cell has status
        ``m``, else ``None``.

    Raises
    ------
    JJFormatError
        When the file is broken; the message has the file name and line number.

    Warns
    -----
    NonAdditiveWarning
        When some relations do not hold with the values.

    Examples
    --------
    A total of two cells, the second one unsafe:

    >>> import io
    >>> text = '''0
    ... 3
    ... 0 5 5 s 0 100 0 0 0
    ... 1 2 2 u 0 100 0 3 0
    ... 2 3 3 s 0 100 0 0 0
    ... 1
    ... 0 3 : 0 (-1) 1 (1) 2 (1)
    ... '''
    >>> t = read_jj(io.StringIO(text))
    >>> t.n_cells, t.n_equations, t.status.tolist(), t.upl.tolist()
    (3, 1, ['s', 'u', 's'], [0.0, 3.0, 0.0])
    >>> t.M.toarray().tolist()
    [[-1.0, 1.0, 1.0]]
    """
    text, name = _read_text(source)
    lines = _Lines(text, name)
    _read_header(lines)
    cells = _read_cells(lines)
    M, rhs = _read_relations(lines, cells.n)
    hidden = (cells.status == "m") if (cells.status == "m").any() else None
    table = LinearTable(
        values=cells.values, M=M, rhs=rhs, lb=cells.lb, ub=cells.ub, cost=cells.cost, status=cells.status,
        lpl=cells.lpl, upl=cells.upl, spl=cells.spl, depth=np.zeros(cells.n, dtype=np.int64), hidden=hidden,
        labels=None,
    )
    _check_additive(table, name)
    return table


def _read_header(lines: _Lines) -> None:
    s, ln = lines.next("the header line '0'")
    toks = s.split()
    if len(toks) != 1 or lines.whole(toks[0], "header", ln) != 0:
        raise lines.error(f"the first line must be '0', got {s!r}", ln)


def _read_cells(lines: _Lines) -> _Cells:
    """The cell count and the cell records after it, checked."""
    n, count_line = lines.count("cells")
    rows, linenos = _cell_rows(lines, n, count_line)
    if n:
        arr = np.array(rows, dtype=str)
        try:
            num = arr[:, _NUMBER_FIELDS].astype(float)
        except ValueError:
            fields = [_CELL_FIELDS[c] for c in _NUMBER_FIELDS]
            lines.first_non_number([row[c] for row in rows for c in _NUMBER_FIELDS],
                                   lambda q: fields[q % len(fields)], np.repeat(linenos, len(fields)))
            raise  # pragma: no cover - first_non_number always raises here
        status = np.char.lower(arr[:, 3])
    else:
        num = np.zeros((0, len(_NUMBER_FIELDS)))
        status = np.zeros(0, dtype="<U1")
    idx, values, cost, lb, ub, lpl, upl, spl = num.T
    _check_cells(lines, rows, np.asarray(linenos, dtype=np.int64), idx, status,
                 {"value": values, "cost": cost, "LPL": lpl, "UPL": upl, "SPL": spl}, lb, ub)
    after = lines.peek()
    if n and after is not None and len(after[0].split()) in (8, 9):
        # where the relation count should be: more cell lines than announced
        raise lines.error(f"more cell lines than the {n} announced on line {count_line}", after[1])
    return _Cells(values=values, cost=cost, status=status, lb=lb, ub=ub, lpl=lpl, upl=upl, spl=spl)


def _cell_rows(lines: _Lines, n: int, count_line: int) -> tuple[list[list[str]], list[int]]:
    """The ``n`` cell lines split into their 9 fields (a missing SPL read as ``'0'``), and their
    line numbers; raises when a line has the wrong number of fields or the count is wrong."""
    cell_lines, linenos = lines.take(n)
    rows = [c.split() for c in cell_lines]
    for r, row in enumerate(rows):
        k = len(row)
        if k == 8:
            row.append("0")  # missing SPL column
        elif k != 9:
            if k == 1 and r > 0:
                # most likely the relation count: fewer cell lines than announced
                raise lines.error(
                    f"the file announces {n} cells (line {count_line}) but has only {r} cell lines", linenos[r])
            raise lines.error(
                f"a cell line needs 9 fields (index value cost status lowerbound upperbound "
                f"LPL UPL SPL; SPL may be left out), got {k}", linenos[r])
    if len(rows) < n:
        raise lines.error(
            f"file ends early: announces {n} cells (line {count_line}) but has {len(rows)}", lines.last_lineno)
    return rows, linenos


def _check_cells(lines: _Lines, rows, linenos, idx, status, finite: dict, lb, ub) -> None:
    """Indices 0..n-1 in order, finite numbers where they must be, ``lb <= ub``, known statuses."""
    def fail(mask, message):
        lines.fail_first(mask, linenos, message)

    fail(~np.isfinite(idx) | (idx != np.round(idx)),
         lambda r: f"cell index must be a whole number, got {rows[r][0]!r}")
    bad = idx != np.arange(idx.size)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        i = int(idx[r])
        dup = 0 <= i < r  # an index equal to an earlier line's (those are all in order)
        raise lines.error(
            f"cell index {i} {'duplicated' if dup else 'out of order'}: "
            f"expected {r} (indices run 0..{idx.size - 1} in order)", int(linenos[r]))
    for what, col in finite.items():
        f = _CELL_FIELDS.index(what)
        fail(~np.isfinite(col), lambda r, what=what, f=f: f"{what} must be finite, got {rows[r][f]!r}")
    fail(np.isnan(lb) | (lb == np.inf), lambda r: f"lowerbound must be a number below +inf, got {rows[r][4]!r}")
    fail(np.isnan(ub) | (ub == -np.inf), lambda r: f"upperbound must be a number above -inf, got {rows[r][5]!r}")
    fail(lb > ub, lambda r: f"lowerbound {rows[r][4]} > upperbound {rows[r][5]}")
    fail(~np.isin(status, _STATUSES), lambda r: f"status must be one of s, u, m, z, got {rows[r][3]!r}")


def _read_relations(lines: _Lines, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """The relation count and records after it (the last lines of the file) as ``M`` and ``rhs``."""
    m, count_line = lines.count("relations")
    rel_lines, linenos = lines.take(m)
    rhs = np.zeros(m)
    ks = np.zeros(m, dtype=np.int64)
    pairs: list[str] = []  # cell, coef, cell, coef ... of all relations in turn
    for j, s in enumerate(rel_lines):
        rhs[j], ks[j] = _relation_head(lines, s, linenos[j], pairs)
    if len(linenos) < m:
        raise lines.error(
            f"file ends early: announces {m} relations (line {count_line}) but has {len(linenos)}",
            lines.last_lineno)
    after = lines.peek()
    if after is not None:
        raise lines.error(
            f"unexpected content after the {m} relations announced on line {count_line}: {after[0][:60]!r}",
            after[1])
    return _relation_matrix(lines, pairs, ks, np.asarray(linenos, dtype=np.int64), n), rhs


def _relation_head(lines: _Lines, s: str, ln: int, pairs: list[str]) -> tuple[float, int]:
    """``rhs`` and ``k`` of the relation line ``s``; its ``cell (coef)`` tokens go onto ``pairs``."""
    head, sep, tail = s.partition(":")
    if not sep:
        raise lines.error(f"a relation line needs 'rhs k : cell (coef) ...'; no ':' in {s[:60]!r}", ln)
    h = head.split()
    if len(h) != 2:
        raise lines.error(f"expected 'rhs k' before ':', got {head.strip()!r}", ln)
    try:
        rhs = float(h[0])
    except ValueError:
        raise lines.error(f"rhs must be a number, got {h[0]!r}", ln) from None
    if not math.isfinite(rhs):
        raise lines.error(f"rhs must be finite, got {h[0]!r}", ln)
    k = lines.whole(h[1], "k (number of cells in the relation)", ln)
    t = tail.replace("(", " ").replace(")", " ").split()
    if len(t) % 2:
        raise lines.error("a relation must list 'cell (coef)' pairs; odd number of fields", ln)
    if len(t) != 2 * k:
        raise lines.error(f"relation says k = {k} cells but lists {len(t) // 2}", ln)
    pairs.extend(t)
    return rhs, k


def _relation_matrix(lines: _Lines, pairs: list[str], ks: np.ndarray, linenos: np.ndarray,
                     n: int) -> sp.csr_matrix:
    """``M`` (one row per relation) from the ``cell (coef)`` tokens of all relations, ``ks[j]``
    pairs in relation ``j``; raises on a cell that is not one of the ``n`` or named twice in a
    relation, and on a coefficient that is not a finite number."""
    m = ks.size
    nz_ln = np.repeat(linenos, ks)  # the line of every pair
    rows = np.repeat(np.arange(m, dtype=np.int64), ks)
    try:
        num = np.array(pairs, dtype=float)
    except ValueError:
        lines.first_non_number(pairs, lambda q: "cell index" if q % 2 == 0 else "coefficient", np.repeat(nz_ln, 2))
        raise  # pragma: no cover - first_non_number always raises here
    cells_f = num[0::2]
    coefs = num[1::2]

    def fail(mask, message):
        lines.fail_first(mask, nz_ln, message)

    fail(~np.isfinite(cells_f) | (cells_f != np.round(cells_f)),
         lambda q: f"cell index must be a whole number, got {pairs[2 * q]!r}")
    fail((cells_f < 0) | (cells_f >= n), lambda q: f"relation names cell {pairs[2 * q]} but cells are 0..{n - 1}")
    fail(~np.isfinite(coefs), lambda q: f"coefficient must be finite, got {pairs[2 * q + 1]!r}")
    cols = cells_f.astype(np.int64)
    if cols.size:
        key = rows * max(n, 1) + cols
        order = np.argsort(key, kind="stable")
        dup = np.zeros(cols.size, dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        fail(dup, lambda q: f"cell {cols[q]} appears twice in the same relation")
    M = sp.csr_matrix((coefs, (rows, cols)), shape=(m, n), dtype=float)
    M.eliminate_zeros()
    M.sort_indices()
    return M


def _relation_scale(M: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """``max(1, largest |value| among the cells of each relation)``."""
    A = M.copy()
    A.data = np.abs(values[A.indices])
    scale = A.max(axis=1).toarray().ravel() if A.shape[0] else np.zeros(0)
    return np.maximum(scale, 1.0)


def _check_additive(table: LinearTable, name: str) -> None:
    if table.n_equations == 0:
        return
    res = table.M @ table.values - table.rhs
    bad = np.abs(res) > _ADD_TOL * _relation_scale(table.M, table.values)
    nbad = int(bad.sum())
    if nbad:
        worst = float(np.abs(res).max())
        warnings.warn(
            f"{name}: {nbad} of {table.n_equations} relations do not hold with the values "
            f"(largest absolute residual {worst:.6g}); protection works on deviations from "
            f"the values, so the table can still be protected and audited",
            NonAdditiveWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def _fmt(v: float) -> str:
    """Integers as integers, otherwise up to 12 significant digits."""
    if v == int(v):
        return str(int(v))
    return f"{v:.12g}"


def _fmt_array(a: np.ndarray) -> list[str]:
    return [_fmt(v) for v in a.tolist()]


def write_jj(table: LinearTable, path: PathOrFile) -> None:
    """Write a :class:`LinearTable` (or subclass) as a tau-ARGUS JJ file.

    Fields per cell: 0-based index; value (integral values as integers, others
    with up to 12 significant digits); cost (``table.cost``, or the value but at
    least 1); status (``table.status``; if ``None``, ``m`` where ``table.hidden``
    is set and ``s`` elsewhere); lowerbound, upperbound (``table.lb``,
    ``table.ub``); LPL, UPL, SPL (the table's, or 0).

    JJ has no infinity: an infinite upper bound is written as
    ``max(10 * max(values), 1e9)`` and an infinite lower bound as its negative.

    Relations are the rows of ``table.M`` (``rhs k : cell (coef) ...``), the
    cells with coefficient -1 first, then the others in column order.
    Reading the file back gives the same values (up to 12 significant digits),
    ``M``, ``rhs``, status and protection levels.

    >>> import io, numpy as np, scipy.sparse as sp
    >>> t = LinearTable(values=np.array([5., 2., 3.]),
    ...                 M=sp.csr_matrix(np.array([[1., 1., -1.]])))
    >>> buf = io.StringIO()
    >>> write_jj(t, buf)
    >>> print(buf.getvalue())  # doctest: +NORMALIZE_WHITESPACE
    0
    3
    0 5 5 s 0 1000000000 0 0 0
    1 2 2 s 0 1000000000 0 0 0
    2 3 3 s 0 1000000000 0 0 0
    1
    0 3 : 2 (-1) 0 (1) 1 (1)
    """
    values = np.asarray(table.values, dtype=float)
    n = values.shape[0]
    if n and not np.isfinite(values).all():
        i = int(np.flatnonzero(~np.isfinite(values))[0])
        raise TableError(f"JJ needs every cell's value; cell {i} is {values[i]}")
    M = sp.csr_matrix(table.M, dtype=float)
    M.sum_duplicates()
    M.eliminate_zeros()
    m = M.shape[0]

    big = max(float(values.max()) * 10 if n else 0.0, 1e9)
    lb = np.asarray(table.lb, dtype=float) if table.lb is not None else np.zeros(n)
    ub = np.asarray(table.ub, dtype=float) if table.ub is not None else np.full(n, np.inf)
    lb = np.where(np.isneginf(lb), -big, lb)
    ub = np.where(np.isposinf(ub), big, ub)
    if table.cost is not None:
        cost = np.asarray(table.cost, dtype=float)
    else:
        cost = np.maximum(values, 1.0)
    if table.status is not None:
        status = np.asarray(table.status, dtype="<U1").tolist()
    else:
        st = np.full(n, "s", dtype="<U1")
        if table.hidden is not None:
            st[np.asarray(table.hidden, dtype=bool)] = "m"
        status = st.tolist()

    def level(a):
        return np.zeros(n) if a is None else np.asarray(a, dtype=float)

    cols = [
        [str(i) for i in range(n)], _fmt_array(values), _fmt_array(cost), status,
        _fmt_array(lb), _fmt_array(ub),
        _fmt_array(level(table.lpl)), _fmt_array(level(table.upl)), _fmt_array(level(table.spl)),
    ]
    out = ["0", str(n)]
    out.extend(" ".join(f) for f in zip(*cols))
    out.append(str(m))

    rhs = np.zeros(m) if table.rhs is None else np.asarray(table.rhs, dtype=float)
    rhs_s = _fmt_array(rhs)
    # order inside each row: coefficient -1 first, then by column
    M.sort_indices()
    indptr, indices, data = M.indptr, M.indices, M.data
    row_of = np.repeat(np.arange(m), np.diff(indptr))
    order = np.lexsort((indices, data != -1, row_of))
    idx_s = indices[order].astype(str).tolist()
    coef_s = _fmt_array(data[order])
    for j in range(m):
        a, b = indptr[j], indptr[j + 1]
        body = " ".join(f"{c} ({v})" for c, v in zip(idx_s[a:b], coef_s[a:b]))
        out.append(f"{rhs_s[j]} {b - a} : {body}".rstrip())
    text = "\n".join(out) + "\n"

    if hasattr(path, "write"):
        try:
            path.write(text)
        except TypeError:  # a binary stream
            path.write(text.encode("utf-8"))
    else:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
