"""The catalog commands of ``soccerfactory``: ``query`` (read-only SQL) and ``catalog rebuild |
verify | sync`` (keep the DuckDB file in line with the shards, which are the truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from soccerfactory.flows.cli_common import fail as _fail
from soccerfactory.flows.cli_common import local_root, reported
from soccerfactory.flows.cli_common import preflight as _preflight

__all__ = ["query", "print_query", "catalog_app"]


def print_query(
    catalog: Path, sql: str, fmt: str, out: Optional[Path], *, describe: bool = False, max_rows: int = 0, max_width: int = 0,
) -> None:
    """Run ``sql`` (or, with ``describe``, describe the table or view it names; all when empty) and
    write the result; every failure ends in one ``error:`` line. ``max_rows`` / ``max_width``: the
    aligned text's limits, 0 for the defaults (``export.MAX_ROWS`` / ``MAX_WIDTH``)."""
    import sys

    import duckdb

    from soccerfactory.storage import export
    from soccerfactory.storage.catalog import CatalogLockedError

    try:
        if describe:
            title, table = export.describe(catalog, sql or None)
            if fmt != "table":
                export.write_result(table, fmt, out)
            elif out is not None:
                out.write_text(export.format_description(title, table, width=100), encoding="utf-8")
            else:
                sys.stdout.write(export.format_description(title, table))
            return
        table = export.run_query(catalog, sql)
        export.write_result(table, fmt, out, max_rows=max_rows or export.MAX_ROWS, max_width=max_width or export.MAX_WIDTH)
    except (FileNotFoundError, ValueError) as error:
        _fail(str(error))
    except CatalogLockedError as error:  # a writer (curate) held it for the whole wait: try again later
        _fail(str(error), 1)
    except duckdb.Error as error:
        _fail(export.error_line(error))
    except OSError as error:  # --out is a directory, or its folder cannot be written
        _fail(f"cannot write {out}: {error.strerror or error}")


