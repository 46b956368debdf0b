"""The ``synthesize`` flow: render synthetic broadcast clips with exact labels and catalogue them.

This is the embedded default's first job: it needs no footage, no weights and no server, and its
output is the yardstick the curation stages are measured against.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.storage.catalog import register_ground_truth

__all__ = ["synthesize"]


# Rendering writes its own files atomically and is cheap to redo; caching it in Prefect would
# report a clip as done after someone deleted its folder.
@task(name="render-synthetic-clip", tags=["cpu"], cache_policy=NONE)
def render_synthetic_clip(config: SynthConfig, output: Path) -> dict:
    """Render one clip with its ground truth into ``output``; one row of the run's artifact."""
    result = render_clip(config, output)
    get_run_logger().info("rendered %s: %d frames at %.1f fps", output, result.frames, result.frames_per_second)
    return {"clip": output.name, "seed": config.seed, "frames": result.frames, "render_fps": round(result.frames_per_second, 1)}


@task(name="register-ground-truth", retries=3, retry_delay_seconds=2, cache_policy=NONE)
def register(catalog: Path, root: Path) -> dict[str, int]:
    """Catalogue the ground truth under ``root`` as ``gt_*`` views; rows per table."""
    return register_ground_truth(catalog, root)


@flow(name="synthesize", log_prints=True)
def synthesize(
    output: Path = Path("out"),
    clips: int = 2,
    seconds: float = 10.0,
    first_seed: int = 1,
    width: int = 1280,
    height: int = 720,
) -> dict:
    """Render ``clips`` clips (seeds ``first_seed`` ...) under ``output/synthetic`` and catalogue
    their ground truth in ``output/catalog.duckdb`` as ``gt_*`` views."""
    configs = [SynthConfig(seconds=seconds, seed=first_seed + k, width=width, height=height) for k in range(clips)]
    futures = [render_synthetic_clip.submit(c, output / "synthetic" / f"synth-{c.seed}") for c in configs]
    rendered = [future.result() for future in futures]
    counts = register(output / "catalog.duckdb", output / "synthetic")
    create_table_artifact(key="synthetic-clips", table=rendered, description="Synthetic clips rendered by this run")
    print(f"catalogued {counts} in {output / 'catalog.duckdb'}")
    return {"clips": rendered, "rows": counts}
