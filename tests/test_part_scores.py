"""Score tables that keep their column names and encoding, and the MSX membership codes."""

import pickle

import numpy as np
import pandas as pd
import pytest

from skpartx._core.part_scores import PartScoreArray, as_output, encode_msx, table_info
from skpartx.attribution import decode_msx, msx_part_shares


def test_selecting_keeps_the_right_names_and_computing_drops_them():
    F = PartScoreArray(np.arange(6.0).reshape(2, 3), ["a", "b", "c"], "msx")
    assert table_info(F[[1, 0]]) == (["a", "b", "c"], "msx")
    assert table_info(F[:, [2, 0]]) == (["c", "a"], "msx")
    assert table_info(F[:, [True, False, True]]) == (["a", "c"], "msx")
    assert table_info(F[:, 1:]) == (["b", "c"], "msx")
    assert table_info(pickle.loads(pickle.dumps(F[:, ::-1]))) == (["c", "b", "a"], "msx")
    # Sums, differences and comparisons are no longer codes: plain arrays and scalars.
    for computed in (F > 0, F * 2, F - F, np.abs(F), F.max(axis=0)):
        assert type(computed) is np.ndarray and table_info(computed) == (None, None)
    assert type(F.sum()) is np.float64


def test_pandas_output_keeps_the_encoding_when_columns_are_renamed():
    frame = as_output(np.eye(2), ["a", "b"], "msx", pandas=True)
    frame.columns = ["x", "y"]  # what scikit-learn's pandas output does
    assert table_info(frame) == (["x", "y"], "msx")


def test_codes_round_trip_and_shares():
    msx = [[(1, 2), (3,), (1, 2)], [()], [(0,), (0, 1)]]
    codes, truncated = encode_msx(msx, 4)
    assert truncated == 0
    expected = [[frozenset({3}), frozenset({1, 2})], [frozenset()], [frozenset({0}), frozenset({0, 1})]]
    assert decode_msx(codes) == expected
    np.testing.assert_array_equal(codes[0], [0, 2, 2, 1])  # smallest first: {3} is bit 0
    frame = as_output(codes, list("pqrs"), "msx", pandas=True)
    shares = msx_part_shares(frame)
    assert isinstance(shares, pd.DataFrame) and table_info(shares) == (list("pqrs"), "scores")
    np.testing.assert_allclose(shares.to_numpy(), [[0, 0.5, 0.5, 0.5], [0, 0, 0, 0], [1, 0.5, 0, 0]])
    with pytest.raises(ValueError, match="not MSX membership codes"):
        msx_part_shares(PartScoreArray(np.ones((1, 2)), None, "scores"))
    with pytest.raises(ValueError, match="non-negative integers"):
        msx_part_shares(np.full((1, 2), 0.5))
