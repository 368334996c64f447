"""No one-line sign or nonlinearity change to a reference solution passes its check.

Each reference below is source text, one statement per line. The mutants are generated, not
hand-picked: every textual mutation in MUTATIONS is applied at every place it matches, and
every assignment or return is wrapped in every function of WRAPS, one change at a time. A
mutant that computes the same thing as the reference (an oracle compares them on inputs with
mixed signs, zero vectors and leading dimensions) is equivalent and skipped; every other
mutant must be rejected by the check.
"""

import math
import re
from collections.abc import Callable, Iterator

import einops
import pytest
import torch
import torch.nn.functional as F
from test_checks_reference import CHECKED, calculate_loss, warmup_cosine_lr
from torch import nn

MUTATIONS = [
    ("minus to plus", r" - ", " + "),
    ("plus to minus", r" \+ ", " - "),
    ("negate a factor", r" \* ", " * -"),
    ("negate a divisor", r" / ", " / -"),
    ("multiply instead of divide", r" / ", " * "),
    ("flip a comparison", r" < ", " > "),
    ("ReLU to abs", r"F\.relu\(", "torch.abs("),
    ("ReLU to sigmoid", r"F\.relu\(", "torch.sigmoid("),
    ("ReLU dropped", r"F\.relu\(", "("),
    ("cos to sin", r"math\.cos\(", "math.sin("),
    ("square to abs", r"\.pow\(2\)", ".abs()"),
    ("square dropped", r"\.pow\(2\)", ""),
    ("square root dropped", r"\.sqrt\(\)", ""),
    ("argmin to argmax", r"argmin", "argmax"),
]
"""(name, regex, replacement): applied at one match at a time."""

WRAPS = {
    "scalar": ["-({})", "abs({})", "max({}, 0.25)", "math.sqrt(abs({}))"],
    "tensor": ["-({})", "torch.relu({})", "torch.abs({})", "torch.sigmoid({})"],
}
"""Nonlinearities wrapped around the right-hand side of one assignment or return."""

SOURCES = {
    "test_linear_warmup_lr": (
        "scalar",
        """
def fn(step, steps):
    return step / steps
""",
    ),
    "test_cosine_decay_lr": (
        "scalar",
        """
def fn(step, steps):
    progress = step / steps
    return 0.5 * (1 + math.cos(math.pi * progress))
""",
    ),
    "test_warmup_cosine_lr": (
        "scalar",
        """
def fn(step, steps, warmup_steps=2500):
    if step < warmup_steps:
        return step / warmup_steps
    progress = (step - warmup_steps) / (steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * progress))
""",
    ),
    "test_generate_batch": (
        "tensor",
        """
def fn(batch_size, n_inst, n_features, feature_probability):
    shape = (batch_size, n_inst, n_features)
    present = torch.rand(shape) < feature_probability
    values = torch.rand(shape) * present
    norms = values.pow(2).sum(-1, keepdim=True).sqrt()
    return values / norms.clamp_min(1e-12)
""",
    ),
    "test_toy_model": (
        "tensor",
        """
class fn(nn.Module):
    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        super().__init__()
        std = (2 / (d_hidden + n_features)) ** 0.5
        self.W = nn.Parameter(torch.randn(n_inst, d_hidden, n_features) * std)
        self.b = nn.Parameter(torch.zeros(n_inst, n_features))

    def forward(self, x):
        hidden = einops.einsum(x, self.W, "b i f, i d f -> b i d")
        decoded = einops.einsum(hidden, self.W, "b i d, i d f -> b i f")
        return F.relu(decoded + self.b)
""",
    ),
    "test_calculate_loss": (
        "tensor",
        """
def fn(out, batch):
    errors = (batch - out).pow(2)
    return errors.sum(-1).mean(0)
""",
    ),
    "test_train": (
        "tensor",
        """
def fn(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for step in range(steps):
        rate = lr * warmup_cosine_lr(step, steps, warmup_steps)
        optimizer.param_groups[0]["lr"] = rate
        optimizer.zero_grad()
        loss = calculate_loss(model(data), data).sum()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return calculate_loss(model(data), data)
""",
    ),
    "test_dimensionality": (
        "tensor",
        """
def fn(data):
    squared_norms = data.pow(2).sum(-1)
    units = data / squared_norms.sqrt().clamp_min(1e-12).unsqueeze(-1)
    overlaps = einops.einsum(units, data, "... i d, ... j d -> ... i j")
    return squared_norms / overlaps.pow(2).sum(-1).clamp_min(1e-30)
""",
    ),
    "test_evaluate_test_loss": (
        "tensor",
        """
def fn(W, b, test_batch, chunk_size=1000):
    total = torch.zeros(W.shape[0])
    for chunk in test_batch.split(chunk_size):
        hidden = einops.einsum(chunk, W, "b f, i d f -> b i d")
        out = F.relu(einops.einsum(hidden, W, "b i d, i d f -> b i f") + b)
        total = total + (chunk.unsqueeze(1) - out).pow(2).sum(-1).sum(0)
    return total / test_batch.shape[0]
""",
    ),
    "test_pick_best": (
        "tensor",
        """
def fn(W, data, train_loss):
    best = train_loss.argmin()
    weights = W[best]
    points = data[:, best]
    return weights, points
""",
    ),
    "test_hidden_datapoints": (
        "tensor",
        """
def fn(W, data):
    hidden = einops.einsum(data, W, "batch feats, hidden feats -> batch hidden")
    return hidden
""",
    ),
}

