"""Part-score tables that keep their column names and encoding through a Pipeline.

:class:`PartAttributor` hands its scores to :class:`GlobalRuleExplainer` through a
scikit-learn ``Pipeline``, which passes arrays on as they are. Two things must survive
that hand-over without ``set_output(transform="pandas")``: the column names (so that
rules print part names, not ``x3``) and how the numbers are to be read:

- ``"scores"``: one real score per part (Shapley values, occlusion drops, ...);
- ``"msx"``: minimal sufficient explanations as *membership codes*: ``F[i, p]`` is an
  integer whose bit ``m`` is set when part ``p`` belongs to image ``i``'s ``m``-th MSX
  (smallest first). A row of zeros is the empty MSX: the baseline alone suffices.

A :class:`PartScoreArray` is a plain ``ndarray`` that carries both; under pandas output
the DataFrame's columns carry the names and ``DataFrame.attrs[ENCODING_KEY]`` the
encoding. :func:`table_info` reads them back from either.

Either can also carry which part id each column holds (:func:`column_part_ids`), so that
the background (part id 0) is known by its place in the data model, not by its name.
"""

import numpy as np

ENCODINGS = ("scores", "msx")
ENCODING_KEY = "skpartx_encoding"
# DataFrame.attrs entry: column name -> part id, for the columns that hold parts
PART_IDS_KEY = "skpartx_part_ids"
# float64 holds integers exactly up to 2**53: bits 0..52, one per MSX
MAX_MSX = 53
#: The symbol of the empty MSX (the baseline alone keeps the model's decision), in rules and comparisons.
BASELINE_SYMBOL = "(baseline)"


class PartScoreArray(np.ndarray):
    """An ndarray of part scores that remembers its column names and encoding.

    It behaves like the array it views. Selecting rows keeps the attributes, selecting
    columns keeps the names of the selected columns; arithmetic, comparisons and
    reductions return plain arrays (their numbers are no longer these scores, nor in
    their encoding). Pickles with its attributes.

    Attributes
    ----------
    feature_names : tuple of str or None
        One name per column.
    encoding : {"scores", "msx"}
        How the values are read (see the module docstring).
    part_ids : tuple of (int or None) or None
        The part id each column holds (None for a column that holds no part, such as a
        relation), or None when unknown. Selecting columns keeps those of the selected
        columns.
    """

    def __new__(cls, values, feature_names=None, encoding="scores", part_ids=None):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}.")
        array = np.asarray(values).view(cls)
        array.feature_names = None if feature_names is None else tuple(str(name) for name in feature_names)
        array.encoding = encoding
        array.part_ids = None if part_ids is None else _padded_part_ids(part_ids, array.shape[-1] if array.ndim else 0)
        return array

    def __array_finalize__(self, obj):
        self.feature_names = getattr(obj, "feature_names", None)
        self.encoding = getattr(obj, "encoding", "scores")
        self.part_ids = getattr(obj, "part_ids", None)

    def __getitem__(self, key):
        result = super().__getitem__(key)
        if isinstance(result, PartScoreArray) and result.ndim == 2:
            result.feature_names = self._columns_after(self.feature_names, key, result.shape[1])
            result.part_ids = self._columns_after(self.part_ids, key, result.shape[1])
        return result

    def _columns_after(self, per_column, key, n_columns):
        """The entries of ``per_column`` (one per column) for ``self[key]``, which has
        ``n_columns`` columns, or None when unknown."""
        if per_column is None or self.ndim != 2:
            return None
        if not isinstance(key, tuple) or len(key) == 1:
            return per_column  # rows only
        if len(key) != 2 or any(k is None or k is Ellipsis for k in key):
            return None
        try:
            selected = np.asarray(per_column, dtype=object)[key[1]]
        except (IndexError, TypeError, ValueError):
            return None
        return tuple(selected) if selected.ndim == 1 and len(selected) == n_columns else None

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # Computed numbers (sums, differences, comparisons) are neither these scores nor in
        # their encoding: hand them back as a plain array or scalar.
        array = array.view(np.ndarray)
        return array[()] if return_scalar else array

    def __reduce__(self):
        constructor, args, state = super().__reduce__()
        return constructor, args, (state, self.feature_names, self.encoding, self.part_ids)

    def __setstate__(self, state):
        # arrays pickled before part ids were recorded hold three entries
        array_state, self.feature_names, self.encoding, *part_ids = state
        self.part_ids = part_ids[0] if part_ids else None
        super().__setstate__(array_state)


def _padded_part_ids(part_ids, n_columns):
    """``part_ids`` as one entry per column: the columns past its end hold no part."""
    ids = tuple(None if p is None else int(p) for p in part_ids)
    if len(ids) > n_columns:
        raise ValueError(f"got {len(ids)} part ids for {n_columns} columns.")
    return ids + (None,) * (n_columns - len(ids))


def _frame_attrs(F):
    """The ``attrs`` of a DataFrame-like ``F`` (columns and a dict of attributes), else None."""
    attrs = getattr(F, "attrs", None)
    return attrs if getattr(F, "columns", None) is not None and isinstance(attrs, dict) else None


