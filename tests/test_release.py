"""The published table (counts and percentages) and the views of a result (HTML page, PNG picture).

The rule under test: a percentage is published exactly where its count and its denominator are
both published, and then equals count / denominator * 100 rounded half up. Denominators are found
here from the codes (the cell with the chosen dimensions at their root), not with the library's
index arithmetic.
"""
from __future__ import annotations

import itertools
import math
import shutil
import subprocess
import tempfile
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellsuppress import Hierarchy, Table, audit, protect
from cellsuppress.cli import main
from cellsuppress.errors import CellSuppressError

DATA = Path(__file__).resolve().parents[1] / "data" / "synthetic"
MARKER = "*"


# -- tables --------------------------------------------------------------------------------------
def table_of(hierarchies: list[Hierarchy], counts, names=None) -> Table:
    names = names or [f"d{j}" for j in range(len(hierarchies))]
    df = pd.DataFrame(list(itertools.product(*[h.leaves for h in hierarchies])), columns=names)
    df["n"] = list(counts)
    return Table.from_frame(df, dims=names, count="n", hierarchies=dict(zip(names, hierarchies)))


@st.composite
def hierarchies(draw, flat_only=False):
    """A flat dimension, or (unless flat_only) a two-level one: root > groups > leaves."""
    k = draw(st.integers(1, 3))
    name = draw(st.sampled_from("abcxyz"))
    if flat_only or draw(st.booleans()):
        return Hierarchy.flat([f"{name}{i}" for i in range(k)])
    sizes = draw(st.lists(st.integers(1, 3), min_size=k, max_size=k))
    return Hierarchy.from_mapping({"T": [f"g{i}" for i in range(k)],
                                   **{f"g{i}": [f"g{i}{name}{j}" for j in range(s)] for i, s in enumerate(sizes)}})


@st.composite
def released_tables(draw, max_dims=2, flat_only=False):
    """A table of 1..max_dims dimensions with many zeros and small counts, and a random pattern."""
    n_dims = draw(st.integers(1, max_dims))
    hs = [draw(hierarchies(flat_only)) for _ in range(n_dims)]
    n_leaves = int(np.prod([len(h.leaves) for h in hs]))
    counts = draw(st.lists(st.one_of(st.just(0), st.integers(0, 40)), min_size=n_leaves, max_size=n_leaves))
    t = table_of(hs, counts)
    hidden = np.array(draw(st.lists(st.booleans(), min_size=t.n_cells, max_size=t.n_cells)))
    return t, hidden


def denominator_by_codes(t: Table, over: list[str]) -> np.ndarray:
    """Per cell, the number of the cell with the same codes except those of ``over`` at their root."""
    codes = t.frame[t.dims].astype(str)
    where = {tuple(r): i for i, r in enumerate(codes.itertuples(index=False))}
    roots = {d: h.root for d, h in zip(t.dims, t.hierarchies)}
    return np.array([where[tuple(roots[d] if d in over else c for d, c in zip(t.dims, row))]
                     for row in codes.itertuples(index=False)])


def percent_dims(t: Table, percent) -> list[str]:
    if percent == "row":
        return [t.dims[-1]]
    if percent == "column":
        return [t.dims[0]]
    if percent == "total":
        return list(t.dims)
    return [percent] if isinstance(percent, str) else list(percent)


def half_up(count: float, den: float, decimals: int) -> float:
    q = Fraction(int(count) * 100 * 10 ** decimals, int(den))
    return math.floor(q + Fraction(1, 2)) / 10 ** decimals


def check_rule(t: Table, hidden: np.ndarray, pub: pd.DataFrame, percent, decimals: int) -> None:
    """The published frame against the rule, cell by cell."""
    den = denominator_by_codes(t, percent_dims(t, percent))
    assert list(pub.columns) == list(t.dims) + ["n", "percent"]
    assert (pub[t.dims].to_numpy() == t.frame[t.dims].astype(str).to_numpy()).all()
    for i in range(t.n_cells):
        count, pct = pub["n"].iloc[i], pub["percent"].iloc[i]
        if hidden[i]:
            assert count == MARKER
        else:
            assert count == int(t.values[i]) and not isinstance(count, str)
        if hidden[i] or hidden[den[i]]:
            assert pct == MARKER, (i, den[i])
        elif t.values[den[i]] == 0:
            assert isinstance(pct, float) and math.isnan(pct)
        else:
            assert pct == half_up(t.values[i], t.values[den[i]], decimals), (i, pct)


