"""Tables that fit the terminal: every table the command line prints goes through `fit`.

Rich shrinks a table that is too wide by cutting columns evenly, which splits numbers
("3,60" over "0") and truncates every cell ("1…"). Here a table gets one of three layouts,
the first that fits the width:

1. as it is, with column widths chosen so that text wraps between words and a number (with
   its sign, currency and unit) is never broken;
2. folded: the columns after the first are split into groups printed one under the other,
   each group with the first column repeated so every row stays identifiable;
3. records: one block per row, a "header  value" line per column, for tables whose first
   column and any other one cannot stand side by side.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable

from rich import box as boxes
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

# A cell reads as one number when, besides digits and their separators, it carries at most a
# sign, a currency, a unit or a percent; such a cell must stay on one line whatever its length.
NUMBER = re.compile(
    r"^[\s(\[]*(?:<=|>=|[-+−±~≈<>≤≥])?\s*[¥$€£]?\s*\d[\d,.\s:/'-]*"
    r"(?:\s?(?:%|pp|pt|k|m|M|bn|x|×|s|h|d|days?|weeks?|months?|天|周|月|倍))?[\s)\]*]*$"
)


def is_number(text: str) -> bool:
    return bool(text.strip()) and NUMBER.match(text) is not None


def _plain(console: Console, cell: RenderableType) -> str | None:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return console.render_str(cell).plain
    return None


def _need(console: Console, options: ConsoleOptions, cell: RenderableType) -> tuple[int, int]:
    """(the narrowest width the cell takes without breaking a word or a number, its width on
    one line)."""
    text = _plain(console, cell)
    if text is None:
        low, high = Measurement.get(console, options, cell)
        return low, high
    lines = text.splitlines() or [""]
    widest = max(Text(line).cell_len for line in lines)
    if is_number(text):
        return widest, widest
    words = [Text(w).cell_len for line in lines for w in line.split()]
    return max(words, default=1), widest


def _column_needs(console: Console, options: ConsoleOptions, table: Table,
                  column: Column) -> tuple[int, int]:
    cells: list[RenderableType] = list(column.cells)
    if table.show_header:
        cells.append(column.header)
    if table.show_footer:
        cells.append(column.footer)
    pairs = [_need(console, options, c) for c in cells] or [(1, 1)]
    pad = table._get_padding_width(column._index)
    return max(p[0] for p in pairs) + pad, max(p[1] for p in pairs) + pad


def _extra(table: Table, columns: int) -> int:
    """Width the borders of `table` take with this many columns."""
    edge = 2 if table.box and table.show_edge else 0
    return edge + (max(columns - 1, 0) if table.box else 0)


def _with_columns(table: Table, columns: list[Column], title: bool) -> Table:
    part = copy.copy(table)
    # every column gets at least its longest word or number (see `layout`), so wrapping
    # breaks text between words and never cuts a cell short with an ellipsis
    part.columns = [dataclasses.replace(c, _index=i, _cells=list(c._cells), no_wrap=False,
                                        overflow="fold")
                    for i, c in enumerate(columns)]
    if not title:
        part.title = None
    return part


def _set_widths(table: Table, needs: list[tuple[int, int]], width: int) -> None:
    """Give every column at least what it needs and share what is left by what it wants."""
    spare = width - _extra(table, len(needs)) - sum(n for n, _ in needs)
    wants = [max(w - n, 0) for n, w in needs]
    total = sum(wants)
    alloc = [n for n, _ in needs]
    if total:
        if spare >= total:
            alloc = [n + w for n, w in zip(alloc, wants, strict=True)]
        else:
            shares = [spare * w // total for w in wants]
            alloc = [a + s for a, s in zip(alloc, shares, strict=True)]
    for column, a in zip(table.columns, alloc, strict=True):
        column.width = max(a - table._get_padding_width(column._index), 1)


def _records(table: Table, console: Console) -> Group:
    """One block per row: the header on the left, the value on the right, folded if long."""
    headers = [_plain(console, c.header) or "" for c in table.columns]
    blocks: list[RenderableType] = []
    if table.title:
        blocks.append(Text(str(table.title), style="bold"))
    columns = [list(c.cells) for c in table.columns]
    for i in range(table.row_count):
        grid = Table(box=boxes.SIMPLE_HEAD if i else None, show_header=False, show_edge=False,
                     pad_edge=False)
        grid.add_column(style="bold", no_wrap=False)
        grid.add_column(overflow="fold")
        for header, cells in zip(headers, columns, strict=True):
            grid.add_row(header, cells[i] if i < len(cells) else "")
        blocks.append(grid)
        blocks.append(Text(""))
    if table.caption:
        blocks.append(Text(str(table.caption), style="dim"))
    return Group(*blocks)


def layout(table: Table, console: Console, width: int) -> list[RenderableType]:
    """The tables (or the record block) that show `table` within `width` columns."""
    options = console.options.update_width(width)
    needs = [_column_needs(console, options, table, c) for c in table.columns]
    if not needs:
        return [table]
    if sum(w for _, w in needs) + _extra(table, len(needs)) <= width:
        return [table]  # fits on one line per row already: Rich lays it out unchanged
    if sum(n for n, _ in needs) + _extra(table, len(needs)) <= width:
        fitted = _with_columns(table, table.columns, title=True)
        _set_widths(fitted, needs, width)
        return [fitted]
    key, rest = needs[0], needs[1:]
    if not rest or any(key[0] + n + _extra(table, 2) > width for n, _ in rest):
        return [_records(table, console)]
    groups: list[list[int]] = [[]]
    for i, (n, _) in enumerate(rest, start=1):
        used = key[0] + sum(needs[j][0] for j in groups[-1])
        if groups[-1] and used + n + _extra(table, len(groups[-1]) + 2) > width:
            groups.append([])
        groups[-1].append(i)
    parts: list[RenderableType] = []
    for g, group in enumerate(groups):
        part = _with_columns(table, [table.columns[0], *(table.columns[i] for i in group)],
                             title=g == 0)
        _set_widths(part, [needs[0], *(needs[i] for i in group)], width)
        parts.append(part)
    return parts


class Fitted:
    """A table laid out for the width it is rendered in."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from layout(self.table, console, options.max_width)


def fitted(objects: Iterable[object]) -> list[object]:
    return [Fitted(o) if isinstance(o, Table) else o for o in objects]


class FittingConsole(Console):
    """The command line's console: it prints every table so that it fits (see `layout`), so
    no command can print one that breaks a number or cuts a cell at 80 columns."""

    def print(self, *objects, **kwargs):  # type: ignore[override]
        super().print(*fitted(objects), **kwargs)
