"""Transforms on a Dask cluster of two worker processes equal those of one process."""

import numpy as np
import pandas as pd
import pytest
import torch

from skpartx import PartAttributor, PartImages, PartLabelTransfer
from skpartx._core.part_scores import PartScoreArray, table_info
from skpartx.datasets import make_part_shapes
from skpartx.models import SmallCNN
from skpartx.parallel import transform_on_cluster

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def shapes():
    data = make_part_shapes(40, image_size=32, random_state=4)
    torch.manual_seed(0)
    return data, SmallCNN(len(data.target_names)).eval()


def test_sampled_shapley_and_msx_match_one_process(client, shapes):
    data, model = shapes
    X = PartImages(data.images, data.masks, data.part_names)
    for params in (dict(method="shapley", max_exact_parts=3, max_evals=32), dict(method="msx", relations=True)):
        attributor = PartAttributor(model, chunk_size=7, random_state=1, device="cpu", **params).fit(X)
        remote = transform_on_cluster(attributor, X, client)
        np.testing.assert_array_equal(remote, attributor.transform(X))
        assert isinstance(remote, PartScoreArray)
        encoding = "msx" if params["method"] == "msx" else "scores"
        assert table_info(remote) == (list(attributor.get_feature_names_out()), encoding)
    attributor.set_output(transform="pandas")
    frame = transform_on_cluster(attributor, X, client)
    assert isinstance(frame, pd.DataFrame) and table_info(frame) == (list(attributor.get_feature_names_out()), "msx")
    # The chunks were spread over both worker processes.
    executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and min(executed.values()) > 0


def test_transfer_matches_one_process(client, shapes):
    data, model = shapes
    masks = np.full_like(data.masks, -1)
    masks[:10] = data.masks[:10]
    X = PartImages(data.images, masks, data.part_names)
    transfer = PartLabelTransfer(backbone=model, random_state=0, device="cpu").fit(X[:10])
    remote = transform_on_cluster(transfer, X, client, chunk_size=6)
    local = transfer.transform(X)
    np.testing.assert_array_equal(remote.masks, local.masks)
    assert remote.part_names == local.part_names


def test_without_a_client_is_a_clear_error(shapes):
    data, model = shapes
    with pytest.raises(TypeError, match="distributed.Client"):
        transform_on_cluster(PartAttributor(model), PartImages(data.images, data.masks, data.part_names), "x")
