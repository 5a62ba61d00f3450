"""tau-ARGUS side by side: its optimal method (OPT, Fischetti and Salazar-González's
branch-and-cut) on the same JJ file, and its modular method (MOD, HiTaS) on the same table,
through pytauargus (``pip install -e '.[tauargus]'``). Only ``benchmarks/run.py --tauargus``
imports this module; the package never does.

pytauargus bundles the tau-ARGUS C++ engine with HiGHS as its LP/MIP solver (no licensed
solver). What it needs, as read from its source:

* OPT is ``HiTaSCtrl.full_jj(in_file_jj, out_file, max_time, out_dir=...)`` on a JJ file:
  ``max_time`` is in whole minutes of CPU time (not wall time), return code 0 when it ends by
  itself, 1 at the time limit. ``out_file`` lists the secondary cells (0-based indices, one a
  line); ``FullJJ.log`` in ``out_dir`` has ``Objectvalues: <lower bound> and <cost>``.
* MOD needs a table with its hierarchies loaded in the engine: a tau-ARGUS table file
  (``;``-separated codes, value, cost, lower and upper protection level, status ``S``/``U``),
  its ``.rda`` metadata and one ``.hrc`` file per hierarchical dimension, run as a batch
  (``<SUPPRESS> MOD(1, minutes per subtable, 0, 0, 0)``) that writes the cells with their
  status (type 5, ``SO+``). Codes are written as positional numbers (tau-ARGUS fails on
  codes that contain '.'), and mapped back when the pattern is read.
"""
from __future__ import annotations

import math
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# OPT takes whole minutes of CPU time: the benchmark's time limit rounded up, at least 1
SECONDS_PER_MINUTE = 60
# MOD has no limit on the whole run, only per subtable (whole minutes): the least it takes
MOD_MINUTES_PER_SUBTABLE = 1
OPT = "tau-ARGUS OPT"
MOD = "tau-ARGUS MOD"
# the directory under which each run gets its own working directory; run.py sets it to one it
# removes at the end, since a run killed at the hard timeout cannot remove its own
WORK_ROOT: str | None = None
# a line of MOD's CSPlogfile.txt per subtable MIP that ended (solved, or at its time limit)
_SUBTABLE_DONE = re.compile(r"SDC (optimal|best) solution")


class TauArgusMissing(SystemExit):
    """pytauargus is not installed (the benchmark extra ``tauargus``)."""


def require() -> str:
    """pytauargus's version and its engine's HiGHS version, or a clear exit when it is missing."""
    try:
        from importlib import metadata

        from pytauargus._tauargus import engine_meta
    except ImportError as e:
        raise TauArgusMissing(
            f"--tauargus needs pytauargus ({e}); install the benchmark extra: pip install -e '.[tauargus]' "
            "(Python >= 3.11, Linux x86_64/aarch64, macOS arm64 or Windows x64 wheels)") from None
    return f"pytauargus {metadata.version('pytauargus')}, HiGHS {engine_meta().get('highs_version', '?')}"


def opt_minutes(time_limit: float | None) -> int:
    """The OPT time limit in whole minutes; 0 (none) without a limit."""
    return 0 if time_limit is None else max(1, math.ceil(time_limit / SECONDS_PER_MINUTE))


# -- running -----------------------------------------------------------------------------------------

class _InDirectory:
    """The engine writes its logs into the working directory: run it in its own."""

    def __init__(self, path: Path):
        self.path, self.old = path, None

    def __enter__(self):
        self.old = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.old)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def run_opt(jj_path: str, time_limit: float | None) -> dict:
    """tau-ARGUS's optimal method on a JJ file: ``secondary`` (cell indices), ``lower bound``,
    ``reported cost``, ``code``, ``seconds``, ``cpu seconds``."""
    from pytauargus._tauargus import HiTaSCtrl

    with tempfile.TemporaryDirectory(prefix="tauargus-opt-", dir=WORK_ROOT) as tmp:
        work = Path(tmp)
        out = work / "secondary.txt"
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        with _InDirectory(work):
            code = HiTaSCtrl().full_jj(in_file_jj=str(Path(jj_path).resolve()), out_file=str(out),
                                       max_time=opt_minutes(time_limit), out_dir=str(work) + os.sep)
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
        log = (work / "FullJJ.log").read_text(errors="replace") if (work / "FullJJ.log").exists() else ""
        secondary = np.array(out.read_text().split(), dtype=np.int64) if out.exists() else np.zeros(0, np.int64)
    found = re.search(r"Objectvalues:\s*(\S+)\s+and\s+(\S+)", log)
    lower, reported = (float(found.group(1)), float(found.group(2))) if found else (math.nan, math.nan)
    return {"code": int(code), "secondary": secondary, "lower bound": lower, "reported cost": reported,
            "seconds": seconds, "cpu seconds": cpu, "log": log}


