"""The check functions students call after each exercise, one module per thing they write.

- ``schedule``: ``test_linear_warmup_lr``, ``test_cosine_decay_lr``, ``test_warmup_cosine_lr``;
- ``data``: ``test_generate_batch``;
- ``model``: ``test_toy_model``, ``test_calculate_loss``;
- ``training``: ``test_train``;
- ``geometry``: ``test_dimensionality``, ``test_pick_best``, ``test_hidden_datapoints``;
- ``test_loss``: ``test_evaluate_test_loss``.

Each check runs the student's function on inputs with known answers and checks properties the
result must have. On success it prints one line; otherwise it raises an AssertionError that
says what looks wrong and what the likely cause is (``_core`` holds the shared machinery).
"""

from double_descent.checks.data import test_generate_batch
from double_descent.checks.geometry import (
    test_dimensionality,
    test_hidden_datapoints,
    test_pick_best,
)
from double_descent.checks.model import test_calculate_loss, test_toy_model
from double_descent.checks.schedule import (
    test_cosine_decay_lr,
    test_linear_warmup_lr,
    test_warmup_cosine_lr,
)
from double_descent.checks.test_loss import test_evaluate_test_loss
from double_descent.checks.training import test_train

__all__ = [
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
