"""Torch plumbing shared by the estimators: devices, module handling, batching."""

import contextlib
import copy
import inspect
import logging
import os
import textwrap
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval

logger = logging.getLogger("skpartx")


def resolve_device(device):
    """Turn ``"auto"`` (CUDA when available), a string or a ``torch.device`` into a device."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device; use 'auto', 'cpu' or 'cuda'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use device='auto' or 'cpu'.")
    return resolved


def check_module(module, name):
    """Raise a clear error unless ``module`` is a ``torch.nn.Module``."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(module).__name__}.")
    return module


def prepare_module(module, device):
    """Return ``module`` on ``device`` in eval mode without touching the caller's module.

    The caller's module is used as is when it already lives on ``device`` and is in
    eval mode; otherwise a deep copy is moved and switched to eval mode, so that
    explaining a model never changes its device or its training flag.
    """
    params = list(module.parameters()) + list(module.buffers())
    if any(p.is_meta for p in params):
        raise ValueError(
            f"the {type(module).__name__} has weights on the meta device, which hold no values; materialise it "
            "first, e.g. model.to_empty(device='cpu') then model.load_state_dict(weights)."
        )
    on_device = all(p.device == device for p in params)
    # A submodule left in train mode (dropout, batch norm) would change the answers too.
    if on_device and not any(m.training for m in module.modules()):
        return module
    prepared = copy.deepcopy(module).to(device)
    try:
        return prepared.eval()
    except NotImplementedError:  # exported programs fix train/eval behaviour when exported
        return prepared


def module_device(module):
    """The device of a module's first parameter or buffer (CPU for parameter-free modules)."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return torch.device("cpu")


def inference_context(device):
    """No gradient tape; bf16 autocast on CUDA, plain float32 on CPU."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if device.type == "cuda":
        stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
    return stack


# torch's CPU thread setting belongs to the calling thread where ATen runs on OpenMP (a thread
# started later begins with the last value set); elsewhere it is one setting for the process.
_THREADS_PER_CALLER = "parallel backend: OpenMP" in torch.__config__.parallel_info()
_threads_lock = threading.Lock()
_threads_held = {"count": 0, "before": None}


