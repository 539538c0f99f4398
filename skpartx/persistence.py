"""Saving and loading fitted skpartx estimators and pipelines.

Loading unpickles, and unpickling a file can run any code its author chose. :func:`load`
therefore reads files with a restricted unpickler that rebuilds only what fitted skpartx
pipelines are made of: estimators (skpartx, scikit-learn, imodels), torch modules, arrays
and tensors. Anything else, such as a function like ``os.system``, is refused unless the
caller opts in with ``trusted=True``.
"""

import io
import os
import pickle
import sys

import joblib
import numpy as np
import torch
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap
from sklearn.base import BaseEstimator

from ._core.chunks import ChunkedRun
from ._core.torch_utils import TorchEstimatorMixin, logger, resolve_device

# Packages whose modules may be imported while loading: what fitted pipelines are made of.
_PACKAGES = {"skpartx", "sklearn", "imodels", "torch", "torchvision", "numpy", "scipy", "collections"}
# Packages whose classes (not functions) are trusted whatever their kind.
_CLASS_PACKAGES = {"skpartx", "sklearn", "imodels"}
# Classes that would touch files when rebuilt (the class objects: wherever a class moves, it stays refused).
_REFUSED_CLASSES = (ChunkedRun,)
# Where the modules of files written by skpartx 0.2.0.dev0 and earlier (every private module at
# the package's top level) now live; a file names a class by its module, so old files keep loading.
_MOVED_MODULES = {
    "skpartx._attribution_run": "skpartx.attribution._run",
    "skpartx._cache": "skpartx._core.cache",
    "skpartx._chunks": "skpartx._core.chunks",
    "skpartx._coalitions": "skpartx._engine.coalitions",
    "skpartx._compare_report": "skpartx.compare._formats",
    "skpartx._compare_stats": "skpartx.compare._stats",
    "skpartx._curves": "skpartx._core.curves",
    "skpartx._decision": "skpartx.rules._decision",
    "skpartx._explanations": "skpartx.attribution._explanations",
    "skpartx._features": "skpartx._core.features",
    "skpartx._games": "skpartx._engine.games",
    "skpartx._gradients": "skpartx.attribution._gradients",
    "skpartx._html": "skpartx._core.html",
    "skpartx._imodels": "skpartx.rules._imodels",
    "skpartx._labels": "skpartx._core.labels",
    "skpartx._lazy": "skpartx._core.lazy",
    "skpartx._matchers": "skpartx.transfer._matchers",
    "skpartx._methods": "skpartx.attribution._methods",
    "skpartx._misclassification": "skpartx.counterfactual._misclassification",
    "skpartx._msx": "skpartx.attribution._msx",
    "skpartx._part_images": "skpartx._core.part_images",
    "skpartx._part_scores": "skpartx._core.part_scores",
    "skpartx._profile": "skpartx.rules._profile",
    "skpartx._progress": "skpartx._core.progress",
    "skpartx._refine": "skpartx.transfer._refine",
    "skpartx._relations": "skpartx._core.relations",
    "skpartx._rule_report": "skpartx.rules._report",
    "skpartx._rule_stats": "skpartx.rules._stats",
    "skpartx._set_cover": "skpartx.rules._set_cover",
    "skpartx._shapley": "skpartx._engine.shapley",
    "skpartx._symbols": "skpartx.rules._symbols",
    "skpartx._torch": "skpartx._core.torch_utils",
    "skpartx._transfer_checks": "skpartx.transfer._checks",
    "skpartx._transfer_fill": "skpartx.transfer._fill",
    "skpartx._transfer_fit": "skpartx.transfer._fit",
    "skpartx._transfer_proba": "skpartx.transfer._proba",
    "skpartx._value_function": "skpartx.attribution._value_function",
    "skpartx._warp": "skpartx.counterfactual._warp",
}
_BUILTIN_TYPES = {"dict", "list", "tuple", "set", "frozenset", "slice", "range", "complex", "bytearray", "bytes",
                  "object", "int", "float", "str", "bool"}
_DATA_TYPES = (np.ndarray, np.dtype, np.generic, np.random.RandomState, np.random.BitGenerator, np.random.Generator,
               torch.Size, torch.device)
_COLLECTIONS = {"OrderedDict", "defaultdict", "deque", "Counter"}
# Functions that only rebuild arrays, tensors and generators from their data.
_FUNCTIONS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("copyreg", "_reconstructor"),
}


def _load_storage_from_bytes(data):
    """``torch.storage._load_from_bytes`` without running code: a tensor's bytes hold only its storage."""
    return torch.load(io.BytesIO(data), weights_only=True)


def _inner_unpickler(file, find_class):
    inner = pickle._Unpickler(file)
    inner.find_class = find_class
    return inner


class _ArrayWrapper(NumpyArrayWrapper):
    """joblib's array record, with arrays of Python objects read through the unpickler reading the file."""

    def read_array(self, unpickler, *args):
        if self.dtype.hasobject:
            return _inner_unpickler(unpickler.file_handle, unpickler.find_class).load()
        return super().read_array(unpickler, *args)


