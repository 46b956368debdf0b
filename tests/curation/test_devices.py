"""Stage devices: the forms accepted, the one-line refusals naming the config key, and the CPU kept at fp32."""

from __future__ import annotations

import pytest
import torch

from soccerfactory.curation.devices import autocast, check_device, is_cuda, torch_device

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")


@pytest.mark.parametrize("device, cuda", [("cpu", False), ("mps", False), ("cuda", True), ("cuda:1", True),
                                          ("0", True), ("0,1", True), ("CUDA:0", True), (torch.device("cuda:0"), True)])
def test_is_cuda(device, cuda):
    assert is_cuda(device) is cuda


def test_torch_device_spells_bare_indices_as_cuda():
    assert torch_device("0") == "cuda:0"
    assert torch_device("cuda:1") == "cuda:1" and torch_device("cpu") == "cpu"


def test_cpu_is_always_accepted():
    check_device("cpu", "detect.device")
    check_device(" CPU ", "model.device")


@pytest.mark.parametrize(
    "device, kwargs, words",
    [
        ("gpu", {}, ["detect.device='gpu' is not a device", "cpu, cuda or cuda:N"]),
        ("cuda:x", {"allow_index": True}, ["is not a device", "bare GPU index"]),
        ("0", {}, ["detect.device='0'", "set detect.device=cuda:0"]),
    ],
)
def test_misspelt_devices_are_refused_in_one_line(device, kwargs, words):
    with pytest.raises(ValueError) as error:
        check_device(device, "detect.device", **kwargs)
    message = str(error.value)
    assert "\n" not in message and all(word in message for word in words)


@NO_CUDA
@pytest.mark.parametrize("device, key", [("cuda", "detect.device"), ("cuda:0", "calibrate.device"), ("0", "detect.device")])
def test_cuda_without_cuda_names_the_key_and_what_to_do(device, key):
    with pytest.raises(ValueError) as error:
        check_device(device, key, allow_index=True)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{key}={device!r} but torch ") and f"set {key}=cpu" in message and "GPU worker" in message


def test_autocast_leaves_the_cpu_at_fp32():
    conv = torch.nn.Conv2d(3, 4, 3)
    with torch.inference_mode(), autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu") and not torch.is_autocast_enabled("cuda")
        assert conv(torch.rand(1, 3, 8, 8)).dtype == torch.float32
