"""The view as a PNG picture, drawn with matplotlib (an optional dependency: the ``view`` extra)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CellSuppressError
from .view import GRAND_TOTAL_FILL, MARGIN_FILL, MARKS, View

ROW_H = 0.3  # inches per table row
FACT_H = 0.19  # inches per line of facts and of the legend
GAP_H = 0.45  # inches between slices (their caption)


def write(view: View, path, dpi: int = 150) -> Path:
    """Draw ``view`` into ``path`` (PNG)."""
    try:  # a Figure without pyplot: no global backend state is touched
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch, Rectangle
    except ImportError:
        raise CellSuppressError(
            "to_png needs matplotlib: pip install 'cellsuppress[view]' (or pip install matplotlib); "
            "to_html needs nothing more") from None
    label_w = [0.12 * max(len(ct.rows.name), *(len(s) + 2 * int(d) for s, d in zip(ct.rows.labels, ct.rows.depth)))
               + 0.3 for ct in view.tables]
    col_w = [max(0.75, 0.1 * max(len(s) for s in ct.columns.labels) + 0.3) for ct in view.tables]
    widths = [lw + cw * len(ct.columns.labels) for lw, cw, ct in zip(label_w, col_w, view.tables)]
    heights = [ROW_H * (len(ct.rows.labels) + 1) for ct in view.tables]
    fig_w = max(6.5, max(widths) + 0.5)
    header_h = 0.8 + FACT_H * (len(view.facts) + len(MARKS) + 1) + 0.15
    fig_h = header_h + sum(heights) + GAP_H * len(view.tables) + 0.2
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    top = fig_h - 0.15
    fig.text(0.2 / fig_w, (top - 0.1) / fig_h, view.title, fontsize=13, weight="bold", va="top")
    fig.text(0.2 / fig_w, (top - 0.42) / fig_h, view.verdict, fontsize=9.5, weight="bold", va="top",
             color="white", bbox={"boxstyle": "square,pad=0.25",
                                  "facecolor": "#007A5A" if view.ok else "#B34700", "edgecolor": "none"})
    for k, fact in enumerate(view.facts):
        fig.text(0.2 / fig_w, (top - 0.72 - FACT_H * k) / fig_h, fact, fontsize=8, va="top")
    handles = [Patch(facecolor=m.fill, edgecolor=m.edge, hatch="///" if m.pattern == "hatched" else None,
                     linestyle="--" if m.border == "dashed" else "-",
                     label=f"{m.letter}: {m.legend}") for m in MARKS.values()]
    handles.append(Patch(facecolor=MARGIN_FILL, edgecolor="#999999", label="total or subtotal (bold)"))
    fig.legend(handles=handles, loc="upper left",
               bbox_to_anchor=(0.12 / fig_w, (top - 0.72 - FACT_H * len(view.facts)) / fig_h),
               ncol=1, fontsize=8, frameon=False, handlelength=2.4, labelspacing=0.35, borderaxespad=0)
    y = top - header_h
    for ct, h, lw, cw, w in zip(view.tables, heights, label_w, col_w, widths):
        if ct.caption:
            fig.text(0.2 / fig_w, (y - 0.12) / fig_h, ct.caption, fontsize=9.5, weight="bold", va="top")
        y -= GAP_H if ct.caption else 0.1
        ax = fig.add_axes((0.2 / fig_w, (y - h) / fig_h, w / fig_w, h / fig_h))
        _draw(ax, view, ct, lw, cw, Rectangle)
        y -= h
    fig.savefig(Path(path), dpi=dpi, facecolor="white")
    return Path(path)


def _draw(ax, view: View, ct, label_w: float, col_w: float, Rectangle) -> None:
    n_r, n_c = len(ct.rows.labels), len(ct.columns.labels)
    xs = np.concatenate([[0.0], label_w + col_w * np.arange(n_c + 1)])  # column edges, inches
    ax.set_xlim(0, xs[-1])
    ax.set_ylim(n_r + 1, 0)
    ax.axis("off")
    corner = ct.rows.name + (f" \\ {ct.columns.name}" if ct.columns.name else "")
    ax.text(0.06, 0.5, corner, fontsize=8, style="italic", va="center", color="#444444")
    for j, lab in enumerate(ct.columns.labels):
        ax.text(xs[j + 2] - 0.06, 0.5, lab, fontsize=8, ha="right", va="center",
                weight="bold" if ct.columns.margin[j] else "normal")
    for i, lab in enumerate(ct.rows.labels):
        y = i + 1
        r_m = bool(ct.rows.margin[i])
        ax.add_patch(Rectangle((0, y), label_w, 1, facecolor=MARGIN_FILL if r_m else "white",
                               edgecolor="#BBBBBB", linewidth=0.5, clip_on=False))
        ax.text(0.06 + 0.12 * int(ct.rows.depth[i]), y + 0.5, lab, fontsize=8, va="center",
                weight="bold" if r_m else "normal")
        for j in range(n_c):
            c = int(ct.cells[i, j])
            c_m = bool(ct.columns.margin[j])
            mark = MARKS.get(view.status[c])
            face = GRAND_TOTAL_FILL if r_m and c_m else MARGIN_FILL if r_m or c_m else "white"
            kw = dict(facecolor=face, edgecolor="#BBBBBB", linewidth=0.5)
            if mark is not None:
                kw = dict(facecolor=mark.fill, edgecolor=mark.edge, linewidth=1.4,
                          hatch="///" if mark.pattern == "hatched" else None,
                          linestyle="--" if mark.border == "dashed" else "-")
            ax.add_patch(Rectangle((xs[j + 1], y), col_w, 1, clip_on=False, **kw))
            text = view.text[c] + (f" {mark.letter}" if mark is not None else "")
            ax.text(xs[j + 2] - 0.06, y + 0.5, text, fontsize=8, ha="right", va="center",
                    weight="bold" if r_m or c_m else "normal",
                    bbox={"facecolor": mark.fill, "edgecolor": "none", "pad": 0.6} if mark is not None and
                    mark.pattern == "hatched" else None)
