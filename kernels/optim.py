"""Optimizer update rules: SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam.

Each kernel is one fused in-place pass over a parameter: it reads the
gradient and the optimizer state of element ``i``, writes the new state and
the new parameter value, and allocates nothing.

Arrays: ``param``, ``grad`` and the state arrays (``v``, ``h``, ``m``) are
1-D C-contiguous views of the same length and the same float dtype, float32
or float64 (the caller passes ``arr.reshape(-1)`` of a contiguous array, so
one compiled version serves every shape). ``param`` and the state arrays are
updated in place; ``grad`` is only read (it may even be ``param`` itself:
each element's gradient is read before that element is written).

Each kernel is built twice (``fastnn.kernels._twins``): ``name``, serial,
and ``name_parallel``, its loop spread over numba's threads, which the
optimizers take from ``fastnn._runtime.ELEMENTWISE_PARALLEL_ELEMENTS`` elements on; element-wise,
so the result does not depend on the build or the thread count.

Scalars: the hyperparameters are Python floats (float64), as the book keeps
them. Each kernel derives its coefficients from them in float64 *once*,
before the loop (so ``1 - beta2`` is exact to float64 and not
``float32(1) - float32(0.999)``), then converts them to the array dtype, so
the loop runs entirely in float32 for float32 arrays (a float64 scalar in
the loop would promote every operation to float64). ``EPS`` is the book's ``1e-7`` in the denominators.

``error_model="numpy"``: with numba's default ("python") every float
division carries a divide-by-zero check that raises, and ``np.sqrt`` stays a
libm call; both stop LLVM from vectorising the loop. Our denominators are
``sqrt(h) + 1e-7 > 0``, so the check never fires; without it the loops
vectorise, with bit-identical results (IEEE sqrt and division are correctly
rounded, scalar or vector). No ``fastmath``.

Subnormals. x86 arithmetic that reads or makes a subnormal number is many
times slower than normal arithmetic. A state entry whose gradient has become
0 (a dead ReLU unit's weights) decays geometrically (``m`` by ``beta1``,
Momentum's ``v`` by ``momentum``, RMSprop's ``h`` by ``decay_rate``) and
reaches the subnormal range after a few hundred steps in float32; the square
of a gradient below about 1e-19 is subnormal in float32 too. So every
stateful kernel flushes, per element:

* a state value of magnitude below ``SMALL`` (2**-100 in float32, 2**-900 in
  float64) to 0, and
* the square of a gradient of magnitude below ``sqrt(SMALL)`` to 0 (the
  gradient itself is still used where it is not squared).

What this changes against the book's rule (``fastnn.reference.optim``): a
flushed ``m`` or ``v`` (Momentum/Nesterov) moves the parameter by less than
``lr * SMALL / 1e-7`` (about 1e-26 in float32 at lr 0.001); a flushed ``h``
or Adam ``v`` changes ``sqrt(h) + 1e-7`` by a relative amount below
``sqrt(SMALL) / 1e-7`` (9e-9 in float32, under half a float32 ulp). Tested
against the reference (``tests/test_optimizer.py``); the speed is shown by
``bench_nets.LongTraining``.

The rules, exactly in the book's order of operations (common/optimizer.py):

* SGD:       p -= lr * g
* Momentum:  v = momentum * v - lr * g;  p += v
* Nesterov:  p += momentum**2 * v;  p -= (1 + momentum) * lr * g;
             v = momentum * v - lr * g
             (the parameter takes the *old* velocity, then the velocity is
             updated: Bengio et al.'s form, as the book has it since 2021)
* AdaGrad:   h += g * g;  p -= lr * g / (sqrt(h) + EPS)
* RMSprop:   h *= decay_rate;  h += (1 - decay_rate) * g * g;
             p -= lr * g / (sqrt(h) + EPS)
* Adam:      m += (1 - beta1) * (g - m);  v += (1 - beta2) * (g * g - v);
             p -= lr_t * m / (sqrt(v) + EPS), where the caller computes
             lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t) for step t.
"""
import numpy as np
from numba import prange

from ._jit import njit
from ._twins import serial_and_parallel

EPS = 1e-7
#: Magnitudes below which a state value is flushed to 0 (see the module docstring).
SMALL_FLOAT32 = 2.0 ** -100
SMALL_FLOAT64 = 2.0 ** -900