def _code_maps(table) -> list[dict]:
    """Per dimension: our code -> a positional code (the root is the total code ``Total``)."""
    maps = []
    for h in table.hierarchies:
        width = len(str(len(h.codes)))
        maps.append({c: ("Total" if i == 0 else f"{i:0{width}d}") for i, c in enumerate(h.codes)})
    return maps


def write_table_files(table, sensitive, upl, lpl, cost, directory: Path) -> list[dict]:
    """The table as tau-ARGUS reads it: ``table.tab``, ``table.rda`` and a ``.hrc`` per
    hierarchical dimension, codes mapped (see :func:`_code_maps`). Returns the code maps."""
    maps = _code_maps(table)
    rda = ['<SEPARATOR> ";"', '<SAFE> "S"', '<UNSAFE> "U"', '<PROTECT> "P"']
    for k, (h, m) in enumerate(zip(table.hierarchies, maps)):
        rda += [f'dim{k} "" ""', "  <RECODEABLE>", '  <TOTCODE> "Total"']
        if (h.depth > 1).any():
            hrc = directory / f"dim{k}.hrc"
            hrc.write_text("".join("@" * (int(d) - 1) + m[c] + "\n"
                                   for c, d in zip(h.codes[1:], h.depth[1:])))
            rda += ["  <HIERARCHICAL>", f'  <HIERCODELIST> "{hrc}"', '  <HIERLEADSTRING> "@"']
    for name, kind in (("value", "<NUMERIC>"), ("cost", "<NUMERIC> <COSTVAR>"),
                       ("lpl", "<NUMERIC> <LOWERPL>"), ("upl", "<NUMERIC> <UPPERPL>")):
        rda += [f'{name} "" ""', f"  {kind}", "  <DECIMALS> 6"]
    rda += ['status "" ""', "  <STATUS>"]
    (directory / "table.rda").write_text("\n".join(rda) + "\n")

    import pandas as pd

    labels = table.labels.astype(str)
    frame = pd.DataFrame({f"dim{k}": labels[d].map(m) for k, (d, m) in enumerate(zip(table.dims, maps))})
    for name, col in (("value", table.values), ("cost", cost), ("lpl", lpl), ("upl", upl)):
        frame[name] = np.round(np.asarray(col, dtype=float), 6)
    frame["status"] = np.where(sensitive, "U", "S")
    frame.to_csv(directory / "table.tab", sep=";", header=False, index=False)
    return maps


def read_pattern(path: Path, table, maps: list[dict]) -> np.ndarray:
    """Hidden cells (status ``U`` or ``M``) of a type-5 ``SO+`` table file, on our cells."""
    import pandas as pd

    k = len(table.dims)
    out = pd.read_csv(path, sep=";", header=None, dtype=str, keep_default_na=False)
    back = [{v: c for c, v in m.items()} for m in maps]
    codes = pd.DataFrame({d: out[j].map(back[j]) for j, d in enumerate(table.dims)})
    if codes.isna().any().any():
        raise ValueError(f"tau-ARGUS wrote codes that the table does not have: {out[codes.isna().any(axis=1)].head(3)}")
    cells = table.cell_index(codes)
    values = out[k].astype(float).to_numpy()
    if not np.allclose(values, table.values[cells]):
        raise ValueError("tau-ARGUS wrote other values than the table's")
    hidden = np.zeros(table.n_cells, dtype=bool)
    hidden[cells[out[k + 3].isin(["U", "M"]).to_numpy()]] = True
    return hidden


