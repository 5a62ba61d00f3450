"""``cellsuppress protect``: protect a table (CSV or JJ) or a linked set of tables, write the
cells with their statuses (and the published table and a page, if asked) and print what was done.
"""
from __future__ import annotations

import os
import shlex
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..errors import VerificationError
from ..release import denominators
from ..release.crosstab import crosstabs
from .exit import NOT_SAFE, OK, UsageError, one_line
from .inputs import are_linked, check_no_jj, is_jj, load_jj, load_tables, split_list, table_names
from .outputs import atomic, check_outputs, output_dirs, write_cells, write_csv


def cmd_protect(args) -> int:
    from ..params import follow_table
    from ..protect import protect
    from ..solvers.base import export_format

    several = are_linked(args)
    if several:
        check_no_jj(args)
    jj = not several and is_jj(args.input[0])
    if jj and (args.published or args.slice_by or args.status_column or args.microdata):
        opt = next(o for o, v in (("--published", args.published), ("--slice-by", args.slice_by),
                                  ("--status-column", args.status_column), ("--microdata", args.microdata)) if v)
        raise UsageError(f"{opt} needs CSV input (a JJ file has no codes; its statuses m and z fix cells)")
    if args.microdata and args.status_column:
        raise UsageError("--status-column needs tables of counts; --microdata has one row per person")
    if several:
        outputs = output_dirs(args, table_names(args))
        check_outputs(args, "--export-model")
    else:
        check_outputs(args, "--output", "--published", "--export-model", "--html")
    if args.export_model:
        export_format(args.export_model)  # by its own name: protect() sees a temporary one
    inputs = [] if jj else load_tables(args, published=False)
    tables = [load_jj(args.input[0])] if jj else [i.table for i in inputs]
    preset, cost = follow_table(tables[0], args.preset, args.cost)
    if args.percent and not args.published:
        raise UsageError("--percent adds a column to --published: give --published OUT.csv too")
    if args.slice_by and not args.html:
        raise UsageError("--slice-by lays out the --html page: give --html FILE.html too")
    percent = _percent_arg(args.percent)
    slice_by = split_list(args.slice_by) or None
    # bad --percent or --slice-by fail here, not after the solve
    for table in tables:
        if percent is not None:
            denominators(table, percent)
        if args.html:
            crosstabs(table, slice_by)
    kwargs = dict(protect_options(args, preset, cost), progress=not args.quiet, status_column=args.status_column)
    t0 = time.perf_counter()
    try:
        with atomic(args.export_model) if args.export_model else nullcontext() as model_tmp:
            result = protect(tables if several else tables[0], export_model=model_tmp, **kwargs)
            if model_tmp and os.path.getsize(model_tmp) == 0:
                os.unlink(model_tmp)
                warnings.warn(f"--export-model {args.export_model}: not written, no model was solved "
                              "(no part of the table has sensitive cells)")
    except VerificationError as e:  # the pattern failed its own audit: never publish it
        print(f"error: {one_line(e)}", file=sys.stderr)
        return NOT_SAFE
    seconds = time.perf_counter() - t0
    if several:
        return _linked_outputs(args, result, inputs, outputs, percent, slice_by, seconds, preset, cost)
    paths = (args.output, args.published, args.html)
    _write_outputs(args, result, None if jj else inputs[0], paths, percent, slice_by)
    if args.published and not args.quiet:
        _published_note(args, args.published, [args.output], args.dims)
    return _report(args, result, preset, cost, seconds,
                   cells=f"hidden cells: {result.counts()[0]} of {tables[0].n_cells} {result.hidden_split()}",
                   audit_of="audit", then=[f"written: {', '.join(p for p in paths if p)}"])


def protect_options(args, preset: str | None, cost: str | None) -> dict:
    """The options of :func:`~cellsuppress.protect` that the rule and solve arguments give."""
    return dict(preset=preset, threshold=args.threshold, cost=cost, method=args.method, time_limit=args.time_limit,
                mip_gap=args.mip_gap, solver=args.solver, hidden_nonzero=args.hidden_nonzero)


_OUTPUTS = ("--output", "--published", "--html")  # what a table writes, in this order


