"""The chapter 2 gates: exact truth tables, and clear errors for what is not a number."""
import itertools

import numpy as np
import pytest

from fastnn.perceptron import AND, NAND, OR, XOR, perceptron

INPUTS = list(itertools.product((0, 1), repeat=2))
TABLES = {
    AND: (0, 0, 0, 1),
    NAND: (1, 1, 1, 0),
    OR: (0, 1, 1, 1),
    XOR: (0, 1, 1, 0),
}


@pytest.mark.parametrize("gate", list(TABLES), ids=lambda g: g.__name__)
def test_truth_table(gate):
    got = tuple(gate(x1, x2) for x1, x2 in INPUTS)
    assert got == TABLES[gate]
    assert all(type(v) is int for v in got)


@pytest.mark.parametrize("gate", list(TABLES), ids=lambda g: g.__name__)
def test_numpy_and_float_inputs_give_the_same_table(gate):
    got = tuple(gate(np.float32(x1), np.int64(x2)) for x1, x2 in INPUTS)
    assert got == TABLES[gate]
    got = tuple(gate(float(x1), bool(x2)) for x1, x2 in INPUTS)
    assert got == TABLES[gate]


def test_perceptron_fires_only_above_zero():
    assert perceptron(1, 1, 0.5, 0.5, -1.0) == 0  # exactly 0 does not fire
    assert perceptron(1, 1, 0.5, 0.5, -0.9) == 1


@pytest.mark.parametrize("bad, exc", [("1", TypeError), (None, TypeError), ([1, 0], TypeError),
                                      (float("nan"), ValueError), (np.inf, ValueError)])
def test_rejects_bad_input(bad, exc):
    with pytest.raises(exc, match="x1 must be"):
        AND(bad, 1)
