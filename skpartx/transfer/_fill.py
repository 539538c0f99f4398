"""Filling unlabelled pixels with their most probable part, and each image's confidence.

Given labels are kept; only images with unlabelled pixels are transferred. A long fill can
run chunk by chunk through a :class:`~skpartx._core.chunks.ChunkedRun`, so that a rerun after a
crash resumes from the chunks already on disk. The least confident images are the ones
worth labelling next.
"""

import numpy as np

from .._core.chunks import ChunkedRun, iter_chunks
from .._core.part_images import UNLABELLED
from ._proba import most_probable_parts


def fill_masks(X, iter_proba):
    """``X``'s masks with unlabelled pixels filled, and each image's confidence, in one pass.

    Parameters
    ----------
    X : PartImages
    iter_proba : callable
        ``iter_proba(images) -> iterable of (slice, proba, winners)`` with ``proba`` a tensor
        ``(batch, P, H, W)`` of part probabilities of the images in ``slice`` and
        ``winners`` their most probable parts or ``None`` (see
        :func:`~skpartx.transfer._proba.refine_proba`).

    Returns
    -------
    masks : ndarray (N, H, W), int
    confidence : ndarray (N,)
        Mean over pixels of the filled label's probability (given labels count as certain).
    """
    masks = X.masks.copy()
    confidence = np.ones(len(X))
    unlabelled = masks == UNLABELLED
    todo = np.flatnonzero(unlabelled.reshape(len(X), -1).any(axis=1))
    if len(todo):
        for batch, proba, winners in iter_proba(X.images[todo]):
            rows = todo[batch]
            best, winner = most_probable_parts(proba, winners)
            best, winner = best.cpu().numpy(), winner.cpu().numpy().astype(np.int32)
            missing = unlabelled[rows]
            masks[rows] = np.where(missing, winner, masks[rows])
            confidence[rows] = np.where(missing, best, 1.0).reshape(len(rows), -1).mean(axis=1)
    return masks, confidence


def fill_in_chunks(X, fill, out_dir, key, chunk_size):
    """:func:`fill_masks`' results chunk by chunk, each chunk saved under ``out_dir`` once done.

    Parameters
    ----------
    X : PartImages
    fill : callable
        ``fill(X_chunk) -> (masks, confidence)``.
    out_dir : str or path-like
    key : str
        Fingerprint of everything the masks depend on; names the run.
    chunk_size : int
        Images per chunk.

    Returns
    -------
    masks : read-only memory map (N, H, W) of int32
        ``masks.npy`` in the run's folder.
    confidence : ndarray (N,)
    """
    run = ChunkedRun(out_dir, "transfer", key, len(X), chunk_size)
    masks = np.lib.format.open_memmap(run.path / "masks.npy", "w+", np.int32, (len(X), *X.shape[2:]))
    confidence = np.empty(len(X))

    def compute(k, chunk):
        chunk_masks, chunk_confidence = fill(X[chunk])
        return {"masks": chunk_masks, "confidence": chunk_confidence}, {}

    for chunk, (arrays, _) in iter_chunks(run.chunks, compute, run):
        masks[chunk], confidence[chunk] = arrays["masks"], arrays["confidence"]
    masks.flush()
    del masks
    return np.load(run.path / "masks.npy", mmap_mode="r"), confidence


def least_confident(confidence, labelled, n):
    """Indices of up to ``n`` unlabelled images, least ``confidence`` first (ties in order)."""
    candidates = np.flatnonzero(~labelled)
    return candidates[np.argsort(confidence[candidates], kind="stable")[:n]]
