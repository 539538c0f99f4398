"""Where the commands' summary lines go."""

import logging
from collections.abc import Callable, Iterable

logger = logging.getLogger("skpartx")


def emit(lines: Iterable[str], print_fn: Callable[[str], object] | None = None) -> None:
    """Log each line at INFO level on the ``skpartx`` logger and hand it to ``print_fn`` when given."""
    for line in lines:
        logger.info(line)
        if print_fn is not None:
            print_fn(line)