class _LayoutUnpickler(NumpyUnpickler):
    """joblib's unpickler, reading the module paths of earlier skpartx layouts as today's."""

    def find_class(self, module, name):
        if (module, name) == ("joblib.numpy_pickle", "NumpyArrayWrapper"):
            return _ArrayWrapper  # arrays of objects are read by this unpickler too
        return super().find_class(_MOVED_MODULES.get(module, module), name)


class _RestrictedUnpickler(_LayoutUnpickler):
    """joblib's unpickler, rebuilding only the kinds of objects fitted skpartx pipelines hold."""

    def find_class(self, module, name):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _load_storage_from_bytes
        if (module, name) == ("joblib.numpy_pickle", "NumpyArrayWrapper"):
            return _ArrayWrapper
        module = _MOVED_MODULES.get(module, module)
        if (module, name) == ("numpy", "memmap"):
            return np.ndarray  # rebuilt in memory: calling np.memmap opens (and may create) a file
        if (module, name) in _FUNCTIONS:
            return super().find_class(module, name)
        if module == "builtins" and name in _BUILTIN_TYPES:
            return super().find_class(module, name)
        package = module.partition(".")[0]
        # Importing runs a module's code: only modules already imported, or of the known packages
        # (not their ``__main__`` scripts).
        if module in sys.modules or (package in _PACKAGES and "__main__" not in module.split(".")):
            try:
                found = super().find_class(module, name)
            except (ImportError, AttributeError):
                found = None
            if isinstance(found, torch.dtype):
                return found
            if isinstance(found, type) and self._trusted_class(found):
                return found
        raise pickle.UnpicklingError(
            f"{self.filename} refers to {module}.{name}, which skpartx.load does not load: rebuilding it could "
            "run code. Load only files you trust; to load this one anyway, pass trusted=True (a model class of "
            "your own loads without it once its module is imported)."
        )

    @staticmethod
    def _trusted_class(cls):
        if issubclass(cls, _REFUSED_CLASSES):
            return False
        package = cls.__module__.partition(".")[0]
        if issubclass(cls, (BaseEstimator, torch.nn.Module)) or package in _CLASS_PACKAGES:
            return True
        if package == "collections":
            return cls.__name__ in _COLLECTIONS
        if issubclass(cls, np.memmap):  # opens (and may create) a file when rebuilt
            return False
        return package in ("numpy", "torch") and issubclass(cls, _DATA_TYPES)


def _load(path, unpickler):
    filename = os.fspath(path)
    with open(filename, "rb") as handle:
        with _validate_fileobject_and_memmap(handle, filename) as opened:
            file = opened[0] if isinstance(opened, tuple) else opened
            if isinstance(file, str):  # written by joblib < 0.10, which only a full unpickling reads
                if unpickler is _LayoutUnpickler:
                    return joblib.load(filename)
                raise pickle.UnpicklingError(
                    f"{filename} was written by a very old joblib; load it with trusted=True if you trust it."
                )
            return unpickler(filename, file, True).load()


def save(estimator: BaseEstimator, path: str | os.PathLike, compress: int = 3) -> list[str]:
    """Save a fitted estimator or pipeline with joblib.

    Torch modules inside skpartx estimators are stored on the CPU, so a pipeline fitted
    on a GPU loads on a machine without one.

    Parameters
    ----------
    estimator : estimator or Pipeline
    path : str or path-like
    compress : int, default=3
        joblib compression level.

    Returns
    -------
    path : list of str
        The files written (as :func:`joblib.dump`).
    """
    return joblib.dump(estimator, path, compress=compress)


def _torch_estimators(obj):
    """skpartx estimators with torch state in ``obj`` (itself, or the steps of a pipeline)."""
    if isinstance(obj, TorchEstimatorMixin):
        return [obj]
    steps = getattr(obj, "steps", None) or []
    return [est for _, step in steps for est in _torch_estimators(step)]


def load(path: str | os.PathLike, device: str | torch.device | None = None, *, trusted: bool = False) -> BaseEstimator:
    """Load an estimator or pipeline saved with :func:`save` (or ``joblib.dump``).

    Loading unpickles the file, and a pickle can run code. By default only what fitted
    pipelines are made of is rebuilt: estimators of skpartx, scikit-learn and imodels,
    torch modules (your own model classes too, once their module is imported), arrays
    and tensors, with tensors read as ``torch.load(weights_only=True)`` reads them.
    Anything else is refused with a :class:`pickle.UnpicklingError` before it runs.

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, default=None
        Move the torch state of every skpartx estimator inside to this device (and set
        their ``device`` parameter). ``None`` keeps each estimator's ``device``
        parameter, falling back to the CPU where it is not available.
    trusted : bool, default=False
        Unpickle without restriction (as :func:`joblib.load`), for files you trust that
        hold other objects, such as functions.

    Returns
    -------
    estimator
    """
    estimator = _load(path, _LayoutUnpickler if trusted else _RestrictedUnpickler)
    if device is not None:
        target = resolve_device(device)
        for est in _torch_estimators(estimator):
            est.move_to(device)
            logger.info("%s moved to %s", type(est).__name__, target)
    return estimator
