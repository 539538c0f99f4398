"""The package's layout: layers import only the layers below them, with no import circle; every
documented public path works; files written by the earlier, flat layout still load."""

import ast
import importlib
import pickle
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

import skpartx
from skpartx import GlobalRuleExplainer, PartAttributor, PartCounterfactualExplainer, PartImages, PartLabelTransfer
from skpartx.counterfactual import PartCounterfactual
from skpartx.datasets import make_part_shapes
from skpartx.persistence import _MOVED_MODULES, _REFUSED_CLASSES

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "skpartx"

# Who may import whom, by the first name below ``skpartx`` (doc/architecture.rst draws it).
# A name may always import itself; the applications (cli, the old demo/explain paths, the
# package's own __init__) may import anything but the two facades.
LAYERS = {
    "_core": set(),
    "_engine": {"_core"},
    "datasets": {"_core"},
    "models": {"_core"},
    "persistence": {"_core"},
    "transfer": {"_core"},
    "rules": {"_core"},
    "attribution": {"_core", "_engine"},
    "counterfactual": {"_core", "_engine"},
    "interactions": {"_core", "_engine", "attribution"},
    "compare": {"_core", "attribution", "rules"},
    "parallel": {"_core", "attribution", "transfer"},
    "report": {"_core", "counterfactual", "rules"},
    "plotting": {"_core", "attribution", "compare", "counterfactual", "interactions", "rules", "transfer"},
    "metrics": {"_engine", "attribution", "counterfactual", "rules", "transfer"},
}
APPLICATIONS = {"cli", "demo", "explain", "__main__", "__init__"}
FACADES = {"plotting", "metrics"}
SHARED = {"_core", "_engine"}  # private packages whose modules the stages import directly
# Import circles that are allowed, each with its reason. None today.
ALLOWED_CYCLES = []


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph():
    """Every import between skpartx modules, wherever it is written: at module level, inside
    functions, under ``TYPE_CHECKING``."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                if base.split(".")[0] != "skpartx":
                    continue
                for alias in node.names:  # ``from . import _games`` imports a module
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.split(".")[0] == "skpartx"}
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = _import_graph()


def test_the_import_graph_has_no_circle():
    assert [c for c in _cycles(GRAPH) if c not in ALLOWED_CYCLES] == []


def test_the_cycle_check_finds_circles_hidden_in_functions():
    graph = {"skpartx.a": {"skpartx.b"}, "skpartx.b": {"skpartx.c"}, "skpartx.c": {"skpartx.a"}, "skpartx.d": set()}
    assert _cycles(graph) == [["skpartx.a", "skpartx.b", "skpartx.c"]]
    # and the graph holds imports written inside functions and under TYPE_CHECKING
    assert "skpartx.attribution._attributor" in GRAPH["skpartx.attribution._removals"]  # TYPE_CHECKING only
    assert "skpartx._core.figures" in GRAPH["skpartx.report"]  # inside a function only


def test_every_layer_imports_only_the_layers_below_it():
    known = set(LAYERS) | APPLICATIONS
    wrong = []
    for module, targets in GRAPH.items():
        layer = _layer(module)
        assert layer in known, f"{module}: a new top-level name needs its place in LAYERS and doc/architecture.rst"
        for target in targets:
            other = _layer(target)
            if other == layer:
                continue
            allowed = set(LAYERS) - FACADES | {"__init__", "cli"} if layer in APPLICATIONS else LAYERS[layer]
            if other not in allowed:
                wrong.append(f"{module} -> {target}")
            # across layers: the other stage's public names, or the shared private packages' modules
            elif other not in SHARED and any(part.startswith("_") for part in target.split(".")[2:]):
                wrong.append(f"{module} -> {target} (a private module of another stage)")
    assert wrong == []


def test_the_facades_only_gather_names():
    for facade in FACADES:
        tree = ast.parse((PACKAGE / f"{facade}.py").read_text())
        kinds = {type(node).__name__ for node in tree.body}
        assert kinds <= {"Expr", "ImportFrom", "Assign"}, f"skpartx.{facade} defines more than names: {kinds}"


def _documented_names():
    """Every ``module.name`` the API reference documents, under its ``currentmodule``."""
    names, module = [], "skpartx"
    for line in (ROOT / "doc" / "api.rst").read_text().splitlines():
        found = re.match(r"\.\. currentmodule:: (\S+)", line)
        if found:
            module = found.group(1)
        elif re.match(r"^   [A-Za-z_][\w.]*$", line):
            names.append(f"{module}.{line.strip()}")
    return names


@pytest.mark.parametrize("name", _documented_names())
def test_every_documented_name_imports_from_its_documented_path(name):
    module_name, _, attribute = name.rpartition(".")
    module = importlib.import_module(module_name)
    assert hasattr(module, attribute), f"{name} is documented in doc/api.rst but missing"


def test_the_api_reference_documents_what_it_should():
    names = _documented_names()
    assert len(names) >= 50
    assert {"skpartx.PartLabelTransfer", "skpartx.plotting.plot_removals", "skpartx.metrics.mean_iou",
            "skpartx.counterfactual.warp_donor", "skpartx.datasets.make_part_shapes"} <= set(names)


@pytest.mark.parametrize("package", ["transfer", "attribution", "rules", "counterfactual", "compare"])
def test_every_stage_exports_what_its_all_lists(package):
    module = importlib.import_module(f"skpartx.{package}")
    assert module.__doc__ and "May import" in module.__doc__
    for name in module.__all__:
        assert hasattr(module, name), f"skpartx.{package}.{name}"


# -- files written by the flat layout -------------------------------------------------------------

LEGACY = ROOT / "tests" / "fixtures" / "flat-layout-0.2.dev0.joblib"


@pytest.fixture(scope="module")
def legacy():
    """The estimators ``scripts/write_legacy_pickle.py`` wrote with the flat layout, and their data."""
    found = skpartx.load(LEGACY)
    data = make_part_shapes(**found["data"])
    return found, PartImages(data.images, data.masks, data.part_names)


def test_the_legacy_file_names_modules_of_the_flat_layout():
    raw = zlib.decompress(LEGACY.read_bytes())  # joblib's compress=3: one zlib stream
    for old in ("skpartx._matchers", "skpartx._symbols", "skpartx._part_images", "skpartx._imodels"):
        assert old.encode() in raw, old


def test_files_of_the_flat_layout_load_and_reproduce_their_results(legacy):
    found, X = legacy
    expected = found["expected"]
    for method, transfer in found["transfers"].items():
        assert isinstance(transfer, PartLabelTransfer)
        masks = transfer.transform(X).masks
        assert (masks == expected["masks"][method]).mean() > 0.99, method
    assert isinstance(found["attributor"], PartAttributor)
    scores = found["attributor"].transform(X)
    np.testing.assert_allclose(np.asarray(scores), expected["scores"], atol=1e-4)
    for name in ("rules", "figs"):
        assert isinstance(found[name], GlobalRuleExplainer)
        np.testing.assert_array_equal(found[name].predict(expected["scores"]), expected[name])
    assert (found["pipeline"].predict(X) == expected["pipeline"]).mean() > 0.9
    explainer = found["counterfactual"]
    assert isinstance(explainer, PartCounterfactualExplainer)
    (counterfactual,) = explainer.explain(X[:1], int(explainer.donor_classes_[0]))
    assert isinstance(counterfactual, PartCounterfactual)


def test_files_of_the_flat_layout_load_when_trusted_too(legacy):
    trusted = skpartx.load(LEGACY, trusted=True)
    assert type(trusted["transfers"]["probe"].matcher_) is type(legacy[0]["transfers"]["probe"].matcher_)


def test_every_old_module_path_names_a_module_of_today():
    for old, new in _MOVED_MODULES.items():
        assert old.startswith("skpartx._") and old.count(".") == 1
        assert importlib.import_module(new).__name__ == new


def _pickle_of(module, name):
    """A pickle that only names ``module.name`` (protocol 2: GLOBAL opcode)."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"q\x00."


@pytest.mark.parametrize("cls", _REFUSED_CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_refused_class_stays_refused_wherever_it_lives(tmp_path, cls):
    assert cls.__module__.startswith("skpartx.")
    old_paths = [old for old, new in _MOVED_MODULES.items() if new == cls.__module__]
    for module in [cls.__module__, *old_paths]:
        path = tmp_path / "refused.pkl"
        path.write_bytes(_pickle_of(module, cls.__qualname__))
        with pytest.raises(pickle.UnpicklingError, match="does not load"):
            skpartx.load(path)


def test_a_trusted_class_of_an_old_path_loads(tmp_path):
    path = tmp_path / "class.pkl"
    path.write_bytes(_pickle_of("skpartx._part_images", "PartImages"))
    assert skpartx.load(path) is PartImages
