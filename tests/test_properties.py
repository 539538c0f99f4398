"""Properties that must hold for every input, checked on random ones: Shapley axioms,
MSX sufficiency and minimality, PartImages indexing, and rule predictions that follow
the rules as they are printed."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.utils import _safe_indexing

from skpartx import GlobalRuleExplainer, PartImages
from skpartx._engine import games as _games
from skpartx.attribution._msx import search_msx

# No example database: the tests leave nothing behind in the source tree.
FAST = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

values = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def games(draw, min_players=1, max_players=6):
    """A cooperative game: the values of all ``2**q`` coalitions in ``subset_matrix`` order."""
    q = draw(st.integers(min_players, max_players))
    return draw(hnp.arrays(np.float64, 2**q, elements=values))


def players(table):
    return int(np.log2(len(table)))


def swap_bits(codes, i, j):
    """Coalition codes with players ``i`` and ``j`` exchanged."""
    bi, bj = (codes >> i) & 1, (codes >> j) & 1
    return codes & ~((1 << i) | (1 << j)) | (bi << j) | (bj << i)


# -- Shapley values ------------------------------------------------------------------------------


@FAST
@given(st.integers(0, 8))
def test_subset_matrix_lists_every_coalition_once_in_bit_order(q):
    subsets = _games.subset_matrix(q)
    assert subsets.shape == (2**q, q)
    codes = (subsets * (1 << np.arange(q))).sum(axis=1)
    np.testing.assert_array_equal(codes, np.arange(2**q))


@FAST
@given(games())
def test_efficiency(table):
    phi = _games.exact_shapley(table)
    assert phi.sum() == pytest.approx(table[-1] - table[0], abs=1e-9)


@FAST
@given(games(min_players=2), st.data())
def test_symmetric_players_get_equal_values(table, data):
    q = players(table)
    i, j = data.draw(st.sampled_from([(i, j) for i in range(q) for j in range(i + 1, q)]))
    codes = np.arange(2**q)
    symmetric = 0.5 * (table + table[swap_bits(codes, i, j)])  # v(S) = v(S with i and j swapped)
    phi = _games.exact_shapley(symmetric)
    assert phi[i] == pytest.approx(phi[j], abs=1e-9)


@FAST
@given(games(), st.data())
def test_null_player_gets_zero_and_the_others_are_unchanged(table, data):
    q = players(table)
    null = data.draw(st.integers(0, q))  # insert a player who adds nothing at position `null`
    codes = np.arange(2 ** (q + 1))
    low = codes & ((1 << null) - 1)
    without = low | ((codes >> (null + 1)) << null)  # the code with the null player's bit removed
    phi = _games.exact_shapley(table[without])
    assert phi[null] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(np.delete(phi, null), _games.exact_shapley(table), atol=1e-9)


@FAST
@given(games(max_players=5), st.data(), values, values)
def test_linearity(table, data, a, b):
    other = data.draw(hnp.arrays(np.float64, len(table), elements=values))
    np.testing.assert_allclose(
        _games.exact_shapley(a * table + b * other),
        a * _games.exact_shapley(table) + b * _games.exact_shapley(other),
        atol=1e-6,
    )


@FAST
@given(hnp.arrays(np.float64, st.integers(1, 7), elements=values), values, st.integers(2, 40), st.integers(0, 2**31))
def test_permutation_sampling_is_exact_on_additive_games(weights, constant, n_permutations, seed):
    """Every order gives each player its own weight: the estimate is exact, with zero error."""
    q = len(weights)
    orders, coalitions = _games.permutation_coalitions(q, n_permutations, np.random.RandomState(seed))
    prefix_values = coalitions.astype(float) @ weights + constant
    phi, se = _games.permutation_shapley(orders, prefix_values)
    np.testing.assert_allclose(phi, weights, atol=1e-9)
    if len(orders) > 2:
        np.testing.assert_allclose(se, 0.0, atol=1e-9)
    else:  # one antithetic pair: no spread to estimate an error from
        assert np.isnan(se).all()
    np.testing.assert_allclose(_games.exact_shapley(_games.subset_matrix(q) @ weights + constant), weights, atol=1e-9)


@FAST
@given(st.integers(1, 6), st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_permutation_coalitions_are_nested_prefixes_of_antithetic_orders(q, n_permutations, seed):
    orders, coalitions = _games.permutation_coalitions(q, n_permutations, np.random.RandomState(seed))
    n = len(orders)
    assert n % 2 == 0 and n >= n_permutations
    np.testing.assert_array_equal(orders[n // 2 :], orders[: n // 2, ::-1])  # antithetic pairs
    np.testing.assert_array_equal(np.sort(orders, axis=1), np.tile(np.arange(q), (n, 1)))  # permutations
    np.testing.assert_array_equal(coalitions.sum(axis=2), np.tile(np.arange(q + 1), (n, 1)))
    assert (coalitions[:, :-1] <= coalitions[:, 1:]).all()  # each prefix holds the previous one
    for k in range(q):  # the player added at step k is the order's k-th
        np.testing.assert_array_equal(np.argmax(coalitions[:, k + 1] & ~coalitions[:, k], axis=1), orders[:, k])


@SLOW
@given(games(max_players=4), st.integers(0, 2**31 - 1))
def test_permutation_sampling_is_unbiased(table, seed):
    """The mean of many sampled estimates lies within a few standard errors of the exact value."""
    q = players(table)
    orders, coalitions = _games.permutation_coalitions(q, 400, np.random.RandomState(seed))
    codes = (coalitions * (1 << np.arange(q))).sum(axis=2)
    phi, se = _games.permutation_shapley(orders, table[codes])
    exact = _games.exact_shapley(table)
    assert (np.abs(phi - exact) <= 6 * se + 1e-9).all()
    assert phi.sum() == pytest.approx(table[-1] - table[0], abs=1e-9)  # efficiency holds per order


# -- minimal sufficient explanations -------------------------------------------------------------


class TableEngine:
    """What ``search_msx`` needs of a coalition engine, over given game tables.

    Like the real engine, parts an image does not show are dropped from every coalition.
    """

    def __init__(self, tables, present):
        self.tables, self.present = tables, present
        self.weights = 1 << np.arange(present.shape[1])
        self.seen = [set() for _ in tables]
        self.evaluations = np.zeros(len(tables), dtype=np.int64)  # distinct coalitions asked, per image

    def evaluate(self, image_idx, keep, output=None):  # the tables hold probabilities
        keep = np.asarray(keep, dtype=bool) & self.present[image_idx]
        codes = keep.astype(np.int64) @ self.weights
        for i, code in zip(np.asarray(image_idx).tolist(), codes.tolist()):
            if code not in self.seen[i]:
                self.seen[i].add(code)
                self.evaluations[i] += 1
        return self.tables[image_idx, codes]

    def full_and_empty(self, output=None):
        n = len(self.tables)
        full = self.evaluate(np.arange(n), self.present)
        return full, self.tables[:, 0]


@st.composite
def msx_problems(draw):
    """Games with values in [0, 1] (probabilities), random shown parts, monotone or not."""
    n_images = draw(st.integers(1, 3))
    n_parts = draw(st.integers(1, 5))
    tables = draw(hnp.arrays(np.float64, (n_images, 2**n_parts), elements=st.floats(0, 1, width=32)))
    if draw(st.booleans()):  # monotone: a value never drops when a part is added
        subsets = _games.subset_matrix(n_parts)
        contained = (subsets[:, None, :] <= subsets[None, :, :]).all(axis=2)  # [s, t]: s is a subset of t
        tables = np.stack([np.where(contained.T, t[None, :], -np.inf).max(axis=1) for t in tables])
    present = draw(hnp.arrays(bool, (n_images, n_parts)))
    tau = draw(st.floats(0.05, 1.0))
    return TableEngine(tables, present), present, tau


@SLOW
@given(msx_problems(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 5))
def test_msx_are_sufficient_minimal_distinct_and_shown(problem, beam_width, max_roots, max_successors):
    engine, present, tau = problem
    found, stopped = search_msx(engine, present, tau, beam_width, max_roots, max_successors)
    assert not stopped.any()  # no budget
    full, empty = engine.full_and_empty()
    assert len(found) == len(present)
    for i, sets in enumerate(found):
        threshold = tau * full[i]
        assert sets and len(set(sets)) == len(sets)
        if empty[i] >= threshold:  # the baseline alone keeps the value: nothing is needed
            assert sets == [()]
            continue
        for s in sets:
            assert s == tuple(sorted(s)) and present[i, list(s)].all()
            keep = np.zeros((1, present.shape[1]), bool)
            keep[0, list(s)] = True
            assert engine.evaluate([i], keep)[0] >= threshold  # sufficient
            for p in s:  # minimal: dropping any member loses sufficiency
                smaller = keep.copy()
                smaller[0, p] = False
                assert engine.evaluate([i], smaller)[0] < threshold
        assert sets == sorted(sets, key=lambda s: (len(s), s))


@SLOW
@given(msx_problems(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 40))
def test_msx_search_stays_within_its_budget_and_reports_where_it_stopped(problem, beam_width, max_roots,
                                                                        max_successors, max_evals):
    engine, present, tau = problem
    found, stopped = search_msx(engine, present, tau, beam_width, max_roots, max_successors, max_evals=max_evals)
    full, _ = engine.full_and_empty()
    for i, sets in enumerate(found):
        # Full, empty and each part alone come first; the search and pruning stay within the rest.
        assert engine.evaluations[i] <= max(max_evals, present[i].sum() + 2)
        for s in sets:  # sufficient whatever the budget
            keep = np.zeros((1, present.shape[1]), bool)
            keep[0, list(s)] = True
            assert engine.evaluate([i], keep)[0] >= tau * full[i]
    unlimited, _ = search_msx(TableEngine(engine.tables, present), present, tau, beam_width, max_roots, max_successors)
    for i in np.flatnonzero(~stopped):  # where the budget never ran out, the search is the unlimited one
        assert found[i] == unlimited[i]


# -- PartImages indexing ---------------------------------------------------------------------------


@st.composite
def part_images(draw):
    n = draw(st.integers(0, 7))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    images = draw(hnp.arrays(np.float32, (n, 2, h, w), elements=st.floats(0, 1, width=32)))
    masks = draw(hnp.arrays(np.int32, (n, h, w), elements=st.integers(-1, 2)))
    return images, masks


def assert_rows(sub, images, masks, index):
    assert isinstance(sub, PartImages) and sub.part_names == ("background", "a", "b")
    np.testing.assert_array_equal(sub.images, images[index])
    np.testing.assert_array_equal(sub.masks, masks[index])
    np.testing.assert_array_equal(sub.labelled, np.array([(m >= 0).any() for m in masks[index]], dtype=bool))


@FAST
@given(part_images(), st.data())
def test_indexing_round_trips_like_numpy(data_, data):
    images, masks = data_
    n = len(images)
    X = PartImages(images, masks, ["background", "a", "b"])
    bound = st.none() | st.integers(-8, 8)
    index_kinds = [
        hnp.arrays(np.int64, st.integers(0, 8), elements=st.integers(-n, n - 1)) if n else st.just(np.zeros(0, int)),
        st.builds(slice, bound, bound, st.sampled_from([None, 1, 2, -1])),
        hnp.arrays(bool, n),
    ]
    first = data.draw(st.one_of(index_kinds))
    assert_rows(X[first], images, masks, first)
    assert_rows(_safe_indexing(X, first) if not isinstance(first, slice) else X[first], images, masks, first)
    sub_images, sub_masks = images[first], masks[first]
    m = len(sub_images)
    second = data.draw(hnp.arrays(np.int64, st.integers(0, 5), elements=st.integers(-m, m - 1)) if m else st.just([]))
    assert_rows(X[first][second], sub_images, sub_masks, second)  # composing indexes
    if n:
        i = data.draw(st.integers(-n, n - 1))
        assert_rows(X[i], images, masks, [i])  # an int keeps the image axis
        assert_rows(X[i, ...], images, masks, [i])
    np.testing.assert_array_equal(X.images, images)  # indexing never changes X
    np.testing.assert_array_equal(X.masks, masks)


# -- rules -------------------------------------------------------------------------------------


@st.composite
def rule_problems(draw):
    n = draw(st.integers(4, 40))
    n_parts = draw(st.integers(1, 5))
    F = draw(hnp.arrays(np.float64, (n, n_parts), elements=st.sampled_from([0.0, 1.0])))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 2)))
    params = dict(
        binarize="positive",  # the symbols are then exactly F > 0
        min_precision=draw(st.sampled_from([0.5, 0.7, 0.9])),
        max_rules=draw(st.integers(1, 3)),
        min_support=draw(st.integers(1, 3)),
        max_rule_length=draw(st.integers(1, 3)),
        candidates=draw(st.sampled_from(["observed", "subsets"])),
        as_decision_list=draw(st.booleans()),
    )
    return F, y, params


def firing(rule, symbols, names):
    """Where a rule fires, read from its structured conditions."""
    ops = {"==": np.equal, ">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
    out = np.ones(len(symbols), bool)
    for feature, op, threshold in rule.conditions:
        out &= ops[op](symbols[:, names.index(feature)], threshold)
    return out


@SLOW
@given(rule_problems(), st.data())
def test_rule_predictions_follow_the_structured_and_printed_rules(problem, data):
    F, y, params = problem
    explainer = GlobalRuleExplainer(**params).fit(F, y)
    names = list(explainer.get_feature_names_out())
    symbols = F > 0
    np.testing.assert_array_equal(explainer.symbols(F).to_numpy(), symbols)
    fires = np.stack([firing(r, symbols, names) for r in explainer.rules_], axis=1) if explainer.rules_ else (
        np.zeros((len(F), 0), bool)
    )
    for k, rule in enumerate(explainer.rules_):
        # The printed rule names exactly its conditions, and its statistics are those of where it fires.
        assert str(rule).startswith(f"{rule.label} ← {' ∧ '.join(rule.condition_strings())}")
        assert rule.condition_strings() == rule.positive_features() == [f for f, _, _ in rule.conditions]
        hits = fires[:, k] & (y == rule.target)
        assert rule.support == fires[:, k].sum()
        assert rule.precision == pytest.approx(hits.sum() / max(fires[:, k].sum(), 1))
        assert rule.coverage == pytest.approx(hits.sum() / max((y == rule.target).sum(), 1e-300))
        assert fires[:, k].any()
        if not params["as_decision_list"]:  # a list's rules are admitted on the images earlier rules leave
            assert rule.precision >= params["min_precision"] - 1e-9
    # The documented prediction: first firing rule of a decision list; otherwise the most
    # precise firing rule (ties: the rule listed first); else the default class.
    assert explainer.decision_ == ("first_match" if params["as_decision_list"] else "most_precise")
    if params["as_decision_list"]:
        order = list(range(len(explainer.rules_)))
    else:
        order = sorted(range(len(explainer.rules_)), key=lambda r: -explainer.rules_[r].precision)
    new = data.draw(hnp.arrays(np.float64, (6, F.shape[1]), elements=st.sampled_from([0.0, 1.0])))
    for table in (F, new):
        table_fires = np.stack([firing(r, table > 0, names) for r in explainer.rules_], axis=1) if (
            explainer.rules_) else np.zeros((len(table), 0), bool)
        expected = [
            next((explainer.rules_[r].target for r in order if table_fires[i, r]), explainer.default_class_)
            for i in range(len(table))
        ]
        np.testing.assert_array_equal(explainer.predict(table), expected)
