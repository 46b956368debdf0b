"""Network silence: a curate resolves no host name and connects nowhere but 127.0.0.1.

The defect this guards: onnxruntime (loaded by the jersey reader) ships Microsoft's 1DS telemetry
client, whose background thread resolved ``mobile.events.data.microsoft.com`` (8 DNS queries per
curate) from native code, out of reach of any Python-level socket guard. The fix is
``ORT_DISABLE_TELEMETRY=1``, set by ``curation/runtime.py`` before onnxruntime loads.

Native traffic is only visible from outside the process, so each check runs a real
``soccerfactory curate`` in a child process under one of two harnesses:

* ``strace`` (``-f --seccomp-bpf``, connect/send* calls): every address the process tree talks
  to. Fails on any port-53 destination and on any IP other than loopback. The development and
  CI image (``.ci/run`` runs ``make test`` as root) has ``/usr/bin/strace``; elsewhere install it
  with ``apt-get install strace``.
* a private network namespace (``unshare --net --mount``, root only) whose ``/etc/resolv.conf``
  points at a stub resolver on 127.0.0.1:53 that records every query. Independent of ptrace;
  nothing but loopback exists there, so whatever is not DNS cannot leave either. Its curate runs
  in the default suite only where strace cannot (else with the slow tests: the same curate twice
  costs a minute).

A positive control (``getaddrinfo`` of an unknown name) proves each harness sees a lookup; a test
skips, saying why, only when its harness cannot run on the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from soccerfactory.curation.synth import SynthConfig, render_clip

# The children inherit the session's hermetic environment, minus the switch under test: the
# project must set it itself, not rely on whoever runs it.
_SCRUBBED = ("ORT_DISABLE_TELEMETRY",)
_CONTROL = [sys.executable, "-c", "import socket\ntry:\n    socket.getaddrinfo('soccerfactory-probe.invalid', 80)\nexcept OSError:\n    pass"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SCRUBBED}


def _curate_command(clip: Path, output: Path) -> list[str]:
    script = Path(sys.executable).with_name("soccerfactory")
    launcher = [str(script)] if script.is_file() else [sys.executable, "-c", "from soccerfactory.flows.cli import main; main()"]
    return [*launcher, "curate", str(clip), "--output", str(output), "--set", "detect.ball_slices=0"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A rendered 1 s, 320x180 clip: the smallest curate that loads every backend."""
    folder = tmp_path_factory.mktemp("silent-clip")
    render_clip(SynthConfig(seconds=1.0, seed=3, width=320, height=180), folder)
    return folder / "video.mp4"


# --------------------------------------------------------------------------------------------------
# strace
# --------------------------------------------------------------------------------------------------

_STRACE = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg"]
_INET = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')


