"""Procedural part-based objects with exact part masks and planted class rules."""

from collections.abc import Sequence

import numpy as np
from sklearn.utils import Bunch, check_random_state

PART_NAMES = ("background", "body", "head", "wing", "tail", "wheel", "horn", "leg", "fin", "window")

# Planted rules per family, each class a disjunction of conjunctions of parts (DNF).
# "disjoint": each class is one conjunction of two parts of its own. "shared": most parts
# belong to the rules of several classes and some classes have two alternatives, so a
# part tells the class only together with another part. In both, every part also shows
# up as a distractor in other classes' images, so no single part decides a class.
FAMILIES = {
    "disjoint": (
        ("flyer", (("head", "wing"),)),
        ("racer", (("tail", "wheel"),)),
        ("charger", (("horn", "leg"),)),
        ("diver", (("fin", "window"),)),
    ),
    "shared": (
        ("glider", (("head", "wing"),)),
        ("rover", (("wheel", "tail"), ("wheel", "wing"))),
        ("beast", (("horn", "leg"), ("head", "fin"))),
        ("boat", (("fin", "window"), ("tail", "leg"))),
    ),
}

# Hue and texture per part kind; colours are jittered around the hue per image.
_PART_STYLE = {
    "head": (0.09, "solid"),
    "wing": (0.58, "stripes"),
    "tail": (0.83, "stripes"),
    "wheel": (0.00, "solid"),
    "horn": (0.16, "solid"),
    "leg": (0.33, "checker"),
    "fin": (0.72, "solid"),
    "window": (0.47, "solid"),
}
# Parts drawn later cover earlier ones where they touch.
_DRAW_ORDER = ("body", "window", "tail", "fin", "wing", "leg", "wheel", "horn", "head")
# Object extent in body units (the body's half length is 1), used to keep objects inside.
_OBJECT_RADIUS = 1.85
_BODY_HALF_WIDTH = 0.62
_BLOCK = 256


def _triangle(u, v, a, b, c):
    """Boolean mask of the points (u, v) inside triangle abc."""

    def edge(p, q):
        return (q[0] - p[0]) * (v - p[1]) - (q[1] - p[1]) * (u - p[0])

    d1, d2, d3 = edge(a, b), edge(b, c), edge(c, a)
    has_neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
    has_pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
    return ~(has_neg & has_pos)


def _part_shape(name, u, v):
    """Region of a part in the object's frame (u along the body, v across it)."""
    if name == "body":
        return u**2 + (v / _BODY_HALF_WIDTH) ** 2 <= 1.0
    if name == "head":
        return (u - 1.25) ** 2 + v**2 <= 0.40**2
    if name == "tail":
        return (u >= -1.8) & (u <= -0.92) & (np.abs(v) <= 0.5 * (-0.92 - u) / 0.88 + 0.04)
    if name == "wing":
        return _triangle(u, v, (-0.4, -0.5), (0.35, -0.5), (-0.3, -1.5))
    if name == "horn":
        return _triangle(u, v, (0.55, -0.47), (0.95, -0.33), (0.98, -1.3))
    if name == "fin":
        return ((u + 0.8) ** 2 + (v + 0.4) ** 2 <= 0.45**2) & (v <= -0.25)
    if name == "window":
        return np.maximum(np.abs(u - 0.12), np.abs(v)) <= 0.3
    if name == "wheel":
        r2 = (u - 0.55) ** 2 + (v - 0.78) ** 2
        return (r2 <= 0.38**2) & (r2 >= 0.17**2)
    if name == "leg":
        in_v = (v >= 0.4) & (v <= 1.3)
        return in_v & (((u >= -0.75) & (u <= -0.47)) | ((u >= -0.3) & (u <= -0.02)))
    raise KeyError(name)


def _hsv_to_rgb(h, s):
    """RGB at full value of per-image hues and saturations, shape (n, 3).

    RGB scales linearly with the HSV value, so images get their shading by
    multiplying these colours with a brightness map.
    """
    h6 = np.mod(h, 1.0) * 6.0
    k = np.mod(np.array([5.0, 3.0, 1.0])[None, :] + h6[:, None], 6.0)
    return 1.0 - s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _pattern(kind, u, v, phase):
    """Texture in [0, 1] in the object's frame, so it turns with the object."""
    phase = phase[:, None, None]
    if kind == "solid":
        return np.zeros_like(u)
    if kind == "stripes":
        return (np.sin(9.0 * u + phase) > 0).astype(u.dtype)
    if kind == "checker":
        return ((np.floor(6 * u + phase) + np.floor(6 * v)) % 2).astype(u.dtype)
    raise KeyError(kind)


def _smooth_noise(rng, n, size, cells):
    """Low-frequency noise in [0, 1]: a coarse random grid, bilinearly upsampled."""
    return bilinear(rng.random((n, cells + 1, cells + 1)), np.linspace(0, cells, size))


