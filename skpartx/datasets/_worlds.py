"""Worlds of part-composed objects, drawn from scene descriptions that can be drawn again without
some of their parts: the interventional truth of what removing a part does.

A world (:func:`sample_world`) fixes a vocabulary of part kinds, where they sit on an object,
the classes' rules and the backgrounds; its scenes (:meth:`PartWorld.sample`) fix every image's
object, pose, colours and background; :meth:`PartWorld.render` draws scenes, with any parts left
out (what lay behind them shows). Every random number that reaches a pixel comes from integer
hashing or from generators seeded per world, so a world and its images are the same on every
CPU.
"""

from dataclasses import dataclass, replace
import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._synthetic import _hsv_to_rgb, _triangle, bilinear

SHAPES = ("ellipse", "box", "triangle", "diamond", "ring")
TEXTURES = ("solid", "stripes", "dots", "noise")
BACKGROUNDS = ("uniform", "gradient", "smooth_noise", "stripes", "clutter")
_BLOCK = 256
_BODY_HALF_LENGTH, _BODY_HALF_WIDTH = 1.0, 0.6
_OBJECT_RADIUS = 1.9  # object extent in body units, to keep objects inside the image
_DIGITS = 9  # trigonometry is rounded to this many digits, so that no CPU's last bit reaches a pixel
# Where part kinds sit, in the body's frame: six places on the body, fourteen around it.
_SLOTS = np.array([(u, v) for u in (-0.6, 0.0, 0.6) for v in (-0.3, 0.3)]
                  + [(1.45 * np.round(np.cos(a), 6), 1.0 * np.round(np.sin(a), 6))
                     for a in 2 * np.pi * np.arange(14) / 14])


@dataclass(frozen=True)
class PartKind:
    """One kind of part of a world: its shape, texture, colour and where it sits on the body."""

    name: str
    shape: str
    texture: str
    hue: float
    saturation: float
    half_size: tuple  # (along, across) in body units
    anchor: tuple  # centre in the body's frame
    angle: float  # turn relative to the body, radians
    layer: int  # parts of a higher layer are drawn over those of a lower one


@dataclass(frozen=True)
class Shortcut:
    """A background cue for one class: its images show backgrounds of hue ``hue`` at ``rate``, no other image does."""

    target: int
    rate: float
    hue: float
    contrast: float  # least hue distance of every other background from the cue


@dataclass(frozen=True)
class Scenes:
    """What each image shows: class, parts, pose, colours, background. Arrays of one row per image."""

    target: np.ndarray  # (n,) class
    present: np.ndarray  # (n, n_parts) bool, by part id (0: background, always True)
    centre: np.ndarray  # (n, 2) object centre, in units of the image size
    scale: np.ndarray  # (n,) body half length, in units of the image size
    angle: np.ndarray  # (n,) object turn, radians
    part_shift: np.ndarray  # (n, n_parts, 2) jitter of each part's anchor, body units
    part_scale: np.ndarray  # (n, n_parts)
    colour: np.ndarray  # (n, n_parts, 3) RGB of each part (row 0: unused)
    background: np.ndarray  # (n,) index into BACKGROUNDS
    background_colours: np.ndarray  # (n, 2, 3)
    background_angle: np.ndarray  # (n,)
    seed: np.ndarray  # (n,) uint32, for the image's noise textures and clutter
    cue: np.ndarray  # (n,) bool: the background carries the world's shortcut

    def __len__(self):
        return len(self.target)

    def __getitem__(self, index):
        index = np.arange(len(self))[index]
        return Scenes(**{name: value[index] for name, value in vars(self).items()})


def _hash(*arrays):
    """Uniform numbers in [0, 1) from unsigned integers by integer hashing (the same on every CPU)."""
    h = np.uint32(2166136261)
    with np.errstate(over="ignore"):
        for a in arrays:
            h = (h ^ np.asarray(a, dtype=np.uint32)) * np.uint32(16777619)
            h ^= h >> np.uint32(15)
            h *= np.uint32(2246822519)
            h ^= h >> np.uint32(13)
    return h.astype(np.float64) / 2.0**32


def _f32(values):
    return np.asarray(values, dtype=np.float32)


def _rotation(angle):
    return np.round(np.cos(angle), _DIGITS), np.round(np.sin(angle), _DIGITS)


