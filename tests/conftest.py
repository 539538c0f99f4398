"""Shared fixtures: one small synthetic data set and one classifier trained on it, per session."""

import ipaddress
import os
import socket

import numpy as np
import pytest
import torch

from skpartx import PartImages
from skpartx.datasets import make_part_shapes
from skpartx.models import predict_classes, train_classifier

IMAGE_SIZE = 40
N_TRAIN = 3000
N_TEST = 400
LABELLED_PER_CLASS = 10


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
    return make_part_shapes(N_TRAIN + N_TEST, image_size=IMAGE_SIZE, random_state=0)


# Another seed (or SKPARTX_TEST_THREADS) trains a slightly different model, as another CPU
# would: tests of trained models must hold for it too (see test_pipeline.py).
MODEL_SEED = int(os.environ.get("SKPARTX_TEST_MODEL_SEED", "0"))
TRAIN_THREADS = os.environ.get("SKPARTX_TEST_THREADS")


@pytest.fixture(scope="session")
def model(data):
    """A SmallCNN trained on the training images (about 95% held-out accuracy)."""
    threads = torch.get_num_threads()
    if TRAIN_THREADS:
        torch.set_num_threads(int(TRAIN_THREADS))
    torch.manual_seed(MODEL_SEED)
    trained = train_classifier(data.images[:N_TRAIN], data.target[:N_TRAIN], epochs=12, random_state=MODEL_SEED)
    torch.set_num_threads(threads)
    return trained


@pytest.fixture(scope="session")
def decisions(model, data):
    """The model's decisions on every image."""
    return predict_classes(model, data.images)


@pytest.fixture(scope="session")
def labelled_idx(data):
    """``LABELLED_PER_CLASS`` training images per class whose masks the 'user' labelled."""
    rng = np.random.RandomState(0)
    return np.concatenate(
        [rng.permutation(np.flatnonzero(data.target[:N_TRAIN] == c))[:LABELLED_PER_CLASS] for c in data.rules]
    )


@pytest.fixture(scope="session")
def partial_X(data, labelled_idx):
    """All images, with masks only on the labelled ones (-1 elsewhere)."""
    masks = np.full_like(data.masks, -1)
    masks[labelled_idx] = data.masks[labelled_idx]
    return PartImages(data.images, masks, data.part_names)


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
    model trained on it (seed ``SKPARTX_TEST_MODEL_SEED`` too) and 200 held-out images
    (test_shortcut.py, test_compare.py)."""
    data = make_part_shapes(1800, image_size=40, spurious=1.0, spurious_classes=[0], random_state=0)
    torch.manual_seed(MODEL_SEED)
    model = train_classifier(data.images[:1600], data.target[:1600], epochs=8, random_state=MODEL_SEED)
    X = PartImages(data.images[1600:], data.masks[1600:], data.part_names)
    return data, model, X
