"""Optuna, the optional extra behind ``fastnn tune``: imported when a study runs, never by ``import fastnn.tune``."""
from __future__ import annotations

import warnings

__all__ = ["import_optuna"]


def import_optuna():
    """Optuna, imported on first use and set up as fastnn runs it (``ImportError`` saying how to install it)."""
    try:
        import optuna  # an optional extra: imported only when a study runs
    except ImportError:
        raise ImportError("fastnn tune needs Optuna: pip install 'fastnn[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The journal storage and the heartbeat are marked experimental; fastnn pins what it relies on in its tests.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # fastnn runs the heartbeat itself around ask/tell (the budget needs ask/tell, not Study.optimize).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used", category=UserWarning)
    return optuna