@contextlib.contextmanager
def fixed_cpu_threads(device, threads=1):
    """Run the block with ``threads`` CPU threads of torch, then give the caller's count back.

    A sum that torch splits across threads is added up in an order that depends on how
    many there are (a weight gradient's sum over a batch, for one), so a model trained
    with 1 thread differs in its last bits from one trained with 2, and training
    amplifies the difference. Training inside an estimator runs under this context, so
    that its result does not depend on the caller's thread count: serial runs and joblib
    workers (which get ``cpu_count // n_jobs`` threads) fit the same weights. Safe when
    several threads enter at once (joblib's threading backend): each holds the count for
    the whole of its block. Devices other than the CPU run the block unchanged.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    with _threads_lock:
        before = torch.get_num_threads()
        if _threads_held["count"] == 0:
            _threads_held["before"] = before
        _threads_held["count"] += 1
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_held["count"] -= 1
            if _THREADS_PER_CALLER:
                torch.set_num_threads(before)
            elif _threads_held["count"] == 0:  # one setting for all: the last one out restores it
                torch.set_num_threads(_threads_held["before"])


def to_device_images(images, device):
    """Float tensor ``(N, C, H, W)`` on ``device`` in channels-last memory format.

    Convolutions run faster on channels-last input on CUDA and on the CPU alike (1.7x
    for the demo CNN on a 2-core CPU); the caller's model itself is not converted.
    """
    if not torch.is_tensor(images):
        images = np.asarray(images)
        if not images.flags.writeable:  # torch refuses to share read-only memory
            images = images.copy()
    tensor = torch.as_tensor(images)
    tensor = tensor.to(device=device, dtype=torch.float32, non_blocking=True)
    return tensor.contiguous(memory_format=torch.channels_last)


def read_batch(images, device):
    """Images ``images`` (a slice of an array, tensor or ``LazyImages``) read into host memory,
    pinned when they go to a CUDA device so that the copy to it can run asynchronously."""
    if torch.is_tensor(images):
        return images
    array = np.asarray(images, dtype=np.float32)
    if device.type != "cuda":
        return array
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).pin_memory()


def prefetched(items, load):
    """Yield ``(item, load(item))`` for each item, loading the next item in a background
    thread while the caller works on the current one.

    Reading images from disk (decoding files, paging in a memmap) then overlaps with the
    model's compute, as a ``DataLoader`` with a worker and pinned memory would. In-memory
    NumPy arrays need no reading, so for them ``load`` runs inline.
    """
    items = list(items)
    if not items:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="skpartx-prefetch") as pool:
        pending = pool.submit(load, items[0])
        for position, item in enumerate(items):
            loaded = pending.result()
            if position + 1 < len(items):
                pending = pool.submit(load, items[position + 1])
            yield item, loaded


def iter_image_batches(images, batch_size, device):
    """Yield ``(slice, batch)`` over ``images``, each batch read (and pinned on CUDA) ahead of use."""
    slices = batch_slices(len(images), batch_size)
    if isinstance(images, np.ndarray) and device.type != "cuda":
        for batch in slices:  # already in memory: a view is all a batch needs
            yield batch, images[batch]
        return
    yield from prefetched(slices, lambda batch: read_batch(images[batch], device))


# Default batches hold a fixed number of pixels: 512 images of 224 px on a GPU, 4 on a
# CPU (49 of 64 px). On a CPU, large batches run slower per image because activations
# fall out of cache (2-core AMD EPYC: ResNet-18 at 224 px 106 images/s in batches of 4,
# 90 in batches of 32; the demo's CNN at 64 px 6,700 images/s in batches of 49, 4,000 in
# batches of 128; benchmarks/RESULTS.md). On a GPU the budget keeps 518-px batches
# inside memory.
BATCH_PIXELS = {"cuda": 512 * 224 * 224, "cpu": 4 * 224 * 224}
MAX_DEFAULT_BATCH = {"cuda": 512, "cpu": 128}


def default_batch_size(device, batch_size, image_shape=None):
    """The user's batch size, or a default for the device and image size.

    Parameters
    ----------
    device : torch.device
    batch_size : int or None
        The user's choice, returned as is when given.
    image_shape : tuple, optional
        ``(..., H, W)`` of the images; without it, the default for small images.
    """
    if batch_size is not None:
        return int(batch_size)
    kind = "cuda" if device.type == "cuda" else "cpu"
    if image_shape is None:
        return MAX_DEFAULT_BATCH[kind]
    pixels = int(image_shape[-1]) * int(image_shape[-2])
    return int(min(MAX_DEFAULT_BATCH[kind], max(1, BATCH_PIXELS[kind] // pixels)))


def batch_slices(n, batch_size):
    """Slices covering ``range(n)`` in chunks of ``batch_size``."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def is_out_of_memory(exc):
    """Whether ``exc`` is an accelerator out-of-memory error."""
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class ModelCallError(RuntimeError):
    """The model raised on a batch; the message names the images of that batch.

    Parameters
    ----------
    indices : array-like of int
        Positions of the batch's images (in the caller's images, once shifted by
        :meth:`shifted`).
    cause : BaseException
        What the model raised (also the ``__cause__``).
    """

    def __init__(self, indices, cause):
        if torch.is_tensor(indices):
            indices = indices.cpu().numpy()
        self.indices = np.unique(np.asarray(indices, dtype=np.int64))
        self.cause = cause
        shown = ", ".join(str(i) for i in self.indices[:10]) + (", ..." if len(self.indices) > 10 else "")
        super().__init__(
            f"the model raised {type(cause).__name__} on a batch of image(s) {shown}: {cause}. Fix the model or "
            "leave those images out; a PartAttributor with out_dir set keeps the chunks it finished and, rerun, "
            "computes only the missing ones."
        )

    def shifted(self, offset):
        """The same error with image positions moved by ``offset`` (a chunk's start)."""
        return ModelCallError(self.indices + offset, self.cause)

    def __reduce__(self):  # picklable, e.g. across Dask workers
        return ModelCallError, (self.indices, self.cause)


def _takes_pixel_values_only(forward):
    """Whether the bound method ``forward`` takes the images only as the keyword ``pixel_values``."""
    try:
        parameters = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):  # builtins and compiled modules without a signature
        return False
    positional = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)
    return not positional and any(p.name == "pixel_values" for p in parameters)


# Per forward function (a class's, or one set on an instance): read once, not per batch.
_PIXEL_VALUES_ONLY = weakref.WeakKeyDictionary()


def forward_images(module, images):
    """Run ``module`` on a batch of images, however its forward takes them.

    The images go in as the first positional argument, or as ``pixel_values=`` when the
    forward takes them only under that keyword (as some Hugging Face models do).
    """
    forward = module.forward
    function = getattr(forward, "__func__", forward)
    try:
        keyword = _PIXEL_VALUES_ONLY[function]
    except (KeyError, TypeError):  # not seen yet, or not weakly referenceable (then not cached)
        keyword = _takes_pixel_values_only(forward)
        try:
            _PIXEL_VALUES_ONLY[function] = keyword
        except TypeError:
            pass
    if keyword:
        return module(pixel_values=images)
    return module(images)


