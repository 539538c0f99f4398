"""Sphinx configuration: numpydoc API reference and a sphinx-gallery of the examples."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
import skpartx  # noqa: E402

project = "skpartx"
author = "skpartx developers"
release = version = skpartx.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
autodoc_default_options = {
    "members": True,
    # Methods skpartx's estimators get from skpartx mixins are documented; those from
    # scikit-learn's bases are not (see _skip_foreign_members).
    "inherited-members": True,
    # sklearn's generated metadata-request setters document sklearn's glossary, not ours.
    "exclude-members": "set_fit_request,set_predict_request,set_score_request,set_transform_request",
}
# Builds must work offline, so links to other projects' docs are opt-in:
# SKPARTX_DOCS_ONLINE=1 sphinx-build ... fetches their inventories.
intersphinx_mapping = {}
if os.environ.get("SKPARTX_DOCS_ONLINE"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
    }

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
}

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = f"skpartx {version}"


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Skip class members defined outside skpartx (scikit-learn's get_params, set_output, ...)."""
    if what != "class":
        return None
    function = getattr(obj, "fget", obj)
    module = getattr(function, "__module__", None)
    if module is not None and not module.startswith("skpartx"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
