"""The ``soccerfactory deploy`` command: curate a landing folder on a schedule, as a Prefect
deployment served from this process (or run by a work pool's workers, ``--pool``).

Everything the runs will need is checked before anything is registered: the config (and every
weights file it names), the landing folder, the output and catalog, the schedule, and a Prefect
server to register with. A bad input ends in one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from soccerfactory.flows.cli_common import fail, local_root, preflight, reported, run_with_config

__all__ = ["deploy"]

_DEFAULT_EVERY = "10m"


def deploy(
    landing: str = typer.Argument(..., help="Folder that footage is dropped into (local folder or fsspec URL)."),
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards (local folder or fsspec URL)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON curation config every run uses; see `soccerfactory config show`."),
    overrides: list[str] = typer.Option([], "--set", help="Override one config value, e.g. --set detect.device=cuda:0 (repeatable)."),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog file [default: OUTPUT/catalog.duckdb]."),
    every: Optional[str] = typer.Option(None, "--every", help=f"Run every 90s, 10m, 2h, 1d ... [default: {_DEFAULT_EVERY}, unless --cron]."),
    cron: Optional[str] = typer.Option(None, "--cron", help="Run on a cron schedule instead, e.g. '*/15 * * * *'."),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="Time zone of --cron, e.g. Europe/Madrid [default: UTC]."),
    gpu_slots: Optional[int] = typer.Option(
        None, "--gpu-slots", min=1, help="At most N gpu-tagged tasks at once on this Prefect server (sets run.gpu_slots and the 'gpu' tag limit)."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Deployment name [default: the landing folder's name]."),
    pool: Optional[str] = typer.Option(None, "--pool", help="Register to this Prefect work pool and exit; its workers run the curation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything and print what would be served, then exit."),
) -> None:
    """Curate a landing folder on a schedule: a Prefect deployment of the curate flow, served here.

    Needs a Prefect server: run `soccerfactory server` in another shell and
    export PREFECT_API_URL=http://127.0.0.1:4200/api. Each run curates LANDING into OUTPUT with the
    config given here; clips already curated with the same config and code are skipped, so each
    run curates only the files that arrived since the last. Runs of the deployment never overlap.
    Stop serving with Ctrl-C or SIGTERM (the schedule is paused until served again).

    Examples:

      soccerfactory deploy /data/landing --output /data/curated --config curate.yaml --every 10m

      soccerfactory deploy /data/landing -o /data/curated --cron '0 * * * *' --gpu-slots 2 --set detect.device=cuda:0

      prefect deployment run 'curate-landing/landing'   (a run now, from any shell)
    """
    from soccerfactory.flows.deploy import DeploySpec, absolute, deployment_name, parse_every
    from soccerfactory.storage.fs_secrets import check_url_credentials

    reported(lambda: check_url_credentials([landing, output]))  # deployment parameters: never a password
    if every is not None and cron is not None:
        fail("pass --every or --cron, not both")
    if timezone is not None and cron is None:
        fail("--timezone applies to --cron schedules; pass --cron too, or drop --timezone")
    interval = None if cron is not None else reported(lambda: parse_every(every or _DEFAULT_EVERY))
    if cron is not None:
        reported(lambda: _check_cron(cron, timezone))
    if gpu_slots is not None:
        overrides = [*overrides, f"run.gpu_slots={gpu_slots}"]
    resolved = run_with_config(config, overrides, _checked)
    _check_landing(landing)
    root = _check_output(output, catalog)
    spec = DeploySpec(
        name=name or deployment_name(landing), landing=absolute(landing), output=absolute(output), config=resolved,
        catalog=None if catalog is None else str(catalog.expanduser().resolve()), interval_s=interval, cron=cron,
        timezone=timezone, pool=pool,
    )
    reported(lambda: _check_name(spec.name))
    if dry_run:
        for line in spec.describe():
            typer.echo(line)
        server = os.environ.get("PREFECT_API_URL")
        typer.echo(f"server:     {server or 'none set (PREFECT_API_URL); deploy needs one, see `soccerfactory server`'}")
        return
    from soccerfactory.flows.prefect_env import embedded_prefect

    with embedded_prefect(root.resolve() if root is not None else Path.cwd()):
        api = _check_server()
        if pool is not None:
            _check_pool(pool)
            from soccerfactory.flows.deploy import register

            deployment_id = register(spec)
            typer.echo(f"registered {spec.full_name} ({deployment_id}) on work pool {pool!r} at {api}, {spec.schedule()}")
            typer.echo(f"start a worker on each machine that curates: prefect worker start --pool {pool}")
            return
        from soccerfactory.flows.deploy import serve

        for line in spec.describe()[:-1]:  # the parameters are in the UI; the rest says what runs
            typer.echo(line)
        typer.echo(f"serving {spec.full_name} at {api}; a run now: prefect deployment run '{spec.full_name}'; stop: Ctrl-C")
        serve(spec)


def _checked(config):
    """The config once :func:`~soccerfactory.curation.stages.check_config` passed it (the chain
    and every weights file): a scheduled run must not be the first to find a missing file."""
    from soccerfactory.curation.stages import check_config

    check_config(config)
    return config


def _check_cron(cron: str, timezone: str | None) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValueError as error:  # pydantic's message is several lines; its first error says what
        errors = error.errors() if hasattr(error, "errors") else []
        reason = errors[0]["msg"].removeprefix("Value error, ") if errors else str(error)
        raise ValueError(f"--cron {cron!r}{' --timezone ' + repr(timezone) if timezone else ''} is not a schedule: {reason}") from None


def _check_name(name: str) -> None:
    if any(ch in name for ch in "/%&><") or not name.strip():
        raise ValueError(f"--name {name!r} cannot name a deployment (no / % & > <, not empty)")


def _check_landing(landing: str) -> None:
    """A local landing folder must exist: a typo would otherwise curate nothing on every run."""
    root = local_root(landing)
    if root is None:
        return
    if not root.exists():
        fail(f"landing folder {landing} does not exist; create it (footage dropped there is curated on the schedule)")
    if not root.is_dir():
        fail(f"landing {landing} is a file; pass the folder footage lands in")


def _check_output(output: str, catalog: Path | None) -> Path | None:
    """The local output root (created and probed for writing), or None for a remote one."""
    from soccerfactory.flows.cli_preflight import check_catalog_target

    root = local_root(output)
    if root is None and catalog is None:
        fail(f"output {output} is remote; pass --catalog PATH for the local DuckDB file")
    if root is not None:
        try:
            if root.exists() and not root.is_dir():
                raise NotADirectoryError(20, "exists and is not a folder")
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            fail(f"cannot write to {output}: {error.strerror or error}")
    preflight(check_catalog_target, catalog or root / "catalog.duckdb")
    return root


def _check_server() -> str:
    """The API URL of a Prefect server that answers; exit 2 naming what to do otherwise."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    if not api:
        fail(
            "deploy needs a Prefect server to register with: run `soccerfactory server` in another shell, "
            "then export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        fail(f"the Prefect server at {api} (PREFECT_API_URL) does not answer ({type(problem).__name__}); start it with `soccerfactory server`")
    return api


def _check_pool(pool: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            fail(f"work pool {pool!r} does not exist; create it: prefect work-pool create {pool} --type process")
