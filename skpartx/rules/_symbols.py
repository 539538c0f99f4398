"""The binary symbols that global rules are written in, and how a score table becomes them.

A :class:`SymbolSpace` is fixed when rules are fitted and written into ``rules.json``, so
that the same symbols can be computed again from new part scores without the estimator.
Two encodings of local explanations (see ``skpartx._core.part_scores``):

- ``"scores"``: each part column is binarised per image (``binarize``: is the part among
  the image's important parts?); a rule is a conjunction of such part symbols, and of
  relational symbols (``"wing above body"``: the relation holds and both parts are on).
- ``"msx"``: each image has one or more minimal sufficient explanations (MSXs). Every
  candidate conjunction of parts is one symbol, written ``{head, wing}``, which is on for
  an image when **its parts contain one of the image's MSXs, and each of its parts belongs
  to one of them**: the named parts suffice for the model's decision and none of them is
  irrelevant to it. The empty MSX (the baseline alone keeps the model's confidence) turns
  on only the symbol ``(baseline)``, never every rule. Scorecards also weigh each part
  alone: the symbol named by the part is on when the part belongs to one of the image's MSXs.
"""

import warnings
from itertools import combinations

import numpy as np

from .._core.part_scores import BASELINE_SYMBOL, decode_msx
from .._core.relations import parse_relation
from ._decision import rule_firing

BINARIZE = ("relative", "fraction", "absolute", "top_k", "positive")
DEFAULT_THRESHOLD = {"relative": 0.5, "fraction": 0.8, "absolute": 0.5}
KINDS = ("part", "relation", "msx_set", "msx_part", "baseline")


def binarize_scores(scores, method, threshold=None, top_k=2):
    """On/off of each part per row of ``scores`` (see ``GlobalRuleExplainer``'s ``binarize``)."""
    t = threshold if threshold is not None else DEFAULT_THRESHOLD.get(method)
    positive = scores > 0
    if method == "positive":
        return positive
    if method == "absolute":
        return scores >= t
    if method == "relative":
        top = scores.max(axis=1, keepdims=True) if scores.shape[1] else np.zeros((len(scores), 1))
        return positive & (scores >= t * top)
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    if method == "top_k":
        chosen = np.arange(scores.shape[1])[None, :] < top_k
    elif method == "fraction":  # the top parts until their cumulative score first reaches t of the total
        cumulative = np.cumsum(np.clip(ranked, 0, None), axis=1)
        total = cumulative[:, -1:] if scores.shape[1] else np.zeros((len(scores), 1))
        chosen = np.concatenate([np.ones((len(scores), 1), bool), cumulative[:, :-1] < t * total], axis=1)
    else:
        raise ValueError(f"binarize must be one of {BINARIZE}, got {method!r}.")
    on = np.zeros_like(positive)
    np.put_along_axis(on, order, chosen, axis=1)
    return on & positive


def msx_set_name(parts):
    """The symbol of a conjunction of parts under the ``"msx"`` encoding: ``{head, wing}``."""
    return "{" + ", ".join(parts) + "}"


def _msx_set_fires(codes, columns):
    """Rows whose MSXs make the part set ``columns`` fire (see the module docstring)."""
    every = np.bitwise_or.reduce(codes, axis=1)
    others = np.setdiff1d(np.arange(codes.shape[1]), columns)
    outside = np.bitwise_or.reduce(codes[:, others], axis=1) if len(others) else np.zeros(len(codes), np.int64)
    holds_an_msx = (every & ~outside) != 0
    each_relevant = (codes[:, columns] != 0).all(axis=1)
    return holds_an_msx & each_relevant


def relation_parts(name, part_names):
    """The two parts ``(a, b)`` of a relation column named over ``part_names`` (``"wing above
    body"`` → ``("wing", "body")``), or None when ``name`` is no such relation."""
    part_names = list(part_names)
    parsed = parse_relation(name, part_names)
    return None if parsed is None else (part_names[parsed[1]], part_names[parsed[2]])


def split_relations(columns):
    """Part columns and relation columns ``(column, part a, part b)`` of a list of column names."""
    parts = [name for name in columns if relation_parts(name, columns) is None]
    relations = []
    for name in columns:
        pair = relation_parts(name, parts)
        if pair is not None:
            relations.append((name, *pair))
    return parts, relations


