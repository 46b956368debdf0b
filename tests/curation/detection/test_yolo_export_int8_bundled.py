"""A shipped int8 detector (``curation/weights/detector-int8.onnx`` and its manifest, written by
``python -m soccerfactory.curation.training.quantize --bundle``): found for the weights and settings
it was built from without the real train split, the export cache or a build step; a missing or
altered file is one line naming it and the command that rebuilds it. Also which head nodes
``QuantizeSettings.keep_float`` keeps fp32. Nothing here needs ``../shared`` (CI: no data, 2 cores).
"""

from __future__ import annotations

import json

import onnx
import pytest

from soccerfactory.curation.bundled import WEIGHTS_DIR, bundled_weights
from soccerfactory.curation.detection.yolo_export import (
    BUNDLED_INT8, BUNDLED_INT8_MANIFEST, FLOAT_PARTS, INT8_COMMAND, QuantizeSettings, bundled_int8, export_yolo, float_nodes,
)
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.runtimes import Export
from soccerfactory.curation.training.quantize import _parser, bundle_int8, main

NAMES = {"0": "ball", "1": "goalkeeper", "2": "player", "3": "referee"}
CALIBRATION = {"train_split": "football-players/train", "train_files": ["a.jpg"], "synthetic_seed": 470}


@pytest.fixture
def shipped(tmp_path):
    """A stand-in int8 model (any bytes: the lookup checks sha256, never parses it) bundled into
    ``tmp_path/weights`` by :func:`bundle_int8` for the bundled detector.pt and the given settings."""
    built_dir = tmp_path / "cache-entry"
    built_dir.mkdir()
    (built_dir / "detector-int8.onnx").write_bytes(b"stand-in int8 model")
    built = Export(built_dir, built_dir / "detector-int8.onnx",
                   {"versions": {"onnxruntime": "1.32.0"}, "meta": {"names": NAMES, "calibration": CALIBRATION, "float_nodes": 129}}, reused=False)
    folder = tmp_path / "weights"
    folder.mkdir()
    settings = QuantizeSettings(keep_float="class-branch")
    return folder, settings, bundle_int8(built, bundled_weights("detector.pt"), 768, settings, folder=folder)


def test_the_bundled_model_is_found_for_its_weights_and_settings(shipped):
    folder, settings, _ = shipped
    found = bundled_int8(bundled_weights("detector.pt"), 768, settings, folder=folder)
    assert found is not None and found.entry == folder / BUNDLED_INT8 and found.reused
    assert found.meta["names"] == NAMES  # what load_exported_yolo checks the classes against


def test_the_manifest_vouches_for_the_file_and_credits_its_data(shipped):
    folder, settings, path = shipped
    manifest = json.loads(path.read_text())
    assert path == folder / BUNDLED_INT8_MANIFEST
    assert manifest["sha256"] == sha256_file(folder / BUNDLED_INT8) and manifest["bytes"] == len(b"stand-in int8 model")
    assert manifest["weights"] == {"file": "detector.pt", "sha256": sha256_file(bundled_weights("detector.pt"))}
    assert manifest["command"] == f"{INT8_COMMAND} --bundle --keep-float class-branch"  # only what differs from the defaults
    assert "CC BY 4.0" in manifest["credit"] and "train split only" in manifest["credit"]
    assert manifest["calibration"] == CALIBRATION and manifest["settings"]["quantization"] == settings.to_dict()


def test_other_weights_or_settings_are_not_the_bundled_model(shipped, tmp_path):
    folder, settings, _ = shipped
    other = tmp_path / "detector.pt"
    other.write_bytes(b"another detector")
    assert bundled_int8(other, 768, settings, folder=folder) is None
    assert bundled_int8(bundled_weights("detector.pt"), 640, settings, folder=folder) is None
    assert bundled_int8(bundled_weights("detector.pt"), 768, QuantizeSettings(), folder=folder) is None
    assert bundled_int8(bundled_weights("detector.pt"), 768, settings, folder=tmp_path) is None  # no manifest there


def test_a_missing_bundled_model_names_the_file_and_the_command(shipped):
    folder, settings, _ = shipped
    (folder / BUNDLED_INT8).unlink()
    with pytest.raises(FileNotFoundError) as missing:
        bundled_int8(bundled_weights("detector.pt"), 768, settings, folder=folder)
    message = str(missing.value)
    assert "\n" not in message and str(folder / BUNDLED_INT8) in message and f"{INT8_COMMAND} --bundle" in message


def test_an_altered_bundled_model_is_refused(shipped):
    folder, settings, _ = shipped
    (folder / BUNDLED_INT8).write_bytes(b"not the model")
    with pytest.raises(RuntimeError, match="sha256"):
        bundled_int8(bundled_weights("detector.pt"), 768, settings, folder=folder)


def test_without_a_shipped_model_the_lookup_is_the_export_cache(tmp_path):
    """No bundled model matches the default settings: ``onnx-int8`` names the build command, as before."""
    if (WEIGHTS_DIR / BUNDLED_INT8_MANIFEST).is_file():
        pytest.skip("a bundled int8 detector ships with this checkout")
    assert bundled_int8(bundled_weights("detector.pt"), 768) is None


def test_bundle_is_refused_for_other_weights_and_keep_float_is_checked(tmp_path, capsys):
    other = tmp_path / "mine.pt"
    other.write_bytes(b"x")
    assert main(["--bundle", "--weights", str(other)]) == 1
    assert "bundled detector.pt only" in capsys.readouterr().err
    text = " ".join(_parser().format_help().split())
    assert "--bundle" in text and "--keep-float {last-convs,class-branch,head}" in text
    with pytest.raises(ValueError, match="keep_float"):
        QuantizeSettings(keep_float="everything")


@pytest.mark.slow
def test_keep_float_keeps_the_named_head_branches(runtime_cache):
    """``last-convs``: the decoding and the 6 last 1x1 convolutions; ``class-branch``: also every node
    of the class branch (cv3) at every scale; ``head``: every node of the head."""
    graph = onnx.load(str(export_yolo(bundled_weights("detector.pt"), "onnx", 768).entry)).graph
    kept = {keep: set(float_nodes(graph, keep)) for keep in FLOAT_PARTS}
    producer = {output: node for node in graph.node for output in node.output}
    head = producer[graph.output[0].name].name.rsplit("/", 1)[0] + "/"  # "/model.22/"
    class_branch = {node.name for node in graph.node if node.name.startswith(head + "cv3.")}
    assert kept["last-convs"] < kept["class-branch"] < kept["head"]
    assert class_branch and class_branch <= kept["class-branch"]
    assert not {name for name in kept["class-branch"] - kept["last-convs"] if "/cv2." in name}  # the box branch stays int8
    assert not any(name.startswith("/model.0/") for name in kept["head"])
    assert kept["head"] == {node.name for node in graph.node if node.name.startswith(head)}
    with pytest.raises(ValueError, match="keep"):
        float_nodes(graph, "backbone")
