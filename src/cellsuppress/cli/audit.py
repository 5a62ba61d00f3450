"""``cellsuppress audit``: prove or refute that a suppressed table (or a linked set) is safe."""
from __future__ import annotations

import sys

from .exit import NOT_SAFE, OK, UsageError
from .inputs import are_linked, check_no_jj, is_jj, load_jj, load_tables, read_indices
from .outputs import check_outputs, write_csv


def cmd_audit(args) -> int:
    from ..auditing import audit

    check_outputs(args, "--output")
    several = are_linked(args)
    if several:
        check_no_jj(args)
    if not several and is_jj(args.input[0]):
        table = load_jj(args.input[0])
        if args.hidden_column or args.markers:
            raise UsageError("--hidden-column and --markers are for CSV input; use --hidden for .jj")
        hidden = read_indices(args.hidden, table.n_cells) if args.hidden else None
    else:
        if args.hidden:
            raise UsageError("--hidden is for .jj input; for CSV use --hidden-column or markers")
        if args.hidden_column:
            if args.markers:
                raise UsageError("--markers and --hidden-column exclude each other")
            inputs = load_tables(args, published=False)
            hidden = args.hidden_column
        else:
            inputs = load_tables(args, published=True, markers=_split_markers(args.markers))
            hidden = None
        table = [i.table for i in inputs] if several else inputs[0].table
    report = audit(table, hidden=hidden, preset=args.preset, threshold=args.threshold, integer=args.integer,
                   hidden_nonzero=args.hidden_nonzero, progress=not args.quiet)
    if several:
        print(f"{len(inputs)} linked tables audited together: "
              + ", ".join(f"{i.path} ({' x '.join(i.dims)})" for i in inputs))
    print(report.summary())
    if args.output:
        write_csv(report.frame, args.output)
        if not args.quiet:
            print(f"report written to {args.output}", file=sys.stderr)
    return OK if report.ok else NOT_SAFE


def _split_markers(text: str | None):
    if text is None:
        return None
    return [m.strip() for m in text.split(",")]
