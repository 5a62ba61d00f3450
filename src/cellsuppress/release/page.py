"""The view as one self-contained HTML page: inline CSS, no script, no external resource."""
from __future__ import annotations

from html import escape

import numpy as np

from .crosstab import Crosstab
from .view import GRAND_TOTAL_FILL, MARGIN_FILL, MARKS, View


def render(view: View) -> str:
    """The page's HTML text."""
    body = [_header(view), _legend(view)]
    body += [_crosstab(view, ct) for ct in view.tables]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(view.title)}</title>\n<style>\n{_css()}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n")


def _css() -> str:
    p, s = MARKS["primary"], MARKS["secondary"]
    return f"""body {{ font-family: system-ui, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
  margin: 1.5rem; color: #111; background: #fff; }}
h1 {{ font-size: 1.35rem; margin: 0 0 .5rem; }}
h2 {{ font-size: 1.05rem; margin: 1.2rem 0 .3rem; }}
.verdict {{ display: inline-block; font-weight: bold; padding: .25rem .6rem; border-radius: 3px; color: #fff; }}
.verdict.safe {{ background: #007A5A; }}
.verdict.unsafe {{ background: #B34700; }}
.facts {{ margin: .5rem 0; padding-left: 1.2rem; }}
.note {{ color: #444; font-size: .9rem; margin: .3rem 0; }}
.legend {{ display: grid; gap: .3rem; margin: .8rem 0; padding: 0; list-style: none; font-size: .9rem; }}
.legend li {{ display: flex; align-items: center; gap: .45rem; }}
.swatch {{ display: inline-block; min-width: 2.2rem; text-align: right; padding: .15rem .4rem;
  border: 1px solid #999; font-variant-numeric: tabular-nums; }}
table.crosstab {{ border-collapse: collapse; font-variant-numeric: tabular-nums; margin: .4rem 0 1rem; }}
.crosstab th, .crosstab td {{ border: 1px solid #bbb; padding: .25rem .55rem; }}
.crosstab td {{ text-align: right; }}
.crosstab thead th {{ text-align: right; vertical-align: bottom; font-weight: normal; }}
.crosstab th.corner {{ text-align: left; font-weight: normal; font-style: italic; color: #444; }}
.crosstab th[scope="row"] {{ text-align: left; font-weight: normal; }}
.crosstab .margin {{ font-weight: bold; background: {MARGIN_FILL}; }}
.crosstab th.margin {{ font-weight: bold; }}
.crosstab tr.margin-row > * {{ border-bottom: 2px solid #777; }}
.crosstab .margin-col {{ border-right: 2px solid #777; }}
.crosstab td.total-of-totals {{ background: {GRAND_TOTAL_FILL}; font-weight: bold; }}
.primary {{ background: {p.fill} !important; border: 2px solid {p.edge} !important; }}
.secondary {{ background: repeating-linear-gradient(135deg, {s.fill} 0 3px, #BFE3F8 3px 8px) !important;
  border: 2px dashed {s.edge} !important; }}
.flag {{ font-size: .72em; font-weight: bold; vertical-align: super; line-height: 0; margin-left: .15em; }}
td[title]:not([data-status="published"]) {{ cursor: help; }}
@media print {{ * {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }} }}
"""


def _header(view: View) -> str:
    facts = "".join(f"<li>{escape(f)}</li>" for f in view.facts)
    cls = "safe" if view.ok else "unsafe"
    notes = ["Hover over a hidden cell for the interval an attacker can derive for it from the published cells."]
    if view.show_hidden:
        notes.append("This page shows the true values of the hidden cells: it is for the publisher, "
                     "not for release.")
    return (f"<header>\n<h1>{escape(view.title)}</h1>\n"
            f"<p><span class=\"verdict {cls}\" id=\"verdict\">{escape(view.verdict)}</span></p>\n"
            f"<ul class=\"facts\">{facts}</ul>\n"
            + "".join(f"<p class=\"note\">{escape(n)}</p>\n" for n in notes) + "</header>")


def _legend(view: View) -> str:
    items = []
    for m in MARKS.values():
        items.append(f"<li><span class=\"swatch {m.status}\">12<span class=\"flag\">{m.letter}</span></span>"
                     f"{escape(m.legend)}</li>")
    items.append("<li><span class=\"swatch\">12</span>published</li>")
    items.append("<li><span class=\"swatch margin\" style=\"font-weight:bold;background:"
                 f"{MARGIN_FILL}\">12</span>total or subtotal (bold, grey)</li>")
    return "<ul class=\"legend\" aria-label=\"legend\">" + "".join(items) + "</ul>"


def _crosstab(view: View, ct: Crosstab) -> str:
    rows, cols = ct.rows, ct.columns
    head_cells = [f"<th class=\"corner\" scope=\"col\">{escape(rows.name)}"
                  + (f" \\ {escape(cols.name)}" if cols.name else "") + "</th>"]
    for j, lab in enumerate(cols.labels):
        cls = _classes(margin=cols.margin[j], margin_col=_after_root(cols.margin, j))
        head_cells.append(f"<th scope=\"col\"{cls}>{escape(lab)}</th>")
    lines = []
    if ct.caption:
        lines.append(f"<h2>{escape(ct.caption)}</h2>")
    lines.append("<table class=\"crosstab\">")
    lines.append("<thead><tr>" + "".join(head_cells) + "</tr></thead>")
    lines.append("<tbody>")
    for i, lab in enumerate(rows.labels):
        indent = f" style=\"padding-left: {0.55 + 1.1 * int(rows.depth[i]):.2f}rem\"" if rows.depth[i] else ""
        r_margin = bool(rows.margin[i])
        tr_cls = " class=\"margin-row\"" if _after_root(rows.margin, i) else ""
        tds = [f"<th scope=\"row\"{_classes(margin=r_margin)}{indent}>{escape(lab)}</th>"]
        for j in range(len(cols.labels)):
            tds.append(_cell(view, int(ct.cells[i, j]), r_margin, bool(cols.margin[j]),
                             _after_root(cols.margin, j)))
        lines.append(f"<tr{tr_cls}>" + "".join(tds) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _cell(view: View, c: int, row_margin: bool, col_margin: bool, margin_col: bool) -> str:
    status = view.status[c]
    names = []
    if row_margin or col_margin:
        names.append("margin")
    if row_margin and col_margin:
        names.append("total-of-totals")
    if margin_col:
        names.append("margin-col")
    flag = ""
    if status in MARKS:
        names.append(status)
        flag = f"<span class=\"flag\">{MARKS[status].letter}</span>"
    cls = f" class=\"{' '.join(names)}\"" if names else ""
    return (f"<td{cls} data-cell=\"{c}\" data-status=\"{status}\" title=\"{escape(view.tip[c])}\">"
            f"{escape(view.text[c])}{flag}</td>")


def _classes(margin: bool = False, margin_col: bool = False) -> str:
    names = (["margin"] if margin else []) + (["margin-col"] if margin_col else [])
    return f" class=\"{' '.join(names)}\"" if names else ""


def _after_root(margin: np.ndarray, k: int) -> bool:
    """The root's row or column (the dimension's total, listed first) is set apart by a rule."""
    return k == 0 and margin.size > 1 and bool(margin[0])
