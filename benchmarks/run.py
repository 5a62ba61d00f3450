#!/usr/bin/env python
"""Benchmarks for cellsuppress: protect and audit on synthetic tables and Castro's instances.

    python benchmarks/run.py --suite quick|standard|instances|small3|scaling|audit|linked|many|large
                             [--time-limit S|none] [--budget S] [--tables N] [--out DIR]
                             [--instances-dir DIR] [--hard-timeout S] [--quiet] [--in-process]
                             [--only NAME,NAME] [--tauargus] [--solver NAME]

Every case runs in a forked child process (unless ``--in-process``), so that
its peak memory can be measured on its own and a crash or a runaway case
cannot take the whole run down (suite ``many`` times two ways of running 1,000
tables, so it runs in this process; protect_many starts its own workers). Rows are printed as they finish and written
to ``<out>/<suite>-<YYYYmmdd-HHMMSS>.csv``, copied to ``<out>/<suite>-latest.csv``.
``--tauargus`` runs tau-ARGUS (pytauargus, the benchmark extra) beside each case of the
instances, small3 and large suites (benchmarks/tauargus.py).
See benchmarks/README.md for what each suite runs and what the columns mean.
"""
from __future__ import annotations

import argparse
import atexit
import csv
import math
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# generator settings shared by every synthetic table (see cellsuppress.synthetic.generate)
BASE = dict(seed=1, mean=40, small_share=0.12, zero_share=0.05)
THRESHOLD = 20


# -- cases -----------------------------------------------------------------------------------------

@dataclass
class Case:
    """One protect (or audit) run. ``source`` is ``("synthetic", generate kwargs)`` or ``("jj", path)``."""

    table: str
    source: tuple
    preset: str = "strict"
    cost: str = "value"
    method: str = "optimal"
    time_limit: float | None = None
    solver: str = "highs"
    kind: str = "protect"  # or "audit", "linked", "tauargus" (method: tau-ARGUS OPT or MOD)
    hidden_share: float = 0.02  # audit cases: share of cells hidden at random
    hidden_seed: int = 1
    workers: int | None = 1  # processes for the modular method's subtables (None: one per core)
    extra: dict = field(default_factory=dict)  # carried into the row (e.g. the scaling series)


def synthetic(**kw) -> tuple:
    return ("synthetic", {**BASE, **kw})


def build_table(source: tuple):
    """A table, or for ``("microdata", spec)`` the list of crosstabs cut from synthetic people."""
    kind, spec = source
    if kind == "synthetic":
        from cellsuppress.tables.synthetic import generate

        return generate(**spec).table()
    if kind == "microdata":
        from cellsuppress import Table

        people = synthetic_people(**{k: v for k, v in spec.items() if k != "tables"})
        return [Table.from_microdata(people, dims=list(d)) for d in spec["tables"]]
    if kind == "jj":
        from cellsuppress.io.jj import read_jj

        return read_jj(spec)
    raise ValueError(f"unknown table source {kind!r}")


# -- measuring ---------------------------------------------------------------------------------------

def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20  # kB on Linux, bytes on macOS


TREE_SAMPLE_SECONDS = 0.2  # often enough to catch a worker's peak, cheap enough not to load the cores


def _tree_rss_mb(root: int) -> float | None:
    """The summed resident memory of ``root`` and all its descendants, from one pass over
    /proc/*/stat (its parent pid and rss fields); None where /proc is missing. Pages shared
    after a fork count once per process, so this bounds the tree's memory from above."""
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    parent, rss = {}, {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()  # the command name may hold spaces
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid = int(name)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21])
    if root not in rss:
        return None
    children: dict = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total * page_mb


class TreePeak:
    """The peak of ``_tree_rss_mb(pid)``, sampled in a thread every TREE_SAMPLE_SECONDS while the
    ``with`` block runs (the modular method's worker processes are children of the case's)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            mb = _tree_rss_mb(self.pid)
            if mb is None and self.peak_mb is None:
                return  # no /proc: the column stays empty
            if mb is not None:
                self.peak_mb = max(self.peak_mb or 0.0, mb)
            if self._stop.wait(TREE_SAMPLE_SECONDS):
                return

    def __enter__(self) -> "TreePeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_case(case: Case, partial=None) -> dict:
    """Build the table, run protect (or audit) on it, and measure. Never raises: errors go in the row.

    ``partial(row)``, if given, receives the row once the table is built (so that a case killed
    later still reports its size)."""
    row: dict = {"table": case.table, "method": case.method, "preset": case.preset,
                 "cost function": case.cost, "solver": case.solver,
                 "time limit": case.time_limit, **case.extra}
    t_build = time.perf_counter()
    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = build_table(case.source)
        notes += sorted({f"{w.category.__name__}" for w in caught})
        row["build seconds"] = time.perf_counter() - t_build
        from cellsuppress.rules import requirement
        from cellsuppress.tables.linked import LinkedTables

        size = LinkedTables(table) if isinstance(table, list) else table  # linked: shared cells once
        row["cells"] = size.n_cells
        row["equations"] = size.n_equations
        req = requirement(size, case.preset, THRESHOLD)
        row["sensitive"] = int(req.sensitive.sum())
    except Exception as e:  # noqa: BLE001 - a benchmark records failures and goes on
        row["error"] = f"building the table: {type(e).__name__}: {e}"
        row["traceback"] = traceback.format_exc()
        return row

    if partial is not None:
        partial(dict(row))
    base_rss = _current_rss_mb()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if case.kind == "audit":
                _run_audit(case, table, row)
            elif case.kind == "linked":
                _run_linked(case, table, row)
            elif case.kind == "tauargus":
                _tauargus().protect_row(case, table, row, THRESHOLD)
            else:
                _run_protect(case, table, row)
        notes += sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    except Exception as e:  # noqa: BLE001
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        row["traceback"] = traceback.format_exc()
    row.setdefault("seconds", time.perf_counter() - t0)  # tau-ARGUS rows: its own run, not the audit
    # tau-ARGUS rows: the peak of its own run, taken before the audit of its pattern
    peak = row.pop("peak rss before audit", None) or _maxrss_mb()
    row["peak MB"] = max(0.0, peak - base_rss)
    row["peak rss MB"] = peak
    if notes:
        row["message"] = " | ".join(filter(None, [row.get("message", "")] + notes))
    return row


def _tauargus():
    """benchmarks/tauargus.py, imported only for --tauargus (it needs pytauargus)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import tauargus

    return tauargus


