"""Helpers for part 4: superposition, memorisation and double descent (Henighan et al., 2023).

Two kinds of helper live here:

* `plot_features_in_2d` draws vectors in a 2-D hidden space (columns of W, or hidden datapoints
  h = W x), one subplot per instance.
* `test_*` functions check the functions you write in the exercises. Each one runs your function
  on inputs with known answers and checks properties the result must have. On success it prints
  one line; otherwise it raises an AssertionError that says what looks wrong and what the likely
  cause is. Your function gets copies of the check's inputs, and changing an input in place is
  reported by name.

The code lives in `double_descent.plot` and `double_descent.checks` (one module per exercise).
"""

from double_descent.checks import *  # noqa: F403 (the eleven `test_*` checks)
from double_descent.checks import __all__ as _CHECKS
from double_descent.plot import plot_features_in_2d

__all__ = ["plot_features_in_2d", *_CHECKS]
