"""The ``soccerfactory report`` command: one self-contained HTML page about a catalog, a match or a run.

The page is built by :mod:`soccerfactory.storage.report` from a read-only catalog connection;
this command adds what storage cannot do itself, decoding annotated thumbnails
(:func:`soccerfactory.curation.preview.stills.still_jpegs`), and passes it in as a callback.
Progress goes to stderr, the path written to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from soccerfactory.flows.cli_common import fail

if TYPE_CHECKING:  # storage loads only when the command runs
    from soccerfactory.storage.report.queries import ThumbnailRequest

__all__ = ["report", "draw_thumbnails"]


def draw_thumbnails(request: ThumbnailRequest) -> list[tuple[int, bytes]]:
    """The report's thumbnail callback: the requested frames of a clip, drawn as ``soccerfactory preview`` draws them, as JPEG."""
    from soccerfactory.curation.preview.stills import still_jpegs

    return still_jpegs(request.manifest_url, request.frame_indices)


def report(
    out: Path = typer.Option(..., "--out", help="HTML file to write, e.g. report.html (its folder is created)."),
    catalog: Path = typer.Option(Path("out/catalog.duckdb"), "--catalog", help="The DuckDB catalog file."),
    match: Optional[str] = typer.Option(None, "--match", "-m", help="Report this match only [default: every match]."),
    run: Optional[str] = typer.Option(None, "--run", help="Report the clips this curation run registered, and its failures [default: every run]."),
    thumbnails: int = typer.Option(4, "--thumbnails", min=0, max=24, help="Annotated frames to decode and draw (0: none; the footage must still be where it was curated)."),
) -> None:
    """Write a self-contained HTML report (no network needed to view it): label counts over time,
    confidence and agreement histograms, calibration and view classes over time, track lengths,
    team balance, jersey coverage, annotated frames, accuracy against ground truth where it is
    registered, and the runs' failures and quarantined shards.

    Example: soccerfactory report --catalog out/catalog.duckdb --match synth-1 --out out/report.html
    """
    import duckdb

    from soccerfactory.storage.catalog import CatalogLockedError
    from soccerfactory.storage.report.page import write_report
    from soccerfactory.storage.report.queries import Scope

    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out {out} must be an .html file")
    if out.is_dir():
        fail(f"--out {out} is a folder; give the HTML file to write")

    def say(line: str) -> None:
        typer.echo(line, err=True)

    try:
        write_report(catalog, out, Scope(match_id=match, run_id=run), thumbnails=draw_thumbnails, progress=say, n_thumbnails=thumbnails)
    except CatalogLockedError as error:  # a writer (curate) held it for the whole wait: try again later
        fail(str(error), 1)
    except (FileNotFoundError, ValueError) as error:
        fail(" ".join(str(error).split()))
    except duckdb.Error as error:
        fail(f"the catalog {catalog} cannot be read ({str(error).splitlines()[0]}); run `soccerfactory catalog verify --catalog {catalog}`", 1)
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}", 1)
    typer.echo(str(out))