def _region(shape, u, v):
    """Points (u, v) of a unit part (half size 1 along both axes) of ``shape``."""
    if shape == "ellipse":
        return u**2 + v**2 <= 1.0
    if shape == "box":
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == "triangle":
        return _triangle(u, v, (-1.0, 1.0), (1.0, 1.0), (0.0, -1.0))
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "ring":
        r2 = u**2 + v**2
        return (r2 <= 1.0) & (r2 >= 0.45**2)
    raise KeyError(shape)


def _texture(texture, u, v, x, y, seed):
    """Shading factor of a texture (1 = the part's colour), in the part's frame; noise per pixel."""
    if texture == "solid":
        return np.ones_like(u)
    if texture == "stripes":
        return np.where(np.floor(2.5 * (u + 1)) % 2 == 0, 1.0, 0.55).astype(np.float32)
    if texture == "dots":
        du, dv = (2.5 * (u + 1)) % 1 - 0.5, (2.5 * (v + 1)) % 1 - 0.5
        return np.where(du**2 + dv**2 <= 0.3**2, 1.45, 0.9).astype(np.float32)
    if texture == "noise":
        return _f32(0.7 + 0.6 * _hash(x, y, seed))
    raise KeyError(texture)


@dataclass(frozen=True)
class PartWorld:
    """A world of part-composed objects; see :func:`sample_world` for how worlds are drawn.

    Attributes
    ----------
    seed : int
    image_size : int
    kinds : tuple of PartKind
        The body first (part id 1), then the other parts (ids 2, 3, ...).
    class_names : tuple of str
    rules : tuple
        Per class, its DNF: a tuple of conjunctions, each a tuple of part names. An object
        of a class satisfies one of its conjunctions and no other class's.
    always : tuple of str
        Parts on every object (the body, and possibly one more).
    distractor_rate : float
        Chance of each other part on an object (where it completes no other class's rule).
    backgrounds : tuple of str
        Background kinds of this world (of ``BACKGROUNDS``).
    shortcut : Shortcut or None
    min_visible : float
        Least share of a part's own area left visible by the parts drawn over it.
    """

    seed: int
    image_size: int
    kinds: tuple
    class_names: tuple
    rules: tuple
    always: tuple
    distractor_rate: float
    backgrounds: tuple
    shortcut: Shortcut | None
    min_visible: float = 0.3

    @property
    def part_names(self):
        return ("background",) + tuple(kind.name for kind in self.kinds)

    def sample(self, n_samples, random_state=None):
        """Scenes of ``n_samples`` images, the classes in turn (shuffled).

        Parameters
        ----------
        n_samples : int
        random_state : int, RandomState or None

        Returns
        -------
        scenes : Scenes
        """
        rng = check_random_state(random_state)
        n_parts = len(self.part_names)
        target = rng.permutation(np.arange(n_samples) % len(self.class_names))
        present = np.zeros((n_samples, n_parts), dtype=bool)
        for i, c in enumerate(target):
            present[i, [self.part_names.index(p) for p in self._object_parts(rng, c)]] = True
        present[:, 0] = True
        scenes = Scenes(
            target=target, present=present, **self._poses(rng, n_samples), **self._colours(rng, n_samples),
            **self._backgrounds(rng, target),
        )
        hidden = np.flatnonzero(self._mostly_hidden(scenes))
        for _ in range(20):  # draw poses again where a part is mostly hidden behind others
            if not len(hidden):
                break
            redrawn = self._poses(rng, len(hidden))
            fields = {name: getattr(scenes, name).copy() for name in redrawn}
            for name, value in redrawn.items():
                fields[name][hidden] = value
            scenes = replace(scenes, **fields)
            hidden = hidden[self._mostly_hidden(scenes[hidden])]
        return scenes

    def satisfied(self, present):
        """Classes whose rule an object showing the parts ``present`` satisfies.

        Parameters
        ----------
        present : array-like of bool, shape (n_parts,)
            By part id.

        Returns
        -------
        classes : list of int
        """
        shown = {name for name, p in zip(self.part_names, present) if p}
        return [c for c, terms in enumerate(self.rules) if any(set(t) <= shown for t in terms)]

    def rule_parts_to_remove(self, target, present):
        """Parts of class ``target``'s rule whose removal leaves an object of no class.

        Parameters
        ----------
        target : int
        present : array-like of bool, shape (n_parts,)

        Returns
        -------
        part_ids : list of int
            Parts of the rule that are not on every object; empty where no single removal
            leaves the object outside every class.
        """
        present = np.asarray(present, dtype=bool)
        candidates = sorted({self.part_names.index(p) for t in self.rules[target] for p in t} - set(
            self.part_names.index(p) for p in self.always))
        found = []
        for k in candidates:
            if present[k]:
                without = present.copy()
                without[k] = False
                if not self.satisfied(without):
                    found.append(k)
        return found

    def _object_parts(self, rng, c):
        terms = self.rules[c]
        parts = set(terms[rng.randint(len(terms))]) | set(self.always)
        others = [set(t) for k, ts in enumerate(self.rules) if k != c for t in ts]
        for kind in self.kinds:
            if kind.name not in parts and rng.rand() < self.distractor_rate:
                if not any(t <= parts | {kind.name} for t in others):
                    parts.add(kind.name)
        return parts

    def _poses(self, rng, n):
        n_parts = len(self.part_names)
        scale = rng.uniform(0.7, 1.3, n) * 0.24
        margin = np.minimum(_OBJECT_RADIUS * scale, 0.45)
        return dict(
            centre=0.5 + rng.uniform(-1, 1, (n, 2)) * (0.5 - margin)[:, None],
            scale=scale,
            angle=rng.uniform(-np.pi, np.pi, n),
            part_shift=rng.normal(0, 0.08, (n, n_parts, 2)),
            part_scale=rng.uniform(0.85, 1.15, (n, n_parts)),
        )

    def _colours(self, rng, n):
        colour = np.zeros((n, len(self.part_names), 3))
        for k, kind in enumerate(self.kinds, start=1):
            hue = kind.hue + rng.normal(0, 0.02, n)
            colour[:, k] = _hsv_to_rgb(hue, np.full(n, kind.saturation)) * rng.uniform(0.75, 1.0, n)[:, None]
        return dict(colour=colour)

    def _backgrounds(self, rng, target):
        n = len(target)
        kinds = np.array([BACKGROUNDS.index(b) for b in self.backgrounds])[rng.randint(len(self.backgrounds), size=n)]
        hue = rng.uniform(0, 1, (n, 2))
        cue = np.zeros(n, dtype=bool)
        if self.shortcut is not None:
            cut = self.shortcut
            away = cut.hue + cut.contrast + rng.uniform(0, 1 - 2 * cut.contrast, (n, 2))  # hues clear of the cue
            hue = away % 1.0
            cue = (target == cut.target) & (rng.rand(n) < cut.rate)
            hue[cue] = cut.hue + rng.normal(0, 0.01, (int(cue.sum()), 2))
        colours = np.stack([_hsv_to_rgb(hue[:, j], rng.uniform(0.15, 0.45, n)) * rng.uniform(0.5, 0.9, n)[:, None]
                            for j in range(2)], axis=1)
        return dict(background=kinds, background_colours=colours, background_angle=rng.uniform(0, np.pi, n),
                    seed=rng.randint(0, 2**31 - 1, n).astype(np.uint32), cue=cue)

    def _mostly_hidden(self, scenes):
        """Images in which a present part shows less than ``min_visible`` of its own area."""
        _, masks, areas = self._draw(scenes, None, with_areas=True)
        visible = np.stack([(masks == k).sum(axis=(1, 2)) for k in range(1, len(self.part_names))], axis=1)
        own = scenes.present[:, 1:]
        return (own & (visible < self.min_visible * np.maximum(areas, 1))).any(axis=1)

    def render(self, scenes, keep=None):
        """Draw scenes, with the parts ``keep`` leaves out truly absent.

        Parameters
        ----------
        scenes : Scenes
        keep : array-like of bool, shape (n_images, n_parts) or (n_parts,), default=None
            Parts to draw, by part id (the background's column is ignored: it is always
            drawn). A part left out is not drawn at all: what lay behind it (the body,
            other parts, the background) shows, as if the scene had never held it.

        Returns
        -------
        images : ndarray of shape (n_images, 3, image_size, image_size), float32 in [0, 1]
        masks : ndarray of shape (n_images, image_size, image_size), int64 part ids
        """
        images, masks, _ = self._draw(scenes, keep)
        return images, masks

    def _draw(self, scenes, keep, with_areas=False):
        n, size, n_parts = len(scenes), self.image_size, len(self.part_names)
        drawn = scenes.present.copy()
        if keep is not None:
            keep = np.broadcast_to(np.asarray(keep, dtype=bool), drawn.shape)
            drawn &= keep
        drawn[:, 0] = True
        images = np.empty((n, 3, size, size), dtype=np.float32)
        masks = np.zeros((n, size, size), dtype=np.int64)
        areas = np.zeros((n, n_parts - 1))
        pixel = ((np.arange(size) + 0.5) / size).astype(np.float32)
        y, x = np.meshgrid(pixel, pixel, indexing="ij")
        iy, ix = np.meshgrid(np.arange(size, dtype=np.uint32), np.arange(size, dtype=np.uint32), indexing="ij")
        order = sorted(range(len(self.kinds)), key=lambda k: self.kinds[k].layer)
        for start in range(0, n, _BLOCK):
            block = slice(start, min(start + _BLOCK, n))
            s = scenes[block]
            canvas = self._background(s, x, y, ix, iy)
            ids = np.zeros((len(s), size, size), dtype=np.int64)
            cos, sin = (_f32(t)[:, None, None] for t in _rotation(s.angle))
            dx, dy = x[None] - _f32(s.centre[:, 0, None, None]), y[None] - _f32(s.centre[:, 1, None, None])
            along = (dx * cos + dy * sin) / _f32(s.scale[:, None, None])
            across = (dy * cos - dx * sin) / _f32(s.scale[:, None, None])
            for k in order:
                pid = k + 1
                rows = np.flatnonzero(drawn[block][:, pid] | (with_areas & s.present[:, pid]))
                if not len(rows):
                    continue
                region, shading = self._part(self.kinds[k], s[rows], along[rows], across[rows], ix, iy)
                if with_areas:
                    areas[start + rows, k] = region.sum(axis=(1, 2))
                paint = region & drawn[block][rows, pid][:, None, None]
                colour = _f32(s.colour[rows, pid][:, :, None, None]) * shading[:, None]
                canvas[rows] = np.where(paint[:, None], colour, canvas[rows])
                ids[rows] = np.where(paint, pid, ids[rows])
            images[block] = np.clip(canvas, 0, 1)
            masks[block] = ids
        return images, masks, areas

    def _part(self, kind, s, along, across, ix, iy):
        """Region and shading of one part kind on the images of ``s`` (which show it)."""
        pid = self.part_names.index(kind.name)
        half = _f32(np.asarray(kind.half_size)[None, :] * s.part_scale[:, pid, None])[:, :, None, None]
        centre = _f32(np.asarray(kind.anchor)[None, :] + s.part_shift[:, pid])[:, :, None, None]
        cos, sin = (_f32(t) for t in _rotation(kind.angle))
        du, dv = along - centre[:, 0], across - centre[:, 1]
        u = (du * cos + dv * sin) / half[:, 0]
        v = (dv * cos - du * sin) / half[:, 1]
        seed = (s.seed * np.uint32(31) + np.uint32(pid))[:, None, None]
        return _region(kind.shape, u, v), _texture(kind.texture, u, v, ix[None], iy[None], seed)

    def _background(self, s, x, y, ix, iy):
        n = len(s)
        first, second = (_f32(s.background_colours[:, j, :, None, None]) for j in (0, 1))
        cos, sin = (_f32(t)[:, None, None] for t in _rotation(s.background_angle))
        along = x[None] * cos + y[None] * sin
        weight = np.zeros((n,) + x.shape, dtype=np.float32)
        kind = np.asarray(BACKGROUNDS)[s.background]
        gradient = kind == "gradient"
        weight[gradient] = np.clip(along[gradient] / np.sqrt(2) + 0.25, 0, 1)
        stripes = kind == "stripes"
        weight[stripes] = np.floor(along[stripes] * 8) % 2
        noise = kind == "smooth_noise"
        if noise.any():
            weight[noise] = _smooth_hash_noise(s.seed[noise], x.shape[0])
        canvas = first * (1 - weight[:, None]) + second * weight[:, None]
        clutter = np.flatnonzero(kind == "clutter")
        for i in clutter:  # a few small discs of the second colour, placed by the image's seed
            centres = _hash(np.arange(12), s.seed[i]).reshape(6, 2)
            radius = 0.03 + 0.03 * _hash(np.arange(6), s.seed[i] + np.uint32(1))
            spots = ((x[None] - centres[:, 0, None, None]) ** 2 + (y[None] - centres[:, 1, None, None]) ** 2
                     <= radius[:, None, None] ** 2).any(axis=0)
            canvas[i] = np.where(spots[None], second[i], first[i])
        return canvas


