"""Run SQL against the catalog and write the result for a person (aligned text) or a program
(CSV, JSON, Parquet)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from soccerfactory.storage.catalog import connect
from soccerfactory.storage.readonly import ReadOnlyQueryError, UnreadableShardError, check_read_only, explain_failure, open_read_only

__all__ = ["run_query", "write_result", "format_table", "ReadOnlyQueryError", "UnreadableShardError", "FORMATS"]

FORMATS = ("table", "csv", "json", "parquet")


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
        ValueError: the SQL does not parse.
        duckdb.Error: the query fails (unknown table, type error...).
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
            for statement in statements[:-1]:
                # sql() runs non-queries at once; an earlier SELECT's rows are not wanted anyway.
                connection.sql(statement.query)
            relation = connection.sql(statements[-1].query)
            return pa.table({}) if relation is None else relation.to_arrow_table()
    except duckdb.Error as error:
        explained = explain_failure(error, files, catalog_path) if read_only else None
        if explained is not None:
            raise explained from None
        raise


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


def format_table(table: pa.Table, max_rows: int = 40, max_width: int = 40) -> str:
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
    max_rows: int = 40,
    max_width: int = 40,
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
