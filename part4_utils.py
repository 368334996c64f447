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

from double_descent.checks import (
    test_calculate_loss,
    test_cosine_decay_lr,
    test_dimensionality,
    test_evaluate_test_loss,
    test_generate_batch,
    test_hidden_datapoints,
    test_linear_warmup_lr,
    test_pick_best,
    test_toy_model,
    test_train,
    test_warmup_cosine_lr,
)
from double_descent.plot import plot_features_in_2d

__all__ = [
    "plot_features_in_2d",
    "test_linear_warmup_lr",
    "test_cosine_decay_lr",
    "test_warmup_cosine_lr",
    "test_generate_batch",
    "test_toy_model",
    "test_calculate_loss",
    "test_train",
    "test_dimensionality",
    "test_evaluate_test_loss",
    "test_pick_best",
    "test_hidden_datapoints",
]