def run_mod(table, sensitive, upl, lpl, cost) -> dict:
    """tau-ARGUS's modular method on a table: ``hidden``, ``seconds``, ``cpu seconds``."""
    import logging

    from pytauargus.engine import run_batch

    logging.getLogger("pytauargus").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tauargus-mod-", dir=WORK_ROOT) as tmp:
        work = Path(tmp)
        maps = write_table_files(table, sensitive, upl, lpl, cost, work)
        dims = "".join(f'"dim{k}"' for k in range(len(table.dims)))
        (work / "batch.arb").write_text(
            f'<OPENTABLEDATA> "{work / "table.tab"}"\n'
            f'<OPENMETADATA> "{work / "table.rda"}"\n'
            f'<SPECIFYTABLE> {dims}|"value"||"cost"\n'
            "<SAFETYRULE>\n"  # none: the status column says which cells are unsafe
            "<READTABLE> 0\n"
            f"<SUPPRESS> MOD(1,{MOD_MINUTES_PER_SUBTABLE},0,0,0)\n"
            f'<WRITETABLE> (1,5,"SO+","{work / "pattern.tab"}")\n')
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        with _InDirectory(work):
            run_batch(str(work / "batch.arb"))
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
        subtables = subtables_done(work)
        if not (work / "pattern.tab").exists():
            raise RuntimeError(f"tau-ARGUS wrote no pattern after {subtables} subtable solve(s): "
                               + _tail(work / "HiTaS.log"))
        hidden = read_pattern(work / "pattern.tab", table, maps)
    return {"hidden": hidden, "seconds": seconds, "cpu seconds": cpu, "subtables": subtables}


def subtables_done(work: Path) -> int:
    """How many subtable MIPs MOD has finished in the working directory ``work`` (a subtable is
    solved again when a higher one imposes new hidden cells on it, so this may pass the count of
    subtables)."""
    log = work / "CSPlogfile.txt"
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text(errors="replace").splitlines() if _SUBTABLE_DONE.search(line))


def killed_note() -> str:
    """For a run killed at the hard timeout: how far MOD had come (its working directory is the
    newest under ``WORK_ROOT``)."""
    if WORK_ROOT is None:
        return ""
    runs = sorted(Path(WORK_ROOT).glob("tauargus-mod-*"), key=lambda p: p.stat().st_mtime)
    return f"tau-ARGUS MOD had finished {subtables_done(runs[-1])} subtable solve(s)" if runs else ""


def _tail(path: Path, lines: int = 3) -> str:
    return " ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) if path.exists() else ""


def _maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20  # kB on Linux, bytes on macOS


# -- the benchmark's rows ----------------------------------------------------------------------------

