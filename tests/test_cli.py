"""The command line, run in-process: exit codes, messages and the files it writes."""
import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellsuppress.cli import main, parse_levels
from cellsuppress.io.jj import read_jj

DATA = Path(__file__).resolve().parents[1] / "data" / "synthetic"
HAS_PROTECT = importlib.util.find_spec("cellsuppress.protect") is not None
needs_protect = pytest.mark.skipif(not HAS_PROTECT, reason="cellsuppress.protect is not there yet")

TWO_WAY = ["--dims", "region,age", "--count", "n"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- audit ------------------------------------------------------------------
def test_audit_published_unsafe_exits_1(capsys, tmp_path):
    report = tmp_path / "report.csv"
    code, out, err = run(capsys, "audit", DATA / "published_unsafe.csv", *TWO_WAY, "-o", report, "--quiet")
    assert code == 1
    assert "NOT SAFE" in out
    assert "exactly disclosed" in out
    rep = pd.read_csv(report)
    row = rep[(rep.region == "South") & (rep.age == "40-64")].iloc[0]
    assert row["lo"] == row["hi"] == 7
    assert "multi-cell" in out and "sum to 15" in out


@pytest.mark.parametrize("preset", ["strict", "policy", "exact"])
def test_audit_published_unsafe_under_every_preset(capsys, preset):
    code, out, _ = run(capsys, "audit", DATA / "published_unsafe.csv", *TWO_WAY, "--preset", preset, "--quiet")
    assert code == 1, out


def _write_safe_published(path: Path) -> None:
    # 2 x 2 interior all hidden: a in [0, 35], d in [35, 70]
    rows = [("Total", "Total", 105), ("Total", "x", 35), ("Total", "y", 70),
            ("a", "Total", 35), ("a", "x", "*"), ("a", "y", "*"),
            ("b", "Total", 70), ("b", "x", "*"), ("b", "y", "*")]
    pd.DataFrame(rows, columns=["r", "c", "n"]).to_csv(path, index=False)


def test_audit_safe_published_exits_0(capsys, tmp_path):
    f = tmp_path / "pub.csv"
    _write_safe_published(f)
    code, out, err = run(capsys, "audit", f, "--dims", "r,c", "--count", "n", "--quiet")
    assert code == 0, out + err
    assert "SAFE" in out and "NOT SAFE" not in out


def test_audit_custom_markers(capsys, tmp_path):
    f = tmp_path / "pub.csv"
    _write_safe_published(f)
    f.write_text(f.read_text().replace("*", "x"))
    code, out, _ = run(capsys, "audit", f, "--dims", "r,c", "--count", "n", "--markers", "x", "--quiet")
    assert code == 0
    # with only '*' as a marker, 'x' is neither a number nor a marker
    code, _, err = run(capsys, "audit", f, "--dims", "r,c", "--count", "n", "--markers", "*", "--quiet")
    assert code == 2
    assert "neither a number nor a suppression marker" in one_line_error(err)


def test_audit_hidden_column(capsys, tmp_path):
    df = pd.read_csv(DATA / "two_way.csv")
    small = df["n"].between(1, 20)
    df["hidden"] = small  # primaries alone: every one is exactly disclosed by its margins
    f = tmp_path / "t.csv"
    df.to_csv(f, index=False)
    code, out, _ = run(capsys, "audit", f, *TWO_WAY, "--hidden-column", "hidden", "--quiet")
    assert code == 1
    assert "unprotected: 6" in out
    code, _, err = run(capsys, "audit", f, *TWO_WAY, "--hidden-column", "nope", "--quiet")
    assert code == 2
    assert "nope" in one_line_error(err)


def test_codes_stay_strings(capsys, tmp_path):
    # codes like '01' must not become 1
    rows = [("Total", "Total", 105), ("Total", "01", 35), ("Total", "02", 70),
            ("a", "Total", 35), ("a", "01", "*"), ("a", "02", "*"),
            ("b", "Total", 70), ("b", "01", "*"), ("b", "02", "*")]
    f = tmp_path / "pub.csv"
    pd.DataFrame(rows, columns=["r", "c", "n"]).to_csv(f, index=False)
    report = tmp_path / "rep.csv"
    code, _, err = run(capsys, "audit", f, "--dims", "r,c", "--count", "n", "-o", report, "--quiet")
    assert code == 0, err
    assert set(pd.read_csv(report, dtype=str)["c"]) == {"01", "02"}


# -- bad input --------------------------------------------------------------
def test_negative_count_exits_2(capsys, tmp_path):
    f = tmp_path / "neg.csv"
    f.write_text("region,age,n\nA,x,5\nA,y,-3\nB,x,40\nB,y,30\n")
    code, _, err = run(capsys, "audit", f, *TWO_WAY, "--hidden-column", "n", "--quiet")
    assert code == 2
    assert "negative" in one_line_error(err)
    code, _, err = run(capsys, "convert", f, *TWO_WAY, "-o", tmp_path / "x.jj")
    assert code == 2
    assert "negative" in one_line_error(err)


def test_missing_column_exits_2(capsys):
    code, _, err = run(capsys, "audit", DATA / "published_unsafe.csv", "--dims", "region,agegroup",
                       "--count", "n")
    assert code == 2
    assert "agegroup" in one_line_error(err)


def test_file_not_found_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "audit", tmp_path / "nope.csv", *TWO_WAY)
    assert code == 2
    assert "nope.csv" in one_line_error(err)
    code, _, err = run(capsys, "audit", tmp_path / "nope.jj")
    assert code == 2
    assert "nope.jj" in one_line_error(err)
    code, _, err = run(capsys, "convert", DATA / "geo.csv", "--dims", "county,sex", "--count", "n",
                       "--hierarchy", f"county={tmp_path / 'nohier.csv'}", "-o", tmp_path / "g.jj")
    assert code == 2
    assert "nohier.csv" in one_line_error(err)


