"""Progress bars that stay silent unless asked for."""

import contextlib

from tqdm.auto import tqdm


def progress(iterable, verbose, desc=None, total=None, unit="it"):
    """Wrap ``iterable`` in a tqdm bar when ``verbose`` (notebook widgets where available)."""
    if not verbose:
        return iterable
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)


class _Silent(contextlib.AbstractContextManager):
    def update(self, n=1):
        pass

    def __exit__(self, *exc):
        return None


def progress_bar(verbose, total, desc, unit="it"):
    """A bar advanced by hand with ``update(n)``; a silent stand-in unless ``verbose``."""
    return tqdm(total=total, desc=desc, unit=unit, leave=False) if verbose else _Silent()
