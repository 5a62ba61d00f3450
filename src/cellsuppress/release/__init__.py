"""What a protected table releases, and views of it for the publisher.

* :func:`published`: the table as published (a marker for every hidden count), with
  percentages that are published only where their count and denominator both are;
* :func:`to_html`: a self-contained page with the table as crosstabs, hidden cells marked and
  each one's attacker interval on hover; :func:`to_png`: the same as a picture (matplotlib).

``Result.published``, ``Result.to_html`` and ``Result.to_png`` call these. The layer sits above
:mod:`cellsuppress.protect` (it reads a Result) and below the command line.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import page, picture
from .published import PERCENT_KINDS, cells_frame, denominators, percentages, published, whole_as_int
from .view import build_view

if TYPE_CHECKING:
    from ..result import Result

__all__ = ["published", "cells_frame", "denominators", "percentages", "whole_as_int", "to_html", "to_png",
           "PERCENT_KINDS"]


def to_html(result: "Result", path=None, slice_by=None, intervals: bool = True, show_hidden: bool = True,
            marker: str = "*", title: str | None = None) -> str:
    """A self-contained HTML page of ``result``: returns its text, and writes it to ``path`` if given.

    The table is shown as a crosstab (rows: first dimension, columns: second); a table of three
    or more dimensions as one crosstab per combination of codes of the dimensions in
    ``slice_by`` (default: all but the last two), totals included. Primary and secondary cells
    are marked by colour, fill pattern, border and letter; totals are bold and shaded. Hovering a
    hidden cell shows the interval an attacker can derive for it: with ``intervals=True`` every
    hidden cell's, computed afresh (one LP per bound and cell); with ``False`` the audit's own,
    which covers the sensitive cells only. ``show_hidden=False`` shows ``marker`` in place of
    hidden values (a page that can itself be published).
    """
    view = build_view(result, slice_by=slice_by, intervals=intervals, show_hidden=show_hidden,
                      marker=marker, title=title)
    text = page.render(view)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def to_png(result: "Result", path, slice_by=None, show_hidden: bool = True, marker: str = "*",
           title: str | None = None, dpi: int = 150) -> Path:
    """The view of :func:`to_html` as a PNG picture (needs matplotlib: the ``view`` extra); a
    picture has no hover, so it shows no intervals."""
    view = build_view(result, slice_by=slice_by, intervals=False, show_hidden=show_hidden,
                      marker=marker, title=title)
    return picture.write(view, path, dpi=dpi)