def _strace_unavailable() -> str | None:
    if shutil.which("strace") is None:
        return "strace is not installed (apt-get install strace)"
    probe = subprocess.run([*_STRACE, "-o", os.devnull, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"strace cannot trace here (ptrace refused?): {probe.stderr.strip()[:200]}"
    return None


def _traced(command: list[str], log: Path, timeout: float) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``command`` under strace; returns it and the lines that reach beyond loopback or port 53."""
    completed = subprocess.run([*_STRACE, "-o", str(log), *command], capture_output=True, text=True, env=_env(), timeout=timeout)
    offending = []
    for line in log.read_text().splitlines():
        for port, address in [*_INET.findall(line), *_INET6.findall(line)]:
            loopback = address.startswith("127.") or address == "::1"
            if port == "53" or not loopback:
                offending.append(line.strip())
    # Connects to /var/run/nscd/socket are not counted: glibc asks nscd first for user lookups
    # too, and a host lookup nscd cannot answer goes on to port 53, which is counted.
    return completed, offending


def test_strace_harness_sees_a_name_lookup(tmp_path):
    reason = _strace_unavailable()
    if reason:
        pytest.skip(reason)
    _, offending = _traced(_CONTROL, tmp_path / "control.txt", timeout=60)
    assert any("htons(53)" in line for line in offending), "the strace harness missed a DNS query"


# onnxruntime's telemetry thread first resolves its host about 8 s after the library loads, then
# at about 14 s and 22 s; a curate of a short clip can finish inside that window on a fast machine.
_TELEMETRY_WINDOW_S = 16


def test_onnxruntime_as_the_curate_loads_it_resolves_nothing(tmp_path):
    """The minimal part that triggered the defect, kept alive past the telemetry window.

    Builds the curate's jersey reader (its only onnxruntime user: the library loads and the
    recogniser's session is created through the project's own setup), then waits. Next to it, as a
    control, a bare ``import onnxruntime`` without the switch shows what the harness catches from
    this onnxruntime build.
    """
    reason = _strace_unavailable()
    if reason:
        pytest.skip(reason)
    reader = textwrap.dedent(
        f"""
        import time
        from soccerfactory.curation.attribute.builders import build_jersey_reader
        build_jersey_reader("rapidocr")
        time.sleep({_TELEMETRY_WINDOW_S})
        """
    )
    bare = f"import time, onnxruntime\ntime.sleep({_TELEMETRY_WINDOW_S})"
    # Both wait out the same window: run them side by side.
    with ThreadPoolExecutor(2) as pool:
        ours = pool.submit(_traced, [sys.executable, "-c", reader], tmp_path / "reader.txt", 300)
        control = pool.submit(_traced, [sys.executable, "-c", bare], tmp_path / "bare.txt", 300)
        (completed, offending), (_, control_offending) = ours.result(), control.result()
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert offending == [], "\n".join(offending[:20])
    if not any("htons(53)" in line for line in control_offending):
        warnings.warn("this onnxruntime build resolves nothing even without ORT_DISABLE_TELEMETRY; the check above is moot for it")


def test_curate_makes_no_dns_query_and_no_outside_connection(clip, tmp_path):
    """A full CLI curate of a 1 s clip (every backend: detector, calibration, OCR via onnxruntime)."""
    reason = _strace_unavailable()
    if reason:
        pytest.skip(reason)
    completed, offending = _traced(_curate_command(clip, tmp_path / "out"), tmp_path / "strace.txt", timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "1 clips curated" in completed.stdout
    assert offending == [], "\n".join(offending[:20])


# --------------------------------------------------------------------------------------------------
# private network namespace with a recording resolver
# --------------------------------------------------------------------------------------------------

_NAMESPACE_RUNNER = textwrap.dedent(
    r"""
    import json, socket, subprocess, sys, threading
    resolv, report, command = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    queries = []

    def name(packet):
        labels, i = [], 12
        while i < len(packet) and packet[i]:
            labels.append(packet[i + 1:i + 1 + packet[i]].decode("ascii", "replace"))
            i += 1 + packet[i]
        return ".".join(labels)

    def serve_udp(sock):
        while True:
            packet, peer = sock.recvfrom(4096)
            queries.append(name(packet))
            # REFUSED at once, so a lookup fails fast instead of waiting out a timeout.
            sock.sendto(packet[:2] + b"\x81\x85" + packet[4:], peer)

    def serve_tcp(sock):
        while True:
            connection, _ = sock.accept()
            data = connection.recv(4096)
            queries.append(name(data[2:]))
            connection.close()

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 53))
    tcp.listen()
    threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
    threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
    completed = subprocess.run(command, capture_output=True, text=True)
    with open(report, "w") as handle:
        json.dump({"queries": queries, "returncode": completed.returncode, "stdout": completed.stdout[-3000:],
                   "stderr": completed.stderr[-3000:]}, handle)
    """
)


def _namespace_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace (unshare --net)"
    if shutil.which("unshare") is None or shutil.which("ip") is None or shutil.which("mount") is None:
        return "needs unshare, ip and mount (util-linux, iproute2)"
    if not Path("/etc/resolv.conf").exists():
        return "no /etc/resolv.conf to replace with the recording resolver's"
    probe = subprocess.run(["unshare", "--net", "--mount", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace here: {probe.stderr.strip()[:200]}"
    return None


def _in_namespace(command: list[str], tmp_path: Path, timeout: float) -> dict:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    report = tmp_path / "namespace.json"
    runner = subprocess.run(
        ["unshare", "--net", "--mount", "--fork", sys.executable, "-c", _NAMESPACE_RUNNER, str(resolv), str(report), json.dumps(command)],
        capture_output=True, text=True, env=_env(), timeout=timeout,
    )
    assert runner.returncode == 0, f"namespace runner failed:\n{runner.stderr[-3000:]}"
    return json.loads(report.read_text())


def test_namespace_harness_sees_a_name_lookup(tmp_path):
    reason = _namespace_unavailable()
    if reason:
        pytest.skip(reason)
    result = _in_namespace(_CONTROL, tmp_path, timeout=60)
    assert "soccerfactory-probe.invalid" in result["queries"], result


# With strace working this one runs with the slow tests (`make test-all`); without, it is the check.
@(pytest.mark.slow if _strace_unavailable() is None else (lambda test: test))
def test_curate_in_a_private_network_namespace_resolves_nothing(clip, tmp_path):
    """The same full CLI curate, with every DNS query caught by a stub resolver instead of strace."""
    reason = _namespace_unavailable()
    if reason:
        pytest.skip(reason)
    result = _in_namespace(_curate_command(clip, tmp_path / "out"), tmp_path, timeout=600)
    assert result["returncode"] == 0, result["stderr"]
    assert "1 clips curated" in result["stdout"]
    assert result["queries"] == []
