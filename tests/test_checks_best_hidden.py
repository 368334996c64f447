"""`test_pick_best` and `test_hidden_datapoints` name the mistakes students make.

Contracts (issue 11): pick_best(W, data, train_loss) -> (W[best], data[:, best]) with
best = train_loss.argmin(); hidden_datapoints(W, data) -> h = W x per datapoint, (batch, d).
"""

from collections.abc import Callable

import einops
import pytest
import torch
from test_checks_reference import hidden_datapoints, pick_best

import part4_utils as utils


def pick_index(W, data, train_loss):
    return train_loss.argmin()


def pick_argmax(W, data, train_loss):
    best = train_loss.argmax()
    return W[best], data[:, best]


def pick_datapoint(W, data, train_loss):
    best = train_loss.argmin()
    return W[best], data[best]


def pick_wrong_w_axis(W, data, train_loss):
    best = train_loss.argmin()
    return W[:, best], data[:, best]


def pick_transposed_w(W, data, train_loss):
    best = train_loss.argmin()
    return W[best].T, data[:, best]


def pick_swapped(W, data, train_loss):
    best = train_loss.argmin()
    return data[:, best], W[best]


def pick_sorts_in_place(W, data, train_loss):
    train_loss[:] = train_loss.sort().values
    best = train_loss.argmin()
    return W[best], data[:, best]


def pick_first_instance(W, data, train_loss):
    return W[0], data[:, 0]


PICK_BEST_MISTAKES = {
    "returns_index": (pick_index, "not its index"),
    "argmax": (pick_argmax, "argmin, not argmax"),
    "datapoint_instead_of_instance": (pick_datapoint, r"data\[best\] picks a datapoint"),
    "wrong_axis_of_W": (pick_wrong_w_axis, r"first axis, W\[best\]"),
    "transposed_W": (pick_transposed_w, "transpose"),
    "swapped_outputs": (pick_swapped, "weights first"),
    "sorts_the_losses_in_place": (pick_sorts_in_place, "modified its input `train_loss`"),
    "always_instance_0": (pick_first_instance, r"train_loss\.argmin\(\)"),
}


def hidden_transposed(W, data):
    return W @ data.T


def hidden_decoded(W, data):
    return data @ W.T @ W


def hidden_relu(W, data):
    return torch.relu(data @ W.T)


def hidden_abs(W, data):
    return (data @ W.T).abs()


def hidden_normalised(W, data):
    h = data @ W.T
    return h / h.norm(dim=-1, keepdim=True)


def hidden_with_bias(W, data):
    return data @ W.T + 0.1


def hidden_in_place(W, data):
    data *= 2
    return data @ W.T / 2


def hidden_assumes_two_dims(W, data):
    return torch.stack([data @ W[0], data @ W[1]], dim=-1)


def hidden_numpy(W, data):
    return (data @ W.T).detach().numpy()


HIDDEN_MISTAKES = {
    "transposed": (hidden_transposed, "transpose"),
    "decoded": (hidden_decoded, "decoded output"),
    "relu": (hidden_relu, "No ReLU in the hidden space"),
    "abs": (hidden_abs, "Don't take abs"),
    "normalised": (hidden_normalised, "Don't normalise"),
    "bias": (hidden_with_bias, "no other operation"),
    "mutates_data": (hidden_in_place, "modified its input `data`"),
    "assumes_two_hidden_dims": (hidden_assumes_two_dims, r"shape \(batch, d_hidden\)"),
    "returns_numpy": (hidden_numpy, "Return a torch.Tensor"),
}

CASES = [("pick_best", k, *v) for k, v in PICK_BEST_MISTAKES.items()]
CASES += [("hidden_datapoints", k, *v) for k, v in HIDDEN_MISTAKES.items()]
CHECKS = {"pick_best": utils.test_pick_best, "hidden_datapoints": utils.test_hidden_datapoints}


@pytest.mark.parametrize(
    ("check", "label", "fn", "match"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_mistake_is_named(check: str, label: str, fn: Callable, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        CHECKS[check](fn)


def test_results_with_or_without_grad_pass() -> None:
    """Students pass model.W: results that still require grad pass, and detached ones too."""
    utils.test_pick_best(lambda W, d, loss: (W[loss.argmin()] * 1.0, d[:, loss.argmin()]))
    utils.test_pick_best(lambda W, d, loss: (W[loss.argmin()].detach(), d[:, loss.argmin()]))
    utils.test_pick_best(lambda W, d, loss: list(pick_best(W, d, loss)))
    utils.test_hidden_datapoints(lambda W, d: hidden_datapoints(W, d))
    utils.test_hidden_datapoints(lambda W, d: hidden_datapoints(W.detach(), d))


def test_the_notebook_pipeline_passes() -> None:
    """pick_best feeding hidden_datapoints, as the notebook uses them, on a model's W."""
    W = torch.nn.Parameter(torch.randn(3, 2, 6))
    data = torch.rand(5, 3, 6)
    W_best, data_best = pick_best(W, data, torch.tensor([0.3, 0.1, 0.2]))
    h = hidden_datapoints(W_best, data_best)
    assert h.shape == (5, 2)
    assert torch.allclose(h, einops.einsum(W[1], data[:, 1], "d f, b f -> b d"))


def test_catalogues_are_large_enough() -> None:
    assert len(PICK_BEST_MISTAKES) >= 8 and len(HIDDEN_MISTAKES) >= 8
