"""Scripts outside the package name only what they define or import.

The benchmarks and examples are not imported by the suite (they take minutes to hours), so a
name they lose in a refactor (a removed constant, a renamed function) would surface only when
someone runs them. pyflakes finds such names without running anything.
"""

from pathlib import Path

import pytest

pyflakes_api = pytest.importorskip("pyflakes.api")
pyflakes_messages = pytest.importorskip("pyflakes.messages")
ROOT = Path(__file__).parent.parent
UNDEFINED = (pyflakes_messages.UndefinedName, pyflakes_messages.UndefinedLocal, pyflakes_messages.UndefinedExport)


class Collect:
    def __init__(self):
        self.messages = []

    def flake(self, message):
        self.messages.append(message)

    def unexpectedError(self, filename, message):  # noqa: N802 - pyflakes' reporter interface
        self.messages.append(f"{filename}: {message}")

    def syntaxError(self, filename, message, *args):  # noqa: N802
        self.messages.append(f"{filename}: {message}")


@pytest.mark.parametrize("folder", ["benchmarks", "examples", "scripts", "skpartx"])
def test_no_undefined_names(folder):
    reporter = Collect()
    for path in sorted((ROOT / folder).rglob("*.py")):
        pyflakes_api.checkPath(str(path), reporter)
    problems = [str(m) for m in reporter.messages if isinstance(m, str) or isinstance(m, UNDEFINED)]
    assert not problems, "\n".join(problems)
