"""Progress bars that stay silent unless asked for."""

from tqdm.auto import tqdm


def progress(iterable, verbose, desc=None, total=None, unit="it"):
    """Wrap ``iterable`` in a tqdm bar when ``verbose`` (notebook widgets where available)."""
    if not verbose:
        return iterable
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)