def bilinear(grid, coords):
    """Values ``(n, cells + 1, cells + 1)`` on a coarse grid, read at ``coords`` (grid units) along both axes."""
    cells = grid.shape[-1] - 1
    i0 = np.minimum(np.floor(coords).astype(int), cells - 1)
    w = coords - i0
    rows = grid[:, i0, :] * (1 - w)[None, :, None] + grid[:, i0 + 1, :] * w[None, :, None]
    return rows[:, :, i0] * (1 - w)[None, None, :] + rows[:, :, i0 + 1] * w[None, None, :]


def _sample_parts(rng, n_samples, dnf, distractor_rate, incomplete=0.0):
    """Class labels and which parts each image shows, ``(n_samples, n_parts)`` bool.

    ``dnf[c]`` holds class c's conjunctions, each a sequence of part names. An image
    of class c shows one of c's conjunctions (chosen uniformly) plus distractors; a
    distractor is only added if it completes no other class's conjunction, so an image
    always satisfies its own class's DNF and no other's. Every image shows the
    background and the body. A share ``incomplete`` of the images are of none of the
    classes instead (label -1, see :func:`_sample_incomplete`).
    """
    terms = [[set(term) for term in class_terms] for class_terms in dnf]
    others = [[t for k, ts in enumerate(terms) if k != c for t in ts] for c in range(len(terms))]
    target = rng.permutation(np.arange(n_samples) % len(dnf))
    present = []
    for c in target:
        # Single-conjunction classes draw no choice, which keeps the disjoint family's
        # random stream, and so its data, as it was before families existed.
        own = terms[c][rng.randint(len(terms[c]))] if len(terms[c]) > 1 else terms[c][0]
        present.append(_with_distractors(rng, set(own), others[c], distractor_rate))
    present = _as_present(present)
    if incomplete > 0:
        # Drawn after the classes' images, so that incomplete=0 leaves the random stream as it was.
        none = rng.random(n_samples) < incomplete
        target[none] = -1
        present[none] = _sample_incomplete(rng, int(none.sum()), dnf, distractor_rate)
    return target, present


def _as_present(part_sets):
    """Sets of optional part names as ``(n, n_parts)`` bool; every image shows the background and the body."""
    return np.array([[name in s or name in ("background", "body") for name in PART_NAMES] for s in part_sets],
                    dtype=bool).reshape(len(part_sets), len(PART_NAMES))


def _sample_incomplete(rng, n_samples, dnf, distractor_rate):
    """Which parts each of ``n_samples`` images of none of the classes shows.

    Each shows one part of a planted conjunction (chosen uniformly among all classes'
    conjunctions) plus distractors that complete no conjunction: the partial evidence a
    model must learn not to take for a class.
    """
    terms = [set(term) for class_terms in dnf for term in class_terms]
    present = []
    for _ in range(n_samples):
        term = sorted(terms[rng.randint(len(terms))])
        present.append(_with_distractors(rng, {term[rng.randint(len(term))]}, terms, distractor_rate))
    return _as_present(present)


def _with_distractors(rng, parts, forbidden, distractor_rate):
    """``parts`` plus distractors: each other optional part, in random order, with probability
    ``distractor_rate``, unless it would complete one of the ``forbidden`` conjunctions."""
    for p in rng.permutation(list(PART_NAMES[2:])):
        if p in parts or rng.random() >= distractor_rate:
            continue
        if not any(term <= parts | {p} for term in forbidden):
            parts = parts | {p}
    return parts


