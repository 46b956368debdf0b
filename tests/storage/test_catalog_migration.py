"""A catalog made before a column was added gets it when opened for writing, and keeps its rows
(``catalog_sql.MIGRATIONS_SQL``, run by ``catalog.create_tables``)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from soccerfactory.storage.catalog import ensure_catalog, record_evaluations
from soccerfactory.storage.repair import rebuild_catalog

# ``evaluations`` as catalogs before the ``split`` column made it.
OLD_EVALUATIONS = """
CREATE TABLE evaluations (
    checkpoint_url VARCHAR NOT NULL,
    checkpoint_sha256 VARCHAR NOT NULL,
    data_snapshot VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    n_windows INTEGER,
    training_run_id VARCHAR,
    evaluated_at TIMESTAMPTZ,
    PRIMARY KEY (checkpoint_sha256, data_snapshot, task, metric)
);
INSERT INTO evaluations VALUES ('out/models/r0/checkpoint.pt', 'abc', 'snap-0', 'camera', 'reprojection_px', 4.5, 3, 'r0',
                                TIMESTAMPTZ '2026-01-02 03:04:05+00');
"""


@pytest.fixture
def old_catalog(tmp_path):
    path = tmp_path / "catalog.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(OLD_EVALUATIONS)
    return path


def _rows(path):
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute("SELECT data_snapshot, value, split FROM evaluations ORDER BY data_snapshot").fetchall()


def test_an_old_catalog_gets_the_split_column_on_open_and_keeps_its_rows(old_catalog):
    ensure_catalog(old_catalog)
    with duckdb.connect(str(old_catalog), read_only=True) as connection:
        columns = connection.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'evaluations' ORDER BY column_index").fetchall()
    assert columns[-1][0] == "split" and "training data included" in columns[-1][1]
    assert _rows(old_catalog) == [("snap-0", 4.5, None)]  # unknown for a row written before it was recorded
    # The evaluate flow's write lands in the migrated table, and opening again changes nothing.
    row = {"checkpoint_url": "c.pt", "checkpoint_sha256": "def", "data_snapshot": "snap-1", "task": "camera",
           "metric": "reprojection_px", "value": 3.0, "n_windows": 2, "training_run_id": "r1", "evaluated_at": "2026-01-03T00:00:00+00:00",
           "split": "all"}
    assert record_evaluations(old_catalog, [row]) == 1
    ensure_catalog(old_catalog)
    assert _rows(old_catalog) == [("snap-0", 4.5, None), ("snap-1", 3.0, "all")]
    with pytest.raises(ValueError, match="split must be eval, train or all"):
        record_evaluations(old_catalog, [{**row, "split": "everything"}])


def test_a_rebuild_of_an_old_catalog_carries_its_evaluations_over(old_catalog, tmp_path):
    """The rebuild copies the model tables by column name, so the old file's missing column is null."""
    copy = tmp_path / "copy" / "catalog.duckdb"
    copy.parent.mkdir()
    shutil.copy(old_catalog, copy)
    (tmp_path / "copy" / "out").mkdir()
    report = rebuild_catalog(tmp_path / "copy" / "out", copy)
    assert report["shards"] == 0
    assert _rows(copy) == [("snap-0", 4.5, None)]
