"""Installation of skpartx."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "skpartx" / "__init__.py").read_text()).group(1)

# The docs build (API reference and example gallery) is part of the test suite.
DOCS = ["sphinx>=7", "numpydoc>=1.6", "sphinx-gallery>=0.15"]

setup(
    name="skpartx",
    version=VERSION,
    description="Global part-based rule explanations of image classifiers, as scikit-learn estimators",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["skpartx", "skpartx.*"]),
    # The demo classifiers (scripts/train_demo_weights.py), so that a first demo needs no training.
    package_data={"skpartx": ["weights/*.pt", "weights/*.json"]},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.6",
        "torch>=2.2,<3",
        "joblib>=1.3",
        "matplotlib>=3.7",
        "pillow>=9.1",  # image files of the loaders
        "imodels>=2.0",
        "six",  # imodels imports it without declaring it
        "tqdm>=4.60",
        "pandas>=2.0",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6", "dask[distributed]>=2024.1", "transformers>=4.40", "pyflakes>=3",
                 *DOCS],
        "dask": ["dask[distributed]>=2024.1"],
        "docs": DOCS,
        # Libraries the benchmarks compare with (benchmarks/attribution.py, many_parts.py).
        "bench": ["captum>=0.7", "shap>=0.45", "shapiq>=1.1"],
    },
    entry_points={"console_scripts": ["skpartx=skpartx.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