def _run_protect(case: Case, table, row: dict) -> None:
    from cellsuppress.protect import protect

    cpu = time.process_time()  # this process's threads (a worker pool's processes are not counted)
    res = protect(table, preset=case.preset, threshold=THRESHOLD, cost=case.cost, method=case.method,
                  time_limit=case.time_limit, solver=case.solver, workers=case.workers)
    row["cpu seconds"] = time.process_time() - cpu
    _protect_row(res, table, row)
    row["method"] = f"{case.method} -> {res.stats['method']}" if case.method == "auto" else case.method


def _protect_row(res, table, row: dict) -> None:
    """The columns of a protect result (``table``: the one protected; the joint one for linked tables)."""
    hidden = np.asarray(res.hidden, dtype=bool)
    row["hidden"] = int(hidden.sum())
    row["hidden value"] = float(np.nansum(table.values[hidden]))
    secondary_columns(row, table, np.asarray(res.status) == "secondary")
    row["cost"] = float(res.cost)
    row["lower bound"] = float(res.lower_bound)
    row["gap"] = float(res.gap)
    row["optimal"] = bool(res.optimal)
    row["protect seconds"] = float(res.stats.get("seconds", float("nan")))
    row["audit ok"] = bool(res.audit.ok)
    for k in ("components", "cut_rounds", "cuts", "lps", "mip_solves", "root_bound", "root_rounds", "root_seconds",
              "bc_nodes"):
        if k in res.stats:
            row[k] = res.stats[k]
    row["message"] = "; ".join(res.message.splitlines()) if res.message else ""


def secondary_columns(row: dict, table, secondary: np.ndarray) -> None:
    """``secondary``: the hidden cells that are not sensitive; ``secondary value``: their sum (the
    cost of protection beyond the cells that had to go)."""
    row["secondary"] = int(secondary.sum())
    row["secondary value"] = float(np.nansum(table.values[secondary]))


def _run_linked(case: Case, tables: list, row: dict) -> None:
    """Linked crosstabs, by the case's ``series``: ``joint`` protects them as one system;
    ``by table`` protects each alone, and the linked audit judges the patterns together (a shared
    cell hidden in one table but shown in another is published); ``by table, made safe`` starts
    from those patterns, forces their hidden cells hidden and protects the set jointly (the
    cheapest safe release that keeps every table's own pattern). The last two rows' seconds
    include the table-by-table runs."""
    from cellsuppress import audit, protect
    from cellsuppress.suppress.problem import cost_weights
    from cellsuppress.tables.linked import LinkedTables

    opts = dict(preset=case.preset, threshold=THRESHOLD, cost=case.cost, method=case.method,
                time_limit=case.time_limit, solver=case.solver)
    series = case.extra["series"]
    joint = LinkedTables(tables)
    if series == "joint":
        _protect_row(protect(tables, **opts), joint, row)
        return
    alone = [protect(t, **opts) for t in tables]
    hidden = [r.hidden for r in alone]
    if series == "by table, made safe":
        _protect_row(protect(tables, force_hidden=hidden, **opts), joint, row)
        return
    union = joint.join(hidden, "hidden", how="any")
    with warnings.catch_warnings():  # the message counts the cells of mixed status
        warnings.simplefilter("ignore", UserWarning)
        rep = audit(tables, hidden=hidden, preset=case.preset, threshold=THRESHOLD)  # mixed: published
    everywhere = audit(joint, hidden=union, preset=case.preset, threshold=THRESHOLD)
    w = cost_weights(joint.values, case.cost)
    row["hidden"] = int(union.sum())
    row["hidden value"] = float(joint.values[union].sum())
    row["cost"] = float(w[union].sum())
    row["optimal"] = all(r.optimal for r in alone)  # each table's own pattern
    row["audit ok"] = bool(rep.ok)
    row["unprotected"] = int(len(rep.unprotected))
    row["multi-cell"] = int(len(rep.multi_cell))
    mixed = int(joint.mixed(hidden).sum())
    row["message"] = (f"together: {'SAFE' if rep.ok else 'NOT SAFE'} ({len(rep.unprotected)} unprotected); "
                      f"{mixed} shared cell(s) hidden in one table and shown in another; with those hidden "
                      f"everywhere: {'SAFE' if everywhere.ok else 'NOT SAFE'} ({len(everywhere.unprotected)} "
                      "unprotected)")


def _run_audit(case: Case, table, row: dict) -> None:
    from cellsuppress.auditing.report import audit

    rng = np.random.default_rng(case.hidden_seed)
    n = table.n_cells
    hidden = np.zeros(n, dtype=bool)
    hidden[rng.choice(n, size=int(round(case.hidden_share * n)), replace=False)] = True
    t0 = time.perf_counter()
    rep = audit(table, hidden, preset=case.preset, threshold=THRESHOLD)
    row["audit seconds"] = time.perf_counter() - t0
    row["hidden"] = int(hidden.sum())
    row["hidden value"] = float(table.values[hidden].sum())
    row["blocks"] = int(rep.stats.get("blocks", 0))
    row["solves"] = int(rep.stats.get("solves", 0))
    row["audit ok"] = bool(rep.ok)
    row["unprotected"] = int(len(rep.unprotected))
    row["multi-cell"] = int(len(rep.multi_cell))
    row["method"] = "audit (LP)"


def _child(case: Case, conn) -> None:
    try:
        conn.send(("partial", None))  # started
        conn.send(("final", run_case(case, partial=lambda r: conn.send(("partial", r)))))
    finally:
        conn.close()


def run_isolated(case: Case, hard_timeout: float | None, in_process: bool) -> dict:
    """``run_case`` in a forked child (own peak memory, survives crashes); killed after ``hard_timeout``."""
    if in_process:
        with TreePeak(os.getpid()) as tree:
            row = run_case(case)
        row["peak tree MB"] = tree.peak_mb
        return row
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    # not a daemon: protect's own worker processes (the modular method's subtables) need a parent
    # that may have children; the child is terminated here, whatever happens
    proc = ctx.Process(target=_child, args=(case, send), daemon=False)
    t0 = time.perf_counter()
    proc.start()
    send.close()
    row, partial = None, None
    with TreePeak(proc.pid) as tree:
        while row is None:
            left = None if hard_timeout is None else max(0.0, hard_timeout - (time.perf_counter() - t0))
            if not recv.poll(left):
                break
            try:
                kind, payload = recv.recv()
            except EOFError:
                break
            if kind == "final":
                row = payload
            elif payload is not None:
                partial = payload
        elapsed = time.perf_counter() - t0
    if row is None and proc.is_alive():  # only our own child, by its handle
        proc.terminate()
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join(5)
    if row is None:
        why = (f"killed after the hard timeout of {hard_timeout:g} s"
               if hard_timeout is not None and elapsed >= hard_timeout else f"child exited with code {proc.exitcode}")
        if case.kind == "tauargus":
            why = "; ".join(filter(None, [why, _tauargus().killed_note()]))
        row = {"table": case.table, "method": case.method, "preset": case.preset, "cost function": case.cost,
               "solver": case.solver, "time limit": case.time_limit, **case.extra, **(partial or {}),
               "seconds": elapsed, "error": why}
    row["peak tree MB"] = tree.peak_mb
    return row


