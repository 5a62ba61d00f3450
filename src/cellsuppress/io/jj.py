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
from pathlib import Path
from typing import IO, Union

import numpy as np
import scipy.sparse as sp

from ..errors import JJFormatError, NonAdditiveWarning
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


def _to_int(tok: str, what: str, name: str, lineno: int) -> int:
    """An integer field, tolerating ``3.0``."""
    try:
        v = float(tok)
    except ValueError:
        raise JJFormatError(f"{what} must be a number, got {tok!r}", name, lineno) from None
    if not math.isfinite(v) or v != int(v):
        raise JJFormatError(f"{what} must be a whole number, got {tok!r}", name, lineno)
    return int(v)


def _first_bad_float(rows, cols, name, linenos, what_of_col) -> None:
    """Find and raise on the first token that does not convert to float."""
    for r, row in enumerate(rows):
        for c in cols:
            try:
                float(row[c])
            except ValueError:
                raise JJFormatError(
                    f"{what_of_col[c]} must be a number, got {row[c]!r}", name, linenos[r]
                ) from None


_CELL_FIELDS = ("index", "value", "cost", "status", "lowerbound", "upperbound", "LPL", "UPL", "SPL")


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
    # splitlines handles \n, \r\n and \r; keep 1-based line numbers of non-blank lines
    lines: list[str] = []
    linenos: list[int] = []
    for i, ln in enumerate(text.splitlines(), start=1):
        s = ln.strip()
        if s:
            lines.append(s)
            linenos.append(i)
    pos = 0
    total = len(lines)

    def need(what: str) -> tuple[str, int]:
        nonlocal pos
        if pos >= total:
            last = linenos[-1] if linenos else None
            raise JJFormatError(f"file ends early: expected {what}", name, last)
        out = lines[pos], linenos[pos]
        pos += 1
        return out

    # -- header ------------------------------------------------------------
    s, ln = need("the header line '0'")
    toks = s.split()
    if len(toks) != 1 or _to_int(toks[0], "header", name, ln) != 0:
        raise JJFormatError(f"the first line must be '0', got {s!r}", name, ln)

    # -- cells -------------------------------------------------------------
    s, ln = need("the number of cells")
    toks = s.split()
    if len(toks) != 1:
        raise JJFormatError(f"expected the number of cells alone on the line, got {s!r}", name, ln)
    n = _to_int(toks[0], "number of cells", name, ln)
    if n < 0:
        raise JJFormatError(f"number of cells must be >= 0, got {n}", name, ln)
    count_line = ln

    cell_lines = lines[pos:pos + n]
    cell_lnos = linenos[pos:pos + n]
    rows = [c.split() for c in cell_lines]
    for r, row in enumerate(rows):
        k = len(row)
        if k == 8:
            row.append("0")  # missing SPL column
        elif k != 9:
            if k == 1 and r > 0:
                # most likely the relation count: fewer cell lines than announced
                raise JJFormatError(
                    f"the file announces {n} cells (line {count_line}) but has only {r} cell lines",
                    name, cell_lnos[r],
                )
            raise JJFormatError(
                f"a cell line needs 9 fields (index value cost status lowerbound upperbound "
                f"LPL UPL SPL; SPL may be left out), got {k}",
                name, cell_lnos[r],
            )
    if len(rows) < n:
        raise JJFormatError(
            f"file ends early: announces {n} cells (line {count_line}) but has {len(rows)}",
            name, linenos[-1],
        )
    pos += n

    num_cols = [0, 1, 2, 4, 5, 6, 7, 8]
    if n:
        arr = np.array(rows, dtype=str)
        try:
            num = arr[:, num_cols].astype(float)
        except ValueError:
            _first_bad_float(rows, num_cols, name, cell_lnos, _CELL_FIELDS)
            raise  # pragma: no cover - _first_bad_float always raises
        status = np.char.lower(arr[:, 3])
    else:
        num = np.zeros((0, 8))
        status = np.zeros(0, dtype="<U1")
    cell_ln = np.asarray(cell_lnos, dtype=np.int64)
    idx, values, cost, lb, ub, lpl, upl, spl = num.T

    def fail_cells(mask: np.ndarray, msg) -> None:
        if mask.any():
            r = int(np.flatnonzero(mask)[0])
            raise JJFormatError(msg(r), name, int(cell_ln[r]))

    fail_cells(~np.isfinite(idx) | (idx != np.round(idx)),
               lambda r: f"cell index must be a whole number, got {rows[r][0]!r}")
    expected = np.arange(n)
    bad = idx != expected
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        i = int(idx[r])
        dup = 0 <= i < r  # an index equal to an earlier line's (those are all in order)
        raise JJFormatError(
            f"cell index {i} {'duplicated' if dup else 'out of order'}: "
            f"expected {r} (indices run 0..{n - 1} in order)",
            name, int(cell_ln[r]),
        )
    for col, what in ((values, "value"), (cost, "cost"), (lpl, "LPL"), (upl, "UPL"), (spl, "SPL")):
        fail_cells(~np.isfinite(col), lambda r, what=what: f"{what} must be finite, got {rows[r][_CELL_FIELDS.index(what)]!r}")
    fail_cells(np.isnan(lb) | (lb == np.inf), lambda r: f"lowerbound must be a number below +inf, got {rows[r][4]!r}")
    fail_cells(np.isnan(ub) | (ub == -np.inf), lambda r: f"upperbound must be a number above -inf, got {rows[r][5]!r}")
    fail_cells(lb > ub, lambda r: f"lowerbound {rows[r][4]} > upperbound {rows[r][5]}")
    fail_cells(~np.isin(status, _STATUSES),
               lambda r: f"status must be one of s, u, m, z, got {rows[r][3]!r}")

    # -- relations ---------------------------------------------------------
    s, ln = need("the number of relations")
    toks = s.split()
    if len(toks) != 1:
        if n and len(toks) in (8, 9):
            raise JJFormatError(
                f"more cell lines than the {n} announced on line {count_line}", name, ln
            )
        raise JJFormatError(f"expected the number of relations alone on the line, got {s!r}", name, ln)
    m = _to_int(toks[0], "number of relations", name, ln)
    if m < 0:
        raise JJFormatError(f"number of relations must be >= 0, got {m}", name, ln)
    rel_count_line = ln

    rhs = np.zeros(m)
    ks = np.zeros(m, dtype=np.int64)
    tail_tokens: list[str] = []
    rel_lnos = linenos[pos:pos + m]
    for j, s in enumerate(lines[pos:pos + m]):
        ln = rel_lnos[j]
        head, sep, tail = s.partition(":")
        if not sep:
            raise JJFormatError(
                f"a relation line needs 'rhs k : cell (coef) ...'; no ':' in {s[:60]!r}", name, ln
            )
        h = head.split()
        if len(h) != 2:
            raise JJFormatError(f"expected 'rhs k' before ':', got {head.strip()!r}", name, ln)
        try:
            rhs[j] = float(h[0])
        except ValueError:
            raise JJFormatError(f"rhs must be a number, got {h[0]!r}", name, ln) from None
        if not math.isfinite(rhs[j]):
            raise JJFormatError(f"rhs must be finite, got {h[0]!r}", name, ln)
        k = _to_int(h[1], "k (number of cells in the relation)", name, ln)
        t = tail.replace("(", " ").replace(")", " ").split()
        if len(t) % 2:
            raise JJFormatError("a relation must list 'cell (coef)' pairs; odd number of fields", name, ln)
        if len(t) != 2 * k:
            raise JJFormatError(f"relation says k = {k} cells but lists {len(t) // 2}", name, ln)
        ks[j] = k
        tail_tokens.extend(t)
    if len(rel_lnos) < m:
        raise JJFormatError(
            f"file ends early: announces {m} relations (line {rel_count_line}) but has {len(rel_lnos)}",
            name, linenos[-1],
        )
    pos += m
    if pos < total:
        raise JJFormatError(
            f"unexpected content after the {m} relations announced on line {rel_count_line}: "
            f"{lines[pos][:60]!r}",
            name, linenos[pos],
        )

    nz_ln = np.repeat(np.asarray(rel_lnos, dtype=np.int64), ks)
    rows_idx = np.repeat(np.arange(m, dtype=np.int64), ks)
    try:
        pairs = np.array(tail_tokens, dtype=float)
    except ValueError:
        for q, tok in enumerate(tail_tokens):
            try:
                float(tok)
            except ValueError:
                what = "cell index" if q % 2 == 0 else "coefficient"
                raise JJFormatError(f"{what} must be a number, got {tok!r}", name, int(nz_ln[q // 2])) from None
        raise  # pragma: no cover
    cells_f = pairs[0::2]
    coefs = pairs[1::2]

    def fail_nz(mask: np.ndarray, msg) -> None:
        if mask.any():
            q = int(np.flatnonzero(mask)[0])
            raise JJFormatError(msg(q), name, int(nz_ln[q]))

    fail_nz(~np.isfinite(cells_f) | (cells_f != np.round(cells_f)),
            lambda q: f"cell index must be a whole number, got {tail_tokens[2 * q]!r}")
    fail_nz((cells_f < 0) | (cells_f >= n),
            lambda q: f"relation names cell {tail_tokens[2 * q]} but cells are 0..{n - 1}")
    fail_nz(~np.isfinite(coefs), lambda q: f"coefficient must be finite, got {tail_tokens[2 * q + 1]!r}")
    cols = cells_f.astype(np.int64)
    # the same cell twice in one relation
    if cols.size:
        key = rows_idx * max(n, 1) + cols
        order = np.argsort(key, kind="stable")
        dup = np.zeros(cols.size, dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        fail_nz(dup, lambda q: f"cell {cols[q]} appears twice in the same relation")

    M = sp.csr_matrix((coefs, (rows_idx, cols)), shape=(m, n), dtype=float)
    M.eliminate_zeros()
    M.sort_indices()

    hidden = (status == "m") if (status == "m").any() else None
    table = LinearTable(
        values=values, M=M, rhs=rhs, lb=lb, ub=ub, cost=cost, status=status,
        lpl=lpl, upl=upl, spl=spl, depth=np.zeros(n, dtype=np.int64), hidden=hidden, labels=None,
    )
    _check_additive(table, name)
    return table


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
        raise ValueError(f"JJ needs every cell's value; cell {i} is {values[i]}")
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
