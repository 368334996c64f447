"""What every check must do with any input, shown on the reference solution of every exercise.

The references come from the course source (`course_reference`); other `test_checks_*` files
import them from here. The tests here hold for all checks: the reference passes with exactly
one line of output, the global random state is left as found, the student's printing,
grad-tracking tensors or grad mode don't break a check, and a placeholder, a missing return or
a non-callable is named.
"""

from collections.abc import Callable

import einops
import pytest
import torch
from course_reference import (
    ToyModel,
    calculate_loss,
    cosine_decay_lr,
    dimensionality,
    evaluate_test_loss,
    generate_batch,
    hidden_datapoints,
    linear_warmup_lr,
    pick_best,
    train,
    warmup_cosine_lr,
)
from torch import Tensor

import part4_utils as utils


def run_train_check(train_fn: Callable) -> None:
    """`test_train` with the reference model, so a training loop can be checked on its own."""
    utils.test_train(train_fn, ToyModel)


CHECKED = {
    "test_linear_warmup_lr": (utils.test_linear_warmup_lr, linear_warmup_lr),
    "test_cosine_decay_lr": (utils.test_cosine_decay_lr, cosine_decay_lr),
    "test_warmup_cosine_lr": (utils.test_warmup_cosine_lr, warmup_cosine_lr),
    "test_generate_batch": (utils.test_generate_batch, generate_batch),
    "test_toy_model": (utils.test_toy_model, ToyModel),
    "test_calculate_loss": (utils.test_calculate_loss, calculate_loss),
    "test_train": (run_train_check, train),
    "test_dimensionality": (utils.test_dimensionality, dimensionality),
    "test_evaluate_test_loss": (utils.test_evaluate_test_loss, evaluate_test_loss),
    "test_pick_best": (utils.test_pick_best, pick_best),
    "test_hidden_datapoints": (utils.test_hidden_datapoints, hidden_datapoints),
}
"""Every check, as a one-argument callable, with the reference it must accept."""


@pytest.mark.parametrize("name", CHECKED)
def test_reference_passes_with_one_line(name: str, capsys) -> None:
    check, reference = CHECKED[name]
    check(reference)
    assert capsys.readouterr().out.strip() == f"All tests in `{name}` passed!"


@pytest.mark.parametrize("name", CHECKED)
def test_global_random_state_is_left_as_found(name: str) -> None:
    check, reference = CHECKED[name]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    check(reference)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", CHECKED)
def test_checks_work_under_no_grad(name: str) -> None:
    check, reference = CHECKED[name]
    with torch.no_grad():
        check(reference)


def printing(fn: Callable) -> Callable:
    """The same function (or class) with a student's debugging prints: 200 lines per call."""
    if isinstance(fn, type):
        return type(fn.__name__, (fn,), {"forward": printing(fn.forward)})

    def noisy(*args):
        for _ in range(200):
            print("debug", [getattr(a, "shape", a) for a in args[:2]])
        return fn(*args)

    return noisy


@pytest.mark.parametrize("name", CHECKED)
def test_heavy_printing_does_not_change_the_verdict(name: str, capsys) -> None:
    check, reference = CHECKED[name]
    check(printing(reference))
    assert capsys.readouterr().out.strip().endswith(f"All tests in `{name}` passed!")


def test_grad_mode_is_left_as_found() -> None:
    """The checks switch grad mode on where they need it, and restore it afterwards."""
    for enabled in (True, False):
        with torch.set_grad_enabled(enabled):
            for check, reference in CHECKED.values():
                check(reference)
            assert torch.is_grad_enabled() == enabled


@pytest.mark.parametrize("name", CHECKED)
def test_inputs_that_require_grad_are_handled(name: str) -> None:
    """Functions that return grad-tracking results (students forget .detach()) still pass."""
    check, reference = CHECKED[name]
    if isinstance(reference, type) or name == "test_train":
        pytest.skip("the model and the loop own their parameters")

    def keeps_grad(*args):
        result = reference(*args)
        if isinstance(result, Tensor) and result.is_floating_point():
            return result + 0.0 * torch.zeros((), requires_grad=True)
        return result

    check(keeps_grad)


@pytest.mark.parametrize("name", CHECKED)
def test_placeholder_is_named(name: str) -> None:
    check, _ = CHECKED[name]

    def placeholder(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="NotImplementedError") as failure:
        check(placeholder)
    assert failure.traceback[-1].name == name, "the last frame must be the check's"


@pytest.mark.parametrize("name", CHECKED)
def test_returning_none_is_named(name: str) -> None:
    check, reference = CHECKED[name]
    if isinstance(reference, type):
        pytest.skip("a class returns an instance")
    with pytest.raises(AssertionError, match="returned None"):
        check(lambda *args: None)


@pytest.mark.parametrize("name", CHECKED)
def test_not_callable_is_rejected(name: str) -> None:
    with pytest.raises(TypeError, match="fn"):
        CHECKED[name][0](42)


@pytest.mark.parametrize("name", CHECKED)
def test_checks_are_exported_and_not_collected(name: str) -> None:
    assert getattr(utils, name).__test__ is False
    assert name in utils.__all__ and callable(utils.plot_features_in_2d)


def test_the_notebook_pipeline_passes() -> None:
    """pick_best feeding hidden_datapoints, as the notebook uses them, on a model's W."""
    W = torch.nn.Parameter(torch.randn(3, 2, 6))
    data = torch.rand(5, 3, 6)
    W_best, data_best = pick_best(W, data, torch.tensor([0.3, 0.1, 0.2]))
    h = hidden_datapoints(W_best, data_best)
    assert h.shape == (5, 2)
    assert torch.allclose(h, einops.einsum(W[1], data[:, 1], "d f, b f -> b d"))
