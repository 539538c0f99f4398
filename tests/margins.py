"""Decisions asserted with a margin: what a test asserts of an explanation must not hinge on
the last bits of a forward pass.

The same weights give logits that differ by a few 1e-6 between CPUs (AVX-512, AVX2 and
SSE4.1 kernels round differently; measured up to 2.6e-6 between AVX2 and SSE4.1 on the demo
CNN), so probabilities, Shapley values and MSX thresholds differ by about 1e-6. A test that
asserts which rules a score table yields first checks that the rules stay the same when
every score moves by ``SCORE_MARGIN``, ten times that; one that asserts which MSXs an
attributor finds checks that they stay the same when ``tau`` moves by as much.
"""

import numpy as np
from sklearn.base import clone

SCORE_MARGIN = 1e-5


def shifted(F, shift):
    """``F`` (array or DataFrame) with every score moved by ``±shift``, the signs drawn at random."""
    delta = shift * np.random.RandomState(0).choice([-1.0, 1.0], size=np.shape(F))
    if hasattr(F, "attrs"):  # a DataFrame: arithmetic keeps the columns, not always the attrs
        moved = F + delta
        moved.attrs = dict(F.attrs)
        return moved
    moved = F.copy()  # keeps a PartScoreArray's names and encoding, which arithmetic drops
    np.asarray(moved)[...] += delta
    return moved


def printed_rules(explainer):
    return [str(rule) for rule in explainer.rules_]


def stable_fit(explainer, F, y, margin=SCORE_MARGIN):
    """``explainer`` fitted on part scores ``F``, after checking that scores moved by ``±margin``
    (each score up in one fit, down in the other) yield the same rules.

    Membership codes (MSX) are not moved: they are exact, and ``stable_msx`` checks the
    searches that made them.
    """
    explainer.fit(F, y)
    if getattr(explainer, "binarize_", None) == "msx":
        return explainer
    for shift in (margin, -margin):
        moved = clone(explainer).fit(shifted(F, shift), y)
        assert printed_rules(moved) == printed_rules(explainer), (
            f"the rules change when every score moves by {shift:+g}: the test would hinge on the last bits "
            f"of a forward pass.\nfitted:\n{explainer.report()}\nmoved:\n{moved.report()}"
        )
    return explainer


def stable_msx(attributor, X, fit_X):
    """``attributor.transform(X)`` (MSX codes) of an attributor fitted on ``fit_X``, after
    checking that ``tau ± SCORE_MARGIN`` finds the same MSXs."""
    codes = attributor.transform(X)
    for shift in (SCORE_MARGIN, -SCORE_MARGIN):
        moved = clone(attributor).set_params(tau=attributor.tau + shift).fit(fit_X).transform(X)
        assert np.array_equal(np.asarray(moved), np.asarray(codes)), (
            f"the MSXs change with tau {attributor.tau + shift:g}: the test would hinge on the last bits of a forward pass"
        )
    return codes
