"""The DuckDB catalog: one local file that analysts query with plain SQL.

So far it catalogues synthetic ground truth; curated shards join it in the same file. Views read
the Parquet files in place (nothing is copied), so the Parquet stays the truth and the catalog can
always be rebuilt from it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMAS

__all__ = ["register_ground_truth", "connect", "CatalogLockedError"]


class CatalogLockedError(RuntimeError):
    """Another process holds the catalog's write lock for longer than we were willing to wait."""


def connect(path: str | os.PathLike, read_only: bool = False, wait_s: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the catalog, waiting for another writer to finish instead of failing at once.

    DuckDB allows one writing process per file; a second one gets a lock error. We retry for up
    to ``wait_s`` seconds, then raise ``CatalogLockedError`` saying which file is busy.
    """
    path = Path(path)
    if read_only and not path.is_file():
        raise FileNotFoundError(f"no catalog at {path}: run `soccerfactory demo` or `soccerfactory curate` first")
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                if "lock" in str(error).lower():
                    raise CatalogLockedError(f"catalog {path} is locked by another process; retry when it finishes") from error
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def register_ground_truth(catalog: str | os.PathLike, root: str | os.PathLike) -> dict[str, int]:
    """Create or refresh ``gt_<table>`` views over every ``<root>/**/gt/<table>.parquet``.

    Returns:
        table name -> number of rows the view now shows.
    """
    root = Path(root).resolve()
    counts: dict[str, int] = {}
    with connect(catalog) as connection:
        for table in GROUND_TRUTH_SCHEMAS:
            files = sorted(root.glob(f"**/gt/{table}.parquet"))
            if not files:
                continue
            listing = ", ".join("'" + str(path).replace("'", "''") + "'" for path in files)
            connection.execute(f"CREATE OR REPLACE VIEW gt_{table} AS SELECT * FROM read_parquet([{listing}], union_by_name = true)")
            counts[table] = connection.execute(f"SELECT count(*) FROM gt_{table}").fetchone()[0]
    return counts
