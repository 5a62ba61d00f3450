"""The tau-ARGUS JJ reader and writer."""
from __future__ import annotations

import io
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from cellsuppress import protect
from cellsuppress.auditing.report import audit
from cellsuppress.io import JJFormatError, NonAdditiveWarning, read_jj, write_jj
from cellsuppress.tables.linear import LinearTable

DATA = Path(__file__).resolve().parent / "data"
# optional: the benchmark instances are kept outside the repository, beside it by default
INSTANCES = Path(os.environ.get("CELLSUPPRESS_INSTANCES")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "instances")

# A 2x2 table with margins: cells 0..8 laid out as
#   r0: 0 1 | 2      rows:    2 = 0 + 1,  5 = 3 + 4,  8 = 6 + 7
#   r1: 3 4 | 5      columns: 6 = 0 + 3,  7 = 1 + 4,  8 = 2 + 5
#   --------------
#       6 7 | 8
GOOD = """\
0
9
0 3 3 u 0 100 1 4 0
1 7 7 s 0 100 0 0 0
2 10 10 s 0 100 0 0 0
3 5 5 s 0 100 0 0 0
4 0 1 z 0 0 0 0 0
5 5 5 s 0 100 0 0 0
6 8 8 s 0 100 0 0 0
7 7 7 s 0 100 0 0 0
8 15 15 m 0 100 0 0 0
6
0 3 : 2 (-1) 0 (1) 1 (1)
0 3 : 5 (-1) 3 (1) 4 (1)
0 3 : 8 (-1) 6 (1) 7 (1)
0 3 : 6 (-1) 0 (1) 3 (1)
0 3 : 7 (-1) 1 (1) 4 (1)
0 3 : 8 (-1) 2 (1) 5 (1)
"""


def _write(tmp_path: Path, text: str, name: str = "t.jj", newline: str = "\n") -> Path:
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode())
    return p


def _rows(M) -> list[dict[int, float]]:
    """Each row of M as {cell: coef}: order-free comparison."""
    M = sp.csr_matrix(M)
    return [
        dict(zip(M.indices[M.indptr[j]:M.indptr[j + 1]].tolist(), M.data[M.indptr[j]:M.indptr[j + 1]].tolist()))
        for j in range(M.shape[0])
    ]