def test_half_up_rounding_of_ties():
    assert half_up(1, 8, 0) == 13 and half_up(1, 8, 1) == 12.5 and half_up(1, 3, 1) == 33.3


# -- percentages -------------------------------------------------------------------------------
@settings(max_examples=120, deadline=None)
@given(released_tables(max_dims=2), st.sampled_from(["row", "column", "total"]), st.integers(0, 2))
def test_percentages_follow_the_rule_on_two_way_and_hierarchical_tables(case, percent, decimals):
    from cellsuppress.release import published

    t, hidden = case
    pub = published(t, hidden, marker=MARKER, count="n", percent=percent, decimals=decimals)
    check_rule(t, hidden, pub, percent, decimals)


@settings(max_examples=40, deadline=None)
@given(released_tables(max_dims=3), st.data())
def test_percentages_over_named_dimensions_of_n_way_tables(case, data):
    from cellsuppress.release import published

    t, hidden = case
    over = data.draw(st.lists(st.sampled_from(t.dims), min_size=1, max_size=len(t.dims), unique=True))
    pub = published(t, hidden, marker=MARKER, count="n", percent=over, decimals=1)
    check_rule(t, hidden, pub, over, 1)


@settings(max_examples=15, deadline=None)
@given(released_tables(max_dims=2), st.sampled_from(["row", "column", "total"]))
def test_percentages_of_protected_tables_follow_the_rule_and_the_counts_pass_the_audit(case, percent):
    t, _ = case
    res = protect(t, method="fast")
    pub = res.published(count="n", percent=percent, marker=MARKER)
    check_rule(t, res.hidden, pub, percent, 1)
    # the markers are exactly the audited pattern
    assert (pub["n"].eq(MARKER).to_numpy() == res.hidden).all()
    assert audit(t, hidden=pub["n"].eq(MARKER).to_numpy()).ok


def two_way_result():
    df = pd.read_csv(DATA / "two_way.csv", dtype={"region": str, "age": str})
    t = Table.from_frame(df, dims=["region", "age"], count="n")
    return t, protect(t)


def test_two_way_example_percentages():
    t, res = two_way_result()
    pub = res.published(count="n", percent="column").set_index(["region", "age"])
    # North 0-17: 112 of the 0-17 column's 474 (both published)
    assert pub.loc[("North", "0-17"), "n"] == 112
    assert pub.loc[("North", "0-17"), "percent"] == 23.6
    assert pub.loc[("Total", "0-17"), "percent"] == 100.0
    # Islands 80+ has 5 participants: hidden, and so is its percentage
    assert pub.loc[("Islands", "80+"), "n"] == "*" and pub.loc[("Islands", "80+"), "percent"] == "*"
    # without percent: the table as the CLI's --published always wrote it
    plain = res.published(count="n")
    assert list(plain.columns) == ["region", "age", "n"]
    assert (plain["n"].eq("*") == res.hidden).all()


def test_percent_errors_name_the_problem():
    from cellsuppress.release import published

    t, res = two_way_result()
    with pytest.raises(CellSuppressError, match="'sex'.*region, age"):
        res.published(percent="sex")
    with pytest.raises(CellSuppressError, match="percent must be one of"):
        res.published(percent=3)
    with pytest.raises(CellSuppressError, match="decimals"):
        res.published(percent="row", decimals=-1)
    with pytest.raises(CellSuppressError, match="also a dimension"):
        res.published(count="age")
    hs = [Hierarchy.flat(["a", "b"]), Hierarchy.flat(["x", "y"])]
    odd = table_of(hs, [1, 2, 3, 4], names=["row", "col"])
    with pytest.raises(CellSuppressError, match="ambiguous.*\\['row'\\]"):
        published(odd, np.zeros(odd.n_cells, bool), percent="row")
    pub = published(odd, np.zeros(odd.n_cells, bool), percent=["row"])  # the dimension, spelled as a list
    assert pub["percent"].iloc[0] == 100.0
    with pytest.raises(CellSuppressError, match="one entry per cell"):
        published(odd, np.zeros(3, bool))


