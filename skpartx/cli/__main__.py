"""``python -m skpartx.cli``: the ``skpartx`` command."""

import sys

from .command import main

sys.exit(main())