def _assert_same(a: LinearTable, b: LinearTable) -> None:
    np.testing.assert_array_equal(a.values, b.values)
    assert _rows(a.M) == _rows(b.M)
    np.testing.assert_array_equal(a.rhs, b.rhs)
    np.testing.assert_array_equal(a.status, b.status)
    for name in ("lpl", "upl", "spl", "lb", "ub", "cost"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# ---------------------------------------------------------------------------
# reading a good file
# ---------------------------------------------------------------------------
def test_read_good(tmp_path):
    t = read_jj(_write(tmp_path, GOOD))
    assert isinstance(t, LinearTable)
    assert (t.n_cells, t.n_equations) == (9, 6)
    assert sp.isspmatrix_csr(t.M) or isinstance(t.M, sp.csr_matrix)
    np.testing.assert_array_equal(t.values, [3, 7, 10, 5, 0, 5, 8, 7, 15])
    assert t.status.tolist() == list("ussszsssm")
    np.testing.assert_array_equal(t.lpl, [1, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(t.upl, [4, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(t.spl, np.zeros(9))
    np.testing.assert_array_equal(t.ub[4], 0)
    np.testing.assert_array_equal(t.cost[4], 1)
    np.testing.assert_array_equal(t.depth, np.zeros(9))
    assert t.labels is None
    assert t.hidden is not None and t.hidden.tolist() == [False] * 8 + [True]
    assert t.M.toarray()[0].tolist() == [1, 1, -1, 0, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(t.residuals(), 0)


def test_hidden_none_without_m(tmp_path):
    t = read_jj(_write(tmp_path, GOOD.replace(" m ", " s ")))
    assert t.hidden is None


def test_read_file_like_and_str_path(tmp_path):
    p = _write(tmp_path, GOOD)
    a = read_jj(str(p))
    b = read_jj(io.StringIO(GOOD))
    with open(p, "rb") as fh:
        c = read_jj(fh)
    _assert_same(a, b)
    _assert_same(a, c)


# ---------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------
def test_round_trip_hand_built(tmp_path):
    M = sp.csr_matrix(np.array([
        [1.0, 1.0, -1.0, 0.0, 0.0],   # total last in column order: written first
        [0.0, 0.0, 1.0, -1.0, 2.0],   # a non-unit coefficient
        [0.5, 0.0, 0.0, 0.0, -1.0],
    ]))
    values = np.array([4.0, 6.0, 10.0, 12.5, 1.25])
    rhs = M @ values
    t = LinearTable(
        values=values, M=M, rhs=rhs,
        lb=np.array([0, 0, 0, 1, 0.0]), ub=np.array([20, 20, 50, 30, 2.5]),
        cost=np.array([4, 6, 10, 12.5, 1]),
        status=np.array(list("usszm")),
        lpl=np.array([2, 0, 0, 0, 0.0]), upl=np.array([3, 0, 0, 0, 0.0]), spl=np.array([1, 0, 0, 0, 0.0]),
    )
    p = tmp_path / "rt.jj"
    write_jj(t, p)
    text = p.read_text()
    assert text.splitlines()[:2] == ["0", "5"]
    # -1 first in every relation; integral coefficients written as integers
    rel = text.splitlines()[-3:]
    assert rel[0] == "0 3 : 2 (-1) 0 (1) 1 (1)"
    assert rel[1].split(":")[1].split()[:2] == ["3", "(-1)"]
    assert "4 (2)" in rel[1] and "0 (0.5)" in rel[2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = read_jj(p)
    _assert_same(t, back)
    assert back.hidden.tolist() == [False, False, False, False, True]


def test_write_defaults_and_infinite_bounds(tmp_path):
    """No cost/status/levels: value (>=1) / 's' / 0; inf ub -> max(10*max, 1e9)."""
    t = LinearTable(values=np.array([0.0, 2.0, 2.0]), M=sp.csr_matrix(np.array([[1.0, -1.0, 1.0]])))
    buf = io.StringIO()
    write_jj(t, buf)
    lines = buf.getvalue().splitlines()
    assert lines[2] == "0 0 1 s 0 1000000000 0 0 0"
    assert lines[3] == "1 2 2 s 0 1000000000 0 0 0"
    assert lines[-1] == "0 3 : 1 (-1) 0 (1) 2 (1)"
    back = read_jj(io.StringIO(buf.getvalue()))
    np.testing.assert_array_equal(back.values, t.values)
    assert _rows(back.M) == _rows(t.M)
    np.testing.assert_array_equal(back.ub, 1e9)
    assert back.status.tolist() == ["s", "s", "s"]

    big = LinearTable(values=np.array([5e8, 5e8]), M=sp.csr_matrix((0, 2)))
    buf = io.StringIO()
    write_jj(big, buf)
    assert read_jj(io.StringIO(buf.getvalue())).ub.tolist() == [5e9, 5e9]


def test_write_hidden_without_status():
    t = LinearTable(values=np.array([3.0, 1.0, 2.0]), M=sp.csr_matrix(np.array([[-1.0, 1.0, 1.0]])),
                    hidden=np.array([False, True, True]))
    buf = io.StringIO()
    write_jj(t, buf)
    back = read_jj(io.StringIO(buf.getvalue()))
    assert back.status.tolist() == ["s", "m", "m"]
    assert back.hidden.tolist() == [False, True, True]


def test_write_rejects_unknown_values():
    t = LinearTable(values=np.array([3.0, np.nan]), M=sp.csr_matrix((0, 2)))
    with pytest.raises(ValueError, match="cell 1"):
        write_jj(t, io.StringIO())


def test_value_formatting():
    t = LinearTable(values=np.array([1.0 / 3.0, 48498.5, 1e11]), M=sp.csr_matrix((0, 3)))
    buf = io.StringIO()
    write_jj(t, buf)
    fields = [ln.split()[1] for ln in buf.getvalue().splitlines()[2:5]]
    assert fields == ["0.333333333333", "48498.5", "100000000000"]


# ---------------------------------------------------------------------------
# tolerance
# ---------------------------------------------------------------------------
def test_tolerant_decimals_in_integer_fields(tmp_path):
    text = GOOD.replace("\n9\n", "\n9.0\n").replace("\n6\n0 3", "\n6.0\n0 3")
    text = text.replace("\n0 3 u", "\n0.0 3 u").replace("0 3 : 2", "0 3.0 : 2")
    t = read_jj(_write(tmp_path, text))
    assert (t.n_cells, t.n_equations) == (9, 6)


def test_tolerant_coefficient_spacing(tmp_path):
    text = GOOD.replace("0 3 : 2 (-1) 0 (1) 1 (1)", "0 3 : 2 ( -1 ) 0( 1) 1(1)")
    text = text.replace("0 3 : 5 (-1) 3 (1) 4 (1)", "0 3: 5(-1) 3 (1 ) 4 (+1)")
    _assert_same(read_jj(_write(tmp_path, text)), read_jj(io.StringIO(GOOD)))


def test_tolerant_missing_spl(tmp_path):
    lines = GOOD.splitlines()
    lines[2:11] = [ln.rsplit(" ", 1)[0] for ln in lines[2:11]]
    assert lines[2] == "0 3 3 u 0 100 1 4"
    t = read_jj(_write(tmp_path, "\n".join(lines) + "\n"))
    np.testing.assert_array_equal(t.spl, np.zeros(9))
    np.testing.assert_array_equal(t.upl[0], 4)


def test_tolerant_crlf_blank_lines_and_tabs(tmp_path):
    text = "\n" + GOOD.replace("\n6\n", "\n\n6\n\n").replace("1 7 7 s", "1\t7  7 S") + "\n\n"
    p = _write(tmp_path, text, newline="\r\n")
    assert b"\r\n" in p.read_bytes()
    _assert_same(read_jj(p), read_jj(io.StringIO(GOOD)))
    p2 = _write(tmp_path, "\ufeff" + GOOD, name="bom.jj")
    _assert_same(read_jj(p2), read_jj(io.StringIO(GOOD)))


# ---------------------------------------------------------------------------
# broken files
# ---------------------------------------------------------------------------
def _replace_line(text: str, lineno: int, new: str | None) -> str:
    lines = text.splitlines()
    if new is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = new
    return "\n".join(lines) + "\n"


BROKEN = {
    # name: (text, line number in the message, fragment of the message)
    "bad header": (_replace_line(GOOD, 1, "1"), 1, "'0'"),
    "cell count not numeric": (_replace_line(GOOD, 2, "nine"), 2, "number of cells"),
    "cell count too large": (_replace_line(GOOD, 2, "10"), 12, "10 cells"),
    "cell count too small": (_replace_line(GOOD, 2, "8"), 11, "more cell lines"),
    "index out of order": (_replace_line(GOOD, 5, "4 10 10 s 0 100 0 0 0"), 5, "out of order"),
    "index duplicated": (_replace_line(GOOD, 5, "1 10 10 s 0 100 0 0 0"), 5, "duplicated"),
    "value not numeric": (_replace_line(GOOD, 6, "3 five 5 s 0 100 0 0 0"), 6, "value"),
    "value nan": (_replace_line(GOOD, 6, "3 nan 5 s 0 100 0 0 0"), 6, "value"),
    "lb > ub": (_replace_line(GOOD, 7, "4 0 1 z 5 0 0 0 0"), 7, "lowerbound"),
    "unknown status": (_replace_line(GOOD, 7, "4 0 1 x 0 0 0 0 0"), 7, "status"),
    "too few fields": (_replace_line(GOOD, 7, "4 0 1 z 0 0 0"), 7, "9 fields"),
    "relation count too large": (_replace_line(GOOD, 12, "7"), 18, "7 relations"),
    "relation count too small": (_replace_line(GOOD, 12, "5"), 18, "after the 5 relations"),
    "relation count not numeric": (_replace_line(GOOD, 12, "six"), 12, "number of relations"),
    "k does not match": (_replace_line(GOOD, 14, "0 4 : 5 (-1) 3 (1) 4 (1)"), 14, "k = 4"),
    "cell does not exist": (_replace_line(GOOD, 15, "0 3 : 9 (-1) 6 (1) 7 (1)"), 15, "cell 9"),
    "negative cell": (_replace_line(GOOD, 15, "0 3 : 8 (-1) -6 (1) 7 (1)"), 15, "cell -6"),
    "cell not numeric": (_replace_line(GOOD, 16, "0 3 : 6 (-1) x (1) 3 (1)"), 16, "cell index"),
    "coef not numeric": (_replace_line(GOOD, 16, "0 3 : 6 (-1) 0 (one) 3 (1)"), 16, "coefficient"),
    "rhs not numeric": (_replace_line(GOOD, 17, "zero 3 : 7 (-1) 1 (1) 4 (1)"), 17, "rhs"),
    "missing colon": (_replace_line(GOOD, 17, "0 3 7 (-1) 1 (1) 4 (1)"), 17, "':'"),
    "odd pairs": (_replace_line(GOOD, 17, "0 3 : 7 (-1) 1 (1) 4"), 17, "pairs"),
    "cell twice in a relation": (_replace_line(GOOD, 18, "0 3 : 8 (-1) 2 (1) 2 (1)"), 18, "twice"),
    "truncated": ("\n".join(GOOD.splitlines()[:15]) + "\n", 15, "ends early"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_raises_with_line_number(tmp_path, case):
    text, lineno, fragment = BROKEN[case]
    p = _write(tmp_path, text, name="broken.jj")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonAdditiveWarning)
        with pytest.raises(JJFormatError) as exc:
            read_jj(p)
    msg = str(exc.value)
    assert f"line {lineno}" in msg, msg
    assert "broken.jj" in msg, msg
    assert fragment in msg, msg
    assert exc.value.lineno == lineno
    assert isinstance(exc.value, ValueError)


def test_line_numbers_count_blank_lines_and_crlf(tmp_path):
    text = _replace_line(GOOD, 5, "4 10 10 s 0 100 0 0 0")
    text = "\n\n" + text  # two leading blank lines shift everything by 2
    p = _write(tmp_path, text, newline="\r\n")
    with pytest.raises(JJFormatError, match="line 7"):
        read_jj(p)


def test_empty_file(tmp_path):
    with pytest.raises(JJFormatError, match="ends early"):
        read_jj(_write(tmp_path, "\n\n"))


# ---------------------------------------------------------------------------
# non-additive tables
# ---------------------------------------------------------------------------
def test_non_additive_warns_not_raises(tmp_path):
    text = _replace_line(GOOD, 3, "0 4 3 u 0 100 1 4 0")  # cell 0 now 4: rows 2=0+1 and 6=0+3 break
    with pytest.warns(NonAdditiveWarning) as rec:
        t = read_jj(_write(tmp_path, text))
    msg = str(rec[0].message)
    assert "2 of 6 relations" in msg and "1" in msg and "deviations" in msg
    assert t.values[0] == 4


def test_additive_does_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_jj(_write(tmp_path, GOOD))


def test_relative_tolerance_for_large_values():
    # residual 1e-4 on values around 1e12 is within 1e-9 * 1e12
    text = "0\n3\n0 1e12 1 s 0 1e13 0 0 0\n1 500000000000 1 s 0 1e13 0 0 0\n" \
           "2 500000000000.0001 1 s 0 1e13 0 0 0\n1\n0 3 : 0 (-1) 1 (1) 2 (1)\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_jj(io.StringIO(text))


# ---------------------------------------------------------------------------
# the real instances
# ---------------------------------------------------------------------------
# (cells, relations, sensitive, lb == ub, exact relations) from instances/README.md
README_COUNTS = {
    "TARGUS": (162, 63, 13, 47, 26),
    "TABLE1": (1584, 510, 146, 622, 229),
    "TABLE3": (4992, 2464, 517, 2595, 2356),
    "TABLE6": (1584, 510, 146, 622, 229),
    "TABLE7": (624, 230, 17, 140, 192),
    "TABLE8": (1271, 72, 3, 0, 72),
    "HIER13": (2020, 3313, 112, 0, 3313),
    "HIER16": (3564, 5484, 224, 0, 5484),
    "HIER133A": (2197, 3549, 108, 177, 3549),
    "HIER133D": (2197, 3549, 108, 177, 3549),
    "HIER133E": (2197, 3549, 112, 177, 3549),
    "HIER163A": (4096, 5376, 224, 532, 5376),
    "HIER163D": (4096, 5376, 224, 532, 5376),
    "HIE1372D": (637, 525, 50, 118, 525),
    "HIE1327D": (1183, 1443, 75, 143, 1443),
    "TOYSARAH": (2890, 1649, 376, 2163, 1259),
    "JJTABEL3": (3025, 1650, 1054, 1012, 1303),
    "TWO5IN6": (5681, 9629, 720, 0, 9629),
    "NINENEW": (6546, 7340, 858, 0, 7340),
    "NINE12": (10399, 11362, 1178, 0, 11362),
    "NINE5D": (10733, 17295, 1661, 0, 17295),
    "OSORIO": (10201, 202, 7, 201, 202),
    "CBS": (11163, 244, 2467, 8212, 244),
    "DALE": (16514, 405, 4923, 1583, 405),
}


def _instances() -> Path:
    if not INSTANCES.is_dir() or not any(INSTANCES.glob("*.jj")):
        pytest.skip(f"no JJ benchmark instances at {INSTANCES}: optional data outside the repository "
                    "(set CELLSUPPRESS_INSTANCES to their directory); tests/data/TARGUS.jj is always tested")
    return INSTANCES


def _read_quiet(path: Path) -> LinearTable:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonAdditiveWarning)
        return read_jj(path)


def _n_exact(t: LinearTable) -> int:
    res = np.abs(t.M @ t.values - t.rhs)
    A = abs(t.M).multiply(np.abs(t.values)[None, :]).tocsr()
    scale = np.maximum(A.max(axis=1).toarray().ravel(), 1.0)
    return int((res <= 1e-9 * scale).sum())


def test_targus():
    with pytest.warns(NonAdditiveWarning, match="37 of 63"):
        t = read_jj(DATA / "TARGUS.jj")
    assert t.n_cells == 162
    assert t.n_equations == 63
    assert int((t.status == "u").sum()) == 13
    assert t.hidden is None
    assert t.values[0] == 8423670 and t.cost[0] == 8423649
    # every relation: one total with -1, the rest +1
    assert (np.asarray((t.M == -1).sum(axis=1)).ravel() == 1).all()


@pytest.mark.parametrize("name", ["TABLE1", "HIER13", "OSORIO", "CBS", "DALE"])
def test_instance_counts_against_readme(name):
    d = _instances()
    t = _read_quiet(d / f"{name}.jj")
    cells, rels, sens, fixed, exact = README_COUNTS[name]
    assert (t.n_cells, t.n_equations) == (cells, rels)
    assert int((t.status == "u").sum()) == sens
    assert int((t.lb == t.ub).sum()) == fixed
    assert _n_exact(t) == exact
    assert (t.lb <= t.values).all() and (t.values <= t.ub).all()


def test_all_instances_read_quickly_and_match_readme():
    d = _instances()
    files = sorted(d.glob("*.jj"))
    assert {f.stem for f in files} == set(README_COUNTS)
    t0 = time.perf_counter()
    tables = {f.stem: _read_quiet(f) for f in files}
    elapsed = time.perf_counter() - t0
    for name, t in tables.items():
        cells, rels, sens, fixed, exact = README_COUNTS[name]
        assert (t.n_cells, t.n_equations) == (cells, rels), name
        assert int((t.status == "u").sum()) == sens, name
        assert int((t.lb == t.ub).sum()) == fixed, name
        assert _n_exact(t) == exact, name
    # informational, not a strict timing assertion (shared CI machines vary)
    print(f"read {len(files)} JJ instances in {elapsed:.2f} s")
    assert elapsed < 60


def test_instances_round_trip_byte_identical(tmp_path):
    d = _instances()
    for name in ("TARGUS", "TOYSARAH", "DALE"):
        src = d / f"{name}.jj"
        t = _read_quiet(src)
        out = tmp_path / f"{name}.jj"
        write_jj(t, out)
        assert out.read_bytes() == src.read_bytes(), name
        _assert_same(t, _read_quiet(out))


def test_osorio_is_proven_optimal_by_an_integral_root_point():
    """OSORIO (10,201 cells, 7 sensitive, the file's levels and costs): the LP points of the
    master's root are integral round after round, and one passes every attacker LP; it is the
    optimum, proven before any heuristic or MILP round (the master's first solve is the only
    MILP), and it passes an independent audit."""
    t = _read_quiet(_instances() / "OSORIO.jj")
    res = protect(t, time_limit=60)
    assert res.optimal and res.gap == 0 and res.cost == res.lower_bound
    assert res.stats["mip_solves"] == 1 and res.stats["root_rounds"] >= 1
    assert res.audit.ok and audit(t, hidden=res.hidden).ok