def test_hierarchy_missing_a_code_exits_2(capsys, tmp_path):
    h = tmp_path / "h.csv"
    h.write_text("parent,child\nTotal,Avon\nTotal,Brenn\nTotal,Carrow\nAvon,Avon Vale\nAvon,Bramley\n"
                 "Avon,Cotes\nBrenn,Dunmore\nBrenn,Elsby\nBrenn,Fairholt\nCarrow,Hartfield\nCarrow,Ivybridge\n")
    code, _, err = run(capsys, "convert", DATA / "geo.csv", "--dims", "county,sex", "--count", "n",
                       "--hierarchy", f"county={h}", "-o", tmp_path / "g.jj")
    assert code == 2
    line = one_line_error(err)
    assert "Glenrock" in line and "hierarchy" in line


def test_bad_arguments_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "audit")  # no INPUT
    assert code == 2
    one_line_error(err)
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    one_line_error(err)
    code, _, err = run(capsys, "audit", DATA / "published_unsafe.csv", *TWO_WAY, "--threshold", "abc")
    assert code == 2
    one_line_error(err)
    code, _, err = run(capsys, "audit", DATA / "published_unsafe.csv", "--count", "n")  # no --dims
    assert code == 2
    assert "--dims" in one_line_error(err)
    code, _, err = run(capsys, "audit", DATA / "published_unsafe.csv", *TWO_WAY, "--hierarchy", "age")
    assert code == 2
    assert "DIM=FILE" in one_line_error(err)


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "audit" in out and "protect" in out


# -- convert ----------------------------------------------------------------
def test_convert_csv_to_jj_and_back(capsys, tmp_path):
    jj = tmp_path / "two_way.jj"
    code, out, err = run(capsys, "convert", DATA / "two_way.csv", *TWO_WAY, "-o", jj)
    assert code == 0, err
    t = read_jj(jj)
    df = pd.read_csv(DATA / "two_way.csv")
    assert t.n_cells == 7 * 6
    assert t.values.max() == df["n"].sum()  # the grand total
    assert np.allclose(t.M @ t.values, 0)
    sens = df["n"].between(1, 20).sum()
    assert (t.status == "u").sum() == sens
    u = t.status == "u"
    assert np.allclose(t.lpl[u], t.values[u]) and np.allclose(t.upl[u], 21 - t.values[u])

    cells = tmp_path / "cells.csv"
    code, _, err = run(capsys, "convert", jj, "-o", cells)
    assert code == 0, err
    c = pd.read_csv(cells)
    assert list(c.columns) == ["index", "value", "cost", "status", "lb", "ub", "lpl", "upl", "spl"]
    assert len(c) == t.n_cells
    assert np.allclose(c["value"], t.values)
    assert (c["status"] == "u").sum() == sens


