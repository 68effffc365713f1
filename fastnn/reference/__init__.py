"""Plain-NumPy twins of every fastnn kernel: the test oracle and the benchmark baseline.

Written for reading, not for speed: each function is the textbook formula in
NumPy, computed in the dtype of its input (float64 in, float64 out; float32
in, float32 out). This package depends on NumPy only. Its modules mirror
``fastnn.kernels``; every public name is re-exported here.
"""
from .activation import *  # noqa: F401,F403
from .augment import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .half import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .softmax import *  # noqa: F401,F403
from .winograd import *  # noqa: F401,F403
