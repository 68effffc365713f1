"""fastnn._memory: glibc keeps a training step's big freed arrays, so the next step does not page-fault on them."""
import os
import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

PROBE = """
import resource, numpy as np, fastnn.layers, fastnn._memory as m
def cycle():  # like a step: several arrays of megabytes alive at once, then all freed
    arrays = [np.empty(size << 20, dtype=np.uint8) for size in (7, 7, 2, 7, 5)]
    for a in arrays:
        a.fill(1)
    del arrays
for _ in range(3):
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
print(m._applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def run_probe(**env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "FASTNN_MALLOC_TUNING"}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="the malloc settings are glibc's")
def test_freed_big_arrays_are_reused_without_page_faults():
    applied, faults = run_probe()
    assert applied
    # 20 cycles of 28 MiB of fresh pages would be ~143,000 faults.
    assert faults < 200, faults


@pytest.mark.skipif(not GLIBC, reason="the malloc settings are glibc's")
@pytest.mark.parametrize("env", [{"FASTNN_MALLOC_TUNING": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}])
def test_opt_out_and_user_settings_leave_malloc_alone(env):
    applied, _ = run_probe(**env)
    assert not applied


def test_applied_once_and_reports_the_same(monkeypatch):
    import fastnn.layers  # noqa: F401
    from fastnn import _memory

    first = _memory.apply_memory_policy()
    assert _memory.apply_memory_policy() is first
    assert first == (GLIBC and os.environ.get("FASTNN_MALLOC_TUNING", "1") != "0"
                     and not any(v in os.environ for v in _memory._GLIBC_MALLOC_VARS))
