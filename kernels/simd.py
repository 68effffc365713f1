"""Register-tiled vector arithmetic for numba: one microkernel as an LLVM intrinsic.

numba's loops leave it to LLVM whether an accumulator tile stays in
registers across a long inner loop; for a convolution's outer products they
mostly do not (the accumulators live in memory, or the vectorizer picks a
narrower width). ``tile_fma`` writes the loop itself, in LLVM IR, with one
SSA vector value per accumulator: an ``RW x OB`` tile of ``L``-lane vectors
(``<L x float>``/``<L x double>``, one machine register each at the CPU's
vector width) held across the whole loop, every step one ``llvm.fma`` per
accumulator. Explicit vector types are lowered at their own width whatever
the auto-vectorizers prefer: on AVX-512 CPUs whose LLVM tuning prefers
256-bit vectors this code still gets 512-bit registers, and nothing else in
the process is compiled differently.

``fma_peak`` is the calibration loop: independent FMAs on registers only,
the core's measured FMA rate, so that a kernel's "fraction of peak" is a
measurement (``benchmarks/tools/microkernel.py``).

Shapes, strides and offsets are in elements; the caller guarantees every
address in range (the kernels above trust their input).
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import njit

__all__ = ["tile_fma", "fma_peak"]


def _literal(t):
    return t.literal_value if isinstance(t, types.IntegerLiteral) else None


def _fma_function(builder, vt):
    width = 32 if vt.element == ir.FloatType() else 64
    fnty = ir.FunctionType(vt, [vt, vt, vt])
    return cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fma.v{vt.count}f{width}")


def _vector_at(builder, base, index, vt):
    return builder.bitcast(builder.gep(base, [index]), vt.as_pointer())


@intrinsic(prefer_literal=True)
def tile_fma(typingctx, acc, x, xoff, xr, xj, w, woff, wj, wo, nj, rw, ob, lanes):
    """acc[(r*OB + o)*L : +L] += sum over j < nj of x[xoff + r*XR + j*xj] * w[woff + j*wj + o*wo : +L].

    ``acc``, ``x``, ``w``: 1-D C-contiguous arrays of one float dtype.
    ``xr`` (XR), ``rw`` (RW), ``ob`` (OB) and ``lanes`` (L) must be
    compile-time integers (numba literals); the rest are run-time. The
    tile's RW*OB accumulators are loaded from ``acc`` once, kept in vector
    registers through the loop over j (each step: OB vector loads of ``w``,
    RW scalar loads of ``x`` broadcast to all lanes, RW*OB fused
    multiply-adds), and stored back once.
    """
    XR, RW, OB, L = _literal(xr), _literal(rw), _literal(ob), _literal(lanes)
    if None in (XR, RW, OB, L):
        return None
    arrays = (acc, x, w)
    if not all(isinstance(a, types.Array) and a.ndim == 1 for a in arrays):
        return None
    if not (acc.dtype == x.dtype == w.dtype) or acc.dtype not in (types.float32, types.float64):
        return None
    sig = types.void(acc, x, types.intp, xr, types.intp, w, types.intp, types.intp, types.intp,
                     types.intp, rw, ob, lanes)

    def codegen(context, builder, signature, args):
        acc_data = context.make_array(signature.args[0])(context, builder, args[0]).data
        x_data = context.make_array(signature.args[1])(context, builder, args[1]).data
        w_data = context.make_array(signature.args[5])(context, builder, args[5]).data
        xoff, xj, woff, wj, wo, nj = args[2], args[4], args[6], args[7], args[8], args[9]
        vt = ir.VectorType(context.get_value_type(signature.args[0].dtype), L)
        i64 = ir.IntType(64)
        fma = _fma_function(builder, vt)
        splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), L), [0] * L)
        lane0 = ir.Constant(ir.IntType(32), 0)
        undef = ir.Constant(vt, ir.Undefined)

        start = [builder.load(_vector_at(builder, acc_data, ir.Constant(i64, t * L), vt), align=4)
                 for t in range(RW * OB)]
        entry = builder.block
        head = builder.append_basic_block("tile.head")
        body = builder.append_basic_block("tile.body")
        done = builder.append_basic_block("tile.done")
        builder.branch(head)

        builder.position_at_end(head)
        j = builder.phi(i64)
        j.add_incoming(ir.Constant(i64, 0), entry)
        tile = []
        for value in start:
            phi = builder.phi(vt)
            phi.add_incoming(value, entry)
            tile.append(phi)
        builder.cbranch(builder.icmp_signed("<", j, nj), body, done)

        builder.position_at_end(body)
        xbase = builder.add(xoff, builder.mul(j, xj))
        wbase = builder.add(woff, builder.mul(j, wj))
        wvec = [builder.load(_vector_at(builder, w_data, builder.add(wbase, builder.mul(ir.Constant(i64, o), wo)),
                                        vt), align=4) for o in range(OB)]
        updated = []
        for r in range(RW):
            s = builder.load(builder.gep(x_data, [builder.add(xbase, ir.Constant(i64, r * XR))]), align=4)
            v = builder.insert_element(undef, s, lane0)
            v = builder.shuffle_vector(v, undef, splat_mask)
            for o in range(OB):
                updated.append(builder.call(fma, [v, wvec[o], tile[r * OB + o]]))
        j.add_incoming(builder.add(j, ir.Constant(i64, 1)), builder.block)
        for phi, value in zip(tile, updated):
            phi.add_incoming(value, builder.block)
        builder.branch(head)

        builder.position_at_end(done)
        for t, phi in enumerate(tile):
            builder.store(phi, _vector_at(builder, acc_data, ir.Constant(i64, t * L), vt), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def _independent_fmas(typingctx, buf, n, lanes):
    """12 independent L-lane FMA chains, ``n`` steps each, on registers only; the results stored into buf."""
    L = _literal(lanes)
    if L is None or not isinstance(buf, types.Array) or buf.dtype not in (types.float32, types.float64):
        return None
    chains = 12
    sig = types.void(buf, types.intp, lanes)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        vt = ir.VectorType(context.get_value_type(signature.args[0].dtype), L)
        i64 = ir.IntType(64)
        fma = _fma_function(builder, vt)
        a = builder.load(_vector_at(builder, data, ir.Constant(i64, 0), vt), align=4)
        b = builder.load(_vector_at(builder, data, ir.Constant(i64, L), vt), align=4)
        c0 = builder.load(_vector_at(builder, data, ir.Constant(i64, 2 * L), vt), align=4)
        entry = builder.block
        head = builder.append_basic_block("peak.head")
        body = builder.append_basic_block("peak.body")
        done = builder.append_basic_block("peak.done")
        builder.branch(head)
        builder.position_at_end(head)
        i = builder.phi(i64)
        i.add_incoming(ir.Constant(i64, 0), entry)
        accs = []
        for _ in range(chains):
            phi = builder.phi(vt)
            phi.add_incoming(c0, entry)
            accs.append(phi)
        builder.cbranch(builder.icmp_signed("<", i, args[1]), body, done)
        builder.position_at_end(body)
        new = [builder.call(fma, [a, b, acc]) for acc in accs]
        i.add_incoming(builder.add(i, ir.Constant(i64, 1)), builder.block)
        for phi, value in zip(accs, new):
            phi.add_incoming(value, builder.block)
        builder.branch(head)
        builder.position_at_end(done)
        for t, phi in enumerate(accs):
            builder.store(phi, _vector_at(builder, data, ir.Constant(i64, (3 + t) * L), vt), align=4)
        return context.get_dummy_value()

    return sig, codegen


#: Independent FMA chains in ``fma_peak``: more than latency x FMA units on every x86 core of today.
PEAK_CHAINS = 12


_peaks = {}   # lanes -> the calibration kernel, made once per process


def fma_peak(lanes):
    """The calibration kernel ``peak(buf, n)`` for ``lanes``-wide vectors: ``n`` steps of PEAK_CHAINS
    independent FMAs, n * PEAK_CHAINS * lanes multiply-adds.

    ``buf`` (at least (3 + PEAK_CHAINS) * lanes elements): a = buf[:L],
    b = buf[L:2L], every chain starts at buf[2L:3L]; chain i ends in
    buf[(3 + i)L:(4 + i)L] (stored, so that nothing is optimised away).
    """

    kernel = _peaks.get(lanes)
    if kernel is None:
        @njit(cache=True, nogil=True)
        def peak(buf, n):
            _independent_fmas(buf, n, lanes)

        kernel = _peaks[lanes] = peak
    return kernel
