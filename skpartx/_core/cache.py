"""Disk caching of expensive estimator outputs, keyed by content.

scikit-learn's ``Pipeline(memory=...)`` hashes each step by pickling it, but a pickled torch
tensor carries its storage's memory address, so every clone of a step holding a model hashes
differently and the cache never hits. The image estimators therefore take their own
``memory`` parameter, keyed by fingerprints in which tensors count by value.
"""

import joblib
import numpy as np
import torch
from sklearn.utils.validation import check_memory

from .part_images import PartImages


def _canonical(obj):
    """``obj`` with tensors, modules and PartImages replaced by hashable, address-free values."""
    if isinstance(obj, torch.nn.Module):
        return ("module", type(obj).__qualname__, _canonical(obj.state_dict()))
    if torch.is_tensor(obj):
        return ("tensor", obj.detach().cpu().numpy())
    if isinstance(obj, PartImages):
        return ("part_images", obj.images, obj.masks, obj.part_names)
    if isinstance(obj, dict):
        return {key: _canonical(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_canonical(value) for value in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return [_canonical(value) for value in obj.tolist()]
    return obj


def fingerprint(*objects):
    """A content hash of ``objects`` (torch modules and tensors by value)."""
    return joblib.hash(_canonical(objects))


def estimator_fingerprint(estimator, *state, unused=()):
    """Fingerprint of an estimator's parameters that affect results, and of extra ``state``.

    ``unused`` names further parameters that do not affect these results (so that
    results cached before such a parameter existed keep their key).
    """
    ignored = {"verbose", "memory", "out_dir", "device", "batch_size", *unused}
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k not in ignored}
    return fingerprint(type(estimator).__qualname__, params, *state)


def _call(key, compute):
    return compute()


def cached(memory, key, compute):
    """``compute()``, read from ``memory`` when a call with the same ``key`` was cached.

    ``memory`` is None (no caching), a folder path or a :class:`joblib.Memory`.
    """
    if memory is None:
        return compute()
    return check_memory(memory).cache(_call, ignore=["compute"])(key, compute)