def test_percent_needs_dimensions():
    from cellsuppress.release import published
    from cellsuppress.tables.linear import LinearTable
    import scipy.sparse as sp

    lt = LinearTable(values=np.array([8.0, 3.0, 5.0]), M=sp.csr_matrix([[-1.0, 1, 1]]))
    pub = published(lt, np.array([False, True, True]))
    assert pub["value"].tolist() == [8, "*", "*"]
    with pytest.raises(CellSuppressError, match="dimensions"):
        published(lt, np.array([False, True, True]), percent="total")


# -- the HTML page ---------------------------------------------------------------------------------
class CellReader(HTMLParser):
    """The page's table cells (``td`` with ``data-cell``): number, status, classes, title, text."""

    def __init__(self):
        super().__init__()
        self.cells, self.tags, self._open = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        a = dict(attrs)
        if tag == "td" and "data-cell" in a:
            self._open = {"cell": int(a["data-cell"]), "status": a.get("data-status"),
                          "classes": set((a.get("class") or "").split()), "title": a.get("title", ""), "text": ""}

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._open is not None:
            self.cells.append(self._open)
            self._open = None


def read_cells(html: str) -> CellReader:
    r = CellReader()
    r.feed(html)
    return r


def check_page(html: str, res, table) -> CellReader:
    r = read_cells(html)
    numbers = [c["cell"] for c in r.cells]
    assert sorted(numbers) == list(range(table.n_cells))  # every cell, once
    status = res.frame["status"].to_numpy()
    for c in r.cells:
        i = c["cell"]
        assert c["status"] == status[i]
        marked = {"primary", "secondary"} & c["classes"]
        assert marked == ({status[i]} if res.hidden[i] else set()), c
        assert c["text"].rstrip("PS") == f"{int(table.values[i])}"
    return r


def self_contained(html: str, reader: CellReader) -> None:
    for tag, attrs in reader.tags:
        assert tag not in ("script", "link", "img", "iframe", "object"), tag
        assert not any(k in ("src", "href") for k in attrs), (tag, attrs)
    assert "url(" not in html and "@import" not in html and "http" not in html


def test_html_two_way_shows_every_cell_and_marks_exactly_the_hidden_ones(tmp_path):
    t, res = two_way_result()
    path = tmp_path / "view.html"
    html = res.to_html(path)
    assert path.read_text(encoding="utf-8") == html
    r = check_page(html, res, t)
    self_contained(html, r)
    assert "SAFE" in html and f"cost {res.cost:g}" in html and "method optimal" in html
    # hover: every hidden cell's interval, as the audit gives it for that pattern
    full = audit(t, hidden=res.hidden)
    lo = pd.Series(full.lo)
    hi = pd.Series(full.hi)
    for c in r.cells:
        i = c["cell"]
        if res.hidden[i]:
            assert f"[{lo[i]:g}, {hi[i]:g}]" in c["title"], c
        else:
            assert c["title"] == "published"
    # totals are set apart: the cells of the Total row and column, and only those
    total = (res.frame["region"] == "Total") | (res.frame["age"] == "Total")
    for c in r.cells:
        assert ("margin" in c["classes"]) == bool(total.iloc[c["cell"]])


def test_html_without_hidden_values_shows_the_marker():
    t, res = two_way_result()
    r = read_cells(res.to_html(show_hidden=False, marker="x"))
    for c in r.cells:
        if res.hidden[c["cell"]]:
            assert c["text"].rstrip("PS") == "x" and "value" not in c["title"]


def three_way_result():
    df = pd.read_csv(DATA / "three_way.csv", dtype=str)
    t = Table.from_frame(df, dims=["region", "sex", "age"], count="n")
    return t, protect(t, method="fast")


def test_html_slices_a_three_way_table():
    t, res = three_way_result()
    for slice_by, n_tables in ((None, 5), ("sex", 4), (["region"], 5)):
        html = res.to_html(slice_by=slice_by, intervals=False)
        check_page(html, res, t)
        assert html.count("<table") == n_tables
    assert "<h2>sex = Total</h2>" in res.to_html(slice_by="sex", intervals=False)
    with pytest.raises(CellSuppressError, match="leaves 3"):
        res.to_html(slice_by=[])
    with pytest.raises(CellSuppressError, match="'county' is not a dimension"):
        res.to_html(slice_by="county")