def test_convert_hierarchical(capsys, tmp_path):
    jj = tmp_path / "geo.jj"
    code, _, err = run(capsys, "convert", DATA / "geo.csv", "--dims", "county,sex", "--count", "n",
                       "--hierarchy", f"county={DATA / 'geo_hierarchy.csv'}", "-o", jj)
    assert code == 0, err
    t = read_jj(jj)
    assert t.n_cells == 13 * 3  # Total + 3 states + 9 counties, x (Total, F, M)
    assert np.allclose(t.M @ t.values, 0)


# -- JJ audit -----------------------------------------------------------------
def test_jj_audit_with_hidden_file(capsys, tmp_path):
    jj = tmp_path / "t.jj"
    # total = a + b + c; a is unsafe (3) with UPL 18 and LPL 3
    jj.write_text("0\n4\n0 60 60 s 0 1000 0 0 0\n1 3 3 u 0 1000 3 18 0\n2 25 25 s 0 1000 0 0 0\n"
                  "3 32 32 s 0 1000 0 0 0\n1\n0 4 : 0 (-1) 1 (1) 2 (1) 3 (1)\n")
    hid = tmp_path / "hidden.txt"
    hid.write_text("1\n2\n")
    code, out, err = run(capsys, "audit", jj, "--hidden", hid, "--quiet")
    assert code == 0, out + err  # a in [0, 28]: custom levels need [0, 21]
    assert "custom" in out
    hid.write_text("1\n")
    code, out, _ = run(capsys, "audit", jj, "--hidden", hid, "--quiet")
    assert code == 1
    assert "exactly disclosed" in out
    hid.write_text("1\n7\n")
    code, _, err = run(capsys, "audit", jj, "--hidden", hid, "--quiet")
    assert code == 2
    assert "outside 0..3" in one_line_error(err)
    # no --hidden and no status m: nothing says which cells are hidden
    code, _, err = run(capsys, "audit", jj, "--quiet")
    assert code == 2
    one_line_error(err)
    # status m marks hidden cells when --hidden is absent
    jj.write_text(jj.read_text().replace("2 25 25 s", "2 25 25 m"))
    code, out, _ = run(capsys, "audit", jj, "--quiet")
    assert code == 1  # cell 1 (u) is published, cell 2 alone is disclosed


def test_jj_format_error_exits_2(capsys, tmp_path):
    jj = tmp_path / "bad.jj"
    jj.write_text("0\n2\n0 5 5 s 0 100 0 0 0\n1 5 5 q 0 100 0 0 0\n0\n")
    code, _, err = run(capsys, "audit", jj, "--quiet")
    assert code == 2
    assert "line 4" in one_line_error(err)


# -- synth ------------------------------------------------------------------
def test_synth_writes_files(capsys, tmp_path):
    code, out, err = run(capsys, "synth", "--levels", "3x2,4", "--names", "area,age", "--seed", "5",
                         "-o", tmp_path, "--name", "s")
    assert code == 0, err
    data = pd.read_csv(tmp_path / "s.csv", dtype={"area": str, "age": str})
    assert list(data.columns) == ["area", "age", "n"]
    assert len(data) == 6 * 4
    h = pd.read_csv(tmp_path / "s_area_hierarchy.csv", dtype=str)
    assert set(h.columns) == {"parent", "child"}
    assert set(data["area"]) <= set(h["child"])
    # the written files are valid input for the other commands
    code, _, err = run(capsys, "convert", tmp_path / "s.csv", "--dims", "area,age", "--count", "n",
                       "--hierarchy", f"area={tmp_path / 's_area_hierarchy.csv'}", "-o", tmp_path / "s.jj")
    assert code == 0, err
    # same seed, same table
    run(capsys, "synth", "--levels", "3x2,4", "--names", "area,age", "--seed", "5", "-o", tmp_path, "--name", "t")
    assert (tmp_path / "s.csv").read_text() == (tmp_path / "t.csv").read_text()