def _smooth_hash_noise(seeds, size, cells=4):
    """Low-frequency noise in [0, 1]: hashed values on a coarse grid, bilinearly upsampled."""
    grid = _hash(np.arange((cells + 1) ** 2)[None, :], seeds[:, None]).reshape(-1, cells + 1, cells + 1)
    return bilinear(grid, (np.arange(size) + 0.5) / size * cells)


def _sample_rules(rng, part_names, n_classes, always):
    """Per class a DNF of 1-2 conjunctions of 1-3 parts, no conjunction inside another one.

    Parts are drawn from three quarters of the parts, so classes share parts (the parts of no
    conjunction are distractors only); where that pool runs out of conjunctions, from all.
    """
    candidates = [p for p in part_names if p not in always]
    pool = [str(p) for p in rng.choice(candidates, size=max(2, int(round(0.75 * len(candidates)))), replace=False)]
    for _ in range(100):  # a class that finds no conjunction clear of the others': draw them all again
        rules = _draw_rules(rng, pool, candidates, n_classes)
        if rules is not None:
            return rules
    raise RuntimeError(f"no {n_classes} classes with conjunctions that lie inside no other; use fewer classes.")


def _draw_rules(rng, pool, candidates, n_classes):
    taken, rules = [], []
    for _c in range(n_classes):
        terms = []
        for _t in range(1 if rng.rand() < 0.6 else 2):
            for attempt in range(60):
                source = pool if attempt < 30 else candidates
                size = min(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]), len(source))
                term = frozenset(str(p) for p in rng.choice(source, size=size, replace=False))
                if all(not (term <= other or other <= term) for other in taken):
                    taken.append(term)
                    terms.append(tuple(sorted(term)))
                    break
        if not terms:
            return None
        rules.append(tuple(terms))
    return tuple(rules)