def _object_frames(rng, n, size, yy, xx):
    """Random poses of ``n`` objects: each pixel's coordinates ``(u, v)`` in its object's frame.

    One unit is the body's half length; ``u`` runs along the body, ``v`` across it.
    """
    unit = 0.175 * size * rng.uniform(0.85, 1.15, n)
    angle = rng.uniform(-np.pi / 4, np.pi / 4, n)
    mirror = rng.choice([-1.0, 1.0], n)
    margin = _OBJECT_RADIUS * unit + 1
    cx = rng.uniform(margin, size - 1 - margin)
    cy = rng.uniform(margin, size - 1 - margin)
    dx = (xx[None] - cx[:, None, None]) / unit[:, None, None]
    dy = (yy[None] - cy[:, None, None]) / unit[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return (dx * cos + dy * sin) * mirror[:, None, None], -dx * sin + dy * cos


def _backgrounds(rng, target, yy, xx, n_classes, spurious, spurious_classes):
    """Images ``(n, size, size, 3)``: a random hue (or the class hue under ``spurious``), stripes and blotches."""
    n, size = len(target), len(yy)
    bg_hue = rng.random(n)
    shortcut = (rng.random(n) < spurious) & np.isin(target, spurious_classes)
    bg_hue[shortcut] = target[shortcut] / n_classes + rng.normal(0, 0.02, shortcut.sum())
    stripe_angle = rng.uniform(0, np.pi, n)[:, None, None]
    freq = rng.uniform(0.3, 0.9, n)[:, None, None]
    stripes = 0.5 + 0.5 * np.sin(freq * (xx * np.cos(stripe_angle) + yy * np.sin(stripe_angle)))
    blotches = _smooth_noise(rng, n, size, cells=4)
    shade = 0.55 * stripes + 0.45 * blotches
    bg_value = rng.uniform(0.25, 0.55, n)[:, None, None] * (0.6 + 0.6 * shade)
    bg_colour = _hsv_to_rgb(bg_hue, rng.uniform(0.25, 0.6, n))
    return (bg_value[..., None] * bg_colour[:, None, None, :]).astype(np.float32)


def _paint_part(rng, name, u, v, present, images, masks):
    """Paint part ``name``, with a jittered colour and texture, where the images that show it have it."""
    n, size = len(u), u.shape[-1]
    pid = PART_NAMES.index(name)
    region = _part_shape(name, u, v) & present[:, pid, None, None]
    if name == "body":
        hue, kind = rng.random(n), "spots"
        sat = rng.uniform(0.3, 0.7, n)
    else:
        base, kind = _PART_STYLE[name]
        hue = base + rng.normal(0, 0.025, n)
        sat = rng.uniform(0.6, 0.95, n)
    val = rng.uniform(0.7, 1.0, n)
    if kind == "spots":
        texture = 0.5 * (_smooth_noise(rng, n, size, cells=6) > 0.6)
    else:
        texture = _pattern(kind, u, v, rng.uniform(0, 2 * np.pi, n))
    rows = np.nonzero(region)[0]
    brightness = val[rows] * (1.0 - 0.45 * texture[region])
    images[region] = brightness[:, None] * _hsv_to_rgb(hue, sat)[rows]
    masks[region] = pid


def _render(rng, target, present, size, n_classes, spurious, noise, spurious_classes):
    """Images ``(n, 3, size, size)`` and masks of objects showing the ``present`` parts."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u, v = _object_frames(rng, len(target), size, yy, xx)
    images = _backgrounds(rng, target, yy, xx, n_classes, spurious, spurious_classes)
    masks = np.zeros((len(target), size, size), dtype=np.int32)
    for name in _DRAW_ORDER:
        _paint_part(rng, name, u, v, present, images, masks)
    if noise > 0:
        images += rng.normal(0, noise, images.shape)
    return np.clip(images, 0.0, 1.0).transpose(0, 3, 1, 2), masks


def _render_blocks(rng, target, present, size, n_classes, spurious, noise, spurious_classes):
    """:func:`_render` of all images, block by block: the temporaries stay in cache (2-3x faster)."""
    n = len(target)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=np.int32)
    for start in range(0, n, _BLOCK):
        block = slice(start, min(start + _BLOCK, n))
        images[block], masks[block] = _render(
            rng, target[block], present[block], size, n_classes, spurious, noise, spurious_classes
        )
    return images, masks


def _check_args(family, n_samples, image_size, n_classes, spurious, spurious_classes, distractor_rate, noise,
                incomplete):
    """Checked arguments of :func:`make_part_shapes`: the classes' DNF and the classes that may get the cue."""
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}.")
    classes = FAMILIES[family]
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 24:
        raise ValueError(f"image_size must be an integer >= 24, got {image_size!r}.")
    if not isinstance(n_classes, (int, np.integer)) or not 2 <= n_classes <= len(classes):
        raise ValueError(f"n_classes must be an integer from 2 to {len(classes)}, got {n_classes!r}.")
    for name, value in (("spurious", spurious), ("distractor_rate", distractor_rate)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise!r}.")
    if not 0.0 <= incomplete < 1.0:
        raise ValueError(f"incomplete must be in [0, 1), got {incomplete!r}.")
    cue_classes = np.arange(n_classes) if spurious_classes is None else np.asarray(spurious_classes)
    if not np.isin(cue_classes, np.arange(n_classes)).all():
        raise ValueError(f"spurious_classes must be class labels 0..{n_classes - 1}, got {spurious_classes!r}.")
    return {c: terms for c, (_, terms) in enumerate(classes[:n_classes])}, cue_classes


def _part_shapes_bunch(images, masks, target, family, dnf, cue_classes):
    """The result of :func:`make_part_shapes`; ``cue_classes`` are those given the background cue."""
    visible = np.stack([(masks == pid).any(axis=(1, 2)) for pid in range(len(PART_NAMES))], axis=1)
    return Bunch(
        images=images,
        masks=masks,
        target=target.astype(np.int64),
        part_names=PART_NAMES,
        target_names=tuple(name for name, _ in FAMILIES[family][: len(dnf)]),
        family=family,
        dnf=dnf,
        # The disjoint family keeps its original form, one conjunction per class.
        rules={c: terms[0] for c, terms in dnf.items()} if family == "disjoint" else dict(dnf),
        present=visible,
        spurious_classes=tuple(int(c) for c in cue_classes),
        DESCR=make_part_shapes.__doc__.split("\n\n")[1],
    )