def test_synth_dims_and_levels(capsys, tmp_path):
    code, _, _ = run(capsys, "synth", "--dims", "3", "--levels", "4", "-o", tmp_path, "--name", "c")
    assert code == 0
    assert len(pd.read_csv(tmp_path / "c.csv")) == 64
    code, _, err = run(capsys, "synth", "--dims", "3", "--levels", "4,5", "-o", tmp_path, "--name", "d")
    assert code == 2
    one_line_error(err)
    code, _, err = run(capsys, "synth", "--levels", "4,5", "--zero-share", "2", "-o", tmp_path, "--name", "d")
    assert code == 2
    assert "zero_share" in one_line_error(err)


def test_parse_levels():
    assert parse_levels("10,10,10", None) == (3, ((10,), (10,), (10,)))
    assert parse_levels("5x4,10", None) == (2, ((5, 4), (10,)))
    assert parse_levels("6", 3) == (3, ((6,), (6,), (6,)))


# -- protect ----------------------------------------------------------------
@needs_protect
def test_protect_two_way(capsys, tmp_path):
    out_csv = tmp_path / "protected.csv"
    pub_csv = tmp_path / "published.csv"
    code, out, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "-o", out_csv,
                         "--published", pub_csv, "--quiet")
    assert code == 0, out + err
    assert "SAFE" in out and "NOT SAFE" not in out
    assert err == ""  # --quiet

    prot = pd.read_csv(out_csv, dtype={"region": str, "age": str})
    assert list(prot.columns[:5]) == ["region", "age", "value", "status", "hidden"]
    assert len(prot) == 7 * 6  # every cell, margins included
    assert set(prot["status"]) <= {"primary", "secondary", "published"}
    data = pd.read_csv(DATA / "two_way.csv")
    merged = data.merge(prot, on=["region", "age"])
    assert len(merged) == len(data) and (merged["n"] == merged["value"]).all()
    small = merged["n"].between(1, 20)
    assert (merged.loc[small, "status"] == "primary").all()
    assert (merged.loc[~small, "status"] != "primary").all()
    assert (prot["hidden"] == (prot["status"] != "published")).all()

    pub = pd.read_csv(pub_csv, dtype=str, keep_default_na=False)
    assert list(pub.columns) == ["region", "age", "n"]
    both = pub.merge(prot.astype({"value": str}), on=["region", "age"])
    assert len(both) == len(prot)
    hidden = both["status"] != "published"
    assert (both.loc[hidden, "n"] == "*").all()
    assert (both.loc[~hidden, "n"] == both.loc[~hidden, "value"]).all()

    # the published table passes the audit without knowing the hidden values
    code, out, err = run(capsys, "audit", pub_csv, *TWO_WAY, "--quiet")
    assert code == 0, out + err
    # and the protected table passes it with them
    code, out, err = run(capsys, "audit", out_csv, "--dims", "region,age", "--count", "value",
                         "--hidden-column", "hidden", "--quiet")
    assert code == 0, out + err


@needs_protect
def test_protect_hierarchical_and_options(capsys, tmp_path):
    out_csv = tmp_path / "geo_protected.csv"
    hier = f"county={DATA / 'geo_hierarchy.csv'}"
    code, out, err = run(capsys, "protect", DATA / "geo.csv", "--dims", "county,sex", "--count", "n",
                         "--hierarchy", hier, "--cost", "unity", "--method", "fast", "-o", out_csv, "--quiet")
    assert code == 0, out + err
    prot = pd.read_csv(out_csv)
    assert len(prot) == 13 * 3  # Total + 3 states + 9 counties, x (Total, F, M)
    code, out, err = run(capsys, "audit", out_csv, "--dims", "county,sex", "--count", "value",
                         "--hierarchy", hier, "--hidden-column", "hidden", "--quiet")
    assert code == 0, out + err


@needs_protect
def test_protect_hidden_nonzero(capsys, tmp_path):
    f = tmp_path / "z.csv"
    df = pd.read_csv(DATA / "two_way.csv")
    df.loc[(df.region == "West") & (df.age == "80+"), "n"] = 0
    df.to_csv(f, index=False)
    out_csv = tmp_path / "z_protected.csv"
    code, out, err = run(capsys, "protect", f, *TWO_WAY, "--hidden-nonzero", "-o", out_csv, "--quiet")
    assert code == 0, out + err
    prot = pd.read_csv(out_csv)
    assert not ((prot["value"] == 0) & prot["hidden"]).any()  # never hides a zero
    code, out, err = run(capsys, "audit", out_csv, "--dims", "region,age", "--count", "value",
                         "--hidden-column", "hidden", "--hidden-nonzero", "--quiet")
    assert code == 0, out + err