def _write_outputs(args, result, inp, paths, percent, slice_by, title: str | None = None) -> None:
    """One table's outputs, at ``paths`` (``-o``, ``--published``, ``--html``; None: not asked):
    its cells with their statuses (a JJ file's, ``inp`` None: the indices of the hidden cells),
    the table as published and the page."""
    output, published, html = paths
    if inp is None:
        with atomic(output) as tmp:
            Path(tmp).write_text("".join(f"{i}\n" for i in np.flatnonzero(result.hidden)), encoding="utf-8")
    else:
        write_cells(result.frame, inp.table, output)
    if published:
        write_csv(result.published(marker=args.marker, count=inp.count or "n", percent=percent,
                                   decimals=args.decimals), published)
    if html:
        with atomic(html) as tmp:
            result.to_html(tmp, slice_by=slice_by, title=title)


def _linked_outputs(args, result, inputs, outputs, percent, slice_by, seconds, preset, cost) -> int:
    """Write one output per table of a linked set, and print the set's summary."""
    for opt in outputs:
        Path(getattr(args, opt.lstrip("-"))).mkdir(exist_ok=True)
    paths = [[outputs[o][k] if o in outputs else None for o in _OUTPUTS] for k in range(len(inputs))]
    for part, inp, mine in zip(result.results, inputs, paths):
        _write_outputs(args, part, inp, mine, percent, slice_by,
                       title=f"{inp.name}: protected with {len(inputs)} linked tables")
    if args.published and not args.quiet:
        _published_note(args, args.published, [str(f) for f in outputs["--output"]],
                        ";".join(",".join(i.dims) for i in inputs))
    then = []
    for part, inp, mine in zip(result.results, inputs, paths):
        written = ", ".join(str(p) for p in mine if p)
        then.append(f"{inp.name} ({' x '.join(inp.dims)}): hidden {part.counts()[0]} of {len(part.frame)} "
                    f"{part.hidden_split()}, cost {part.cost:g}; written: {written}")
    return _report(args, result, preset, cost, seconds, tables=f", {len(inputs)} linked tables",
                   cells=f"distinct cells: {len(result.frame)} (a cell shared by tables counts once); hidden: "
                         f"{result.counts()[0]} {result.hidden_split()}",
                   audit_of="audit of the tables together", then=then)


def _report(args, result, preset: str, cost: str, seconds: float, cells: str, audit_of: str, then: list[str],
            tables: str = "") -> int:
    """Print what protect did, for one table or a linked set: the settings and the verdict, the
    ``cells`` hidden, the cost and bound, the time and the audit (``audit_of`` what), the lines
    ``then`` and the result's message; returns the exit code."""
    verdict = result.audit.verdict
    lines = [
        f"protect ({preset}, threshold {args.threshold:g}, cost {cost}, method "
        f"{result.stats.get('method', args.method)}){tables}: {verdict}",
        f"  {cells}",
        f"  cost: {result.cost:g}; lower bound: {result.lower_bound + 0.0:g}; gap: {result.gap:.2%}; "
        f"optimal: {'yes' if result.optimal else 'no'}",
        f"  seconds: {seconds:.2f}; {audit_of}: {verdict} ({result.audit.stats.get('solves', 0)} LP solves)",
        *(f"  {line}" for line in then),
    ]
    if result.message:
        lines.append("  " + result.message.replace("\n", "\n  "))
    print("\n".join(lines))
    return OK if result.audit.ok else NOT_SAFE


def _published_note(args, published: str, outputs: list[str], dims: str) -> None:
    print(f"{published}: '{args.marker}' in place of every hidden value; an audit of it alone cannot tell a "
          f"hidden count of 1..{args.threshold:g} from a larger one and may say NOT SAFE (undetermined); to "
          f"verify the pattern with the true values: {_audit_command(args, outputs, dims)}", file=sys.stderr)


def _audit_command(args, outputs: list[str], dims: str) -> str:
    """The ``cellsuppress audit`` command that checks ``-o``'s outputs with their true values."""
    cmd = ["cellsuppress", "audit", *outputs, "--dims", dims, "--count", "value", "--hidden-column", "hidden"]
    for spec in args.hierarchy:
        cmd += ["--hierarchy", spec]
    if args.total_code != "Total":
        cmd += ["--total-code", args.total_code]
    if args.preset:
        cmd += ["--preset", args.preset]
    if args.threshold != 20:
        cmd += ["--threshold", f"{args.threshold:g}"]
    if args.hidden_nonzero:
        cmd.append("--hidden-nonzero")
    return " ".join(shlex.quote(str(c)) for c in cmd)


def _percent_arg(text: str | None):
    """``row``/``column``/``total`` or one dimension name as given; several names as a list."""
    if text is None:
        return None
    names = split_list(text)
    if not names:
        raise UsageError("--percent is empty; give row, column, total or dimension names")
    return names[0] if len(names) == 1 else names
