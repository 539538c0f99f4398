"""The value function a :class:`~skpartx.PartAttributor` explains.

The value of a coalition of an image's parts is the model's value (probability or logit)
of the explained class on the composite that shows the kept parts and the baseline
elsewhere. :class:`ValueFunction` holds what fixes it — model, baseline, output, device,
batch size — and builds, for a chunk of images, the explained classes and the
:class:`~skpartx._engine.coalitions.CoalitionEngine` that evaluates it; every attribution method,
metric and interaction works through that engine.
"""

from dataclasses import dataclass

import numpy as np
import torch

from .._core.part_images import PartImages
from .._core.torch_utils import predict_logits, read_batch
from .._engine.coalitions import CoalitionEngine


@dataclass
class ValueFunction:
    """The model's value of the explained class on composites of image and baseline.

    Attributes
    ----------
    model : torch.nn.Module
        On ``device``, in eval mode.
    baseline : str, float, array-like, tensor or callable
        What replaces removed parts (see ``PartAttributor``).
    output : {"probability", "logit"}
    device : torch.device
    batch_size : int or None
    mean_colour : ndarray of shape (C,)
        The ``"mean"`` baseline's colour.
    n_parts : int
    """

    model: torch.nn.Module
    baseline: object
    output: str
    device: torch.device
    batch_size: object
    mean_colour: np.ndarray
    n_parts: int

    def read(self, X, chunk):
        """Images ``chunk`` of ``X`` with their pixels read once, for the class pass and the engine."""
        part = X[chunk]
        return PartImages._from_validated(read_batch(part.images, self.device), np.asarray(part.masks), part.part_names)

    def predicted_classes(self, X):
        """The model's class for each image of ``X`` (one forward pass)."""
        return self.logits(X).argmax(axis=1)

    def logits(self, X):
        """The model's logits on the full images of ``X``."""
        return predict_logits(self.model, X, self.batch_size, self.device)

    def engine(self, X, targets):
        """A coalition engine over the images of ``X`` explaining the classes ``targets``."""
        return CoalitionEngine(
            self.model,
            X.images,
            X.masks,
            targets,
            self.n_parts,
            baseline=self.baseline,
            device=self.device,
            batch_size=self.batch_size,
            output=self.output,
            mean_image=torch.as_tensor(self.mean_colour).view(-1, 1, 1),
        )

    def engine_and_classes(self, X, targets=None):
        """The engine of ``X`` and its explained classes: ``targets``, or the predicted
        classes, whose forward pass also gives the engine its full-image values."""
        if targets is not None:
            return self.engine(X, targets), targets
        logits = self.logits(X)
        targets = logits.argmax(axis=1)
        engine = self.engine(X, targets)
        engine.memoise_full(logits)  # the pass that chose the classes gave the full-image values
        return engine, targets


def baseline_results(engine):
    """Softmax over all classes on the all-baseline composites, and the explained class's
    probability on the full images (memoised in ``engine``: no method evaluates them again)."""
    probabilities = engine.baseline_probabilities()
    full, _ = engine.full_and_empty(output="probability")
    return {"baseline_probabilities": probabilities, "full_probability": full}