@needs_protect
def test_protect_jj_writes_indices(capsys, tmp_path):
    jj = tmp_path / "two_way.jj"
    assert run(capsys, "convert", DATA / "two_way.csv", *TWO_WAY, "-o", jj)[0] == 0
    hid = tmp_path / "hidden.txt"
    mps = tmp_path / "model.mps"
    code, out, err = run(capsys, "protect", jj, "-o", hid, "--export-model", mps, "--quiet")
    assert code == 0, out + err
    idx = [int(x) for x in hid.read_text().split()]
    assert idx == sorted(idx) and len(idx) > 0
    t = read_jj(jj)
    assert set(np.flatnonzero(t.status == "u")) <= set(idx)
    assert mps.exists() and mps.stat().st_size > 0
    code, out, err = run(capsys, "audit", jj, "--hidden", hid, "--quiet")
    assert code == 0, out + err


@needs_protect
def test_protect_bad_input_exits_2(capsys, tmp_path):
    f = tmp_path / "neg.csv"
    f.write_text("region,age,n\nA,x,5\nA,y,-3\nB,x,40\nB,y,30\n")
    code, _, err = run(capsys, "protect", f, *TWO_WAY, "-o", tmp_path / "o.csv")
    assert code == 2
    assert "negative" in one_line_error(err)
    code, _, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "--preset", "custom",
                       "-o", tmp_path / "o.csv")
    assert code == 2
    one_line_error(err)


# -- what a new user meets ------------------------------------------------------
def test_extra_columns_are_carried_to_the_output(capsys, tmp_path):
    f = tmp_path / "t.csv"
    pd.read_csv(DATA / "two_way.csv").assign(year=2020, note="survey").to_csv(f, index=False)
    out_csv = tmp_path / "o.csv"
    code, out, err = run(capsys, "protect", f, *TWO_WAY, "-o", out_csv, "--quiet")
    assert code == 0, out + err
    prot = pd.read_csv(out_csv, keep_default_na=False)
    assert list(prot.columns) == ["region", "age", "value", "status", "hidden", "year", "note"]
    margin = (prot["region"] == "Total") | (prot["age"] == "Total")
    assert (prot.loc[~margin, "year"].astype(str) == "2020").all()  # integers, not 2020.0
    assert (prot.loc[margin, "year"] == "").all() and (prot.loc[~margin, "note"] == "survey").all()
    # the output (whose status and hidden columns a re-run replaces) is valid input again
    code, out, err = run(capsys, "protect", out_csv, "--dims", "region,age", "--count", "value",
                         "-o", tmp_path / "o2.csv", "--quiet")
    assert code == 0, out + err
    assert pd.read_csv(tmp_path / "o2.csv").columns.tolist() == prot.columns.tolist()


@pytest.mark.parametrize("yes, no", [("yes", "no"), ("1", "0"), ("TRUE", "False")])
def test_hidden_column_spellings(capsys, tmp_path, yes, no):
    df = pd.read_csv(DATA / "two_way.csv").assign(year=2020)
    df["hidden"] = np.where(df["n"].between(1, 20), yes, no)
    f = tmp_path / "t.csv"
    df.to_csv(f, index=False)
    code, out, err = run(capsys, "audit", f, *TWO_WAY, "--hidden-column", "hidden", "--quiet")
    assert code == 1, out + err
    assert "unprotected: 6" in out


@pytest.mark.parametrize("option", [("--threshold", "-3"), ("--threshold", "0"), ("--threshold", "nan"),
                                    ("--time-limit", "-1"), ("--mip-gap", "-0.5")])
def test_nonsense_parameters_exit_2(capsys, tmp_path, option):
    out_csv = tmp_path / "o.csv"
    code, out, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, *option, "-o", out_csv, "--quiet")
    assert code == 2, out
    name = option[0].lstrip("-").replace("-", "_")
    assert f"{name} must be" in one_line_error(err)
    assert not out_csv.exists()
    if option[0] == "--threshold":
        code, out, err = run(capsys, "audit", DATA / "published_unsafe.csv", *TWO_WAY, *option, "--quiet")
        assert code == 2, out
        assert "threshold must be a number of at least 1" in one_line_error(err)


