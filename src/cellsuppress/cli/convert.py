"""``cellsuppress convert``: a CSV table to a tau-ARGUS JJ file (strict protection levels for
its sensitive cells), or a JJ file to a CSV of its cells."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..release import whole_as_int
from .exit import OK, UsageError
from .inputs import is_jj, load_jj, load_table
from .outputs import atomic, check_outputs, write_csv


def cmd_convert(args) -> int:
    out = args.output
    check_outputs(args, "--output")
    if is_jj(args.input):
        if is_jj(out):
            raise UsageError("convert .jj -> .csv: -o must not be a .jj file")
        t = load_jj(args.input)
        n = t.n_cells

        def col(a, default):
            return np.full(n, default) if a is None else np.asarray(a)

        cells = pd.DataFrame({
            "index": np.arange(n),
            "value": whole_as_int(pd.Series(t.values)),
            "cost": whole_as_int(pd.Series(col(t.cost, np.nan))),
            "status": col(t.status, "s"),
            "lb": t.lb, "ub": t.ub,
            "lpl": col(t.lpl, 0.0), "upl": col(t.upl, 0.0), "spl": col(t.spl, 0.0),
        })
        for c in ("lb", "ub", "lpl", "upl", "spl"):
            cells[c] = whole_as_int(cells[c]) if np.isfinite(cells[c]).all() else cells[c]
        write_csv(cells, out)
        print(f"{n} cells, {t.n_equations} relations -> {out}")
        return OK
    if not is_jj(out):
        raise UsageError("convert: give a .jj input (-> CSV) or a CSV input with -o OUT.jj")
    from ..io.jj import write_jj
    from ..rules import requirement

    table = load_table(args, published=False)
    # the file carries strict's protection levels, which tau-ARGUS reads as given
    req = requirement(table, "strict", args.threshold)
    sens = req.sensitive
    table.upl, table.lpl, table.spl = req.levels(table.values)
    table.status = np.where(sens, "u", "s")
    table.cost = np.maximum(table.values, 1.0)
    with atomic(out) as tmp:
        write_jj(table, tmp)
    print(f"{table.n_cells} cells ({int(sens.sum())} unsafe), {table.n_equations} relations -> {out}")
    return OK
