"""Running test code in a process of its own (tests/ is on pytest's pythonpath: ``from isolated import run_isolated``)."""
import subprocess
import sys


def run_isolated(code: str, timeout: float = 120):
    """Run ``code`` in a fresh Python process (a kernel reading out of bounds kills only that one).

    Returns the CompletedProcess (text output); a crash shows as a negative returncode.
    """
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
