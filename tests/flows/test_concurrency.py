"""The ``gpu`` tag limit: set and updated on the Prefect server, and honoured by curate.

Against the session's Prefect server (the hermetic ephemeral one: a real uvicorn server on
loopback, started by the first test that needs it); every test removes the limit it set, so no
other test of the session runs under it.
"""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, TaskRunFilter, TaskRunFilterName
from prefect.client.schemas.sorting import TaskRunSort

from soccerfactory.curation.config import ConfigError, CurateConfig, load_config
from soccerfactory.flows.bench_faults import render_sources
from soccerfactory.flows.concurrency import GPU_TAG, gpu_slots, set_gpu_slots

#: Small and quick: the bundled detector at 320 px, no ball slices.
_FAST = ("detect.imgsz=320", "detect.ball_slices=0", "decode.jersey_fps=0.5", "decode.semantic_fps=0.5")


@pytest.fixture
def no_gpu_limit():
    """The server without a gpu limit before and after the test."""
    _delete_limit()
    yield
    _delete_limit()


def _delete_limit() -> None:
    with get_client(sync_client=True) as client:
        try:
            client.delete_concurrency_limit_by_tag(GPU_TAG)
        except Exception:  # noqa: BLE001 - none was set
            pass


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_limit_below_one_or_not_a_whole_number_is_refused_before_the_server_is_asked(bad):
    with pytest.raises(ValueError, match="gpu slots must be a whole number of at least 1"):
        set_gpu_slots(bad)


def test_the_config_refuses_zero_gpu_slots_and_keeps_them_out_of_the_config_hash():
    with pytest.raises(ConfigError, match="run.gpu_slots"):
        load_config(None, ["run.gpu_slots=0"])
    assert load_config(None, ["run.gpu_slots=2"]).run.gpu_slots == 2
    # A run setting: the same shards, whatever the slots.
    assert load_config(None, ["run.gpu_slots=2"]).config_hash() == CurateConfig().config_hash()


def test_set_gpu_slots_creates_the_tag_limit_then_updates_it(no_gpu_limit):
    assert gpu_slots() is None
    assert set_gpu_slots(1) == 1
    assert gpu_slots() == 1
    assert set_gpu_slots(3) == 3  # an update of the same limit, not a second one
    with get_client(sync_client=True) as client:
        limits = [limit for limit in client.read_concurrency_limits(limit=100, offset=0) if limit.tag == GPU_TAG]
    assert [limit.concurrency_limit for limit in limits] == [3]


@pytest.mark.slow  # 47 s on 2 busy cores: two real curations
def test_with_one_gpu_slot_two_clips_curated_in_parallel_never_annotate_at_once(tmp_path, no_gpu_limit):
    """Two clips on a thread pool of 2: without the limit their annotate-spatial tasks run side by
    side (measured: both started within 5 ms and overlapped 21 s); with gpu_slots=1 the server
    hands the one slot to one at a time."""
    from soccerfactory.flows.curate import run_curate

    source = render_sources(tmp_path / "footage", n=2, seconds=0.8)
    config = load_config(None, [*_FAST, "run.max_parallel_clips=2", "run.gpu_slots=1"])
    summary = run_curate(str(source), str(tmp_path / "out"), config)
    assert summary.count("curated") == 2, summary.failures
    assert gpu_slots() == 1  # curate set it
    spans = _task_spans(summary.run_id, "annotate-spatial")
    assert len(spans) == 2, spans
    (start_a, end_a), (start_b, end_b) = spans
    assert end_a <= start_b, f"annotate-spatial runs overlapped: {spans}"
    # attribute is tagged gpu too: no two gpu-tagged task runs of the run ever overlap.
    gpu = sorted(_task_spans(summary.run_id, "annotate-spatial") + _task_spans(summary.run_id, "attribute"))
    assert len(gpu) == 4
    assert all(end <= next_start for (_, end), (next_start, _) in zip(gpu, gpu[1:])), gpu


def _task_spans(run_id: str, task_name: str) -> list[tuple]:
    """(start, end) of the named task runs of the curate flow run named ``run_id``, by start."""
    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_id])))
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": [flow_run.id]}),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=task_name)),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
    runs = [r for r in runs if r.name.startswith(f"{task_name}-")]
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.type) for r in runs]
    return sorted((r.start_time, r.end_time) for r in runs)