def make_part_shapes(
    n_samples: int = 1000,
    *,
    image_size: int = 64,
    n_classes: int = 4,
    family: str = "disjoint",
    spurious: float = 0.0,
    spurious_classes: Sequence[int] | None = None,
    distractor_rate: float = 0.5,
    noise: float = 0.02,
    incomplete: float = 0.0,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Generate images of objects built from parts, with exact part masks.

    Each object is a body with parts (head, wing, tail, wheel, horn, leg, fin, and a window inside the body)
    in a random pose (position, rotation, mirror, scale), with jittered colours and textures, on a textured
    background. Each class is defined by planted rules over the parts, a disjunction of conjunctions of two
    parts (``dnf``). Images also show distractor parts that never complete another class's conjunction: every
    image satisfies its own class's rules and no other's, and no single part decides a class.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of images.
    image_size : int, default=64
        Height and width in pixels (at least 24).
    n_classes : int, default=4
        Number of classes, from 2 to 4: the first ``n_classes`` classes of the family.
    family : {"disjoint", "shared"}, default="disjoint"
        Which planted rules define the classes.

        - ``"disjoint"``: each class is one conjunction of two parts of its own: flyer = head ∧ wing, racer =
          tail ∧ wheel, charger = horn ∧ leg, diver = fin ∧ window.
        - ``"shared"``: classes share parts and some have two alternatives: glider = head ∧ wing, rover =
          wheel ∧ tail ∨ wheel ∧ wing, beast = horn ∧ leg ∨ head ∧ fin, boat = fin ∧ window ∨ tail ∧ leg.
          Head, wing, tail, leg and fin each belong to the rules of two classes. An image shows one of its
          class's conjunctions, chosen uniformly.
    spurious : float in [0, 1], default=0.0
        Probability that an image's background takes its class's hue instead of a random one: a shortcut.
    spurious_classes : sequence of int, default=None
        Classes whose background takes their hue under ``spurious``; ``None``: all. A shortcut for some classes
        only (say, flyers before blue skies) is one that rules can single out.
    distractor_rate : float in [0, 1], default=0.5
        Probability with which each admissible distractor part is added.
    noise : float, default=0.02
        Standard deviation of additive Gaussian pixel noise.
    incomplete : float in [0, 1), default=0.0
        Share of images of none of the classes (``target`` −1), showing one part of a planted conjunction: they
        teach a model that a class needs a whole conjunction (see :func:`~skpartx.models.train_classifier`).
    random_state : int, RandomState instance or None, default=None
        Seed; for a given seed the ``"disjoint"`` family is the same data as before ``family`` existed.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images`` (n_samples, 3, H, W) float32 in [0, 1]; ``masks`` (n_samples, H, W) int32 part ids (0 =
        background); ``target`` (n_samples,) int class labels, −1 for images of none of the classes (see
        ``incomplete``); ``part_names`` tuple (``part_names[0] == "background"``); ``target_names``; ``family``;
        ``dnf`` dict class label → tuple of conjunctions, each a tuple of part names, whose disjunction defines
        the class (the same form for both families); ``rules`` the planted rules: for ``"disjoint"`` dict class
        label → tuple of the two part names that define the class, for ``"shared"`` the same as ``dnf``;
        ``present`` (n_samples, n_parts) bool, which parts each image shows (has pixels in ``masks``);
        ``spurious_classes`` tuple of the classes given the background cue (empty when ``spurious == 0``).

    Examples
    --------
    >>> from skpartx.datasets import make_part_shapes
    >>> data = make_part_shapes(8, image_size=32, random_state=0)
    >>> data.images.shape, data.masks.shape, data.rules[0], data.dnf[0]
    ((8, 3, 32, 32), (8, 32, 32), ('head', 'wing'), (('head', 'wing'),))
    >>> make_part_shapes(8, image_size=32, family="shared", random_state=0).rules[1]
    (('wheel', 'tail'), ('wheel', 'wing'))
    """
    dnf, cue = _check_args(family, n_samples, image_size, n_classes, spurious, spurious_classes, distractor_rate,
                           noise, incomplete)
    rng = check_random_state(random_state)
    target, present = _sample_parts(rng, int(n_samples), list(dnf.values()), distractor_rate, incomplete)
    images, masks = _render_blocks(rng, target, present, int(image_size), n_classes, spurious, noise, cue)
    return _part_shapes_bunch(images, masks, target, family, dnf, cue if spurious > 0 else ())
