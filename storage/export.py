"""Run SQL against the catalog and write the result for a person (aligned text) or a program
(CSV, JSON, Parquet); describe the catalog's tables and views from their comments
(``storage/comments.py``)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import difflib
import io
import json
import math
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from soccerfactory.storage.catalog import connect
from soccerfactory.storage.comments import CATALOG, column_comments, object_comment
from soccerfactory.storage.readonly import ReadOnlyQueryError, UnreadableShardError, check_read_only, explain_failure, open_read_only

__all__ = [
    "run_query", "write_result", "format_table", "describe", "format_description", "error_line", "ReadOnlyQueryError",
    "UnreadableShardError", "UnknownNameError", "FORMATS", "MAX_ROWS", "MAX_WIDTH",
]

FORMATS = ("table", "csv", "json", "parquet")
#: What the aligned text shows by default: a screenful of rows, cells cut at 40 characters (a
#: ``refusal_reasons`` map or a flag reason would otherwise push every other column off screen).
MAX_ROWS = 40
MAX_WIDTH = 40


class UnknownNameError(ValueError):
    """A query or ``describe`` named a table or view the catalog lacks; the message lists the closest names."""


# DuckDB 2.0.1's wording for a FROM naming no table or view.
_UNKNOWN_TABLE = re.compile(r"Table with name (.+?) does not exist!")
# The second line DuckDB adds to some errors, worth keeping in a one-line message.
_HINT = re.compile(r"^(Did you mean .*|Candidate bindings: .*)$")


def error_line(error: BaseException) -> str:
    """A DuckDB error in one line: its first line, plus DuckDB's "Did you mean ..." or "Candidate
    bindings: ..." hint when it gave one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    hints = [line for line in lines[1:3] if _HINT.match(line)]
    return " ".join(lines[:1] + hints)


def _unknown(name: str, names: list[str]) -> UnknownNameError:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return UnknownNameError(
            f"no table or view named {name!r} in the catalog; did you mean {', '.join(close)}? "
            "(`soccerfactory query --describe` lists them all)"
        )
    return UnknownNameError(f"no table or view named {name!r} in the catalog; it has: {', '.join(names)}")


def _statements(sql: str) -> list[Any]:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise ValueError(f"cannot parse the query: {str(error).splitlines()[0]}") from None
    if not statements:
        raise ValueError("the query is empty")
    return statements


def run_query(
    catalog_path: str | os.PathLike, sql: str, *, read_only: bool = True, wait_s: float = 30.0
) -> pa.Table:
    """Run ``sql`` (one or more statements) on the catalog and return the last statement's result.

    Args:
        read_only: refuse anything but queries and run them locked down, offline, on the
            catalog's own files only (``storage/readonly.py``); with False, writes are allowed.

    Returns:
        the result as an Arrow table (zero columns for a statement that returns nothing).

    Raises:
        FileNotFoundError: no catalog at ``catalog_path`` (read-only mode).
        ReadOnlyQueryError: a statement would write, or read outside the catalog, in read-only mode.
        UnreadableShardError: a registered shard file is damaged or gone (says to run
            ``soccerfactory catalog verify``).
        UnknownNameError: the query names a table or view the catalog lacks (the closest are named).
        ValueError: the SQL does not parse.
        duckdb.Error: the query fails (unknown column, type error...; ``error_line`` puts it in one line).
    """
    statements = _statements(sql)
    files: list[str] = []
    try:
        if read_only:
            check_read_only(statements)
            connection, files = open_read_only(catalog_path, wait_s)
        else:
            connection = connect(catalog_path, wait_s=wait_s)
        with connection:
            try:
                for statement in statements[:-1]:
                    # sql() runs non-queries at once; an earlier SELECT's rows are not wanted anyway.
                    connection.sql(statement.query)
                relation = connection.sql(statements[-1].query)
                return pa.table({}) if relation is None else relation.to_arrow_table()
            except duckdb.CatalogException as error:
                missing = _UNKNOWN_TABLE.search(str(error))
                if missing is None:
                    raise
                raise _unknown(missing.group(1), list(_objects(connection))) from None
    except duckdb.Error as error:
        explained = explain_failure(error, files, catalog_path) if read_only else None
        if explained is not None:
            raise explained from None
        raise


