"""fastnn's benchmark suite (asv) and its side-by-side report.

* ``asv`` runs the suites in this package over commits (see README.md,
  "Benchmarks"); every suite has an ``impl`` parameter: ``fastnn``,
  ``reference`` (``fastnn.reference``, plain NumPy) and ``torch`` (PyTorch on
  the CPU, skipped where it cannot be imported).
* ``python -m benchmarks.report`` times the headline comparisons in one
  process, interleaved, and prints a table.

PyTorch is a yardstick only: nothing in ``fastnn`` imports it.
"""
