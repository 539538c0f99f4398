"""Resumable long runs: every completed chunk of a transform is written to disk at once.

A run lives in ``out_dir/<kind>-<fingerprint>/``; its fingerprint covers the estimator's
parameters, its fitted state and the input, so rerunning the same call after a crash or a
kill finds the chunks already done and computes only the rest, while a different call never
mixes with it. Chunks are ``.npz`` files written to a temporary name and renamed, so a chunk
on disk is always complete; nothing is pickled (lists travel as JSON).
"""

import json
import os
from pathlib import Path

import numpy as np

from .torch_utils import batch_slices, prefetched

_LISTS = "__lists__"


class ChunkedRun:
    """The chunks of one long computation over ``n_items`` items, stored under ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        Folder holding runs; created if needed.
    kind : str
        What is computed (names the run's folder, e.g. ``"attribution"``).
    key : str
        Fingerprint of everything the result depends on.
    n_items, chunk_size : int
        Validated by the estimator that starts the run.
    """

    def __init__(self, out_dir, kind, key, n_items, chunk_size):
        self.path = Path(out_dir) / f"{kind}-{key[:24]}"
        self.path.mkdir(parents=True, exist_ok=True)
        self.chunks = batch_slices(n_items, chunk_size)
        manifest = {"kind": kind, "key": key, "n_items": n_items, "chunk_size": chunk_size}
        manifest_file = self.path / "manifest.json"
        if manifest_file.exists():
            found = json.loads(manifest_file.read_text())
            if found != manifest:
                raise ValueError(f"{self.path} holds a different run ({found}); remove it or choose another out_dir.")
        else:
            _atomic_write(manifest_file, lambda f: f.write(json.dumps(manifest, indent=1).encode()))

    def _file(self, k):
        return self.path / f"chunk-{k:06d}.npz"

    def done(self, k):
        return self._file(k).exists()

    def save(self, k, arrays, lists=None):
        """Store chunk ``k``: a dict of arrays and, optionally, a dict of JSON-able lists."""
        arrays = dict(arrays)
        if lists:
            arrays[_LISTS] = np.array(json.dumps(lists))
        _atomic_write(self._file(k), lambda f: np.savez_compressed(f, **arrays))

    def load(self, k):
        """``(arrays, lists)`` of chunk ``k``."""
        with np.load(self._file(k), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files if name != _LISTS}
            lists = json.loads(str(stored[_LISTS])) if _LISTS in stored.files else {}
        return arrays, lists


def _atomic_write(path, write):
    """Write through ``write(file)`` to a temporary name, then rename: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def json_lists(lists):
    """``lists`` as JSON gives them back (tuples become lists, NumPy integers ints), so that
    fresh and resumed runs return the same values."""
    return json.loads(json.dumps(lists, default=int))


def iter_chunks(chunks, compute_chunk, run=None, load=None):
    """Yield ``(chunk, (arrays, lists))`` for each chunk, through ``run`` when one is given.

    ``compute_chunk(k, data) -> (arrays, lists)``, where ``data`` is ``load(slice)`` or,
    without ``load``, the chunk's slice. ``load`` runs in a background thread one chunk
    ahead, so reading the next chunk's images overlaps with computing the current one.
    With a :class:`ChunkedRun`, chunks already on disk are loaded instead of computed, and
    new ones are saved as soon as they complete. Nothing is kept between chunks, so
    callers can stream results to disk.
    """
    todo = [k for k in range(len(chunks)) if run is None or not run.done(k)]
    if load is None:
        inputs = ((k, chunks[k]) for k in todo)
    else:
        inputs = prefetched(todo, lambda k: load(chunks[k]))
    for k, chunk in enumerate(chunks):
        if run is not None and run.done(k):
            result = run.load(k)
        else:
            _, data = next(inputs)
            result = compute_chunk(k, data)
            if run is not None:
                run.save(k, *result)
        yield chunk, result


def concatenate_chunks(results):
    """One dict of arrays (concatenated) and one of lists (joined) from per-chunk results."""
    arrays = {name: np.concatenate([r[0][name] for r in results]) for name in results[0][0]}
    lists = {name: sum((r[1][name] for r in results), []) for name in results[0][1]}
    return arrays, lists
