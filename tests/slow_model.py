"""A classifier whose forward pass can be slowed down, for tests that interrupt long runs."""

import time

import torch


class SlowModel(torch.nn.Module):
    """Wraps ``model``; each forward pass first sleeps ``delay`` seconds.

    ``delay`` is a plain attribute, not part of the state dict, so a slowed copy and a
    fast one have the same weights and the same fingerprint.
    """

    def __init__(self, model, delay=0.0):
        super().__init__()
        self.model = model
        self.delay = delay

    def forward(self, x):
        time.sleep(self.delay)
        return self.model(x)
