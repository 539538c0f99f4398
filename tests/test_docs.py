"""The documentation builds without a warning: API reference, user guide and gallery pages."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_docs_build_without_warnings(tmp_path):
    # Build from a copy so that generated pages never land in the source tree.
    for folder in ("doc", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"))
    # The examples themselves are executed by test_examples.py; here the gallery is only rendered.
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
               "-D", "plot_gallery=0", str(tmp_path / "doc"), str(tmp_path / "html")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    html = tmp_path / "html"
    api_page = (html / "generated" / "skpartx.GlobalRuleExplainer.html").read_text(encoding="utf-8")
    assert "rule_model" in api_page and "Parameters" in api_page
    gallery = (html / "auto_examples" / "index.html").read_text(encoding="utf-8")
    for example in sorted((ROOT / "examples").glob("plot_*.py")):
        assert example.stem in gallery, f"{example.name} missing from the gallery"
