"""Saving and loading fitted skpartx estimators and pipelines."""

import joblib

from ._torch import TorchEstimatorMixin, logger, resolve_device


def save(estimator, path, compress=3):
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


def load(path, device=None):
    """Load an estimator or pipeline saved with :func:`save` (or ``joblib.dump``).

    Loading unpickles the file: load only files you trust, as with any pickle.

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, default=None
        Move the torch state of every skpartx estimator inside to this device (and set
        their ``device`` parameter). ``None`` keeps each estimator's ``device``
        parameter, falling back to the CPU where it is not available.

    Returns
    -------
    estimator
    """
    estimator = joblib.load(path)
    if device is not None:
        target = resolve_device(device)
        for est in _torch_estimators(estimator):
            est.device = device
            est.device_ = target
            for name in est._fitted_modules:
                module = getattr(est, name, None)
                if module is not None:
                    setattr(est, name, module.to(target))
            logger.info("%s moved to %s", type(est).__name__, target)
    return estimator