def test_an_internal_error_exits_3_not_1(capsys, tmp_path, monkeypatch):
    protect_module = importlib.import_module("cellsuppress.protect")  # the package exports a function of that name

    def broken(*args, **kwargs):
        raise TypeError("something the package did not expect")

    monkeypatch.setattr(protect_module, "protect", broken)
    code, _, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "-o", tmp_path / "o.csv")
    assert code == 3  # 1 would say "not safe"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error: TypeError: something")



def test_protect_interrupted_writes_the_audited_pattern(capsys, tmp_path, monkeypatch):
    """Ctrl-C once the optimal method has a protected pattern: the command writes that pattern
    and says it was interrupted; the pattern passes the audit."""
    optimal_module = importlib.import_module("cellsuppress.suppress.optimal")
    original = optimal_module.Root.run

    def interrupted(self, share, integral_only=False):
        if not integral_only:  # the root's rounds after the heuristic
            raise KeyboardInterrupt
        return original(self, share, integral_only)

    monkeypatch.setattr(optimal_module.Root, "run", interrupted)
    out_csv = tmp_path / "o.csv"
    code, out, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "-o", out_csv, "--quiet")
    assert code == 0, out + err
    assert "interrupted: returning the best audited pattern" in out
    code, out, err = run(capsys, "audit", out_csv, "--dims", "region,age", "--count", "value",
                         "--hidden-column", "hidden", "--quiet")
    assert code == 0, out + err


def test_a_header_only_csv_is_an_error(capsys, tmp_path):
    f = tmp_path / "header.csv"
    f.write_text("region,age,n\n")
    out_csv = tmp_path / "o.csv"
    code, _, err = run(capsys, "protect", f, *TWO_WAY, "-o", out_csv, "--quiet")
    assert code == 2
    assert one_line_error(err) == f"error: {f}: the table has no rows"
    assert not out_csv.exists()


def test_hierarchy_codes_without_data_warn_on_one_line(capsys, tmp_path):
    f = tmp_path / "geo.csv"
    df = pd.read_csv(DATA / "geo.csv")
    df[df["county"] != "Glenrock"].to_csv(f, index=False)
    code, out, err = run(capsys, "convert", f, "--dims", "county,sex", "--count", "n",
                         "--hierarchy", f"county={DATA / 'geo_hierarchy.csv'}", "-o", tmp_path / "g.jj")
    assert code == 0, err
    assert err.strip() == ("warning: 1 code(s) of the hierarchy of 'county' have no row in the data and "
                           "count as 0: 'Glenrock'")


@pytest.mark.parametrize("sep, shown", [("\t", "'\\t'"), (";", "';'")])
def test_another_separator_is_named_with_the_option_to_use(capsys, tmp_path, sep, shown):
    f = tmp_path / "t.csv"
    pd.read_csv(DATA / "two_way.csv").to_csv(f, index=False, sep=sep)
    out_csv = tmp_path / "o.csv"
    code, _, err = run(capsys, "protect", f, *TWO_WAY, "-o", out_csv, "--quiet")
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(f"error: {f}: column(s)") and line.endswith(f"try --sep {shown})")
    given = "\\t" if sep == "\t" else sep  # what a user types in a shell: --sep '\t'
    code, out, err = run(capsys, "protect", f, *TWO_WAY, "--sep", given, "-o", out_csv, "--quiet")
    assert code == 0, out + err
    assert len(pd.read_csv(out_csv)) == 7 * 6