def named_parts(symbol, part_names):
    """The parts a symbol refers to, read from its name: for rules without their :class:`SymbolSpace`.

    A part's symbol is its name, a relation's names its two parts (:func:`relation_parts`),
    an MSX set's (:func:`msx_set_name`) lists its parts; ``(baseline)`` and unknown names
    refer to none. :meth:`SymbolSpace.symbol_parts` gives the same from the symbols' record.

    Parameters
    ----------
    symbol : str
    part_names : sequence of str

    Returns
    -------
    parts : list of str
    """
    part_names = list(part_names)
    if symbol in part_names:
        return [symbol]
    pair = relation_parts(symbol, part_names)
    if pair is not None:
        return list(pair)
    if symbol.startswith("{") and symbol.endswith("}"):
        listed = symbol[1:-1].split(", ")
        if all(p in part_names for p in listed):
            return listed
    return []


def column_names(names, n_columns):
    """The names of a score table's columns: ``names`` as text, or ``x0, x1, ...`` when None."""
    return [str(name) for name in names] if names is not None else [f"x{i}" for i in range(n_columns)]


def fit_symbol_space(columns, F, y_index, weights, *, binarize, threshold, top_k, max_length, min_support,
                     candidates, part_symbols=False):
    """The :class:`SymbolSpace` of a score table: :meth:`SymbolSpace.for_msx` when ``binarize``
    is ``"msx"`` (with ``part_symbols``), else :meth:`SymbolSpace.for_scores`."""
    if binarize == "msx":
        return SymbolSpace.for_msx(columns, F, y_index, weights, max_length, min_support, candidates,
                                   part_symbols=part_symbols)
    return SymbolSpace.for_scores(columns, binarize, threshold, top_k)


def resolve_defaults(binarize, candidates, encoding, stacklevel=2, uses_candidates=True):
    """``binarize`` and ``candidates`` for a score table: ``"auto"`` reads them off its encoding.

    Minimal sufficient explanations are minimal by construction, so a proper part of one
    does not suffice: each MSX is its own candidate (GEPC). A binarised set of part scores
    is not minimal, so any conjunction within it is a candidate, and the one common to most
    images' explanations becomes the rule.

    Parameters
    ----------
    binarize, candidates : str
        The settings of :class:`~skpartx.GlobalRuleExplainer`.
    encoding : {"scores", "msx"} or None
        What the table says it holds (None: it does not say).
    stacklevel : int, default=2
        Of the warning that the ``"auto"`` defaults for part scores changed in 0.2, counted
        from the caller as if it warned itself: 2 points at the caller's caller.
    uses_candidates : bool, default=True
        Whether the rule learner reads ``candidates`` (set cover does): if not, their change
        is not announced.

    Returns
    -------
    binarize, candidates : str
        The binarisation and the set-cover candidates to use.

    Raises
    ------
    ValueError
        When MSX codes are to be binarised as part scores.
    """
    resolved = ("msx" if encoding == "msx" else "fraction") if binarize == "auto" else binarize
    if encoding == "msx" and resolved != "msx":
        raise ValueError(
            f"F holds minimal sufficient explanations (PartAttributor(method='msx')), which binarize="
            f"{binarize!r} cannot read as part scores; use binarize='auto' or 'msx'."
        )
    if resolved == "msx":
        return resolved, "observed" if candidates == "auto" else candidates
    chosen = "subsets" if candidates == "auto" else candidates
    changed = [f"{name}={new!r} (was {old!r})" for name, value, new, old in (
        ("binarize", binarize, resolved, "relative"), ("candidates", candidates, chosen, "observed"),
    ) if value == "auto" and (name != "candidates" or uses_candidates)]
    if changed:
        warnings.warn(
            f"GlobalRuleExplainer's defaults for part scores changed in skpartx 0.2: {' and '.join(changed)}, "
            "which reproduce the model better on both built-in data families (benchmarks/RESULTS.md); pass the "
            "former values and closure=0 for the former rules, or the new ones to silence this warning.",
            FutureWarning,
            stacklevel=stacklevel + 1,
        )
    return resolved, chosen


