"""Shared fixtures: one small synthetic data set and the classifier trained on it (shipped), per session."""

import ipaddress
import os
import socket

import pytest
import torch

import fixture_models
from fixture_models import IMAGE_SIZE, LABELLED_PER_CLASS, N_TEST, N_TRAIN  # noqa: F401 (used by test modules)
from skpartx import PartImages
from skpartx.models import predict_classes


class NetworkBlocked(socket.gaierror):
    """Raised on any attempt to reach another machine during the tests.

    A ``gaierror`` (so an ``OSError``): code that falls back gracefully when the network
    is down, such as Dask looking up its address, keeps working offline.
    """


def _own_addresses():
    """Loopback and this machine's own addresses: connecting to them never leaves the machine."""
    addresses = {"127.0.0.1", "::1", "0.0.0.0", "::"}
    try:
        addresses |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    return addresses


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Block every connection and name lookup that would leave the machine, for the whole suite.

    Loopback (Dask's local cluster in test_parallel.py) and Unix sockets stay allowed, so
    a test that needs the internet fails loudly instead of depending on it.
    """
    own = _own_addresses()
    local_names = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", socket.gethostname()}
    real_getaddrinfo = socket.getaddrinfo
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_create_connection = socket.create_connection

    def is_local(host):
        if host is None:
            return True
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host.lower() in local_names:
            return True
        try:
            address = ipaddress.ip_address(host.split("%")[0].strip("[]"))
        except ValueError:
            return False  # a name: resolving it would ask a DNS server
        return address.is_loopback or str(address) in own

    def refuse(what, address):
        raise NetworkBlocked(f"network access is blocked during the tests: {what} {address!r} refused; tests "
                             "must run offline (only loopback and Unix sockets are allowed).")

    def checked(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            refuse("connect to", address)

    def connect(self, address):
        checked(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        checked(self, address)
        return real_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):
        if not is_local(address[0]):
            refuse("connect to", address)
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        if not is_local(host):
            refuse("name lookup of", host)
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(socket, "create_connection", create_connection)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of tiny tensors: one thread is fastest (handing tiny tensors between threads
    costs more than computing them) and sums are always taken in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def data():
    """Synthetic part objects: the first ``N_TRAIN`` images train, the rest are held out."""
    return fixture_models.dataset("main")


@pytest.fixture(scope="session")
def model():
    """The suite's SmallCNN, trained on the training images (about 96% held-out accuracy);
    shipped with the tests (see fixture_models.py), so every CPU explains the same model."""
    return fixture_models.model("main")


@pytest.fixture(scope="session")
def decisions(model, data):
    """The model's decisions on every image."""
    return predict_classes(model, data.images)


@pytest.fixture(scope="session")
def labelled_idx():
    """``LABELLED_PER_CLASS`` training images per class whose masks the 'user' labelled."""
    return fixture_models.labelled_idx("main")


@pytest.fixture(scope="session")
def partial_X():
    """All images, with masks only on the labelled ones (-1 elsewhere)."""
    return fixture_models.partially_labelled("main")


@pytest.fixture(scope="session")
def transferred_X():
    """All images with the masks the model's probe transfer filled in from the labelled ones
    (shipped: the transfer trains a probe, which differs between CPUs as a model does)."""
    return fixture_models.transferred("main")


@pytest.fixture(scope="session")
def full_X(data):
    """All images with their ground-truth masks."""
    return PartImages(data.images, data.masks, data.part_names)


@pytest.fixture(scope="session")
def test_slice():
    return slice(N_TRAIN, N_TRAIN + N_TEST)


@pytest.fixture(scope="session")
def shortcut_case():
    """Flyers always before backgrounds of their own hue; other classes on random hues: a
    model trained on it and 200 held-out images (test_shortcut.py, test_compare.py)."""
    data = fixture_models.dataset("shortcut")
    n_train = fixture_models.MODELS["shortcut"]["n_train"]
    X = PartImages(data.images[n_train:], data.masks[n_train:], data.part_names)
    return data, fixture_models.model("shortcut"), X


# Tests that use these fixtures explain trained models, whose floating-point results depend
# on the CPU's vector kernels; so do the tests marked ``cpu_kernels`` by hand. CI runs them a
# second time with torch's, numpy's and the C library's kernels capped at SSE4.1 (`.ci/run`),
# all but those that also train something in the run (a classifier, a transfer's probe):
# those assert bounds with a margin, and on those kernels they would take three times as
# long as on the first pass. ``pytest -m cpu_kernels`` with the caps of `.ci/run` runs them all.
TRAINED_FIXTURES = {"model", "decisions", "transferred_X", "shortcut_case"}


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:  # pytest -n: each worker gets its share of the cores, as joblib's workers do, and so
        threads = max(1, (os.cpu_count() or 1) // workers)  # do the examples and commands a test starts
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    config.addinivalue_line(
        "markers",
        "cpu_kernels: its outcome rests on floating-point kernels that differ between CPUs (a trained model, "
        "generated data); CI reruns it with the kernels capped at SSE4.1",
    )
    config.addinivalue_line(
        "markers",
        "trains_in_run: trains a classifier or a transfer's probe in the run and asserts bounds with a margin; "
        "CI's second pass leaves it out",
    )


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cpu_kernels)
