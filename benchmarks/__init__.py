"""fastnn's benchmark suite (asv); its command-line tools are in ``benchmarks.tools``.

* ``asv`` runs the suites in this package over commits (see README.md,
  "Benchmarks"); every suite has an ``impl`` parameter, ``fastnn`` or
  ``reference`` (``fastnn.reference``, plain NumPy), and a ``<Suite>Torch``
  twin times PyTorch on the CPU in processes of its own (skipped where it
  cannot be imported).
* ``python -m benchmarks.tools.report`` times the headline comparisons, each
  implementation in a fresh process of its own, and prints a table.

PyTorch is a yardstick only: nothing in ``fastnn`` imports it.
"""
