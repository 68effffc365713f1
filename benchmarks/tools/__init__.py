"""Command-line tools beside the asv suite (they are not asv benchmarks).

* ``python -m benchmarks.tools.report``: the side-by-side speed report, each
  implementation timed in a fresh process of its own;
* ``python -m benchmarks.tools.overhead``: a dense net's step split into its
  numba kernels and the layer code around them;
* ``python -m benchmarks.tools.inference``: predict beside onnxruntime and
  PyTorch;
* ``python -m benchmarks.tools.layer_peers``: every asv layer suite's
  ``fastnn`` beside its ``fastnn.reference`` twin, each in a fresh process of
  its own;
* ``python -m benchmarks.tools.book_scripts``: the book's chapter 4-7
  training scripts (``benchmarks/book/``) with the book's own code and
  through ``python -m fastnn.compat``, each run a fresh process; ``--profile``
  says where each run's time goes.

Run them from the repository root (they import the ``benchmarks`` package
beside ``fastnn``).
"""