class SymbolSpace:
    """How the columns of a score table become the binary symbols of rules.

    Parameters
    ----------
    columns : list of str
        The score table's columns, in order.
    encoding : {"scores", "msx"}
    symbols : list of dict
        One entry per symbol: ``name`` and ``kind`` (``"part"``: a binarised part column
        ``column``; ``"relation"``: relation column ``column`` between ``parts``;
        ``"msx_set"``: the conjunction of ``parts``; ``"msx_part"``: the one part of ``parts``
        belongs to an MSX; ``"baseline"``: the empty MSX).
    binarize, threshold, top_k : binarisation of part scores (``"scores"`` only).
    """

    def __init__(self, columns, encoding, symbols, binarize=None, threshold=None, top_k=2):
        self.columns = list(columns)
        self.encoding = encoding
        self.symbols = [dict(s) for s in symbols]
        self.binarize = binarize
        self.threshold = threshold
        self.top_k = top_k
        relations = {s["column"] for s in self.symbols if s["kind"] == "relation"}
        self.part_columns = [c for c in self.columns if c not in relations]

    @property
    def names(self):
        """Symbol names, the columns of :meth:`transform`."""
        return [s["name"] for s in self.symbols]

    def symbol_parts(self, name):
        """The part names a symbol refers to (empty for ``(baseline)``)."""
        symbol = self.symbols[self.names.index(name)]
        return list(symbol.get("parts", [symbol["column"]] if symbol["kind"] == "part" else []))

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def for_scores(cls, columns, binarize, threshold=None, top_k=2):
        """One symbol per part column, and one per relation column found by name."""
        parts, relations = split_relations(list(columns))
        kinds = {name: {"name": name, "kind": "part", "column": name} for name in parts}
        for name, a, b in relations:
            kinds[name] = {"name": name, "kind": "relation", "column": name, "parts": [a, b]}
        return cls(columns, "scores", [kinds[name] for name in columns], binarize, threshold, top_k)

    @classmethod
    def for_msx(cls, columns, F, y_index, weights, max_length, min_support, candidates, part_symbols=False):
        """Conjunction symbols for the MSXs in ``F``, each frequent enough in some class.

        ``candidates="observed"``: the MSXs themselves (GEPC: each local explanation is a
        candidate rule); ``"subsets"``: every conjunction of up to ``max_length`` parts
        that fires for ``min_support`` (weighted) images of one class. ``(baseline)`` is
        added when that many images of one class have the empty MSX. ``part_symbols``: also
        one symbol per part in as many MSXs, named by the part (for scorecards, which weigh
        parts one by one; set cover keeps GEPC's candidates).
        """
        _, relations = split_relations(list(columns))
        if relations:
            raise ValueError(
                f"MSX codes come with relation columns ({relations[0][0]!r}, ...); relational symbols need part scores, "
                "so use PartAttributor(relations=False) with method='msx', or a scoring method."
            )
        codes = np.asarray(F, dtype=np.float64)
        sets = decode_msx(codes)
        n_classes = int(y_index.max()) + 1 if len(y_index) else 0

        def support(fired):  # weighted images per class
            return np.bincount(y_index[fired], weights[fired], minlength=n_classes)

        def frequent(support_per_class):
            return (support_per_class >= min_support - 1e-12).any()

        chosen = []
        if candidates == "observed":
            found = {}
            for i, image_sets in enumerate(sets):
                for s in image_sets:
                    if 0 < len(s) <= max_length:
                        found.setdefault(tuple(sorted(s)), np.zeros(n_classes))[y_index[i]] += weights[i]
            chosen = [s for s, per_class in sorted(found.items()) if frequent(per_class)]
        else:
            ints = codes.astype(np.int64)
            used = np.flatnonzero((ints != 0).any(axis=0))
            for length in range(1, max_length + 1):
                for s in combinations(used.tolist(), length):
                    fired = _msx_set_fires(ints, list(s))
                    if frequent(support(fired)):
                        chosen.append(s)
        symbols = [
            {"name": msx_set_name([columns[j] for j in s]), "kind": "msx_set", "parts": [columns[j] for j in s]}
            for s in sorted(chosen, key=lambda s: (len(s), s))
        ]
        if part_symbols:
            symbols += [{"name": name, "kind": "msx_part", "parts": [name]}
                        for name, in_msx in zip(columns, (codes != 0).T) if frequent(support(in_msx))]
        empty = np.array([image_sets == [frozenset()] for image_sets in sets])
        if frequent(support(empty)):
            symbols.append({"name": BASELINE_SYMBOL, "kind": "baseline"})
        return cls(columns, "msx", symbols)

    # -- evaluation ------------------------------------------------------------------------

    def transform(self, F):
        """Bool ``(n_images, n_symbols)``: the symbols of each row of the score table ``F``."""
        F = np.asarray(F, dtype=np.float64)
        if F.ndim != 2 or F.shape[1] != len(self.columns):
            raise ValueError(f"expected a score table with {len(self.columns)} columns, got shape {F.shape}.")
        column = {name: j for j, name in enumerate(self.columns)}
        out = np.zeros((len(F), len(self.symbols)), dtype=bool)
        if self.encoding == "msx":
            decode_msx(F)  # validates the codes with a clear message
            codes = F.astype(np.int64)
            for k, s in enumerate(self.symbols):
                if s["kind"] == "baseline":
                    out[:, k] = ~(codes != 0).any(axis=1)
                elif s["kind"] == "msx_part":
                    out[:, k] = codes[:, column[s["parts"][0]]] != 0
                else:
                    out[:, k] = _msx_set_fires(codes, [column[p] for p in s["parts"]])
            return out
        parts = [column[p] for p in self.part_columns]
        on = np.zeros(F.shape, dtype=bool)
        on[:, parts] = binarize_scores(F[:, parts], self.binarize, self.threshold, self.top_k)
        for k, s in enumerate(self.symbols):
            j = column[s["column"]]
            if s["kind"] == "part":
                out[:, k] = on[:, j]
            else:  # a relation: it holds in the mask and both its parts are on
                a, b = (column[p] for p in s["parts"])
                out[:, k] = (F[:, j] > 0.5) & on[:, a] & on[:, b]
        return out

    def explanations(self, F):
        """Each row's local explanation: a list of sets of names (parts, or parts and relations).

        ``"scores"``: one set, the row's symbols that are on. ``"msx"``: the row's MSXs as
        sets of part names; ``[frozenset()]`` for the empty MSX.
        """
        if self.encoding == "msx":
            return [[frozenset(self.columns[j] for j in s) for s in sets] for sets in decode_msx(F)]
        names = self.names
        return [[frozenset(names[j] for j in np.flatnonzero(row))] for row in self.transform(F)]

    def firing(self, symbols, conditions_per_rule):
        """Bool ``(n_images, n_rules)``: where each rule's conditions on these symbols hold.

        Parameters
        ----------
        symbols : bool ndarray of shape (n_images, n_symbols)
            From :meth:`transform`.
        conditions_per_rule : sequence of sequence of (str, str, float)
            Each rule's ``(symbol name, operator, threshold)`` conditions.
        """
        return rule_firing(symbols, conditions_per_rule, {name: j for j, name in enumerate(self.names)})

    def part_values(self, F):
        """Per row and part column, the number plots show: the score, or the share of MSXs with the part."""
        F = np.asarray(F, dtype=np.float64)
        index = [self.columns.index(p) for p in self.part_columns]
        if self.encoding == "scores":
            return F[:, index]
        values = np.zeros((len(F), len(self.part_columns)))
        for i, sets in enumerate(decode_msx(F)):
            for s in sets:
                for j in s:
                    values[i, index.index(j)] += 1.0 / len(sets)
        return values

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self):
        out = {"encoding": self.encoding, "columns": list(self.columns)}
        if self.encoding == "scores":
            out.update(binarize=self.binarize, threshold=self.threshold, top_k=int(self.top_k))
        return out, [dict(s) for s in self.symbols]

    @classmethod
    def from_dict(cls, binarization, symbols):
        """The space written by :meth:`to_dict` (the ``binarization`` and ``symbols`` of rules.json)."""
        encoding = binarization.get("encoding")
        if encoding not in ("scores", "msx"):
            raise ValueError(f"rules.json: unknown encoding {encoding!r}.")
        for s in symbols:
            if s.get("kind") not in KINDS:
                raise ValueError(f"rules.json: symbol {s.get('name')!r} has unknown kind {s.get('kind')!r}.")
        return cls(
            binarization["columns"],
            encoding,
            symbols,
            binarization.get("binarize"),
            binarization.get("threshold"),
            binarization.get("top_k", 2),
        )
