"""``train``'s preflight refuses ``model.device=cuda`` without CUDA in one line naming the key."""

from __future__ import annotations

import duckdb
import pytest
import torch

from soccerfactory.flows.cli_preflight import check_train
from soccerfactory.model.config import ModelRunConfig


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_model_device_cuda_without_cuda_is_refused(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    duckdb.connect(str(catalog)).close()  # a real (empty) catalog: the device is what is wrong
    config = ModelRunConfig.model_validate({"model": {"device": "cuda:0"}})
    with pytest.raises(ValueError, match=r"^model.device='cuda:0' but torch .*set model.device=cpu"):
        check_train(catalog, tmp_path, config, None)