# ---------------------------------------------------------------------------------------------
# Describing the catalog


def _objects(connection: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """name -> (table or view, comment) of every table and view, in the reference's order
    (``comments.CATALOG``), analysts' own last; a stored comment wins over the module's text
    (TEMP views of a moved catalog carry none)."""
    rows = connection.execute(
        "SELECT table_name, 'table', comment FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    found: dict[str, tuple[str, str]] = {}
    for name, kind, text in rows:
        if text or name not in found:
            found[name] = (kind, text or object_comment(name) or "")
    order = {name: i for i, name in enumerate(CATALOG)}
    return {name: found[name] for name in sorted(found, key=lambda n: (order.get(n, len(order)), n))}


def describe(catalog_path: str | os.PathLike, name: str | None = None, *, wait_s: float = 30.0) -> tuple[str, pa.Table]:
    """What the catalog holds, from its comments: a title line and a table.

    Args:
        name: a table or view: its comment, and a table of its columns (``column``, ``type``,
            ``comment``); None: every table and view (``name``, ``kind``, ``comment``).

    Raises:
        FileNotFoundError: no catalog at ``catalog_path``.
        UnknownNameError: ``name`` is no table or view of the catalog (the closest are named).
        CatalogLockedError: a writer held the catalog for more than ``wait_s``.
    """
    connection, _ = open_read_only(catalog_path, wait_s)
    with connection:
        objects = _objects(connection)
        if name is None:
            table = pa.table({
                "name": list(objects), "kind": [kind for kind, _ in objects.values()], "comment": [text for _, text in objects.values()],
            })
            return f"{catalog_path}: {len(objects)} tables and views", table
        matched = {n.lower(): n for n in objects}.get(name.lower())
        if matched is None:
            raise _unknown(name, list(objects))
        kind, text = objects[matched]
        rows = connection.execute(
            "SELECT column_name, data_type, comment, database_name = 'temp' AS temporary FROM duckdb_columns() "
            "WHERE table_name = ? AND NOT internal ORDER BY temporary DESC, column_index",
            [matched],
        ).fetchall()
    documented = column_comments(matched)
    stored = {column: comment for column, _, comment, _ in rows if comment}
    columns: dict[str, str] = {}
    for column, data_type, _, _ in rows:
        columns.setdefault(column, data_type)  # the TEMP view's (what a query binds) when there is one
    table = pa.table({
        "column": list(columns),
        "type": list(columns.values()),
        "comment": [stored.get(column) or documented.get(column, "") for column in columns],
    })
    return f"{matched} ({kind}): {text or '(no comment)'}", table


def format_description(title: str, table: pa.Table, width: int | None = None) -> str:
    """``describe``'s result as text for a terminal: the title, then the table with every column
    but the last aligned and the last (the comment) wrapped to ``width`` (the terminal's by default)."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    lines = textwrap.wrap(title, width) + [""]
    names = table.column_names
    rows = [["" if value is None else str(value) for value in row.values()] for row in table.to_pylist()]
    widths = [max([len(names[i])] + [len(row[i]) for row in rows]) for i in range(len(names) - 1)]
    indent = sum(widths) + 2 * len(widths)
    room = max(width - indent, 30)

    def line(cells: list[str], last: str) -> str:
        return ("  ".join(cell.ljust(w) for cell, w in zip(cells, widths)) + "  " + last).rstrip()

    lines.append(line(names[:-1], names[-1]))
    lines.append(line(["-" * w for w in widths], "-" * min(room, max([len(names[-1])] + [len(row[-1]) for row in rows]))))
    for row in rows:
        wrapped = textwrap.wrap(row[-1], room) or [""]
        lines.append(line(row[:-1], wrapped[0]))
        lines += [(" " * indent + more).rstrip() for more in wrapped[1:]]
    noun = "columns" if names[0] == "column" else "tables and views"
    lines.append(f"({table.num_rows} {noun})")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Output


def _text_cell(value: Any, max_width: int) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (bytes, bytearray)):
        text = "0x" + bytes(value).hex()
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= max_width else text[: max_width - 1] + "…"


def _is_numeric(data_type: pa.DataType) -> bool:
    return pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type)


def format_table(table: pa.Table, max_rows: int = MAX_ROWS, max_width: int = MAX_WIDTH) -> str:
    """Aligned text: a header, a rule, up to ``max_rows`` rows (numbers right-aligned), and a footer
    with the row count that says how many rows were left out."""
    names = table.column_names
    if not names:
        return "(no columns)\n"
    shown = table.slice(0, max_rows).to_pylist()
    cells = [[_text_cell(row[name], max_width) for name in names] for row in shown]
    headers = [_text_cell(name, max_width) for name in names]
    widths = [max([len(headers[i])] + [len(row[i]) for row in cells]) for i in range(len(names))]
    numeric = [_is_numeric(table.schema.field(i).type) for i in range(len(names))]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    lines = [line(headers), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    total = table.num_rows
    if total > len(shown):
        lines.append(f"({len(shown)} of {total} rows shown; {total - len(shown)} more not shown)")
    else:
        lines.append(f"({total} row{'s' if total != 1 else ''})")
    return "\n".join(lines) + "\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _csv_ready(table: pa.Table) -> pa.Table:
    # CSV has no nested values: lists and structs are written as JSON text.
    columns = []
    for column, data_type in zip(table.columns, table.schema.types):
        if pa.types.is_nested(data_type):
            texts = [None if v is None else json.dumps(_json_value(v)) for v in column.to_pylist()]
            columns.append(pa.array(texts, type=pa.string()))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


def _write_text(text: str, out: str | os.PathLike | IO[str] | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    elif hasattr(out, "write"):
        out.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")


def write_result(
    table: pa.Table,
    format: str = "table",
    out: str | os.PathLike | IO[str] | None = None,
    *,
    max_rows: int = MAX_ROWS,
    max_width: int = MAX_WIDTH,
) -> None:
    """Write a query result.

    Args:
        format: "table" (aligned text for a terminal, at most ``max_rows`` rows, cells cut at
            ``max_width`` characters, a footer with the row count), "csv" (header row; lists as
            JSON text), "json" (an array of objects; NaN/inf as null, times as ISO 8601) or
            "parquet".
        out: a file path or a text stream; None means stdout. Parquet needs a file path.

    Raises:
        ValueError: an unknown format, or parquet without a file path.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown output format {format!r}; valid: {', '.join(FORMATS)}")
    if format == "parquet":
        if out is None or hasattr(out, "write"):
            raise ValueError("parquet output needs a file path to write to (it is binary, not for a terminal)")
        pq.write_table(table, str(out), compression="zstd")
        return
    if format == "table":
        _write_text(format_table(table, max_rows=max_rows, max_width=max_width), out)
    elif format == "csv":
        # The csv module quotes only values that need it, as pandas and spreadsheets do; pyarrow's
        # writer quotes every string, which makes `--format csv | cut -d,` awkward.
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.column_names)
        for batch in _csv_ready(table).to_batches():
            writer.writerows(zip(*(column.to_pylist() for column in batch.columns)))
        _write_text(buffer.getvalue(), out)
    else:
        rows = [_json_value(row) for row in table.to_pylist()]
        _write_text(json.dumps(rows, indent=None, allow_nan=False, default=str) + "\n", out)