def test_a_file_that_is_not_utf8_is_named(capsys, tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes("region,age,n\nNorth,0-17,5\nSüd,0-17,40\n".encode("latin-1"))
    code, _, err = run(capsys, "protect", f, *TWO_WAY, "-o", tmp_path / "o.csv", "--quiet")
    assert code == 2
    assert one_line_error(err) == f"error: {f} is not UTF-8 text (line 3: byte 0xfc); save it as UTF-8"


def test_a_bad_count_is_named_by_file_and_line(capsys, tmp_path):
    f = tmp_path / "neg.csv"
    f.write_text("region,age,n\nA,x,5\nA,y,-3\nB,x,40\nB,y,30\n")
    code, _, err = run(capsys, "protect", f, *TWO_WAY, "-o", tmp_path / "o.csv", "--quiet")
    assert code == 2
    assert one_line_error(err).startswith(f"error: {f}: line 3: count -3 in column 'n' is negative")


@pytest.mark.parametrize("extra, message", [
    (["--published", "{tmp}/nodir/p.csv"], "--published {tmp}/nodir/p.csv: directory {tmp}/nodir does not exist"),
    (["--export-model", "{tmp}/nodir/m.mps"], "--export-model {tmp}/nodir/m.mps: directory {tmp}/nodir does not exist"),
    (["--published", "{tmp}"], "--published {tmp} is a directory; give a file name"),
    (["--published", "{tmp}/o.csv"], "--published {tmp}/o.csv is also --output: give another file"),
])
def test_outputs_are_checked_before_the_solve(capsys, tmp_path, monkeypatch, extra, message):
    protect_module = importlib.import_module("cellsuppress.protect")

    def must_not_run(*args, **kwargs):
        raise AssertionError("protect ran before the outputs were checked")

    monkeypatch.setattr(protect_module, "protect", must_not_run)
    out_csv = tmp_path / "o.csv"
    code, _, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "-o", out_csv,
                       *[a.format(tmp=tmp_path) for a in extra], "--quiet")
    assert code == 2
    assert one_line_error(err).startswith("error: " + message.format(tmp=tmp_path))
    assert not out_csv.exists()


@pytest.mark.parametrize("extra, message", [
    (["--export-model", "m.txt"], "cannot tell the format of '{tmp}/m.txt': use a .mps or .lp suffix"),
    (["--export-model", "m.mps", "--method", "fast"], "export_model needs method='optimal'"),
])
def test_a_model_that_cannot_be_exported_stops_the_run(capsys, tmp_path, extra, message):
    out_csv = tmp_path / "o.csv"
    extra = [extra[0], tmp_path / extra[1], *extra[2:]]
    code, _, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "-o", out_csv, *extra, "--quiet")
    assert code == 2
    assert one_line_error(err).startswith("error: " + message.format(tmp=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_the_input_is_never_an_output(capsys, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text((DATA / "two_way.csv").read_text())
    code, _, err = run(capsys, "protect", f, *TWO_WAY, "-o", f, "--quiet")
    assert code == 2
    assert "is also the input" in one_line_error(err)
    assert f.read_text() == (DATA / "two_way.csv").read_text()


def test_an_interrupted_write_leaves_the_old_file_and_no_part(capsys, tmp_path, monkeypatch):
    out_csv = tmp_path / "o.csv"
    out_csv.write_text("the previous run\n")
    real_to_csv = pd.DataFrame.to_csv

    def interrupted(self, path, *args, **kwargs):
        Path(path).write_text("region,age\nhalf")  # some rows out, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    code, _, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "-o", out_csv, "--quiet")
    monkeypatch.setattr(pd.DataFrame, "to_csv", real_to_csv)
    assert code == 130
    assert out_csv.read_text() == "the previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv"]


def test_an_exported_model_is_written_whole(capsys, tmp_path):
    mps = tmp_path / "m.mps"
    code, out, err = run(capsys, "protect", DATA / "two_way.csv", *TWO_WAY, "-o", tmp_path / "o.csv",
                         "--export-model", mps, "--quiet")
    assert code == 0, out + err
    assert mps.read_text().rstrip().endswith("ENDATA")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mps", "o.csv"]


def test_published_output_says_how_to_audit_with_true_values(capsys, tmp_path):
    out_csv, pub_csv = tmp_path / "o.csv", tmp_path / "p.csv"
    dims = ["--dims", "region,sex,age", "--count", "n"]
    code, out, err = run(capsys, "protect", DATA / "three_way.csv", *dims, "-o", out_csv, "--published", pub_csv)
    assert code == 0, out + err
    said = [ln for ln in err.splitlines() if ln.startswith(f"{pub_csv}: ")]
    assert len(said) == 1 and "NOT SAFE (undetermined)" in said[0]
    command = said[0].split("with the true values: ")[1]
    assert command == (f"cellsuppress audit {out_csv} --dims region,sex,age --count value "
                       "--hidden-column hidden")
    # the audit of the published table alone cannot settle some cells, and says what to do
    code, out, err = run(capsys, "audit", pub_csv, *dims, "--quiet")
    assert code == 1 and "every failure is undetermined" in out
    # the command it gives proves the pattern safe
    code, out, err = run(capsys, *command.split()[1:], "--quiet")
    assert code == 0, out + err
