"""The optimizers' names, in one place: what ``fastnn.optimizer.OPTIMIZERS`` maps, the command line's
``--optimizer`` offers and ``fastnn tune`` searches over.

A module of its own, importing nothing, because the command line's
``--help`` (which must load neither NumPy nor numba) lists the names, and
``fastnn.optimizer`` loads both.
"""

__all__ = ["OPTIMIZER_NAMES"]

#: Lower-case names of fastnn's optimizers, the book's order (``common/trainer.py``'s keys).
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
