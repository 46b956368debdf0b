"""The catalog documents itself: a DuckDB comment on every table, view and column, from one place.

The text is in ``storage/comment_text.py`` (tables, curated data views, ground truth) and
``storage/comment_text_views.py`` (aggregates and truth views); this module puts it together per
table or view (``CATALOG``), writes it into a catalog (``apply_comments``, run wherever the
catalog's tables and views are (re)created: ``catalog.create_tables``, ``views.create_views``,
``catalog.register_ground_truth``, ``truth_views.create_truth_views``) and renders it as the
README's reference (``markdown``). Read it back with::

    SELECT table_name, column_name, comment FROM duckdb_columns();   -- or: soccerfactory query --describe VIEW

Regenerate the README block after changing a text::

    python -m soccerfactory.storage.comments --readme README.md

The lowest catalog module: it imports only the schemas (for their column order) and the text.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

import duckdb

from soccerfactory.storage.comment_text import GROUND_TRUTH_COLUMNS, KEY_COLUMNS, OBJECT_COMMENTS, SHARD_COLUMNS, TABLE_COLUMNS
from soccerfactory.storage.comment_text_views import VIEW_COLUMNS, VIEW_COMMENTS
from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMAS
from soccerfactory.storage.schemas import SHARD_SCHEMAS

__all__ = [
    "Documented", "CATALOG", "GROUPS", "object_comment", "column_comments", "comment", "comment_columns", "apply_comments",
    "markdown", "README_START", "README_END", "readme_block", "update_readme", "main",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Documented:
    """What one table or view of the catalog means.

    Attributes:
        name: The table or view, e.g. ``truth_quality``.
        kind: ``TABLE`` or ``VIEW``.
        group: Its heading in the README reference (a key of ``GROUPS``).
        comment: One line: what a row is.
        columns: Column -> meaning, in the table's or view's column order; every text non-empty
            (a column of a schema without a text has ``""``, which the tests refuse).
    """

    name: str
    kind: str
    group: str
    comment: str
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("TABLE", "VIEW"):
            raise ValueError(f"{self.name}: kind must be TABLE or VIEW, got {self.kind!r}")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"{self.name!r} is not a plain lower-case SQL name")
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))


#: README headings, in order, and what each group holds.
GROUPS: dict[str, str] = {
    "tables": "Tables: the catalog's own state (runs, shards, clips, quarantine, model runs)",
    "data": "Views over the registered shards (one row per frame or per athlete and frame)",
    "aggregates": "Aggregates over the shards (no ground truth needed)",
    "ground_truth": "Ground truth, where registered (`gt_*`: the renderer's exact labels)",
    "truth": "The curated labels graded against ground truth (`truth_*`: only where ground truth is registered)",
}

_TABLE_ORDER = ("runs", "failures", "shards", "clips", "quarantine", "catalog_meta", "shard_stats", "training_runs", "evaluations", "event_labels")
_GT_CLIP_ID = "The ground truth's own clip id (the renderer's synth-N-clip0): differs from curated clip ids; join on (match_id, frame_index)."


def _schema_columns(names: Iterable[str], texts: Mapping[str, str], keys: Mapping[str, str] = KEY_COLUMNS) -> dict[str, str]:
    return {name: texts.get(name) or keys.get(name, "") for name in names}


def _shards_columns() -> dict[str, str]:
    texts = dict(TABLE_COLUMNS["shards"])
    rows = {f"rows_{table}": f"Rows of the shard's {table} table." for table in SHARD_SCHEMAS}
    before = {k: v for k, v in texts.items() if k not in ("bytes", "files")}
    return {**before, **rows, "bytes": texts["bytes"], "files": texts["files"]}


def _build() -> dict[str, Documented]:
    found: dict[str, Documented] = {}
    for name in _TABLE_ORDER:
        if name == "clips":
            columns = _schema_columns(SHARD_SCHEMAS["clips"].names, SHARD_COLUMNS["clips"])
        elif name == "shards":
            columns = _shards_columns()
        else:
            columns = dict(TABLE_COLUMNS[name])
        found[name] = Documented(name, "TABLE", "tables", OBJECT_COMMENTS[name], columns)
    for name in ("frames", "athletes", "ball", "cameras", "events"):
        found[name] = Documented(name, "VIEW", "data", OBJECT_COMMENTS[name], _schema_columns(SHARD_SCHEMAS[name].names, SHARD_COLUMNS[name]))
    for name in ("tracks", "quality", "quality_match", "track_flags", "identities"):
        found[name] = Documented(name, "VIEW", "aggregates", VIEW_COMMENTS[name], VIEW_COLUMNS[name])
    found["athlete_identities"] = Documented(  # the athletes columns, then the identity's
        "athlete_identities", "VIEW", "aggregates", VIEW_COMMENTS["athlete_identities"],
        {**found["athletes"].columns, **VIEW_COLUMNS["athlete_identities"]},
    )
    gt_keys = {**KEY_COLUMNS, "clip_id": _GT_CLIP_ID}
    for table, schema in GROUND_TRUTH_SCHEMAS.items():
        name = f"gt_{table}"
        found[name] = Documented(name, "VIEW", "ground_truth", OBJECT_COMMENTS[name], _schema_columns(schema.names, GROUND_TRUTH_COLUMNS[table], gt_keys))
    for name in VIEW_COMMENTS:
        if name.startswith("truth_"):
            found[name] = Documented(name, "VIEW", "truth", VIEW_COMMENTS[name], VIEW_COLUMNS[name])
    return found


#: Every table and view the catalog makes, by name.
CATALOG: Mapping[str, Documented] = MappingProxyType(_build())


def object_comment(name: str) -> str | None:
    """The one-line comment of table or view ``name``; None for one the catalog does not make."""
    documented = CATALOG.get(name)
    return documented.comment if documented else None


def column_comments(name: str) -> Mapping[str, str]:
    """Column -> comment of table or view ``name`` (empty for one the catalog does not make)."""
    documented = CATALOG.get(name)
    return documented.columns if documented else {}


# ---------------------------------------------------------------------------------------------
# Writing them into a catalog


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _present(connection: duckdb.DuckDBPyConnection, names: Sequence[str] | None) -> dict[str, tuple[str, str | None]]:
    """name -> (TABLE or VIEW, its comment) of the stored tables and views of the current database."""
    rows = connection.execute(
        "SELECT table_name, 'TABLE', comment FROM duckdb_tables() WHERE NOT internal AND NOT temporary "
        "AND database_name = current_database() AND schema_name = 'main' "
        "UNION ALL SELECT view_name, 'VIEW', comment FROM duckdb_views() WHERE NOT internal AND NOT temporary "
        "AND database_name = current_database() AND schema_name = 'main'"
    ).fetchall()
    wanted = None if names is None else set(names)
    return {name: (kind, text) for name, kind, text in rows if (wanted is None or name in wanted) and name in CATALOG}


def _column_state(connection: duckdb.DuckDBPyConnection, names: Iterable[str]) -> dict[str, dict[str, str | None]]:
    names = list(names)
    if not names:
        return {}
    rows = connection.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal "
        "AND database_name = current_database() AND schema_name = 'main' AND list_contains(?, table_name)",
        [names],
    ).fetchall()
    state: dict[str, dict[str, str | None]] = {}
    for table, column, text in rows:
        state.setdefault(table, {})[column] = text
    return state


def apply_comments(connection: duckdb.DuckDBPyConnection, names: Sequence[str] | None = None) -> int:
    """Comment the catalog's tables and views (those of ``names``, or all) and their columns.

    Only the stored (not TEMP) objects of the connection's database that ``CATALOG`` documents are
    touched, and only where the comment differs (a table keeps its comments; a view made again
    with CREATE OR REPLACE has lost them), so calling it in every write transaction costs two
    catalog reads. A documented column the object lacks is skipped (the tests catch the drift),
    and a column without a text is left uncommented.

    Returns:
        how many COMMENT statements ran.
    """
    present = _present(connection, names)
    columns = _column_state(connection, present)
    statements = []
    for name, (kind, text) in present.items():
        documented = CATALOG[name]
        if text != documented.comment:
            statements.append(f"COMMENT ON {kind} {_quote(name)} IS {_literal(documented.comment)}")
        for column, current in columns.get(name, {}).items():
            wanted = documented.columns.get(column)
            if wanted and current != wanted:
                statements.append(f"COMMENT ON COLUMN {_quote(name)}.{_quote(column)} IS {_literal(wanted)}")
    if not statements:
        return 0
    # One transaction for them all, or the caller's when it has one open: 450 comments (a refresh
    # with ground truth) took 2.4 s as autocommits and 0.19 s in one transaction (2 shared cores).
    own = not _in_transaction(connection)
    if own:
        connection.execute("BEGIN TRANSACTION")
    try:
        for statement in statements:
            connection.execute(statement)
    except BaseException:
        if own:
            connection.execute("ROLLBACK")
        raise
    if own:
        connection.execute("COMMIT")
    return len(statements)


def _in_transaction(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``connection`` has a transaction open. DuckDB has no flag for it, and a BEGIN
    inside one aborts it; but outside one every statement is its own transaction, so two reads of
    the current transaction id differ, and inside one they are equal."""
    first = connection.execute("SELECT txid_current()").fetchone()[0]
    return connection.execute("SELECT txid_current()").fetchone()[0] == first


