"""Deterministic kill points for crash tests (a testing hook; inert in normal runs).

Code that must survive a crash at a precise moment calls ``failpoint("write-shard:before-manifest")``
there. When the environment variable ``SOCCERFACTORY_FAILPOINT`` names that point, the process
kills itself with SIGKILL when it reaches it: no ``finally``, no ``atexit``, no flushed buffers,
exactly what a power cut or the OOM killer does. ``name:N`` kills at the N-th time the point is
reached in this process (``write-shard:after-parquet:3``: after the third Parquet file), so a
point inside a loop can be hit between any two iterations.

The variable is read once, at import: when it is unset, ``failpoint`` is one global lookup and a
``return``, so the calls can stay in production code. ``python -m soccerfactory.flows.bench_faults``
(``make faults``) drives every point through a real ``soccerfactory curate`` and checks that the
next run leaves the catalog and the files as a clean run would.

Points (keep this list in step with the calls; ``flows/bench_faults.py`` runs each):

    run:locked                     the run holds its lock; no run record yet
    run:started                    the ``running`` record is written; catalog not touched yet
    atomic-write:before-replace    an atomic file write has its temporary file, not yet renamed
    write-shard:after-parquet      one more Parquet file of a shard is in place
    write-shard:before-manifest    every Parquet file of a shard is in place, no manifest yet
    write-shard:after-manifest     the manifest is committed, stale files not yet removed
    register-shards:in-transaction shard rows inserted in the catalog, transaction not committed
    register-shards:after-commit   rows committed, views not yet refreshed
    run:between-clips              a clip is written and registered, the next one not yet
    run:before-end-record          every shard registered, the final run record not written
    run:after-end-record           the final run record is written, the catalog's runs row not yet
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["failpoint", "ENV_VAR"]

ENV_VAR = "SOCCERFACTORY_FAILPOINT"


def _parse(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, count = spec.rpartition(":")
    if name and count.isdigit() and int(count) >= 1:
        return name, int(count)
    return spec, 1


_ARMED = _parse(os.environ.get(ENV_VAR))
_hits = 0
_hits_lock = threading.Lock()


def failpoint(name: str) -> None:
    """SIGKILL this process if ``SOCCERFACTORY_FAILPOINT`` names ``name`` (at its N-th hit).

    Args:
        name: the point, e.g. ``"write-shard:before-manifest"`` (see the module docstring).
    """
    global _hits
    if _ARMED is None or _ARMED[0] != name:
        return
    with _hits_lock:
        _hits += 1
        if _hits < _ARMED[1]:
            return
    # One line on stderr so a harness can tell the armed point from any other death.
    sys.stderr.write(f"failpoint {name}:{_hits}: SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
