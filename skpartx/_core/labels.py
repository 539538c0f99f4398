"""Class labels of global rules: plain Python values, and the display names reports show."""

import numpy as np


def plain(value):
    """A plain Python label, as in ``y``, rather than a numpy scalar."""
    return value.item() if isinstance(value, np.generic) else value


def display_name(target, target_names=None, unnamed="{}"):
    """The display name of a class: its ``target_names`` entry, or the label as text.

    Parameters
    ----------
    target : object
        A class label.
    target_names : sequence or dict, default=None
        Indexed by class label: a sequence for labels ``0..K-1``, or a dict.
    unnamed : str, default="{}"
        Format of the label for a class without a name (e.g. ``"class {}"``).

    Returns
    -------
    name : str
    """
    if isinstance(target_names, dict):
        return str(target_names[target]) if target in target_names else unnamed.format(target)
    if target_names is not None:
        try:
            return str(target_names[int(target)])
        except (ValueError, TypeError, IndexError):
            pass
    return unnamed.format(target)


def unique_names(names):
    """``names`` with the index appended to each name that occurs more than once: ``"bird (2)"``."""
    counts = {n: names.count(n) for n in names}
    return [f"{n} ({k})" if counts[n] > 1 else n for k, n in enumerate(names)]


def rule_target_name(name, label, target_names=None):
    """A rule's ``target_name``: the display ``name`` of its class ``label``, or None when no
    ``target_names`` were given and the name is just the label as text."""
    return None if target_names is None and name == str(label) else name
