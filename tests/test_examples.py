"""Every example runs from start to end and prints rules that find the planted parts."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, capsys):
    runpy.run_path(str(path), run_name="__main__")
    printed = capsys.readouterr().out
    assert "Global rules" in printed
    fidelity = float(printed.split("fidelity on held-out images:")[1].split()[0])
    assert fidelity > 0.85
