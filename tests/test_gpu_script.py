"""The one GPU script, run at toy sizes on the CPU so that it never rots."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_script_quick_writes_every_row(tmp_path):
    out = tmp_path / "gpu.md"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = out.read_text(encoding="utf-8")
    assert table.startswith("device: CPU;") and "quick (toy sizes)" in table
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ") and "---" not in line}
    for figure in ("coalition engine / raw forward", "exact 8-part Shapley", "transfer predict", "pipeline on on-disk"):
        assert any(name.startswith(figure) for name in rows), (figure, table)
    try:
        import captum  # noqa: F401
    except ImportError:
        assert "| Captum | skipped | captum is not installed" in table
    else:
        for figure in ("equal budget", "equal accuracy", "FeatureAblation"):
            assert any(figure in name for name in rows), (figure, table)
        # Captum's feature ablation is occlusion: the same values up to float error.
        ablation = next(line for name, line in rows.items() if "FeatureAblation" in name)
        assert float(re.search(r"largest difference ([0-9.e+-]+)", ablation).group(1)) < 1e-4
    # Every rate is a positive number.
    rates = [float(x) for x in re.findall(r"([0-9.]+) images/s", table)]
    assert rates and all(rate > 0 for rate in rates)