def test_html_of_a_hierarchical_table():
    df = pd.read_csv(DATA / "geo.csv", dtype=str)
    t = Table.from_frame(df, dims=["county", "sex"], count="n",
                         hierarchies={"county": DATA / "geo_hierarchy.csv"})
    res = protect(t, method="fast")
    r = check_page(res.to_html(), res, t)
    h = t.hierarchies[0]
    subtotal = set(np.flatnonzero(~h.is_leaf))
    county = pd.Series(pd.Categorical(res.frame["county"], categories=h.codes).codes)
    for c in r.cells:
        expect = county.iloc[c["cell"]] in subtotal or res.frame["sex"].iloc[c["cell"]] == "Total"
        assert ("margin" in c["classes"]) == expect


def test_a_result_without_its_table_says_so():
    import dataclasses

    _, res = two_way_result()
    bare = dataclasses.replace(res, table=None)
    with pytest.raises(CellSuppressError, match="no table"):
        bare.to_html()
    with pytest.raises(CellSuppressError, match="no table"):
        bare.published()


# -- in a real browser -------------------------------------------------------------------------------
def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def run_browser(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_browser() is None, reason="no Chromium on this machine (apt-get install chromium)")
def test_page_in_a_headless_browser(tmp_path):
    t, res = two_way_result()
    page = tmp_path / "view.html"
    res.to_html(page)
    done = run_browser("--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<h1>Protected table</h1>" in dom and 'id="verdict"' in dom  # the page loaded
    check_page(dom, res, t)  # as the browser parsed it: every cell, exactly the hidden ones marked
    shot = tmp_path / "view.png"
    done = run_browser(f"--screenshot={shot}", "--window-size=800,650", page.as_uri())
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- PNG -------------------------------------------------------------------------------------------
def test_png_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    _, res = three_way_result()
    out = res.to_png(tmp_path / "view.png", slice_by="sex", dpi=60)
    img = imread(out)
    assert img.ndim == 3 and img.shape[0] > img.shape[1] > 100  # four slices stacked: tall


def test_png_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    import sys

    _, res = two_way_result()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    with pytest.raises(CellSuppressError, match=r"cellsuppress\[view\]"):
        res.to_png(tmp_path / "view.png")


# -- command line ------------------------------------------------------------------------------------
TWO_WAY = ["--dims", "region,age", "--count", "n"]


def test_cli_percent_and_html(capsys, tmp_path):
    out, pub, page = tmp_path / "o.csv", tmp_path / "p.csv", tmp_path / "v.html"
    code = main([str(a) for a in ("protect", DATA / "two_way.csv", *TWO_WAY, "-o", out, "--published", pub,
                                  "--percent", "row", "--decimals", "0", "--html", page, "--quiet")])
    capsys.readouterr()
    assert code == 0
    cells = pd.read_csv(out, dtype={"region": str, "age": str})
    shown = pd.read_csv(pub, dtype=str, keep_default_na=False)
    assert list(shown.columns) == ["region", "age", "n", "percent"]
    df = pd.read_csv(DATA / "two_way.csv", dtype={"region": str, "age": str})
    t = Table.from_frame(df, dims=["region", "age"], count="n")
    hidden = cells["hidden"].to_numpy()
    den = denominator_by_codes(t, ["age"])
    for i in range(t.n_cells):
        if hidden[i] or hidden[den[i]]:
            assert shown["percent"].iloc[i] == "*"
        else:
            assert int(shown["percent"].iloc[i]) == half_up(t.values[i], t.values[den[i]], 0)
    r = read_cells(page.read_text(encoding="utf-8"))
    assert sorted(c["cell"] for c in r.cells if c["status"] != "published") == list(np.flatnonzero(hidden))


@pytest.mark.parametrize("args, message", [
    (["--percent", "row"], "--percent adds a column to --published"),
    (["--published", "P", "--percent", "sex"], "'sex' is neither"),
    (["--published", "P", "--percent", "row", "--decimals", "-1"], "--decimals"),
    (["--html", "H", "--slice-by", "region,age"], "leaves 0"),
    (["--slice-by", "age"], "--slice-by lays out the --html page"),
])
def test_cli_bad_view_options_fail_before_the_solve(capsys, tmp_path, args, message):
    args = [str(tmp_path / a) if a in ("P", "H") else a for a in args]
    code = main(["protect", str(DATA / "two_way.csv"), *TWO_WAY, "-o", str(tmp_path / "o.csv"), *args])
    _, err = capsys.readouterr()
    assert code == 2 and message in err, err
    assert not (tmp_path / "o.csv").exists()
