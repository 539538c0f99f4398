"""Run fitted skpartx estimators over a Dask cluster, with the results of a single process.

``transform_on_cluster(estimator, X, client)`` splits ``X`` into chunks, sends the fitted
estimator to every worker once, transforms the chunks on the workers and puts the results
back together in order. Images travel per chunk; :class:`~skpartx.LazyImages` travel as file
lists, so workers read their own images. A :class:`PartAttributor` is run chunk by chunk with
the same chunks and random seeds as in one process, so even its sampled methods give
bit-identical results on the same hardware.

On a GPU cluster, start one worker per GPU (for example ``dask-cuda``'s ``LocalCUDACluster``
or the ``dask cuda worker`` command, which pin each worker to one device through
``CUDA_VISIBLE_DEVICES``) and one thread per worker; an estimator with ``device="auto"``
then runs on its worker's GPU.

Requires ``dask[distributed]`` (``pip install skpartx[dask]``).
"""

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ._core.part_images import PartImages, as_part_images
from ._core.torch_utils import ModelCallError, batch_slices
from .attribution import PartAttributor
from .transfer import PartLabelTransfer

if TYPE_CHECKING:  # Dask is optional
    from distributed import Client


def _attribution_chunk(attributor, X, seed, start=0):
    try:
        return attributor.attribute_chunk(X, seed)
    except ModelCallError as exc:  # name the images by their position in the whole X
        raise exc.shifted(start) from exc.cause


def _transfer_chunk(transfer, X):
    return transfer.transform_chunk(X).masks  # only the masks travel back


def _transform_chunk(estimator, X):
    return estimator.transform(X)


def _client(client):
    try:
        from distributed import Client, get_client
    except ImportError as error:  # pragma: no cover - exercised only without dask installed
        raise ImportError("transform_on_cluster needs Dask: pip install 'dask[distributed]'.") from error
    if client is None:
        return get_client()  # the client of the current session; ValueError if there is none
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}.")
    return client


def transform_on_cluster(
    estimator: BaseEstimator, X: PartImages, client: "Client | None" = None, chunk_size: int | None = None
) -> PartImages | np.ndarray | pd.DataFrame:
    """``estimator.transform(X)`` computed on the workers of a Dask cluster.

    Parameters
    ----------
    estimator : PartLabelTransfer, PartAttributor or fitted transformer
        A fitted estimator. The workers compute every chunk and send it back; they
        do not use the estimator's ``memory`` or ``out_dir``.
    X : PartImages
        The images to transform.
    client : distributed.Client, default=None
        The cluster to use; default: the current session's client.
    chunk_size : int, default=None
        Images per task. Default: the estimator's ``chunk_size`` (a
        :class:`PartAttributor` always uses its own, which fixes its random seeds), or 256.

    Returns
    -------
    result
        What ``estimator.transform(X)`` returns: a :class:`~skpartx.PartImages` for a
        :class:`PartLabelTransfer`; for a :class:`PartAttributor` its part scores, with its
        warnings, as a ``PartScoreArray`` (or a DataFrame under
        ``set_output(transform="pandas")``).

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> scores = transform_on_cluster(attributor.fit(X), X, client)  # doctest: +SKIP
    """
    client = _client(client)
    X = as_part_images(X)
    remote = client.scatter(estimator, broadcast=True)  # sent once to every worker, not once per task
    if isinstance(estimator, PartAttributor):
        X, chunks, seeds = estimator.plan_chunks(X)
        futures = [
            client.submit(_attribution_chunk, remote, X[c], seed, c.start, pure=False) for c, seed in zip(chunks, seeds)
        ]
        return estimator.scores_from_chunks(X, client.gather(futures))

    size = chunk_size or getattr(estimator, "chunk_size", None) or 256
    chunks = batch_slices(len(X), int(size))
    if isinstance(estimator, PartLabelTransfer):
        X = estimator.check_images(X)
        futures = [client.submit(_transfer_chunk, remote, X[c], pure=False) for c in chunks]
        masks = np.concatenate(client.gather(futures))
        return PartImages._from_validated(X.images, masks, estimator.part_names_)
    futures = [client.submit(_transform_chunk, remote, X[c], pure=False) for c in chunks]
    parts = client.gather(futures)
    return pd.concat(parts, ignore_index=True) if isinstance(parts[0], pd.DataFrame) else np.concatenate(parts)
