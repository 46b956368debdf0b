"""check_config refuses a stage device this process cannot use before any model loads, naming the key."""

from __future__ import annotations

import pytest
import torch

from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.stages import check_config

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the refusals are for machines without CUDA")


@pytest.mark.parametrize("key", ["detect.device", "calibrate.device"])
def test_cuda_without_cuda_is_refused_naming_the_key(key):
    config = CurateConfig().with_values({key: "cuda"})
    with pytest.raises(ValueError, match=rf"^{key}='cuda' but torch .*set {key}=cpu"):
        check_config(config)


def test_devices_of_stages_that_do_not_run_are_not_checked():
    # chroma refinement and the line-search calibrator load no model: their device is unused.
    check_config(CurateConfig().with_values({"refine.device": "cuda", "calibrate.backend": "lines", "calibrate.device": "cuda"}))


def test_a_sam2_device_is_checked_before_its_checkpoint(tmp_path):
    config = CurateConfig().with_values({"refine.backend": "sam2", "refine.sam2_checkpoint": str(tmp_path / "missing.pt"),
                                         "refine.device": "cuda:0"})
    with pytest.raises(ValueError, match=r"^refine.device='cuda:0' but torch"):
        check_config(config)