STATEMENT = re.compile(r"^(\s+)(return |[\w.\[\]\"]+ = )(.+)$")


def mutants(source: str, kind: str) -> Iterator[tuple[str, str]]:
    """Every one-change mutant of `source`, as (description, mutated source)."""
    lines = source.splitlines()
    for number, line in enumerate(lines):
        if line.lstrip().startswith(("def ", "class ", "for ", "if ", "with ", "super()")):
            continue
        for name, pattern, replacement in MUTATIONS:
            for match in re.finditer(pattern, line):
                changed = line[: match.start()] + replacement + line[match.end() :]
                yield f"line {number}: {name}: {changed.strip()}", replace(lines, number, changed)
        statement = STATEMENT.match(line)
        if statement and kind in WRAPS:
            indent, head, body = statement.groups()
            for wrap in WRAPS[kind]:
                changed = indent + head + wrap.format(body)
                yield f"line {number}: wrapped: {changed.strip()}", replace(lines, number, changed)


def replace(lines: list[str], number: int, line: str) -> str:
    return "\n".join([*lines[:number], line, *lines[number + 1 :]])


NAMESPACE = {
    "math": math,
    "torch": torch,
    "nn": nn,
    "F": F,
    "einops": einops,
    "calculate_loss": calculate_loss,
    "warmup_cosine_lr": warmup_cosine_lr,
}


def build(source: str) -> Callable:
    namespace = dict(NAMESPACE)
    exec(compile(source, "<mutant>", "exec"), namespace)
    return namespace["fn"]


# ------------------------------------------------------------------------------------------------
# Oracles: does a mutant compute the same thing as the reference on the exercise's domain?
# ------------------------------------------------------------------------------------------------


def same(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and torch.allclose(a.double(), b.detach().double(), atol=1e-6, equal_nan=True)
        )
    return isinstance(b, int | float) and math.isclose(a, b, abs_tol=1e-9)


def seeded(fn: Callable, *args):
    torch.manual_seed(0)
    return fn(*args)


