"""The export cache and sessions of curation/runtimes.py: reuse, rebuild on changed weights, atomic
entries under concurrent exporters, the fallback folder, thread settings, and OpenVINO kept offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from soccerfactory.curation import runtimes
from soccerfactory.curation.testing import exported_runtimes_under_test
from soccerfactory.curation.runtimes import MANIFEST, cache_root, cached_export, load_session, onnx_session, openvino_model

ROOT = Path(__file__).resolve().parents[2]


def _weights(folder: Path, payload: bytes = b"weights v1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pt"
    path.write_bytes(payload)
    return path


class _Exporter:
    """An export that writes the weights' bytes reversed, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, copy: Path, out: Path) -> tuple[str, dict]:
        self.calls += 1
        (out / "model.bin").write_bytes(copy.read_bytes()[::-1])
        return "model.bin", {"source": copy.name}


def test_second_lookup_reuses_the_entry_without_exporting(tmp_path):
    weights, export = _weights(tmp_path / "w"), _Exporter()
    first = cached_export(weights, "toy", "onnx", {"imgsz": 64}, export, versions={"lib": "1"})
    manifest_mtime = (first.directory / MANIFEST).stat().st_mtime_ns
    second = cached_export(weights, "toy", "onnx", {"imgsz": 64}, export, versions={"lib": "1"})
    assert (first.reused, second.reused, export.calls) == (False, True, 1)
    assert second.entry == first.entry and (second.directory / MANIFEST).stat().st_mtime_ns == manifest_mtime
    assert first.entry.read_bytes() == b"weights v1"[::-1]
    manifest = json.loads((first.directory / MANIFEST).read_text())
    assert manifest["weights_sha256"] == runtimes.sha256_file(weights) and manifest["meta"] == {"source": "model.pt"}
    assert manifest["files"] == {"model.bin": 10}
    # Next to the weights, and git-ignored there; no temporary folder or weights copy left.
    assert first.directory.parent == weights.parent / ".runtimes"
    assert (weights.parent / ".runtimes" / ".gitignore").read_text().strip().endswith("*")
    assert sorted(p.name for p in first.directory.iterdir()) == [MANIFEST, "model.bin"]
    assert not [p for p in first.directory.parent.iterdir() if p.name.startswith(".tmp-")]


def test_settings_and_versions_are_part_of_the_key(tmp_path):
    weights, export = _weights(tmp_path / "w"), _Exporter()
    a = cached_export(weights, "toy", "onnx", {"imgsz": 64}, export, versions={"lib": "1"})
    b = cached_export(weights, "toy", "onnx", {"imgsz": 96}, export, versions={"lib": "1"})
    c = cached_export(weights, "toy", "onnx", {"imgsz": 64}, export, versions={"lib": "2"})
    d = cached_export(weights, "toy", "openvino", {"imgsz": 64}, export, versions={"lib": "1"})
    assert len({a.directory, b.directory, c.directory, d.directory}) == 4 and export.calls == 4


def test_changed_weights_are_exported_again_and_the_stale_entry_removed(tmp_path):
    weights, export = _weights(tmp_path / "w"), _Exporter()
    old = cached_export(weights, "toy", "onnx", {}, export, versions={})
    weights.write_bytes(b"weights v2, retrained")
    new = cached_export(weights, "toy", "onnx", {}, export, versions={})
    assert not new.reused and export.calls == 2 and new.directory != old.directory
    assert new.entry.read_bytes() == b"weights v2, retrained"[::-1]
    assert not old.directory.exists()


def test_a_damaged_entry_is_rebuilt(tmp_path):
    weights, export = _weights(tmp_path / "w"), _Exporter()
    entry = cached_export(weights, "toy", "onnx", {}, export, versions={})
    entry.entry.write_bytes(b"trunc")
    again = cached_export(weights, "toy", "onnx", {}, export, versions={})
    assert not again.reused and again.entry.read_bytes() == b"weights v1"[::-1]