def sample_world(seed, image_size=64, *, shortcut=None):
    """Draw a world of part-composed objects from seed ``seed``.

    The distribution of worlds:

    - **Parts**: 6-20 kinds besides the body (part id 1, on every object). Each kind has a shape
      (ellipse, box, triangle, diamond, ring), a texture (solid, stripes, dots, per-pixel
      noise), a hue (instances jitter it by 0.02 and their brightness by up to 25%), a size
      (a half size of 0.18-0.38 body units along each of its axes), a place of its own on the
      body (six places) or around it (fourteen, on an ellipse of 1.45 by 1 body units), a turn
      and a layer: parts of a higher layer occlude those
      below where they overlap. With probability 0.5 one more kind is on every object.
    - **Objects**: turned at random, a body half length of 0.17-0.31 of the image side, placed
      anywhere they (mostly) fit; each part's anchor jitters (s.d. 0.08 body units) and its size
      by ±15%. Poses are drawn again (up to 20 times) until every present part shows at least
      30% of its own area.
    - **Classes**: 3-8, each with a DNF of 1-2 conjunctions of 1-3 parts, drawn from three
      quarters of the kinds, so classes share parts; no conjunction lies inside another
      class's one. An object satisfies one conjunction of its class and no other class's; every
      other part appears as a distractor with probability 0.25-0.6 (the world's rate) where it
      completes no other class's rule.
    - **Backgrounds**: 1-3 of uniform, gradient, smooth noise, stripes and clutter (small discs),
      in two muted colours per image.
    - **Shortcut** (optional): ``shortcut=(class, rate, contrast)`` gives that class's images a
      background of one hue at ``rate``; every other background keeps its hues at least
      ``contrast`` away from it. The world is otherwise the one the seed draws without it.

    Parameters
    ----------
    seed : int
        The world; the same seed gives the same world on every machine.
    image_size : int, default=64
        Side of the square images, 16 to 224 pixels.
    shortcut : tuple (int, float, float), default=None
        ``(class, rate, contrast)``, see above.

    Returns
    -------
    world : PartWorld
    """
    if not 16 <= image_size <= 224:
        raise ValueError(f"image_size must lie between 16 and 224, got {image_size}.")
    rng = np.random.RandomState(seed)
    n_kinds = rng.randint(6, 21)
    hues = (rng.rand() + np.arange(n_kinds) / n_kinds + rng.uniform(-0.2, 0.2, n_kinds) / n_kinds) % 1.0
    body_texture = str(rng.choice(TEXTURES[:2]))
    kinds = [PartKind("body", "ellipse", body_texture, float(rng.rand()), 0.15, (1.0, 0.6), (0.0, 0.0), 0.0, 0)]
    slots = _SLOTS[rng.permutation(len(_SLOTS))[:n_kinds]]  # one place per kind, so that kinds rarely cover each other
    for k in range(n_kinds):
        shape, texture = SHAPES[rng.randint(len(SHAPES))], TEXTURES[rng.randint(len(TEXTURES))]
        kinds.append(PartKind(
            f"{shape}_{texture}_{k + 1}", shape, texture, float(hues[k]), float(rng.uniform(0.5, 0.95)),
            (float(rng.uniform(0.18, 0.38)), float(rng.uniform(0.18, 0.38))),
            (float(slots[k, 0]), float(slots[k, 1])), float(rng.uniform(-np.pi, np.pi)),
            int(rng.randint(1, 4)),
        ))
    names = [kind.name for kind in kinds[1:]]
    always = ("body",) + ((names[rng.randint(len(names))],) if rng.rand() < 0.5 else ())
    n_classes = rng.randint(3, 9)
    rules = _sample_rules(rng, names, n_classes, always)
    backgrounds = tuple(sorted((str(b) for b in rng.choice(BACKGROUNDS, size=rng.randint(1, 4), replace=False)),
                               key=BACKGROUNDS.index))
    distractor_rate = float(rng.uniform(0.25, 0.6))
    cut = None
    if shortcut is not None:  # drawn last: with or without a shortcut, a seed is the same world
        target, rate, contrast = shortcut
        if not 0 <= target < n_classes:
            raise ValueError(f"the shortcut's class must be one of the world's {n_classes} classes, got {target}.")
        cut = Shortcut(int(target), float(rate), float(rng.rand()), float(contrast))
    return PartWorld(
        seed=int(seed), image_size=int(image_size), kinds=tuple(kinds),
        class_names=tuple(f"class_{c}" for c in range(n_classes)), rules=rules, always=always,
        distractor_rate=distractor_rate, backgrounds=backgrounds, shortcut=cut,
    )