@njit(cache=True)
def _small(dt):
    """(SMALL, sqrt(SMALL)) in the dtype ``dt`` (a NumPy scalar type): 2**-100 for float32, 2**-900 for float64."""
    if dt(1e-300) == dt(0):  # float32: 1e-300 underflows
        return dt(SMALL_FLOAT32), dt(2.0 ** -50)
    return dt(SMALL_FLOAT64), dt(2.0 ** -450)


def sgd_update(param, grad, lr):
    """param -= lr * grad, in place. Shapes (n,)."""
    step = param.dtype.type(lr)
    for i in prange(param.size):
        param[i] -= step * grad[i]


def momentum_update(param, grad, v, lr, momentum):
    """v = momentum * v - lr * grad; param += v. In place; shapes (n,)."""
    dt = param.dtype.type
    mu = dt(momentum)
    step = dt(lr)
    zero = dt(0)
    small, _ = _small(dt)
    for i in prange(param.size):
        g = grad[i]
        vi = mu * v[i] - step * g
        vi = vi if abs(vi) >= small else zero
        v[i] = vi
        param[i] += vi


def nesterov_update(param, grad, v, lr, momentum):
    """param += momentum² v_old - (1 + momentum) lr grad; then v = momentum v_old - lr grad.

    In place; shapes (n,).
    """
    dt = param.dtype.type
    mu = dt(momentum)
    step = dt(lr)
    mu2 = dt(momentum * momentum)
    gstep = dt((1.0 + momentum) * lr)
    zero = dt(0)
    small, _ = _small(dt)
    for i in prange(param.size):
        g = grad[i]
        vi = v[i]
        param[i] = (param[i] + mu2 * vi) - gstep * g
        vi = mu * vi - step * g
        v[i] = vi if abs(vi) >= small else zero


def adagrad_update(param, grad, h, lr):
    """h += grad²; param -= lr * grad / (sqrt(h) + 1e-7). In place; shapes (n,)."""
    dt = param.dtype.type
    step = dt(lr)
    eps = dt(EPS)
    zero = dt(0)
    _, small_g = _small(dt)
    for i in prange(param.size):
        g = grad[i]
        gs = g if abs(g) >= small_g else zero
        hi = h[i] + gs * gs
        h[i] = hi
        param[i] -= step * g / (np.sqrt(hi) + eps)


def rmsprop_update(param, grad, h, lr, decay_rate):
    """h = decay_rate h + (1 - decay_rate) grad²; param -= lr grad / (sqrt(h) + 1e-7).

    In place; shapes (n,).
    """
    dt = param.dtype.type
    step = dt(lr)
    keep = dt(decay_rate)
    gain = dt(1.0 - decay_rate)
    eps = dt(EPS)
    zero = dt(0)
    small, small_g = _small(dt)
    for i in prange(param.size):
        g = grad[i]
        gs = g if abs(g) >= small_g else zero
        hi = h[i] * keep
        hi += gain * gs * gs
        hi = hi if hi >= small else zero
        h[i] = hi
        param[i] -= step * g / (np.sqrt(hi) + eps)


def adam_update(param, grad, m, v, lr_t, beta1, beta2):
    """m += (1-beta1)(grad - m); v += (1-beta2)(grad² - v); param -= lr_t m / (sqrt(v) + 1e-7).

    ``lr_t`` is the bias-corrected step of this update (see the module
    docstring). In place; shapes (n,).
    """
    dt = param.dtype.type
    step = dt(lr_t)
    gain1 = dt(1.0 - beta1)
    gain2 = dt(1.0 - beta2)
    eps = dt(EPS)
    zero = dt(0)
    small, small_g = _small(dt)
    for i in prange(param.size):
        g = grad[i]
        mi = m[i]
        mi += gain1 * (g - mi)
        mi = mi if abs(mi) >= small else zero
        gs = g if abs(g) >= small_g else zero
        vi = v[i]
        vi += gain2 * (gs * gs - vi)
        vi = vi if vi >= small else zero
        m[i] = mi
        v[i] = vi
        param[i] -= step * mi / (np.sqrt(vi) + eps)


sgd_update, sgd_update_parallel = serial_and_parallel(sgd_update, error_model="numpy")
momentum_update, momentum_update_parallel = serial_and_parallel(momentum_update, error_model="numpy")
nesterov_update, nesterov_update_parallel = serial_and_parallel(nesterov_update, error_model="numpy")
adagrad_update, adagrad_update_parallel = serial_and_parallel(adagrad_update, error_model="numpy")
rmsprop_update, rmsprop_update_parallel = serial_and_parallel(rmsprop_update, error_model="numpy")
adam_update, adam_update_parallel = serial_and_parallel(adam_update, error_model="numpy")