def test_unwritable_weights_folder_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    weights = _weights(tmp_path / "w")
    (weights.parent / ".runtimes").write_text("a file where the cache folder would go")  # mkdir fails, even as root
    monkeypatch.delenv(runtimes.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(weights) == tmp_path / "xdg" / "soccerfactory" / "runtimes"
    monkeypatch.setenv(runtimes.CACHE_ENV, str(tmp_path / "explicit"))
    assert cache_root(weights) == tmp_path / "explicit"


def test_two_processes_exporting_at_once_both_get_one_complete_entry(tmp_path):
    weights = _weights(tmp_path / "w")
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from soccerfactory.curation.runtimes import cached_export

        def export(copy, out):
            time.sleep(1.0)  # both processes are inside their export at the same time
            (out / "model.bin").write_bytes(copy.read_bytes()[::-1])
            return "model.bin", {{"pid": __import__("os").getpid()}}

        entry = cached_export({str(weights)!r}, "toy", "onnx", {{}}, export, versions={{}})
        print(entry.directory, entry.entry.read_bytes() == b"weights v1"[::-1])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    lines = {out.strip() for out, _ in outputs}
    assert len(lines) == 1 and lines.pop().endswith("True")  # the same entry, intact, for both
    root = weights.parent / ".runtimes"
    assert [p.name for p in root.iterdir() if not p.name.startswith(".git")].__len__() == 1  # no temp folder left


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """A small conv net as ONNX (float32 NCHW in, two outputs)."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y, y.mean(dim=(2, 3))

    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    torch.manual_seed(0)
    torch.onnx.export(Net().eval(), (torch.zeros(1, 3, 16, 16),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y", "m"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}, "m": {0: "b"}})
    return path


@pytest.mark.skipif("openvino" not in exported_runtimes_under_test(), reason="openvino runs in its own pytest process (curation/testing.py)")
def test_sessions_take_the_thread_count_and_agree(tiny_onnx, tmp_path):
    session = onnx_session(tiny_onnx, threads=1)
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().inter_op_num_threads == 1
    xml = runtimes.onnx_to_openvino(tiny_onnx, tmp_path / "tiny.xml")
    compiled = openvino_model(xml, threads=1)
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32", "float32")
    x = np.random.default_rng(0).random((3, 3, 16, 16), dtype=np.float32)  # batch 3: the batch axis is free
    (y1, m1), (y2, m2) = load_session("onnx", tiny_onnx)(x), load_session("openvino", xml)(x)
    assert y1.shape == (3, 4, 16, 16) and m1.shape == (3, 4)
    np.testing.assert_allclose(y1, y2, atol=1e-5)
    np.testing.assert_allclose(m1, m2, atol=1e-5)


def test_openvino_sends_no_telemetry_and_writes_nothing_home(tiny_onnx, tmp_path):
    """A fresh interpreter imports openvino and converts a model with the network refused and HOME empty."""
    home = tmp_path / "home"
    home.mkdir()
    code = textwrap.dedent(f"""
        import json, socket
        calls = []
        def refuse(name):
            def refuse(*args, **kwargs):
                calls.append(name)
                raise OSError("network disabled by the test")
            return refuse
        socket.socket.connect = refuse("connect")
        socket.create_connection = refuse("create_connection")
        socket.getaddrinfo = refuse("getaddrinfo")
        from soccerfactory.curation.runtime import prepare_vision_runtime
        prepare_vision_runtime()
        from soccerfactory.curation.runtimes import onnx_to_openvino, openvino_model
        openvino_model(onnx_to_openvino({str(tiny_onnx)!r}, {str(tmp_path / "t.xml")!r}))
        import sys, time
        time.sleep(1.0)  # the telemetry sender is a background thread
        print(json.dumps({{"calls": calls, "telemetry_module": sys.modules.get("openvino_telemetry") is not None}}))
    """)
    env = {**os.environ, "HOME": str(home), "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"calls": [], "telemetry_module": False}
    assert not (home / "intel").exists()  # no ~/intel/openvino_ga_cid (matplotlib may add ~/.config)