def protect_row(case, table, row: dict, threshold: float) -> None:
    """Run the case's tau-ARGUS method on ``table`` and fill ``row`` as run.py's protect rows,
    with the pattern audited by ``cellsuppress.audit`` under the case's preset."""
    from cellsuppress import audit
    from cellsuppress.rules import requirement
    from cellsuppress.suppress.problem import cost_weights

    req = requirement(table, case.preset, threshold)
    w = cost_weights(table.values, case.cost, getattr(table, "cost", None))
    if case.method == OPT:
        res = run_opt(case.source[1], case.time_limit)
        if res["code"] > 1:
            tail = " ".join(res["log"].strip().splitlines()[-3:])
            raise RuntimeError(f"FullJJ returned code {res['code']}: {tail}")
        hidden = req.sensitive.copy()
        hidden[res["secondary"]] = True
        if getattr(table, "status", None) is not None:
            hidden |= np.asarray(table.status) == "m"
        cost = float(w[hidden].sum())
        lower = res["lower bound"]
        row["lower bound"] = lower
        row["gap"] = (cost - lower) / cost if cost > 0 else 0.0
        row["optimal"] = res["code"] == 0 and row["gap"] <= 1e-9
        limit = f"{opt_minutes(case.time_limit)} min of CPU time" if case.time_limit else "no time limit"
        row["message"] = (f"FullJJ code {res['code']} ({'ended' if res['code'] == 0 else 'time limit'}; "
                          f"{limit}); its own cost {res['reported cost']:.10g}")
    elif case.method == MOD:
        upl, lpl, _ = req.levels(table.values)
        res = run_mod(table, req.sensitive, upl, lpl, w)
        hidden = res["hidden"]
        cost = float(w[hidden].sum())
        row["message"] = (f"MOD, {MOD_MINUTES_PER_SUBTABLE} min per subtable, no limit on the whole run; "
                          f"{res['subtables']} subtable solve(s)")
    else:
        raise ValueError(f"unknown tau-ARGUS method {case.method!r}")
    row["hidden"] = int(hidden.sum())
    row["hidden value"] = float(np.nansum(table.values[hidden]))
    secondary = hidden & ~req.sensitive
    row["secondary"] = int(secondary.sum())
    row["secondary value"] = float(np.nansum(table.values[secondary]))
    row["cost"] = cost
    row["seconds"] = row["protect seconds"] = res["seconds"]  # the audit below is ours, not tau-ARGUS's
    row["cpu seconds"] = res["cpu seconds"]
    row["peak rss before audit"] = _maxrss_mb()  # tau-ARGUS's own peak: the audit below is ours
    t0 = time.perf_counter()
    rep = audit(table, hidden, preset=case.preset, threshold=threshold)
    row["audit seconds"] = time.perf_counter() - t0
    row["audit ok"] = bool(rep.ok)
    row["unprotected"] = int(len(rep.unprotected))


def side_by_side(rows: list[dict]) -> None:
    """Per table: this package's row beside tau-ARGUS's; the bound and gap only where tau-ARGUS
    gives a bound (OPT)."""
    ours = {r["table"]: r for r in rows if not str(r.get("method", "")).startswith("tau-ARGUS")}
    theirs = {r["table"]: r for r in rows if str(r.get("method", "")).startswith("tau-ARGUS")}
    names = [t for t in ours if t in theirs]
    if not names:
        return
    bounds = any(theirs[t].get("lower bound") is not None for t in names)

    def num(r, k, spec):
        v = r.get(k)
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    # (header, width, text of a row)
    cols = [("cost", 10, lambda r: num(r, "cost", ".10g"))]
    if bounds:
        cols += [("bound", 10, lambda r: num(r, "lower bound", ".10g")),
                 ("gap", 6, lambda r: "" if r.get("gap") is None else f"{100 * r['gap']:.1f}%")]
    cols += [("hidden", 6, lambda r: num(r, "hidden", "d")),
             ("second.", 7, lambda r: num(r, "secondary", "d")),
             ("sec.value", 10, lambda r: num(r, "secondary value", ".10g")),
             ("s", 7, lambda r: num(r, "seconds", ".1f")),
             ("cpu s", 7, lambda r: num(r, "cpu seconds", ".1f")),
             ("peak MB", 7, lambda r: num(r, "peak MB", ".0f")),
             ("safe", 5, lambda r: {True: "yes", False: "NO"}.get(r.get("audit ok"), ""))]
    width = sum(w for _, w, _ in cols) + len(cols) - 1

    def half(r):
        if r.get("error"):
            return f"{'failed (below)':<{width}}"
        return " ".join(f"{text(r):>{w}}" for _, w, text in cols)

    print()
    print("Side by side: cellsuppress | tau-ARGUS on the same table (safe = cellsuppress.audit of the pattern; "
          "second. = secondary cells, sec.value = their sum)")
    sub = " ".join(f"{h:>{w}}" for h, w, _ in cols)
    head = f"{'table':22}  {sub}  |  {sub}"
    print(head)
    print("-" * len(head))
    for t in names:
        a, b = ours[t], theirs[t]
        print(f"{t[:22]:22}  {half(a)}  |  {half(b)}".rstrip())
    for t in names:
        for who, r in (("cellsuppress", ours[t]), (theirs[t]["method"], theirs[t])):
            if r.get("error"):
                print(f"  {t}, {who}: {r['error']}")
    try:
        print("load average %.2f %.2f %.2f at the end" % os.getloadavg())
    except OSError:
        pass
    print(flush=True)