def mixed(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def sparse_unit(batch: int, feats: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(batch * feats)
    x = torch.rand(batch, feats, generator=generator)
    x = x * (torch.rand(batch, feats, generator=generator) < 0.4)
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def train_outputs(train_fn: Callable) -> tuple:
    torch.manual_seed(0)
    model = CHECKED["test_toy_model"][1](2, 6, 2)
    data = sparse_unit(5 * 2, 6).reshape(5, 2, 6)
    losses = train_fn(model, data, 12, 3, 0.05, 0.1)
    return (losses, model.W.detach(), model.b.detach())


def model_outputs(model_cls: Callable) -> tuple:
    """Init compared up to sign (a normal times -std is the same distribution), then forward."""
    torch.manual_seed(0)
    model = model_cls(3, 7, 2)
    init = (model.W.detach().abs(), model.b.detach().clone())
    with torch.no_grad():
        model.W.copy_(mixed(3, 2, 7))
        model.b.copy_(mixed(3, 7))
    return (*init, model(mixed(4, 3, 7)).detach())


def schedule_grid(fn: Callable, *, warmup: bool) -> tuple:
    args = [(s, n) for n in (4, 10, 100) for s in range(n + 1)]
    if warmup:
        args = [(s, n, w) for n, w in ((20, 4), (100, 30)) for s in range(n + 1)]
    return tuple(torch.tensor(float(fn(*a))) for a in args)


with_zero = torch.cat([mixed(2, 3, 5, 2), torch.zeros(2, 3, 1, 2)], dim=2)

ORACLES: dict[str, Callable[[Callable], object]] = {
    "test_linear_warmup_lr": lambda fn: schedule_grid(fn, warmup=False),
    "test_cosine_decay_lr": lambda fn: schedule_grid(fn, warmup=False),
    "test_warmup_cosine_lr": lambda fn: schedule_grid(fn, warmup=True),
    "test_generate_batch": lambda fn: (seeded(fn, 50, 3, 6, 0.3), seeded(fn, 20, 2, 4, 0.9)),
    "test_toy_model": model_outputs,
    "test_calculate_loss": lambda fn: fn(mixed(6, 3, 5), mixed(6, 3, 4, 5)[..., 0, :]),
    "test_train": train_outputs,
    "test_dimensionality": lambda fn: (fn(with_zero), fn(mixed(7, 3))),
    "test_evaluate_test_loss": lambda fn: (
        fn(mixed(3, 2, 6), mixed(3, 6), sparse_unit(11, 6), 4),
        fn(mixed(2, 3, 5), mixed(2, 5), sparse_unit(9, 5)),
    ),
    "test_pick_best": lambda fn: fn(mixed(4, 2, 5), mixed(6, 4, 5), mixed(4)),
    "test_hidden_datapoints": lambda fn: (
        fn(mixed(2, 5), sparse_unit(7, 5)),
        fn(mixed(3, 4), mixed(6, 4)),
    ),
}


def equivalent(name: str, mutant: Callable, expected: object) -> bool:
    try:
        return same(expected, ORACLES[name](mutant))
    except Exception:
        return False


@pytest.mark.parametrize("name", list(SOURCES))
def test_no_one_line_mutant_passes(name: str) -> None:
    kind, source = SOURCES[name]
    reference = build(source)
    expected = ORACLES[name](reference)
    check = CHECKED[name][0]
    check(reference)
    tried, survivors = 0, []
    for description, mutated in mutants(source, kind):
        try:
            mutant = build(mutated)
        except SyntaxError:
            continue
        if equivalent(name, mutant, expected):
            continue
        tried += 1
        try:
            check(mutant)
        except AssertionError:
            continue
        except Exception as err:
            survivors.append(f"{description} (the check itself raised {type(err).__name__})")
            continue
        survivors.append(description)
    assert tried >= 3, f"only {tried} non-equivalent mutants of {name}"
    assert not survivors, f"{len(survivors)} of {tried} mutants of {name} pass:\n" + "\n".join(
        survivors
    )


def test_mutant_generator_covers_every_line_kind() -> None:
    kind, source = SOURCES["test_calculate_loss"]
    descriptions = [d for d, _ in mutants(source, kind)]
    assert any("minus to plus" in d for d in descriptions)
    assert any("torch.relu((batch - out).pow(2))" in d for d in descriptions)
    assert any("-(errors.sum(-1).mean(0))" in d for d in descriptions)