def make_part_world(n_samples=1000, *, world=0, image_size=64, shortcut=None, incomplete=0.0, random_state=None):
    """Images of a world of part-composed objects, with the scenes that draw them again.

    Parameters
    ----------
    n_samples : int, default=1000
    world : int or PartWorld, default=0
        A world's seed (see :func:`sample_world` for the distribution of worlds), or a world.
    image_size : int, default=64
    shortcut : tuple (int, float, float), default=None
        ``(class, rate, contrast)``: a background cue for one class (see :func:`sample_world`).
    incomplete : float, default=0.0
        Share of images of none of the classes (``target`` −1): an object of a class drawn
        without one part of its conjunction (truly absent: what lay behind it shows), where
        what remains completes no class's conjunction. They teach a model that a class needs
        its whole conjunction (see :func:`~skpartx.models.train_classifier`). Their scenes
        keep the class the object was drawn as (``data.scenes.target``), which chose its
        background. The complete images are the same as with ``incomplete=0``.
    random_state : int, RandomState or None
        The images drawn from the world.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images`` (float32, ``(n, 3, H, W)``), ``masks`` (part ids), ``target``,
        ``part_names``, ``target_names``, ``rules`` (per class its DNF), ``scenes`` and
        ``world``: ``data.world.render(data.scenes, keep)`` draws the same images with the
        parts ``keep`` leaves out truly absent.
    """
    if not 0.0 <= incomplete < 1.0:
        raise ValueError(f"incomplete must lie in [0, 1), got {incomplete}.")
    if not isinstance(world, PartWorld):
        world = sample_world(world, image_size, shortcut=shortcut)
    rng = check_random_state(random_state)
    scenes = world.sample(n_samples, rng)
    target = scenes.target.astype(np.int64)
    if incomplete > 0:  # drawn after the scenes, so that the complete images stay those of incomplete=0
        rows = rng.permutation(n_samples)[: int(round(incomplete * n_samples))]
        present = scenes.present.copy()
        for i in rows:
            removable = world.rule_parts_to_remove(scenes.target[i], present[i])
            if removable:
                present[i, removable[rng.randint(len(removable))]] = False
                target[i] = -1
        scenes = replace(scenes, present=present)
    images, masks = world.render(scenes)
    return Bunch(images=images, masks=masks, target=target, part_names=world.part_names,
                 target_names=world.class_names, rules=world.rules, scenes=scenes, world=world)