def query(
    sql: Optional[str] = typer.Argument(
        None, help="Read-only SQL, e.g. \"SELECT * FROM quality\"; with --describe, a table or view name (or nothing: all of them)."
    ),
    catalog: Path = typer.Option(Path("out/catalog.duckdb"), help="The DuckDB catalog file."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | csv | json | parquet (parquet needs --out)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the result to this file instead of stdout."),
    describe: bool = typer.Option(
        False, "--describe", help="Describe instead of query: a table or view's comment and columns (name, type, comment), or every table and view."
    ),
    # 0 stands for export.MAX_ROWS / MAX_WIDTH: importing export here (duckdb, pyarrow) would slow every --help.
    max_rows: int = typer.Option(
        0, "--max-rows", min=0, show_default=False, help="Rows the table format shows [default: 40]; the footer counts the rest."
    ),
    max_width: int = typer.Option(
        0, "--max-width", min=0, show_default=False, help="Characters per cell in the table format [default: 40]; longer ones end in …."
    ),
) -> None:
    """Run read-only SQL against the catalog, or describe its tables and views.

    Read-only and offline: only queries, and only the catalog's own files (see README). A table
    or view name that does not exist is one error line naming the closest ones.

    `soccerfactory query --describe` lists every table and view with its comment;
    `soccerfactory query --describe truth_quality` prints that view's comment and its columns with
    their types, units and meaning (the same text is in DuckDB: `duckdb_columns().comment`).

    Tables: runs, shards, clips, failures, quarantine. Views over the shards: athletes, ball, cameras, frames,
    events, tracks (one row per tracklet), track_flags (flags per track, with a reason), quality
    (per clip) and quality_match. Ground truth, when registered: gt_athletes, gt_cameras, ..., and
    the curated labels graded against it: truth_quality (per clip), truth_quality_match,
    truth_tracks, truth_matches, truth_team_map, truth_cameras, truth_camera_refusals.

    Example: soccerfactory query "SELECT match_id, count(*) FROM athletes GROUP BY 1" --format csv
    Example: soccerfactory query "SELECT clip_id, role_accuracy, team_accuracy FROM truth_quality"
    Example: soccerfactory query "SELECT * FROM track_flags WHERE flags IS NOT NULL" --max-rows 200 --max-width 80
    """
    if fmt not in ("table", "csv", "json", "parquet"):
        _fail(f"--format must be one of table, csv, json, parquet; got {fmt!r}")
    if describe:
        if sql is not None and not sql.replace("_", "").isalnum():
            _fail(f"--describe takes a table or view name (e.g. truth_quality), not {sql!r}")
    elif not sql:
        _fail("give the SQL to run (e.g. \"SELECT * FROM quality\"), or --describe to list the tables and views")
    print_query(catalog, sql or "", fmt, out, describe=describe, max_rows=max_rows, max_width=max_width)


catalog_app = typer.Typer(help="Maintain the DuckDB catalog (the shards are the truth; the catalog can always be rebuilt).", no_args_is_help=True)


@catalog_app.command("rebuild")
def catalog_rebuild(
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards."),
    catalog: Optional[Path] = typer.Option(None, help="Catalog file to (re)create [default: OUTPUT/catalog.duckdb]."),
) -> None:
    """Recreate the catalog from the shards' manifests and the run records under OUTPUT."""
    from soccerfactory.flows.cli_preflight import check_catalog_target, check_shards_root
    from soccerfactory.storage.repair import rebuild_catalog

    target = catalog or (local_root(output) or Path(output)) / "catalog.duckdb"
    _preflight(check_shards_root, output, True)
    _preflight(check_catalog_target, target, True)
    report = reported(lambda: rebuild_catalog(output, target))
    # One line per thing left out (a bad shard names its file and why), then the counts.
    for problem in report["problems"]:
        typer.echo(f"warning: {problem}", err=True)
    typer.echo(
        f"rebuilt {target}: {report['shards']} shards, {report['clips']} clips, {report['runs']} runs, {report['failures']} failures, "
        f"views kept {report['views_kept']}, {len(report['problems'])} problems"
    )


@catalog_app.command("verify")
def catalog_verify(
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards (locates the default catalog)."),
    catalog: Optional[Path] = typer.Option(None, help="The catalog file [default: OUTPUT/catalog.duckdb]."),
    quick: bool = typer.Option(False, "--quick", help="Sizes only, no file read (the default also compares sha256 and columns)."),
) -> None:
    """Check every registered shard against its manifest; quarantine the damaged, restore the repaired.

    A quarantined shard leaves the views (athletes, tracks, quality, ...), so they keep serving the
    healthy shards; the reason is in the catalog's `quarantine` table, and the next
    `soccerfactory curate` of its source re-creates the shard. Exit status 1 while any shard is
    quarantined.
    """
    import duckdb

    from soccerfactory.storage.catalog import CatalogLockedError
    from soccerfactory.storage.repair import verify_catalog

    target = catalog or (local_root(output) or Path(output)) / "catalog.duckdb"
    if not target.is_file():
        _fail(f"no catalog at {target}: pass --catalog, or the --output a `soccerfactory curate` wrote to")
    try:
        report = verify_catalog(target, full=not quick)
    except CatalogLockedError as error:
        _fail(f"{error}; close it and run `soccerfactory catalog verify` again", 1)
    except duckdb.Error as error:
        _fail(f"catalog {target} cannot be read ({str(error).splitlines()[0]}); run `soccerfactory catalog rebuild`", 1)
    for line in report["restored"]:
        typer.echo(f"restored: {line}")
    for line in report["in_quarantine"]:
        typer.echo(f"quarantined: {line}", err=True)
    typer.echo(
        f"verified {target}: {report['checked']} shards checked ({'sha256 and columns' if report['full'] else 'sizes only'}), "
        f"{len(report['quarantined'])} quarantined now, {len(report['restored'])} restored, {len(report['in_quarantine'])} in quarantine, "
        f"{report['shards']} shards in the views"
    )
    if report["in_quarantine"]:
        raise typer.Exit(1)


@catalog_app.command("sync")
def catalog_sync(
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards."),
    catalog: Optional[Path] = typer.Option(None, help="The catalog file [default: OUTPUT/catalog.duckdb]."),
    wait: float = typer.Option(30.0, min=0, help="Seconds to wait for another process to release the catalog."),
) -> None:
    """Bring the catalog in line with the files under OUTPUT, without rebuilding it.

    Registers committed shards the catalog lacks (e.g. a run's whose catalog was held open by a
    reader), unregisters shards that are gone, records run records the catalog lacks, marks runs
    that died `interrupted` and deletes what they left half-written. Prints one summary line.
    Exit status 1 when the catalog stays locked by another process for WAIT seconds.
    """
    import duckdb

    from soccerfactory.flows.cli_preflight import check_shards_root
    from soccerfactory.storage.catalog import CatalogLockedError
    from soccerfactory.storage.fs import is_local_url
    from soccerfactory.storage.sync import lock_holder, sync_catalog

    if not is_local_url(output) and catalog is None:
        _fail(f"output {output} is remote; pass --catalog PATH for the local DuckDB file")
    _preflight(check_shards_root, output, True)
    target = catalog or (local_root(output) or Path(output)) / "catalog.duckdb"
    try:
        report = sync_catalog(output, target, wait_s=wait)
    except CatalogLockedError as error:
        _fail(f"catalog {target} is locked by another process{lock_holder(error)}; close it and run `soccerfactory catalog sync` again", 1)
    except duckdb.Error as error:
        _fail(f"catalog {target} cannot be read ({str(error).splitlines()[0]}); run `soccerfactory catalog rebuild`", 1)
    for problem in report.problems:
        typer.echo(f"warning: {problem}", err=True)
    typer.echo(report.line())