def comment(connection: duckdb.DuckDBPyConnection, kind: str, name: str) -> None:
    """Set the comment of table or view ``name`` (``kind``: ``TABLE`` or ``VIEW``); one the
    catalog does not document is left alone (a warning names it)."""
    text = object_comment(name)
    if text is None:
        log.warning("catalog: no comment for %s %s: add it to storage/comment_text*.py", kind.lower(), name)
        return
    connection.execute(f"COMMENT ON {kind} {_quote(name)} IS {_literal(text)}")


def comment_columns(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    """Comment the columns of ``name`` that it has and ``CATALOG`` documents (and the object itself)."""
    apply_comments(connection, [name])


# ---------------------------------------------------------------------------------------------
# The README reference

README_START = "<!-- catalog-reference:start (generated: python -m soccerfactory.storage.comments --readme README.md) -->"
README_END = "<!-- catalog-reference:end -->"


def _cell(text: str) -> str:
    # A table cell: no pipes, no line breaks, and no "<" a browser would take for a tag.
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def markdown(names: Iterable[str] | None = None) -> str:
    """The reference of every table and view (or of ``names``) as Markdown: per group a heading,
    per object a collapsed ``<details>`` block with its comment and a table of its columns."""
    chosen = list(CATALOG) if names is None else [name for name in names if name in CATALOG]
    lines: list[str] = []
    for group, heading in GROUPS.items():
        members = [CATALOG[name] for name in chosen if CATALOG[name].group == group]
        if not members:
            continue
        lines += [f"**{heading}**", ""]
        for documented in members:
            lines += [
                f"<details><summary><code>{documented.name}</code> ({documented.kind.lower()}): {_cell(documented.comment)}</summary>",
                "",
                "| column | meaning |",
                "| --- | --- |",
            ]
            lines += [f"| `{column}` | {_cell(text)} |" for column, text in documented.columns.items()]
            lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def readme_block() -> str:
    """The README's generated block, markers included."""
    return f"{README_START}\n\n{markdown()}\n{README_END}"


def update_readme(path: str | Path) -> bool:
    """Replace the generated block of the README at ``path``; returns whether the file changed.

    Raises:
        ValueError: the README lacks the start and end markers (add them where the block goes).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START.split(" (")[0]) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {README_START.split(' (')[0]} ... {README_END} block; add the two markers where the reference goes")
    updated = pattern.sub(lambda _: readme_block(), text, count=1)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m soccerfactory.storage.comments --markdown | --readme README.md``."""
    parser = argparse.ArgumentParser(prog="python -m soccerfactory.storage.comments", description="The catalog's table, view and column comments.")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--markdown", action="store_true", help="print the reference as Markdown")
    choice.add_argument("--readme", type=Path, metavar="PATH", help="rewrite the generated block of this README")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    try:
        changed = update_readme(args.readme)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.readme}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
