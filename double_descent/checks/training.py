"""The check of `train`: a tiny full-batch run compared, weight by weight, with the definition.

If the weights differ, the check replays the run with each known mistake, then with each pair
of them, and names the first that gives the student's weights.
"""

import functools
import itertools
from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor, nn

from double_descent.checks._core import Mistake, as_tensor, call, check, diagnose, fmt
from double_descent.checks.model import build_model, parameters
from double_descent.checks.schedule import _older_course_schedule, _paper_schedule


def _reference_train(
    model: nn.Module,
    data: Tensor,
    steps: int,
    warmup_steps: int,
    lr: float,
    weight_decay: float,
    *,
    zero_grad: bool = True,
    step_offset: int = 0,
    use_schedule: bool = True,
    decoupled: bool = True,
    feature_mean: bool = False,
    instance_mean: bool = False,
    quarter_cosine: bool = False,
) -> None:
    """Full-batch training as the exercise defines it; the flags reproduce common mistakes."""
    optimizer_cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = optimizer_cls(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = _older_course_schedule if quarter_cosine else _paper_schedule
    for step in range(steps):
        multiplier = schedule(step + step_offset, steps, warmup_steps) if use_schedule else 1.0
        for group in optimizer.param_groups:
            group["lr"] = lr * multiplier
        if zero_grad:
            optimizer.zero_grad()
        errors = (data - model(data)).pow(2)
        per_instance = (errors.mean(-1) if feature_mean else errors.sum(-1)).mean(0)
        (per_instance.mean() if instance_mean else per_instance.sum()).backward()
        optimizer.step()


def _mistake(message: str, **flags: bool | int) -> Mistake:
    """A mistaken training loop: `_reference_train` with the flags that reproduce it."""
    return Mistake(message, functools.partial(_reference_train, **flags))


TRAIN_MISTAKES = [
    _mistake(
        "your loop matches one that never calls optimizer.zero_grad(): gradients pile up",
        zero_grad=False,
    ),
    _mistake(
        "your learning rate is one step ahead: use warmup_cosine_lr(step, ...) for "
        "step = 0 .. steps-1, set before optimizer.step()",
        step_offset=1,
    ),
    _mistake(
        "your loop matches one with a constant learning rate: set each step's rate from "
        "warmup_cosine_lr",
        use_schedule=False,
    ),
    _mistake(
        "your loop matches torch.optim.Adam with L2 weight decay: use torch.optim.AdamW",
        decoupled=False,
    ),
    _mistake(
        "your loss averages over features too (which shrinks the gradients towards Adam's eps): "
        "sum over features, mean over the batch",
        feature_mean=True,
    ),
    _mistake(
        "your loop averages the per-instance losses before backward(): that divides every "
        "instance's gradient by n_inst, which Adam undoes except through its eps, so the runs "
        "drift apart. Sum them: loss.sum().backward()",
        instance_mean=True,
    ),
    _mistake(
        "your learning rate decays along the older course's quarter cosine "
        "cos(pi/2 * (step - warmup_steps) / (steps - warmup_steps - 1)): use the half cosine "
        "of warmup_cosine_lr",
        quarter_cosine=True,
    ),
]
"""Known mistakes of a training loop, each the reference loop with the flags that reproduce it."""

TRAIN_MISTAKES_AND_PAIRS = TRAIN_MISTAKES + [
    _mistake(f"{a.message}; and {b.message}", **a.fn.keywords, **b.fn.keywords)
    for a, b in itertools.combinations(TRAIN_MISTAKES, 2)
]
"""Every known mistake, then every two of them made together."""

TRAIN_SIZES = dict(n_inst=3, n_features=20, d_hidden=2)
TRAIN_HYPERPARAMETERS = dict(steps=40, warmup_steps=10, lr=0.05, weight_decay=0.5)


def _train_data() -> Tensor:
    """The check's data: 6 sparse unit-norm datapoints per instance, shape (6, 3, 20)."""
    shape = (6, TRAIN_SIZES["n_inst"], TRAIN_SIZES["n_features"])
    generator = torch.Generator().manual_seed(0)
    data = torch.rand(shape, generator=generator)
    data *= torch.rand(shape, generator=generator) < 0.3
    return data / data.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _finite_after_training(model: nn.Module, losses: object) -> Float[Tensor, " inst"]:
    """The returned losses as a tensor of shape (inst,), once they and the weights are finite."""
    losses = as_tensor(
        losses,
        (TRAIN_SIZES["n_inst"],),
        "the returned losses",
        "Return one final loss per instance.",
    )
    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            raise AssertionError(
                f"after training, `{name}` contains NaN or infinite values. Look for a "
                "division by zero or a log/sqrt of 0 in the model or the loss."
            )
    if not torch.isfinite(losses).all():
        raise AssertionError(
            f"your function returned NaN or infinite losses ({fmt(losses)}) although "
            "the weights are finite: compute the final loss as in training, on `data`."
        )
    return losses


@check(seed=0)
def test_train(train_fn: Callable, model_cls: Callable) -> None:
    """Checks a full-batch training loop against the definition, naming the likely mistake."""
    data = _train_data()
    model = build_model(model_cls, *TRAIN_SIZES.values())
    parameters(model, *TRAIN_SIZES.values())
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.enable_grad():
        losses = call(
            train_fn,
            model,
            data,
            *TRAIN_HYPERPARAMETERS.values(),
            what="a tiny 40-step run",
            names=("model", "data"),
        )
    losses = _finite_after_training(model, losses)

    def gives_these_weights(train: Callable) -> bool:
        reference = model_cls(*TRAIN_SIZES.values())
        reference.load_state_dict(init)
        with torch.enable_grad():
            train(reference, data, *TRAIN_HYPERPARAMETERS.values())
        state = model.state_dict()
        return all(
            torch.allclose(state[k], v.detach(), atol=1e-4)
            for k, v in reference.state_dict().items()
        )

    if not gives_these_weights(_reference_train):
        raise AssertionError(
            diagnose(TRAIN_MISTAKES_AND_PAIRS, lambda mistake: gives_these_weights(mistake.fn))
            or "after 40 steps your weights differ from full-batch AdamW with the warmup-"
            "cosine schedule on the given data. Check: the same data every step, the rate set "
            "before each step, zero_grad, backward on the summed per-instance losses."
        )
    with torch.no_grad():
        final = (data - model(data)).pow(2).sum(-1).mean(0).float()
    if not torch.allclose(losses, final, atol=1e-4):
        raise AssertionError(
            f"the returned losses {losses.tolist()} are not the per-instance losses of "
            f"the final weights on the data ({final.tolist()})"
        )
