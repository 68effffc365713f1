"""A deterministic, stratified train/test split that needs no random numbers."""
from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, test_every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: within each class, in file order, every ``test_every``-th sample is test.

    Both index arrays interleave the classes round-robin (sample 0 of class
    0, of class 1, ..., then sample 1 of each class, ...), so that any prefix
    of either set is balanced: data files sorted by class would otherwise
    hand the book's "first N samples" evaluation a single class. The result
    depends on the labels only: the same on every machine and NumPy version.
    """
    labels = np.asarray(labels)
    rank = np.empty(labels.shape[0], dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(idx.size)
    is_test = rank % test_every == test_every - 1
    order = np.lexsort((labels, rank))  # round-robin: by rank within the class, then class
    return order[~is_test[order]], order[is_test[order]]
