"""The result objects of the rule stage: a rule, and rules checked on other images."""

from dataclasses import dataclass, field


def weight_text(value) -> str:
    """A rule's weight (or an intercept) as printed: ``0``, or signed with 3 significant
    digits, so a scorecard's whole points read as ``+10``, ``-3``."""
    return "0" if value == 0 else f"{value:+.3g}"


@dataclass(frozen=True)
class Rule:
    """One conjunctive rule ``target ← condition ∧ condition ∧ ...``.

    Attributes
    ----------
    target : object
        The class the rule predicts (a label of ``y``).
    conditions : tuple of (str, str, float)
        ``(symbol, operator, threshold)`` with ``operator`` in ``>``, ``>=``, ``<``,
        ``<=``, ``==``; symbols are the columns of :meth:`GlobalRuleExplainer.symbols`,
        which are 1 when the part (relation, or set of parts) belongs to an image's
        explanation.
    support : float
        Training images on which the rule fires (their total ``sample_weight``).
    precision : float
        Share of those images that the model assigned to ``target``.
    coverage : float
        Share of the model's ``target`` images on which the rule fires.
    target_name : str or None
        Display name of the class.
    precision_interval, coverage_interval : tuple of float or None
        95% Wilson intervals of ``precision`` and ``coverage``.
    weight : dict or None
        Additive rule models only: class name → what the rule adds to that class's score
        when it fires.
    """

    target: object
    conditions: tuple
    support: int
    precision: float
    coverage: float
    target_name: str = None
    precision_interval: tuple = None
    coverage_interval: tuple = None
    weight: dict = field(default=None, hash=False)

    @property
    def label(self) -> str:
        return self.target_name if self.target_name is not None else str(self.target)

    def condition_strings(self) -> list[str]:
        """Each condition as text: a symbol's name, ``¬name``, or ``name op threshold``."""
        out = []
        for feature, op, threshold in self.conditions:
            if op == "==" and threshold in (0, 1):
                out.append(feature if threshold == 1 else f"¬{feature}")
            else:
                out.append(f"{feature} {op} {threshold:.3g}")
        return out

    def body(self) -> str:
        """The conditions as one text, ``wing ∧ ¬wheel``; ``(always)`` for none."""
        return " ∧ ".join(self.condition_strings()) or "(always)"

    def positive_features(self) -> list[str]:
        """Symbols the rule requires to be present (``== 1``)."""
        return [f for f, op, t in self.conditions if op == "==" and t == 1]

    def weight_string(self) -> str:
        """The weights as text (``"weights racer +0.31, flyer -0.12"``), or ``""``."""
        if not self.weight:
            return ""
        return "weights " + ", ".join(f"{name} {weight_text(value)}" for name, value in self.weight.items())

    def __str__(self):
        weights = f"{self.weight_string()}; " if self.weight else ""
        return f"{self.label} ← {self.body()} ({weights}precision {self.precision:.2f}, covers {self.coverage:.0%})"

    def __len__(self):
        return len(self.conditions)


@dataclass
class RuleVerification:
    """Rules checked on images they were not learnt from (:meth:`GlobalRuleExplainer.verify`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per rule (in ``rules_`` order): ``rule``, ``class``, then ``support``,
        ``precision``, ``precision_low``, ``precision_high``, ``coverage``,
        ``coverage_low``, ``coverage_high`` for the training images (suffix ``_train``) and
        for the verification images (suffix ``_test``). Intervals are 95% Wilson intervals.
    fidelity : float
        Share of the verification images whose model decision the rules reproduce.
    coverage : float
        Share of the verification images covered by a rule of their decided class.
    n_images : float
        Number (total weight) of verification images.
    """

    table: object
    fidelity: float
    coverage: float
    n_images: float
