"""The one per-class split of a labelled set: mnist5k's and digits' test sets, ``fastnn tune``'s and the
Trainer's validation sets all come from ``split_per_class``."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .._random import as_generator


def split_per_class(labels, fraction, seed=None, name: str = "validation") -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)``: within each class, ``fraction`` of its samples (rounded down) held out.

    ``seed=None``: no random numbers — within each class, in file order,
    the samples where the running count of held-out ones steps up (for
    fraction 1/5: every fifth), the same samples on every machine and NumPy
    version. ``seed`` an int or a ``numpy.random.Generator`` (fastnn's seed
    rule): a random choice per class instead.

    Both index arrays interleave the classes round-robin (sample 0 of class
    0, of class 1, ..., then sample 1 of each class, ...), so that any prefix
    of either set is balanced: data files sorted by class would otherwise
    hand the book's "first N samples" evaluation a single class.

    ``labels``: class numbers (N,) or one-hot rows (N, classes). Raises
    ``ValueError`` (naming ``name``) for a fraction outside (0, 1) or one
    that would leave a class with no sample on either side.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating, np.integer, Fraction)) \
            or not 0 < float(fraction) < 1:
        raise ValueError(f"{name} must be a fraction strictly between 0 and 1 (such as 0.1), got {fraction!r}")
    frac = Fraction(float(fraction)).limit_denominator(10 ** 6) if not isinstance(fraction, Fraction) else fraction
    p, q = frac.numerator, frac.denominator
    rng = None
    if seed is not None:
        rng = as_generator(seed, "seed")
    n = labels.shape[0]
    rank = np.empty(n, dtype=np.int64)
    held = np.zeros(n, dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(idx.size)
        r = np.arange(idx.size)
        chosen = ((r + 1) * p) // q > (r * p) // q            # the count floor(k p / q) steps up at k = r + 1
        if rng is not None:
            chosen = np.zeros(idx.size, dtype=bool)
            chosen[rng.choice(idx.size, size=(idx.size * p) // q, replace=False)] = True
        if not chosen.any() or chosen.all():
            raise ValueError(f"{name}={float(fraction):g} leaves class {c} ({idx.size} samples) with "
                             f"{'no held-out' if not chosen.any() else 'no remaining'} sample; give a "
                             f"{'larger' if not chosen.any() else 'smaller'} fraction")
        held[idx] = chosen
    order = np.lexsort((labels, rank))  # round-robin: by rank within the class, then class
    return order[~held[order]], order[held[order]]


def stratified_split(labels: np.ndarray, test_every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``split_per_class(labels, 1 / test_every)``: every ``test_every``-th sample of each class held out."""
    return split_per_class(labels, Fraction(1, test_every), name="test_every")