# -- output ------------------------------------------------------------------------------------------

def _fmt_num(v, spec="g"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return format(v, spec)


def _fmt_bool(v):
    return "" if v is None else ("yes" if v else "no")


def _fmt_gap(v):
    return "" if v is None else f"{100 * v:.2f}%"


# (key, header, width, formatter)
PROTECT_COLUMNS = [
    ("table", "table", 22, str),
    ("cells", "cells", 7, _fmt_num),
    ("equations", "eqs", 6, _fmt_num),
    ("sensitive", "sens", 5, _fmt_num),
    ("hidden", "hidden", 6, _fmt_num),
    ("hidden value", "hid.value", 10, lambda v: _fmt_num(v, ".10g")),
    ("cost", "cost", 11, lambda v: _fmt_num(v, ".10g")),
    ("lower bound", "lower bd", 11, lambda v: _fmt_num(v, ".10g")),
    ("gap", "gap", 7, _fmt_gap),
    ("optimal", "opt", 3, _fmt_bool),
    ("seconds", "seconds", 8, lambda v: _fmt_num(v, ".2f")),
    ("peak MB", "peak MB", 7, lambda v: _fmt_num(v, ".1f")),
    ("method", "method", 13, str),  # "tau-ARGUS OPT"
    ("preset", "preset", 6, str),
    ("cost function", "costfn", 6, str),
    ("solver", "solver", 6, str),
]

LINKED_COLUMNS = [("table", "table", 36, str)] + PROTECT_COLUMNS[1:]
# large: the memory of the case's whole process tree (the modular method's workers) beside its own
LARGE_COLUMNS = [("table", "table", 35, str)] + [
    c2 for c in PROTECT_COLUMNS[1:]
    for c2 in ([c, ("peak tree MB", "tree MB", 7, lambda v: _fmt_num(v, ".1f"))] if c[0] == "peak MB" else [c])]

AUDIT_COLUMNS = [
    ("table", "table", 29, str),
    ("cells", "cells", 7, _fmt_num),
    ("equations", "eqs", 6, _fmt_num),
    ("hidden", "hidden", 6, _fmt_num),
    ("hidden value", "hid.value", 10, lambda v: _fmt_num(v, ".10g")),
    ("blocks", "blocks", 6, _fmt_num),
    ("solves", "solves", 6, _fmt_num),
    ("audit seconds", "audit s", 8, lambda v: _fmt_num(v, ".2f")),
    ("build seconds", "build s", 7, lambda v: _fmt_num(v, ".2f")),
    ("peak MB", "peak MB", 7, lambda v: _fmt_num(v, ".1f")),
    ("audit ok", "safe", 4, _fmt_bool),
    ("unprotected", "unprot", 6, _fmt_num),
    ("preset", "preset", 6, str),
]

CSV_COLUMNS = [
    "suite", "table", "series", "cells", "equations", "sensitive", "hidden", "hidden value", "secondary",
    "secondary value", "cost",
    "lower bound", "gap", "optimal", "seconds", "peak MB", "peak tree MB", "method", "preset", "cost function", "solver",
    "time limit", "protect seconds", "cpu seconds", "build seconds", "audit seconds", "peak rss MB", "audit ok",
    "blocks", "solves", "unprotected", "multi-cell", "components", "cut_rounds", "cuts", "lps", "mip_solves",
    "root_bound", "root_rounds", "root_seconds", "bc_nodes", "message", "error", "started", "commit", "machine",
]


class Printer:
    def __init__(self, columns, quiet: bool):
        self.columns = columns
        self.quiet = quiet
        self.header_done = False

    def line(self, cells) -> str:
        out = []
        for (key, _, width, _), text in zip(self.columns, cells):
            text = str(text)
            out.append(text.ljust(width) if key in ("table", "series", "method", "preset", "cost function", "solver")
                       else text.rjust(width))
        return "  ".join(out).rstrip()

    def header(self) -> None:
        heads = [h for _, h, _, _ in self.columns]
        print(self.line(heads))
        print("-" * len(self.line(heads)), flush=True)
        self.header_done = True

    def row(self, row: dict) -> None:
        if not self.header_done:
            self.header()
        cells = []
        for key, _, width, fmt in self.columns:
            v = row.get(key)
            cells.append("" if v is None else fmt(v))
        print(self.line(cells), flush=True)
        if row.get("error"):
            print(f"    ! {row['error']}", flush=True)
            if not self.quiet and row.get("traceback"):
                print("    " + row["traceback"].rstrip().replace("\n", "\n    "), flush=True)
        elif row.get("message") and not self.quiet:
            print(f"    ({row['message']})", flush=True)


def machine_info() -> dict:
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                    break
    except OSError:
        pass
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def ver(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    commit = "?"
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if dirty:
            commit += "+dirty(src)"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cores": os.cpu_count(), "memory": mem, "cpu": cpu, "python": platform.python_version(),
            "highspy": ver("highspy"), "numpy": ver("numpy"), "scipy": ver("scipy"),
            "cellsuppress": ver("cellsuppress"), "commit": commit, "platform": platform.platform()}


def print_machine(info: dict) -> None:
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average ?"
    print(f"machine: {info['cores']} cores ({info['cpu']}), {info['memory']} memory, {info['platform']}; {load}")
    print(f"python {info['python']}, highspy {info['highspy']}, numpy {info['numpy']}, scipy {info['scipy']}, "
          f"cellsuppress {info['cellsuppress']} (commit {info['commit']})", flush=True)


# -- suites --------------------------------------------------------------------------------------------

QUICK_TABLES = [
    ("2-way 20x20", synthetic(dims=2, levels=(20,))),
    ("2-way hier (6,6)x(5,8)", synthetic(dims=2, levels=((6, 6), (5, 8)))),
    ("3-way 5x5x5", synthetic(dims=3, levels=(5,))),
]


def quick_cases(tl: float) -> list[Case]:
    cases = []
    for name, src in QUICK_TABLES:
        for preset, cost in (("strict", "value"), ("strict", "unity"), ("policy", "value"), ("exact", "value")):
            cases.append(Case(name, src, preset=preset, cost=cost, time_limit=tl))
    return cases


def standard_cases(tl: float) -> list[Case]:
    two_way = [
        ("2-way 20x20", synthetic(dims=2, levels=(20,))),
        ("2-way 50x50", synthetic(dims=2, levels=(50,))),
        ("2-way hier (6,6)x(5,8)", synthetic(dims=2, levels=((6, 6), (5, 8)))),
    ]
    # small_share 0.14 gives 129 sensitive cells of 1,331 (0.12 would give 117)
    three_way = [("3-way 10x10x10", synthetic(dims=3, levels=(10,), small_share=0.14))]
    cases = [Case(n, s, time_limit=tl) for n, s in two_way + three_way]
    for n, s in two_way:
        for preset in ("exact", "policy"):
            cases.append(Case(n, s, preset=preset, time_limit=tl))
    return cases


def _jj_cells(path: Path) -> int:
    """The cell count from a JJ file's second record, without parsing the rest."""
    with open(path, "rb") as f:
        seen = 0
        for raw in f:
            line = raw.strip().lstrip(b"\xef\xbb\xbf")
            if not line:
                continue
            seen += 1
            if seen == 2:
                try:
                    return int(float(line.split()[0]))
                except (ValueError, IndexError):
                    return 1 << 62
    return 1 << 62


def instance_cases(directory: Path, tl: float) -> list[Case]:
    files = sorted(directory.glob("*.jj")) + sorted(directory.glob("*.JJ"))
    files = sorted(set(files), key=lambda p: (_jj_cells(p), p.name))
    return [Case(p.stem, ("jj", str(p)), preset="custom", cost="file", time_limit=tl) for p in files]


# small three-way tables, where tau-ARGUS's optimal method is compared with ours: each is
# written once as a JJ file with strict's protection levels and value costs (what
# `cellsuppress convert` writes), and both read that file
SMALL3_TABLES = [
    ("3-way 6x5x4", synthetic(dims=3, levels=((6,), (5,), (4,)))),
    ("3-way 10x10x10", synthetic(dims=3, levels=(10,), small_share=0.14)),  # as in standard
] + [  # a family like 6x5x4: flat three-way tables of 150 to 460 cells, each its own seed
    (f"3-way {a}x{b}x{c} s{seed}", synthetic(dims=3, levels=((a,), (b,), (c,)), seed=seed))
    for a, b, c, seed in ((5, 5, 4, 2), (6, 5, 5, 3), (6, 6, 5, 4), (7, 6, 5, 5), (8, 6, 5, 6), (7, 7, 6, 7))
]


def write_strict_jj(source: tuple, path: Path) -> None:
    """A synthetic table as a JJ file carrying strict's levels (status ``u`` on the sensitive
    cells) and the value as cost (at least 1)."""
    from cellsuppress.io.jj import write_jj
    from cellsuppress.rules import requirement

    table = build_table(source)
    req = requirement(table, "strict", THRESHOLD)
    table.upl, table.lpl, table.spl = req.levels(table.values)
    table.status = np.where(req.sensitive, "u", "s")
    table.cost = np.maximum(table.values, 1.0)
    write_jj(table, path)


def small3_cases(tl: float, directory: Path) -> list[Case]:
    cases = []
    for name, src in SMALL3_TABLES:
        path = directory / (name.replace(" ", "_") + ".jj")
        write_strict_jj(src, path)
        cases.append(Case(name, ("jj", str(path)), preset="custom", cost="file", time_limit=tl))
    return cases


def with_tauargus(cases: list[Case], suite: str) -> list[Case]:
    """Each case followed by tau-ARGUS on the same input: its optimal method on the same JJ file
    (instances, small3), its modular method on the same table (large)."""
    method = TAUARGUS_METHOD[suite]
    return [c2 for c in cases for c2 in (c, replace(
        c, kind="tauargus", method=method, solver="highs", workers=1, extra={**c.extra, "series": method}))]


def audit_cases() -> list[Case]:
    return [
        Case("3-way hier (5,8)^3, 2% hidden", synthetic(dims=3, levels=((5, 8), (5, 8), (5, 8))), kind="audit",
             method="audit"),
        Case("2-way 300x300, 2% hidden", synthetic(dims=2, levels=(300,)), kind="audit", method="audit"),
    ]


LINKED_SERIES = ("joint", "by table", "by table, made safe")
# crosstabs cut from one synthetic cohort: three 2-way tables sharing their 1-way margins, and two
# 3-way tables sharing their region x age margin (a whole 2-way table of shared cells, small ones
# among them)
LINKED_DESIGNS = {
    "linked 2-way x3": dict(seed=1, people=20_000, levels={"region": (30, 1.0), "age": (8, 4.0), "group": (5, 0.7)},
                            tables=(("region", "age"), ("region", "group"), ("age", "group"))),
    "linked 3-way x2": dict(seed=1, people=4_000,
                            levels={"region": (10, 1.0), "age": (5, 5.0), "sex": (2, 50.0), "group": (4, 0.7)},
                            tables=(("region", "age", "sex"), ("region", "age", "group"))),
}


def synthetic_people(seed: int, people: int, levels: dict):
    """Reproducible microdata: one row per person, one column per dimension, each code drawn
    independently with probabilities from a Dirichlet draw (``levels``: name -> (codes,
    concentration); a small concentration makes some codes rare, as small areas and groups are)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = {}
    for name, (k, conc) in levels.items():
        p = rng.dirichlet(np.full(k, float(conc)))
        cols[name] = rng.choice(np.array([f"{name[0]}{i + 1:02d}" for i in range(k)]), size=people, p=p)
    return pd.DataFrame(cols)


def linked_cases(tl: float) -> list[Case]:
    """Each design's crosstabs protected jointly, table by table, and table by table made safe jointly."""
    return [Case(f"{design}: {s}", ("microdata", spec), kind="linked", time_limit=tl,
                 extra={"series": s, "design": design})
            for design, spec in LINKED_DESIGNS.items() for s in LINKED_SERIES]


def linked_comparison(rows: list[dict]) -> None:
    """Per design: joint protection against table-by-table protection made safe."""
    for design, spec in LINKED_DESIGNS.items():
        by = {r.get("series"): r for r in rows if r.get("design") == design and not r.get("error")}
        if not all(s in by for s in LINKED_SERIES):
            continue
        joint, alone, safe = (by[s] for s in LINKED_SERIES)

        def opt(r):
            return "" if r.get("optimal") else " (not proven optimal)"

        tables = ", ".join(" x ".join(t) for t in spec["tables"])
        print()
        print(f"{design}: {tables} of {spec['people']:,} synthetic people; {joint['cells']} distinct cells, "
              f"{joint['sensitive']} sensitive (cost = {joint['cost function']})")
        print(f"  joint protection:           cost {joint['cost']:.10g}, {joint['hidden']} hidden{opt(joint)}")
        print(f"  table by table:             cost {alone['cost']:.10g}, {alone['hidden']} hidden; {alone['message']}")
        extra = safe["cost"] - joint["cost"]
        rel = f" ({extra / joint['cost']:+.1%})" if joint["cost"] else ""
        print(f"  table by table, made safe:  cost {safe['cost']:.10g}, {safe['hidden']} hidden{opt(safe)}; "
              f"{extra:+.10g}{rel} against joint protection", flush=True)


def comparison(rows: list[dict]) -> None:
    """Per table: what strict hides beyond exact, and what policy saves against strict (value cost)."""
    by_table: dict = {}
    for r in rows:
        if r.get("error") or r.get("cost function") != "value" or r.get("method") != "optimal":
            continue
        by_table.setdefault(r["table"], {})[r["preset"]] = r
    tables = [t for t, d in by_table.items() if "strict" in d and ("exact" in d or "policy" in d)]
    if not tables:
        return
    print()
    print("Comparison (cost = value; hidden value = participants in hidden cells; * = not proven optimal)")
    head = (f"{'table':22}  {'strict':>12}  {'exact':>12}  {'policy':>12}  {'strict/exact':>12}  "
            f"{'policy/strict':>13}  {'policy saves':>12}")
    print(head)
    print("-" * len(head))

    def cell(d, p):
        r = d.get(p)
        if r is None:
            return f"{'':>12}"
        mark = "" if r.get("optimal") else "*"
        return f"{r['hidden value']:>11.10g}{mark or ' '}"

    for t in tables:
        d = by_table[t]
        s = d["strict"]["hidden value"]
        e = d.get("exact", {}).get("hidden value")
        p = d.get("policy", {}).get("hidden value")
        se = f"{s / e:12.2f}" if e else f"{'':>12}"
        ps = f"{p / s:13.2f}" if p is not None and s else f"{'':>13}"
        sv = f"{s - p:>12.10g}" if p is not None else f"{'':>12}"
        print(f"{t:22}  {cell(d, 'strict')}  {cell(d, 'exact')}  {cell(d, 'policy')}  {se}  {ps}  {sv}")
    print("  (hidden cells: " + "; ".join(
        f"{t}: strict {by_table[t]['strict']['hidden']}"
        + "".join(f", {p} {by_table[t][p]['hidden']}" for p in ("exact", "policy") if p in by_table[t])
        for t in tables) + ")", flush=True)


# -- large ---------------------------------------------------------------------------------------------
# tables the size of real releases: a county-level table of a national cohort (state > county x 18
# age bands x 3 sexes: 50 states of 20 counties, 79,876 cells with the margins), with about 5,400
# sensitive cells and with more than half of them sensitive (skewed counts, as deep health tables
# are); a three-level geography (region > state > county: 10 regions of 20 states of 100 counties)
# x 10 age bands x 3 sexes, 889,284 cells, more than half of them 1..20; and the 3-way
# hierarchical (8,2)^3 of the scaling suite (15,625 cells); protect's default method (auto:
# modular for these) on every core
COUNTY = dict(dims=3, levels=((50, 20), (18,), (3,)), names=["county", "age", "sex"])
REGION = dict(dims=3, levels=((10, 20, 100), (10,), (3,)), names=["county", "age", "sex"])
# the county shape with 7 and 20 states (11,248 and 31,996 cells, above auto's limit for the optimal
# method like the others), so that the suite's scaling fit and plot span 10^4 to 10^6 cells
LARGE_TABLES = [
    (f"county x age x sex, {k} states", synthetic(**dict(COUNTY, levels=((k, 20), (18,), (3,))), small_share=0.1))
    for k in (7, 20)
] + [
    ("county x age x sex", synthetic(**COUNTY, small_share=0.1)),
    ("county x age x sex, half sensitive", ("synthetic", dict(COUNTY, seed=1, skewed=True, mean=8))),
    ("region > state > county x age x sex", ("synthetic", dict(REGION, seed=1, skewed=True, mean=8))),
    ("3-way hier (8,2)^3", synthetic(dims=3, levels=(8, 2))),
]
# the ~900,000-cell table's target is ten minutes where the others' is two: it gets this many
# times the suite's time limit
LARGE_TIME_FACTOR = {"region > state > county x age x sex": 5.0}


def large_cases(tl: float | None) -> list[Case]:
    return [Case(name, src, method="auto", time_limit=None if tl is None else tl * LARGE_TIME_FACTOR.get(name, 1.0),
                 workers=None)
            for name, src in LARGE_TABLES]


# -- many --------------------------------------------------------------------------------------------------

MANY_WORKERS = 2
MANY_COLUMNS = [("table", "table", 26, str), ("series", "run", 24, str)] + [
    c for c in PROTECT_COLUMNS if c[0] in ("cells", "sensitive", "hidden", "cost", "optimal", "seconds")]


def many_tables(n: int) -> list:
    """``n`` 2-way 9x9 tables (100 cells with their margins), seeds 1..n."""
    from cellsuppress.tables.synthetic import generate

    spec = {k: v for k, v in BASE.items() if k != "seed"}
    return [generate(dims=2, levels=(9,), seed=seed, **spec).table() for seed in range(1, n + 1)]


def run_many_suite(args, printer: Printer, stamp_rows) -> list[dict]:
    """The same tables protected by a Python loop over protect() and by protect_many() on
    MANY_WORKERS local processes, in this process (protect_many starts its own workers)."""
    from cellsuppress import protect, protect_many
    from cellsuppress.executor import Outcome
    from cellsuppress.many import protect_summary

    t0 = time.perf_counter()
    tables = many_tables(args.tables)
    build = time.perf_counter() - t0
    name = f"{len(tables)} tables x {tables[0].n_cells} cells"
    sensitive = sum(int(((t.values >= 1) & (t.values <= THRESHOLD)).sum()) for t in tables)
    print(f"{name}: built in {build:.1f} s; {sensitive} sensitive cells in all", flush=True)
    tl = args.time_limit

    def row(series: str, frame, seconds: float) -> dict:
        ok = frame["error"] == ""
        r = {"table": name, "series": series, "cells": int(frame["cells"].sum()), "sensitive": sensitive,
             "hidden": int(frame["hidden"].sum()), "cost": float(frame["cost"].sum()),
             "lower bound": float(frame["lower_bound"].sum()), "optimal": bool(frame["optimal"].fillna(False).all()),
             "seconds": seconds, "build seconds": build, "method": "optimal", "preset": "strict",
             "cost function": "value", "solver": "highs", "time limit": tl,
             "message": f"{int((~ok).sum())} table(s) failed" if not ok.all() else ""}
        if not ok.all():
            r["error"] = "; ".join(frame.loc[~ok, "error"].head(3))
        return stamp_rows(r)

    outcomes = []
    t0 = time.perf_counter()
    for t in tables:
        try:
            outcomes.append(Outcome(value=protect(t, time_limit=tl)))
        except Exception as exc:  # noqa: BLE001 - as protect_many records it
            outcomes.append(Outcome.failed(exc))
    loop_s = time.perf_counter() - t0
    loop = protect_summary(list(range(len(tables))), outcomes, [t.n_cells for t in tables])
    rows = [row("loop over protect", loop, loop_s)]
    printer.row(rows[-1])

    t0 = time.perf_counter()
    many = protect_many(tables, workers=MANY_WORKERS, time_limit=tl, progress=not args.quiet)
    many_s = time.perf_counter() - t0
    rows.append(row(f"protect_many, {MANY_WORKERS} workers", many, many_s))
    printer.row(rows[-1])

    # which tables differ: a table with several optimal patterns may end on another one (the
    # master's search depends on HiGHS's thread count and on the repairs' timed share)
    cost_diff = [i for i, (a, b) in enumerate(zip(loop["cost"], many["cost"])) if a != b]
    hidden_diff = [i for i, (a, b) in enumerate(zip(loop["hidden"], many["hidden"])) if a != b]
    same = not cost_diff and not hidden_diff
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average ?"
    print()
    print(f"loop over protect: {loop_s:.1f} s; protect_many on {MANY_WORKERS} workers: {many_s:.1f} s; "
          f"speed-up {loop_s / many_s:.2f}x on {os.cpu_count()} cores ({load} at the end)")
    print(f"same cost and hidden cells per table: {'yes' if same else 'NO'}", flush=True)
    if not same:
        print(f"  cost differs on {len(cost_diff)} table(s) {cost_diff[:10]}; hidden cells on "
              f"{len(hidden_diff)} {hidden_diff[:10]}: " + "; ".join(
                  f"table {i}: cost {loop['cost'][i]:g} / {many['cost'][i]:g}, hidden {loop['hidden'][i]} / "
                  f"{many['hidden'][i]}, optimal {loop['optimal'][i]} / {many['optimal'][i]}"
                  for i in sorted(set(cost_diff) | set(hidden_diff))[:5]), flush=True)
    rows[-1]["message"] = (rows[-1]["message"] + "; " if rows[-1]["message"] else "") + \
        f"speed-up {loop_s / many_s:.2f}x over the loop"
    return rows


# -- scaling ---------------------------------------------------------------------------------------------

SCALING_2WAY = [10, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000]
SCALING_3WAY = [2, 3, 4, 5, 6, 8, 10, 12, 15, 20]  # dims=3, levels (k, 2) per dimension: (1+3k)^3 cells


def scaling_series() -> dict:
    s2 = [(f"2-way {n}x{n}", synthetic(dims=2, levels=(n,))) for n in SCALING_2WAY]
    s3 = [(f"3-way hier ({k},2)^3", synthetic(dims=3, levels=(k, 2))) for k in SCALING_3WAY]
    return {("2-way", "optimal"): s2, ("2-way", "fast"): s2,
            ("3-way hier", "optimal"): s3, ("3-way hier", "fast"): s3}


def _hit_limit(row: dict) -> bool:
    """The run stopped at its time limit (its seconds measure the limit, not the work)."""
    return "time limit" in str(row.get("message", "")) or (
        row.get("time limit") is not None and row.get("seconds", 0) >= row["time limit"])


def fit_power(rows: list[dict], key: str = "seconds", floor: float = 0.05) -> tuple[float, float, int] | None:
    """Least squares of log(row[key]) = log(a) + b log(cells); rows under ``floor`` are ignored."""
    pts = [(r["cells"], r[key]) for r in rows if (r.get(key) or 0) >= floor and r.get("cells")]
    if len(pts) < 2 or len({c for c, _ in pts}) < 2:
        return None
    x = np.log([c for c, _ in pts])
    y = np.log([v for _, v in pts])
    b, loga = np.polyfit(x, y, 1)
    return float(np.exp(loga)), float(b), len(pts)


def print_fit(label: str, rows: list[dict], key: str = "seconds", floor: float = 0.05) -> None:
    """One line: the fit of ``key`` against cells over ``rows``, or why there is none."""
    fit = fit_power(rows, key, floor)
    if fit is None:
        print(f"  {label:22}  too few points ({len(rows)} finished)")
    else:
        a, b, n = fit
        print(f"  {label:22}  b = {b:5.2f}   a = {a:.3g}   ({n} points, cells {min(r['cells'] for r in rows)}.."
              f"{max(r['cells'] for r in rows)})")


def finished(rows: list[dict]) -> list[dict]:
    """The rows whose seconds measure the work: not failed, not stopped at the time limit, and
    (optimal method) proven optimal."""
    return [r for r in rows if not r.get("error") and not _hit_limit(r)
            and (r.get("method") != "optimal" or r.get("optimal"))]


def pyplot(png: str):
    """matplotlib's pyplot on a file backend, or None (with a note) when the bench extra is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib is not installed: no plot; `pip install -e .[bench]` to get benchmarks/results/{png})")
        return None
    return plt


def loglog_series(ax, rows: list[dict], key: str, label: str, done: list[bool], joined: bool = True):
    """``key`` against cells, filled points where ``done``, hollow elsewhere; ``joined``: as a line."""
    c = [r["cells"] for r in rows]
    v = [r.get(key) for r in rows]
    line, = ax.plot(c, v, linestyle="-" if joined else "none", label=label if joined else None)
    ax.scatter([x for x, d in zip(c, done) if d], [y for y, d in zip(v, done) if d], color=line.get_color(), zorder=3,
               label=None if joined else label)
    ax.scatter([x for x, d in zip(c, done) if not d], [y for y, d in zip(v, done) if not d],
               facecolors="none", edgecolors=line.get_color(), zorder=3)
    return line


def save_plot(fig, axes, path: Path) -> None:
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def run_scaling(args, printer: Printer, stamp_rows) -> list[dict]:
    budget = args.budget
    per_table = args.time_limit
    t_start = time.perf_counter()
    series = scaling_series()
    active = {k: True for k in series}
    rows: list[dict] = []
    step = 0
    while any(active.values()):
        for key, tables in series.items():
            if not active[key]:
                continue
            if step >= len(tables):
                active[key] = False
                continue
            left = budget - (time.perf_counter() - t_start)
            if left < 1.0:
                print(f"budget of {budget:g} s spent: stopping", flush=True)
                return rows
            name, src = tables[step]
            tl = min(per_table, left)
            case = Case(name, src, method=key[1], time_limit=tl,
                        extra={"series": f"{key[0]} {key[1]}"})
            row = stamp_rows(run_isolated(case, _hard_timeout(tl), args.in_process))
            rows.append(row)
            printer.row(row)
            finished = not row.get("error") and (key[1] == "fast" or row.get("optimal"))
            if not finished or row.get("seconds", 0) >= tl:
                print(f"    series {key[0]} {key[1]} stops here ({'time limit' if not row.get('error') else 'error'})",
                      flush=True)
                active[key] = False
        step += 1
    return rows


def scaling_report(rows: list[dict], out: Path) -> None:
    print()
    print("Fit seconds ~ a * cells^b (least squares on log-log; rows under 0.05 s and rows that hit the time "
          "limit or failed are left out)")
    series = sorted({r.get("series") for r in rows if r.get("series")})
    for s in series:
        print_fit(s, finished([r for r in rows if r.get("series") == s]))
    plt = pyplot("scaling-latest.png")
    if plt is None:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for s in series:
        rs = [r for r in rows if r.get("series") == s and not r.get("error")]
        if not rs:
            continue
        done = [r.get("method") == "fast" or bool(r.get("optimal")) for r in rs]
        line = loglog_series(ax1, rs, "seconds", s, done)
        ax2.plot([r["cells"] for r in rs], [r["hidden"] / r["cells"] for r in rs], "o-", color=line.get_color(),
                 label=s)
    ax1.set(xscale="log", yscale="log", xlabel="cells", ylabel="seconds",
            title="protect time (hollow: time limit hit)")
    ax2.set(xscale="log", yscale="log", xlabel="cells", ylabel="hidden cells / cells", title="hidden share")
    save_plot(fig, (ax1, ax2), out / "scaling-latest.png")


def large_scaling_report(rows: list[dict], out: Path) -> None:
    """Seconds and peak memory of the large suite's own rows (not tau-ARGUS's) against cells:
    the power fits and a log-log plot. Memory is the whole process tree's where /proc is there."""
    ours = [r for r in rows if not str(r.get("method", "")).startswith("tau-ARGUS")]
    mem = "peak tree MB" if any(r.get("peak tree MB") for r in ours) else "peak MB"
    ok = finished(ours)
    print()
    print(f"Fit seconds ~ a * cells^b and {mem} ~ a * cells^b (least squares on log-log; rows that hit the time "
          "limit or failed are left out)")
    print_fit("seconds", ok)
    print_fit(mem, ok, mem, floor=1e-9)
    plt = pyplot("large-scaling-latest.png")
    if plt is None:
        return
    rs = sorted((r for r in ours if not r.get("error") and r.get("cells")), key=lambda r: r["cells"])
    if not rs:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    for ax, key, floor in ((ax1, "seconds", 0.05), (ax2, mem, 1e-9)):
        pts = [r for r in rs if r.get(key) is not None]
        loglog_series(ax, pts, key, "protect (with its audit)" if key == "seconds" else mem,
                      [not _hit_limit(r) for r in pts], joined=False)
        for r in pts:  # tables of different shapes: each point named, the fit drawn through them
            ax.annotate(r["table"], (r["cells"], r[key]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        fit = fit_power(ok, key, floor)
        if fit is not None:
            a, b, _ = fit
            c = np.geomspace(min(r["cells"] for r in rs), max(r["cells"] for r in rs), 50)
            ax.plot(c, a * c ** b, "--", color="grey", label=f"fit: {a:.3g} * cells^{b:.2f}")
    ax1.set(xscale="log", yscale="log", xlabel="cells", ylabel="seconds", title="large: time (hollow: time limit hit)")
    ax2.set(xscale="log", yscale="log", xlabel="cells", ylabel="MB", title=f"large: {mem}")
    save_plot(fig, (ax1, ax2), out / "large-scaling-latest.png")


# -- main --------------------------------------------------------------------------------------------------

DEFAULT_TIME_LIMIT = {"quick": 5.0, "standard": 600.0, "instances": 60.0, "small3": 60.0, "scaling": 120.0,
                      "audit": None, "linked": 120.0, "many": None, "large": 120.0}
TAUARGUS_METHOD = {"instances": "tau-ARGUS OPT", "small3": "tau-ARGUS OPT", "large": "tau-ARGUS MOD"}


HARD_TIMEOUT: float | None = -1.0  # -1: the default rule below; None: never kill
# tau-ARGUS's modular method has a limit per subtable only, none on the whole run, so the suite's
# time limit says nothing of its length: by default it gets this long before it is killed
TAU_MOD_HARD_TIMEOUT = 1500.0


def _hard_timeout(tl: float | None, case: Case | None = None) -> float | None:
    """How long a child may run before it is killed: protect stops itself at its time limit, but the
    final audit of a large pattern comes on top of it (default ``3 * time limit + 120``);
    tau-ARGUS's modular method: ``TAU_MOD_HARD_TIMEOUT``."""
    if HARD_TIMEOUT is None or HARD_TIMEOUT >= 0:
        return HARD_TIMEOUT
    if case is not None and case.kind == "tauargus" and case.method == TAUARGUS_METHOD["large"]:
        return TAU_MOD_HARD_TIMEOUT
    return None if tl is None else 3 * tl + 120


_SUITE_DEFAULT = object()  # --time-limit not given: the suite's default


def _time_limit(text: str) -> float | None:
    """``--time-limit``: seconds, or ``none`` (protect without a time limit)."""
    return None if text.strip().lower() == "none" else float(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", required=True,
                    choices=["quick", "standard", "instances", "small3", "scaling", "audit", "linked", "many",
                             "large"])
    ap.add_argument("--time-limit", type=_time_limit, default=_SUITE_DEFAULT,
                    help="seconds per table, or 'none' for protect's default of no limit (defaults: quick 5, "
                         "standard 600, instances 60, small3 60, scaling 120, linked 120 per protect call, large 120)")
    ap.add_argument("--budget", type=float, default=600.0, help="scaling: total seconds for all tables (600)")
    ap.add_argument("--tables", type=int, default=1000, help="many: how many tables (1000)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="directory for the CSV files")
    ap.add_argument("--instances-dir", type=Path, default=REPO.parent / "shared" / "instances",
                    help="directory of *.jj files for --suite instances")
    ap.add_argument("--quiet", action="store_true", help="no per-row messages or tracebacks")
    ap.add_argument("--in-process", action="store_true",
                    help="run cases in this process (no isolation; peak MB then only shows growth above "
                         "the process's earlier peak)")
    ap.add_argument("--only", default=None,
                    help="case names to run, separated by commas, or by semicolons where a name holds a comma (e.g. --only NINENEW,NINE12); default all")
    ap.add_argument("--tauargus", action="store_true",
                    help="instances, small3: also tau-ARGUS's optimal method on the same JJ file; large: its "
                         "modular method on the same table (needs pytauargus: pip install -e '.[tauargus]')")
    ap.add_argument("--solver", default="highs",
                    help="the master's solver of the protect cases: highs (default), scip (SCIP's branch-and-cut, "
                         "pip install -e '.[scip]') or a PuLP solver such as cbc")
    ap.add_argument("--hard-timeout", type=float, default=-1.0,
                    help="kill a case after this many seconds (default 3 x time limit + 120; tau-ARGUS's "
                         f"modular method {TAU_MOD_HARD_TIMEOUT:g}; 0 = never)")
    args = ap.parse_args(argv)
    global HARD_TIMEOUT
    HARD_TIMEOUT = None if args.hard_timeout == 0 else args.hard_timeout
    if args.time_limit is _SUITE_DEFAULT:
        args.time_limit = DEFAULT_TIME_LIMIT[args.suite]
    tau_version = None
    if args.tauargus:
        if args.suite not in TAUARGUS_METHOD:
            ap.error(f"--tauargus applies to the suites {', '.join(TAUARGUS_METHOD)}")
        tau_version = _tauargus().require()
        # every tau-ARGUS run works under this directory, removed at the end (a run killed at its
        # hard timeout leaves its own behind); the forked children end with os._exit, without it
        _tauargus().WORK_ROOT = tempfile.mkdtemp(prefix="cellsuppress-tauargus-")
        atexit.register(shutil.rmtree, _tauargus().WORK_ROOT, ignore_errors=True)

    info = machine_info()
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    machine = (f"{info['cores']} cores, {info['memory']}, python {info['python']}, highspy {info['highspy']}")
    print(f"cellsuppress benchmarks: suite {args.suite}, started {started:%Y-%m-%d %H:%M:%S}")
    print_machine(info)
    if tau_version:
        print(f"tau-ARGUS: {tau_version}")
    if args.suite == "scaling":
        print(f"per-table time limit {args.time_limit:g} s, total budget {args.budget:g} s")
    elif args.time_limit is not None:
        print(f"time limit {args.time_limit:g} s per table")
    else:
        print("no time limit")
    print(flush=True)

    def stamp_rows(row: dict) -> dict:
        row.setdefault("suite", args.suite)
        row["started"] = started.isoformat(timespec="seconds")
        row["commit"] = info["commit"]
        row["machine"] = machine
        return row

    t0 = time.perf_counter()
    printer = Printer({"audit": AUDIT_COLUMNS, "linked": LINKED_COLUMNS, "many": MANY_COLUMNS,
                       "large": LARGE_COLUMNS}.get(
        args.suite, PROTECT_COLUMNS), args.quiet)
    rows: list[dict] = []
    jj_dir = None  # small3: the JJ files both sides read
    if args.suite == "scaling":
        rows = run_scaling(args, printer, stamp_rows)
    elif args.suite == "many":
        rows = run_many_suite(args, printer, stamp_rows)
    else:
        if args.suite == "quick":
            cases = quick_cases(args.time_limit)
        elif args.suite == "standard":
            cases = standard_cases(args.time_limit)
        elif args.suite == "instances":
            if not args.instances_dir.is_dir() or not any(args.instances_dir.glob("*.[jJ][jJ]")):
                print(f"no *.jj files in {args.instances_dir}: skipping the instances suite "
                      "(pass --instances-dir)")
                return 0
            cases = instance_cases(args.instances_dir, args.time_limit)
        elif args.suite == "small3":
            jj_dir = Path(tempfile.mkdtemp(prefix="cellsuppress-small3-"))
            cases = small3_cases(args.time_limit, jj_dir)
        elif args.suite == "linked":
            cases = linked_cases(args.time_limit)
        elif args.suite == "large":
            cases = large_cases(args.time_limit)
        else:
            cases = audit_cases()
        if args.solver != "highs":
            cases = [replace(c, solver=args.solver) if c.kind == "protect" else c for c in cases]
        if args.tauargus:
            cases = with_tauargus(cases, args.suite)
        if args.only:
            keep = {c.strip() for c in args.only.split(";" if ";" in args.only else ",") if c.strip()}
            unknown = keep - {c.table for c in cases}
            if unknown:
                print(f"--only: no case named {', '.join(sorted(unknown))}")
            cases = [c for c in cases if c.table in keep]
        for case in cases:
            hard = _hard_timeout(case.time_limit, case)
            row = stamp_rows(run_isolated(case, hard, args.in_process))
            rows.append(row)
            printer.row(row)
    total = time.perf_counter() - t0
    print(f"\n{len(rows)} row(s) in {total:.1f} s"
          + (f"; {sum(1 for r in rows if r.get('error'))} failed" if any(r.get("error") for r in rows) else ""))

    if args.suite in ("quick", "standard"):
        comparison(rows)
    if args.suite == "linked":
        linked_comparison(rows)
    if args.tauargus:
        _tauargus().side_by_side(rows)
    if jj_dir is not None:
        shutil.rmtree(jj_dir, ignore_errors=True)
    if args.suite in ("scaling", "large") and rows:
        args.out.mkdir(parents=True, exist_ok=True)
        (scaling_report if args.suite == "scaling" else large_scaling_report)(rows, args.out)

    if rows:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{args.suite}-{stamp}.csv"
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
        latest = args.out / f"{args.suite}-latest.csv"
        shutil.copyfile(path, latest)
        print(f"wrote {path} (and {latest.name})")
    return 1 if rows and all(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