def logits_of(output):
    """The logits in a model's output, the one rule for what a model may return.

    Accepted: a tensor; an object with a ``logits`` tensor attribute (a Hugging Face
    ``ModelOutput``); a mapping with a ``"logits"`` entry; a tuple or list whose first
    element is a tensor (the logits, as ``return_dict=False`` models return them).

    Raises
    ------
    TypeError
        For any other output, naming what came back.
    """
    if torch.is_tensor(output):
        return output
    if isinstance(output, Mapping) and torch.is_tensor(output.get("logits")):
        return output["logits"]
    if torch.is_tensor(getattr(output, "logits", None)):
        return output.logits
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    raise TypeError(
        f"the model must return logits (batch, n_classes): a tensor, an output with a .logits tensor, a dict with "
        f"'logits', or a tuple whose first element is the logits; got {type(output).__name__}. Wrap it in a module "
        "whose forward returns the logits alone."
    )


def call_model(model, inputs, indices):
    """The logits of ``model`` on ``inputs`` (:func:`forward_images`, :func:`logits_of`);
    a failure names the images ``indices``.

    Out-of-memory errors pass through unchanged: the callers retry those with smaller batches.
    """
    try:
        output = forward_images(model, inputs)
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        raise ModelCallError(indices, exc) from exc
    return logits_of(output)


def run_in_batches(n, batch_size, run, device, what="images"):
    """``run(start, stop)`` over consecutive batches of ``range(n)`` of at most ``batch_size``.

    The one out-of-memory strategy of skpartx: on an out-of-memory error the batch size is
    halved, for the failed batch and the rest, and the failed batch retried, so no item is
    lost and results do not depend on where memory ran out. Out of memory on a batch of
    one is raised as is.

    Returns
    -------
    results : list
        What ``run`` returned for each batch, in order.
    batch_size : int
        The batch size that fitted, for the caller's next batches.
    """
    results, start = [], 0
    while start < n:
        stop = min(start + batch_size, n)
        try:
            results.append(run(start, stop))
        except RuntimeError as exc:
            if not is_out_of_memory(exc) or batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)
            logger.warning(
                "out of memory on a batch of %d %s; batch size halved to %d, retrying it in two halves",
                stop - start, what, batch_size,
            )
            if torch.device(device).type == "cuda":
                torch.cuda.empty_cache()
            continue
        start = stop
    return results, batch_size


def check_logits(logits, n, what="images"):
    """Raise unless ``logits`` has the shape ``(n, n_classes)`` of a classifier's output on ``n`` inputs."""
    if logits.ndim != 2 or logits.shape[0] != n:
        raise ValueError(
            f"the model must return logits of shape (batch, n_classes); for a batch of {n} {what} it returned "
            f"shape {tuple(logits.shape)}."
        )


def predict_logits(model, X, batch_size=None, device="auto"):
    """Logits of ``model`` on images, batched, as a float32 numpy array ``(N, n_classes)``.

    Parameters
    ----------
    model : torch.nn.Module
        Its forward may return logits, a ``ModelOutput``-like object, a dict or a tuple
        (see :func:`logits_of`).
    X : PartImages or array-like of shape (N, C, H, W)
    batch_size : int, default=None
        Images per forward pass (see :func:`default_batch_size`); halved on out-of-memory.
    device : str or torch.device, default="auto"

    Returns
    -------
    logits : ndarray of shape (N, n_classes)
    """
    from .part_images import as_image_array

    check_module(model, "model")
    device = resolve_device(device)
    array = as_image_array(X)
    module = prepare_module(model, device)
    size = default_batch_size(device, batch_size, array.shape)
    outputs = []
    with inference_context(device):
        for batch, images in iter_image_batches(array, size, device):
            images = to_device_images(images, device)

            def run(start, stop, images=images, offset=batch.start):
                logits = call_model(module, images[start:stop], np.arange(offset + start, offset + stop))
                check_logits(logits, stop - start)
                return logits.float().cpu().numpy()

            logits, size = run_in_batches(len(images), size, run, device)
            outputs += logits
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outputs)


