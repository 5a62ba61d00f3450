"""``cellsuppress protect-many``: protect many independent CSV tables of one layout, each on its
own, on local worker processes or a Dask cluster; one output per table and a summary row per
table (:func:`cellsuppress.many.run_many`), a table that fails named in its row.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .exit import CTRL_C, NOT_SAFE, OK, UsageError, one_line
from .inputs import dims_lists, is_jj, need_file, read_hierarchies, read_table, table_names
from .outputs import check_outputs, output_dirs, write_cells, write_csv
from .protect import protect_options


@dataclass
class _ManySpec:
    """How protect-many reads, protects and writes each table: sent to the worker processes."""

    dims: list[str]
    count: str
    hierarchies: dict
    total_code: str
    sep: str
    options: dict


def cmd_protect_many(args) -> int:
    from ..executor import INTERRUPTED
    from ..many import protect_summary, run_many

    lists = dims_lists(args)
    if len(lists) > 1:
        raise UsageError("protect-many protects each table on its own, all with one --dims list; tables that "
                         "share cells are linked: protect them together with protect")
    if not args.count or ";" in args.count:
        raise UsageError("--count is required: the count column of every table (e.g. --count n)")
    args.input = _many_inputs(args.input)
    names = table_names(args)
    outputs = output_dirs(args, names)["--output"]
    out_dir = Path(args.output)
    summary = Path(args.summary) if args.summary else out_dir / "summary.csv"
    if summary.resolve() in {f.resolve() for f in outputs}:
        raise UsageError(f"the summary {summary} would be the output of the table {summary.stem}: give --summary "
                         "another file")
    if args.summary:
        check_outputs(args, "--summary")
    executor = _many_executor(args)
    spec = _ManySpec(dims=lists[0], count=args.count.strip(), hierarchies=read_hierarchies(args, lists[0]),
                     total_code=args.total_code, sep=args.sep, options=protect_options(args, args.preset, args.cost))
    out_dir.mkdir(exist_ok=True)
    try:
        outcomes = run_many(partial(_protect_file, spec), list(zip(args.input, map(str, outputs))), names,
                            executor, "protect", progress=not args.quiet)
    finally:
        executor.close()
        if getattr(executor, "client", None) is not None:
            executor.client.close()  # the client this command opened for --scheduler
    frame = protect_summary(names, outcomes)
    write_csv(frame.round({"seconds": 3}), summary)
    interrupted = frame["error"].str.startswith(f"{INTERRUPTED}:")
    failed = frame[(frame["error"] != "") & ~interrupted]
    done = frame[frame["error"] == ""]
    lines = [f"protect-many ({args.preset or 'strict'}, threshold {args.threshold:g}, method {args.method}): "
             f"{len(frame) - len(failed) - int(interrupted.sum())} of {len(frame)} tables protected and audited SAFE"
             + (f", {len(failed)} failed" if len(failed) else "")
             + (f", {int(interrupted.sum())} not done (interrupted)" if interrupted.any() else ""),
             f"  total cost: {frame['cost'].sum():g}; not proven optimal: {int(frame['optimal'].eq(False).sum())}; "
             f"seconds per table protected: {done['seconds'].mean():.2f} on average, {done['seconds'].max():.2f} "
             "at most",
             f"  written: {out_dir}/NAME.csv per table; summary: {summary}"]
    lines += [f"  failed: {row.name}: {row.error}" for row in failed.itertuples()][:20]
    if len(failed) > 20:
        lines.append(f"  ... and {len(failed) - 20} more failed tables (see the summary)")
    print("\n".join(lines))
    if interrupted.any():
        return CTRL_C  # as Ctrl-C anywhere else
    return OK if failed.empty else NOT_SAFE


def _many_inputs(inputs: list[str]) -> list[str]:
    """The CSV files of protect-many's inputs: files as given, directories by their *.csv files."""
    files = []
    for path in inputs:
        p = Path(path)
        if p.is_dir():
            found = sorted(str(f) for f in p.glob("*.csv") if f.is_file())
            if not found:
                raise UsageError(f"{path}: no *.csv file in this directory")
            files += found
        elif is_jj(path):
            raise UsageError(f"{path}: protect-many takes CSV tables; protect a .jj file with protect")
        else:
            files.append(str(need_file(path)))
    return files


def _many_executor(args):
    from ..executor import make_executor
    from ..solvers import one_thread

    if args.scheduler is None:
        return make_executor(workers=args.workers, worker_init=one_thread)
    if args.workers is not None:
        raise UsageError("give --workers (local processes) or --scheduler (a Dask cluster), not both")
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs dask.distributed: pip install 'cellsuppress[dask]'") from None
    try:
        client = Client(args.scheduler, timeout=30)
    except OSError as e:
        raise UsageError(f"--scheduler {args.scheduler}: cannot reach the scheduler ({one_line(e)})") from None
    return make_executor(client=client, worker_init=one_thread)


def _protect_file(spec: _ManySpec, job: tuple[str, str]):
    """Read one table, protect it and write its cells (in a worker process)."""
    from ..many import protect_one

    path, out = job
    table = read_table(path, spec.dims, spec.count, spec.hierarchies, spec.total_code, spec.sep)
    result = protect_one(spec.options, table)
    write_cells(result.frame, table, out)
    return result
