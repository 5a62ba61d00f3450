"""How messages name the input's rows and values.

A frame read from a file has its rows numbered by their line in the file (the header is
line 1, so the first data row is line 2): its index carries the name :data:`FILE_LINE`, and
messages say ``line 7``. Any other frame's rows are named by their index label: ``row 5``.
Values appear as the user wrote them: ``-3``, not numpy's ``np.int64(-3)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

FILE_LINE = "file line"  # index name of a frame whose labels are the lines of its file


def numbered_by_line(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (read from a file with a header line) with its rows labelled by their file line."""
    df.index = pd.RangeIndex(2, len(df) + 2, name=FILE_LINE)
    return df


def rows_named(index: pd.Index, positions: Sequence[int]) -> str:
    """``line 7``, ``lines 7 and 9``, ``row 'a'`` or ``rows 3, 4 and 8`` for rows at ``positions``.

    >>> rows_named(pd.RangeIndex(2, 6, name=FILE_LINE), [0, 2])
    'lines 2 and 4'
    >>> rows_named(pd.Index(["a", "b"]), [1])
    "row 'b'"
    """
    what = "line" if index.name == FILE_LINE else "row"
    labels = [show(index[i]) if what == "row" else str(index[i]) for i in positions]
    if len(labels) == 1:
        return f"{what} {labels[0]}"
    return f"{what}s {', '.join(labels[:-1])} and {labels[-1]}"


def show(value) -> str:
    """A value of the data for a message: strings quoted, numbers plain.

    >>> show(np.int64(-3)), show("abc"), show(np.float64(2.5))
    ('-3', "'abc'", '2.5')
    """
    return repr(value.item() if isinstance(value, np.generic) else value)


def some(items: Sequence, limit: int = 10) -> str:
    """At most ``limit`` items, quoted and comma-separated, then ``...``.

    >>> some(["a", "b", "c"], limit=2)
    "'a', 'b', ..."
    """
    items = list(items)
    return ", ".join(show(x) for x in items[:limit]) + (", ..." if len(items) > limit else "")