def table_info(F):
    """The column names and encoding a score table carries.

    Parameters
    ----------
    F : array-like
        A :class:`PartScoreArray`, a DataFrame, or anything else.

    Returns
    -------
    names : list of str or None
        Column names, when ``F`` carries one string per column.
    encoding : {"scores", "msx"} or None
        None when ``F`` does not say.
    """
    attrs = _frame_attrs(F)
    if attrs is not None:
        names = [str(c) for c in F.columns] if all(isinstance(c, str) for c in F.columns) else None
        return names, attrs.get(ENCODING_KEY)
    if isinstance(F, PartScoreArray):
        names = F.feature_names
        if names is not None and (F.ndim != 2 or len(names) != F.shape[1]):
            names = None  # columns were sliced away: the names no longer fit
        return (list(names) if names is not None else None), F.encoding
    return None, None


def column_part_ids(F):
    """The part id each column of a score table holds, when the table says.

    Parameters
    ----------
    F : array-like
        A :class:`PartScoreArray`, a DataFrame, or anything else.

    Returns
    -------
    part_ids : list of (int or None) or None
        One entry per column: its part id, or None for a column that holds no part (a
        relation, or a DataFrame column renamed since). None when ``F`` does not say.
    """
    attrs = _frame_attrs(F)
    if attrs is not None:
        ids = attrs.get(PART_IDS_KEY)
        return None if ids is None else [ids.get(str(c)) for c in F.columns]
    if isinstance(F, PartScoreArray) and F.part_ids is not None and F.ndim == 2 and len(F.part_ids) == F.shape[1]:
        return list(F.part_ids)
    return None


def as_output(values, feature_names, encoding, pandas=False, part_ids=None):
    """``values`` as a :class:`PartScoreArray`, or as a DataFrame when ``pandas``.

    The DataFrame records the encoding (and the part ids) in ``attrs``, which
    scikit-learn's pandas output keeps (it renames the columns of a DataFrame in place).

    Parameters
    ----------
    values : array-like of shape (n_images, n_columns)
    feature_names : sequence of str or None
        The column names (required when ``pandas``).
    encoding : {"scores", "msx"}
    pandas : bool, default=False
    part_ids : sequence of (int or None), default=None
        The part id each column holds, in column order; columns past its end hold no part
        (e.g. relations after the parts). None: not recorded.
    """
    if not pandas:
        return PartScoreArray(values, feature_names, encoding, part_ids)
    import pandas as pd

    frame = pd.DataFrame(np.asarray(values), columns=list(feature_names))
    frame.attrs[ENCODING_KEY] = encoding
    if part_ids is not None:
        ids = _padded_part_ids(part_ids, frame.shape[1])
        frame.attrs[PART_IDS_KEY] = {str(c): p for c, p in zip(frame.columns, ids) if p is not None}
    return frame


def encode_msx(msx, n_parts):
    """Membership codes ``(n_images, n_parts)`` of each image's MSXs.

    Parameters
    ----------
    msx : list of list of tuple of int
        Per image, its MSXs as part-id tuples. At most :data:`MAX_MSX` are encoded
        per image, the smallest first (then by part ids).
    n_parts : int

    Returns
    -------
    codes : float64 ndarray of shape (n_images, n_parts)
        Bit ``m`` of ``codes[i, p]`` is set when part ``p`` is in image ``i``'s ``m``-th MSX.
    truncated : int
        Number of images that had more than :data:`MAX_MSX` MSXs.
    """
    codes = np.zeros((len(msx), n_parts), dtype=np.int64)
    truncated = 0
    for i, sets in enumerate(msx):
        ordered = sorted({tuple(sorted(int(p) for p in s)) for s in sets}, key=lambda s: (len(s), s))
        truncated += len(ordered) > MAX_MSX
        for m, s in enumerate(ordered[:MAX_MSX]):
            codes[i, list(s)] |= np.int64(1) << m
    return codes.astype(np.float64), truncated


def decode_msx(codes):
    """Each image's MSXs from membership codes: a list (per image) of frozensets of column indices.

    A row of zeros decodes to ``[frozenset()]``, the empty MSX.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"MSX codes must be 2-d, got shape {codes.shape}.")
    if not (np.isfinite(codes).all() and (codes >= 0).all() and (codes == np.round(codes)).all()
            and (codes < 2.0**MAX_MSX).all()):
        raise ValueError(
            "MSX codes must be non-negative integers below 2**53 (bit m of column p: part p is in the m-th MSX); "
            "got other values. Were these part scores of another method?"
        )
    ints = codes.astype(np.int64)
    result = []
    for row in ints:
        union = np.bitwise_or.reduce(row) if len(row) else 0
        sets = []
        m = 0
        while union >> m:
            if (union >> m) & 1:
                sets.append(frozenset(np.flatnonzero((row >> m) & 1).tolist()))
            m += 1
        result.append(sets or [frozenset()])
    return result