def run_constraints(*names):
    """Parameter constraints of the run parameters the torch estimators share, for ``names``.

    One definition for ``memory``, ``out_dir``, ``chunk_size``, ``device``, ``batch_size``,
    ``random_state`` and ``verbose``, so that the estimators accept the same values.
    """
    constraints = {
        "memory": [None, str, HasMethods(["cache"])],
        "out_dir": [None, str, os.PathLike],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "device": "no_validation",
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    return {name: constraints[name] for name in names}


# What the run parameters shared by the torch estimators mean, written once (see run_parameters_doc).
_RUN_PARAMETER_DOCS = {
    "memory": ("str, joblib.Memory or None",
               "Cache results on disk, keyed by the network's weights, the parameters and the images, so that a grid "
               "search over later steps does not recompute them. (``Pipeline(memory=...)`` cannot cache steps "
               "holding torch modules: pickled tensors carry memory addresses, so no two clones hash alike.)"),
    "out_dir": ("str, path-like or None",
                "Folder where long calls write each completed chunk of images, so that rerunning the same call after "
                "a crash or a kill resumes from the chunks already done, with the result an uninterrupted run gives."),
    "chunk_size": ("int",
                   "Images processed together (one file in ``out_dir``); memory use grows with it, not with the "
                   "number of images."),
    "device": ("str or torch.device", '``"auto"`` uses CUDA when available.'),
    "batch_size": ("int",
                   "{items} per forward pass; default: as many as hold 512 images of 224 px on CUDA, 4 of 224 px on "
                   "CPU (at most 512 / 128)."),
    "random_state": ("int, RandomState instance or None", "{random}"),
    "verbose": ("bool", "Show progress bars."),
}


def document_run_parameters(cls, names, notes=None, **fields):
    """Write the shared run parameters ``names`` into ``cls``'s docstring at ``{run_parameters}``.

    The texts are written once for all torch estimators (``_RUN_PARAMETER_DOCS``), the
    defaults read from ``cls.__init__``; ``notes`` adds estimator-specific sentences to a
    parameter's text, and ``fields`` fill the texts' fields (``items`` for ``batch_size``:
    what a forward pass holds; ``random`` for ``random_state``: what it seeds).
    """
    defaults = inspect.signature(cls.__init__).parameters
    notes = notes or {}
    lines = []
    for name in names:
        kind, text = _RUN_PARAMETER_DOCS[name]
        default = defaults[name].default
        default = f'"{default}"' if isinstance(default, str) else repr(default)
        lines.append(f"    {name} : {kind}, default={default}")
        text = " ".join(filter(None, [text.format(**fields), notes.get(name)]))
        lines += textwrap.wrap(text, 110, initial_indent=" " * 8, subsequent_indent=" " * 8)
    cls.__doc__ = cls.__doc__.replace("    {run_parameters}", "\n".join(lines))
    return cls


class TorchEstimatorMixin:
    """Set-up and pickling shared by the estimators that run torch modules.

    ``_fit_module`` checks a module parameter and places it on ``device_``. Fitted modules
    are listed in ``_fitted_modules``.

    Modules are pickled on the CPU, so an estimator fitted on a GPU loads on a machine
    without one; on loading they move to the estimator's ``device`` where it exists
    there, and to the CPU otherwise.
    """

    _fitted_modules = ("model_",)

    def _fit_module(self, name, required=True):
        """The module of parameter ``name`` checked and placed on the device, which sets ``device_``.

        Parameters
        ----------
        name : str
            The parameter, e.g. ``"model"`` or ``"backbone"``.
        required : bool, default=True
            Whether ``None`` is refused (with a message that says how to pass it); otherwise
            ``None`` is returned for it.

        Returns
        -------
        module : torch.nn.Module or None
            In eval mode on ``device_`` (a copy if the given one had to move).
        """
        module = getattr(self, name)
        if module is None:
            if required:
                estimator = type(self).__name__
                raise ValueError(f"{estimator} needs the classifier to explain: {estimator}({name}=your_model).")
            return None
        check_module(module, name)
        self.device_ = resolve_device(self.device)
        return prepare_module(module, self.device_)

    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ returns the live __dict__
        for name in self._fitted_modules:
            module = state.get(name)
            if module is not None and module_device(module).type != "cpu":
                state[name] = copy.deepcopy(module).to("cpu")
        if "device_" in state:
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "device_" not in state:
            return
        try:
            self.device_ = resolve_device(self.device)
        except ValueError:
            logger.warning("device %r is not available here; the estimator runs on the CPU", self.device)
            self.device_ = torch.device("cpu")
        self._place_modules()

    def _place_modules(self):
        for name in self._fitted_modules:
            module = getattr(self, name, None)
            if module is not None:
                setattr(self, name, module.to(self.device_))

    def move_to(self, device):
        """Run this fitted estimator on ``device`` from now on: its ``device`` parameter and
        its fitted torch modules move there.

        Parameters
        ----------
        device : str or torch.device

        Returns
        -------
        self
        """
        self.device_ = resolve_device(device)
        self.device = device
        self._place_modules()
        return self
