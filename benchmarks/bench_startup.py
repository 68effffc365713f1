"""Start-up latency, each sample in a fresh Python process (asv ``timeraw_``).

* ``timeraw_import_fastnn``: ``import fastnn`` (nothing compiles at import).
* ``timeraw_import_nets``: ``import fastnn.nets, fastnn.optimizer`` (the
  modules a training script needs; numba is imported, nothing compiled).
* ``FirstStep.timeraw_first_step``: in a fresh process, import fastnn, build
  the net and run one training step (forward, backward, Adam), in float32.
  ``cache='warm'``: numba's on-disk cache already holds the kernels (the
  state after any earlier run; ``setup`` makes sure of it); ``cache='cold'``:
  an empty ``NUMBA_CACHE_DIR``, so every kernel the step needs compiles.
"""
import os
import subprocess
import sys
import tempfile
import textwrap

from ._common import THREADS, need

THREAD_ENV = {"OPENBLAS_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS),
              "OMP_NUM_THREADS": str(THREADS), "NUMBA_NUM_THREADS": str(THREADS)}


def timeraw_import_fastnn():
    return "import fastnn"


timeraw_import_fastnn.env = THREAD_ENV


def timeraw_import_nets():
    return "import fastnn.nets, fastnn.optimizer"


timeraw_import_nets.env = THREAD_ENV

_DATA = """
import numpy as np
rng = np.random.default_rng(0)
x = rng.random({shape}, dtype=np.float32)
t = rng.integers(0, 10, size={batch})
"""

_STEP = """
from fastnn.nets import {net}
from fastnn.optimizer import Adam
net = {net}({args}dtype=np.float32)
opt = Adam()
opt.update(net.params, net.gradient(x, t))
"""

_NETS = {
    "TwoLayerNet": ("784, 50, 10, ", (100, 784)),
    "SimpleConvNet": ("", (100, 1, 28, 28)),
}

_COLD = """
import atexit, os, shutil, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastnn-cold-cache-")
atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], True)
"""


class FirstStep:
    param_names = ["net", "cache"]
    params = [list(_NETS), ["warm", "cold"]]
    env = THREAD_ENV
    number = 1
    repeat = (1, 3, 120.0)
    timeout = 600

    def _code(self, net):
        args, shape = _NETS[net]
        setup = _DATA.format(shape=shape, batch=shape[0])
        return setup, _STEP.format(net=net, args=args)

    def setup(self, net, cache):
        need("fastnn.nets", net)
        if cache == "warm":  # fill numba's cache (a no-op when it is full already)
            setup, stmt = self._code(net)
            env = dict(os.environ, **THREAD_ENV)
            subprocess.run([sys.executable, "-c", setup + stmt], check=True, env=env,
                           cwd=tempfile.gettempdir())

    def timeraw_first_step(self, net, cache):
        setup, stmt = self._code(net)
        if cache == "cold":
            setup = _COLD + setup
        return textwrap.dedent(stmt), textwrap.dedent(setup)
