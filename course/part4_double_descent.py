# %% [markdown]
# # Part 4: Superposition, memorisation and double descent
#
# {{COLAB_BADGE}}
#
# Small models trained on *few* datapoints memorise them; trained on *many*, they learn the
# features that generated the data. Henighan et al. (2023), ["Superposition, Memorization, and
# Double Descent"](https://transformer-circuits.pub/2023/toy-double-descent/index.html), showed
# that a tiny ReLU model does both, and that both solutions use **superposition**: the memorising
# model packs *datapoints* into its hidden space, the generalising model packs *features*. In
# between, neither packing works well, and the test loss rises before it falls again: **double
# descent**.
#
# In this section you will build the whole experiment yourself, then run the paper-faithful sweep
# (17 dataset sizes × 10 instances × 50,000 full-batch steps) with a fast engine, and measure the
# double descent in the test loss.
#
# **You will:**
# - write the training schedule, the data generator, the model, the loss and the training loop;
# - measure how many dimensions each feature and each datapoint gets (*dimensionality*);
# - watch memorising models store their $T$ datapoints as a regular $T$-gon;
# - compute the test loss and see it peak where the geometry changes;
# - (optional) change the weight decay and the sparsity and see the peak move.
#
# Each exercise has a difficulty (🔴 hard … ⚪ easy), an importance (🔵 must know … ⚪ skip-able),
# a time estimate, hints, a check you run right after it, and a folded solution.

# %% [markdown]
# ## Setup
#
# Run this cell once. In Colab it installs the two small libraries Colab lacks (it never touches
# the preinstalled PyTorch) and fetches the course helpers; on your own machine it only imports.

# %%
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

IN_COLAB = "google.colab" in sys.modules
REPO_URL = "{{REPO_URL}}"

if IN_COLAB:
    missing = [
        name for name in ("einops", "jaxtyping", "numba") if importlib.util.find_spec(name) is None
    ]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)
    root = Path("/content") / Path(REPO_URL).name
    if not root.exists():
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPO_URL, str(root)], check=True)
else:
    root = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "part4_utils.py").exists())
os.chdir(root)
sys.path.insert(0, str(root))

import einops
import numpy as np
import plotly.express as px
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn
from tqdm.auto import tqdm

import part4_analysis as analysis
import part4_utils as utils
from sweep_engine import SweepConfig, run_sweep

torch.set_printoptions(precision=4, sci_mode=False)
print("Setup complete: the course helpers are imported.")

# %% [markdown]
# ## 1. The toy model, and what to expect
#
# **Data.** A datapoint $x \in \mathbb{R}^n$ has $n = 1000$ features. Each feature is present with
# probability $p = 1 - S = 0.01$ (sparsity $S = 0.99$), with a value drawn uniformly from $[0, 1)$;
# absent features are 0. Each datapoint is then scaled to unit length, so on average a datapoint has
# 10 active features.
#
# **Model.** $m = 2$ hidden dimensions and tied weights $W \in \mathbb{R}^{m \times n}$:
#
# $$h = W x, \qquad x' = \mathrm{ReLU}(W^\top h + b).$$
#
# **Loss.** $L = \frac{1}{T} \sum_{i=1}^{T} \lVert x_i - x'_i \rVert^2$. Predicting all zeros gives
# exactly $L = 1$ (the data have unit norm), so "below 1" means the model learnt *something*.
#
# **Training.** One fixed training set of $T$ points, used whole at every step (full batch), for
# 50,000 steps of AdamW with weight decay $10^{-2}$ and a learning rate that warms up linearly and
# then decays along a half cosine to zero. The paper stresses that all three (full batch, many
# steps, annealing) matter.
#
# **What the paper found.** With 2 hidden dimensions the model cannot store 1000 features, so it
# must choose what to put in superposition:
# - **few datapoints (small $T$)**: store the *datapoints*. The $T$ hidden vectors $h_i = W x_i$
#   spread out as a regular $T$-gon; the training loss goes to 0 and the test loss stays above 1;
# - **many datapoints (large $T$)**: store the *features*. A handful of features (about 5, a
#   pentagon) get their own directions, the rest are dropped; test loss ≈ train loss < 1;
# - **in between**: both geometries collapse, and the test loss peaks. This is the double descent.
#
# We train many *instances* side by side: every tensor has a leading `inst` dimension, and each
# instance gets its own dataset (so the instances are also independent repeats of the experiment).

# %% [markdown]
# ## 2. The learning-rate schedule
#
# The schedule is a multiplier of the peak rate $10^{-3}$. We build it in three small pieces.
#
# ### Exercise 2.1: linear warmup
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵⚪⚪⚪ · about 5 minutes
#
# Return the multiplier $s / \text{steps}$: 0 at step 0, rising in a straight line to exactly 1 at
# `step == steps`.
#
# <details><summary>Hint</summary>
#
# Check both ends: step 0 must give 0 and `step == steps` must give 1. Dividing by `steps - 1`
# overshoots.
# </details>


# %%
def linear_warmup_lr(step: int, steps: int) -> float:
    """Multiplier that rises linearly from 0 (step 0) to 1 (step == steps)."""
    # BEGIN SOLUTION
    return step / steps
    # END SOLUTION


utils.test_linear_warmup_lr(linear_warmup_lr)

# %% [markdown]
# ### Exercise 2.2: half-cosine decay
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵⚪⚪⚪ · about 5 minutes
#
# Return $\tfrac12\left(1 + \cos(\pi\, s / \text{steps})\right)$: 1 at step 0, 0.5 half way, and 0 at
# `step == steps`.
#
# <details><summary>Hint</summary>
#
# `cos` goes from 1 to -1 over $[0, \pi]$; shift it up by 1 and halve it to land in $[0, 1]$.
# A quarter cosine, $\cos(\tfrac{\pi}{2}\, s/\text{steps})$, also ends at 0, but is 0.71 at the
# midpoint instead of 0.5.
# </details>


# %%
def cosine_decay_lr(step: int, steps: int) -> float:
    """Multiplier that falls along half a cosine from 1 (step 0) to 0 (step == steps)."""
    # BEGIN SOLUTION
    return 0.5 * (1 + np.cos(np.pi * step / steps))
    # END SOLUTION


utils.test_cosine_decay_lr(cosine_decay_lr)

# %% [markdown]
# ### Exercise 2.3: warmup, then cosine
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · about 5 minutes
#
# Combine the two: warm up over the first `warmup_steps`, then decay over the *remaining*
# `steps - warmup_steps` steps:
#
# $$\text{lr}(s) = \begin{cases} s / w & s < w \\ \tfrac12\left(1 + \cos\left(\pi \frac{s - w}{\text{steps} - w}\right)\right) & s \ge w \end{cases}$$
#
# <details><summary>Hint 1</summary>
#
# Reuse your two functions: the warmup runs over `warmup_steps` steps, the decay over
# `steps - warmup_steps` steps.
# </details>
#
# <details><summary>Hint 2</summary>
#
# The decay must start counting at the end of the warmup: pass `step - warmup_steps`, not `step`.
# </details>


# %%
def warmup_cosine_lr(step: int, steps: int, warmup_steps: int = 2500) -> float:
    """The paper's schedule as a multiplier of the peak learning rate."""
    # BEGIN SOLUTION
    if step < warmup_steps:
        return linear_warmup_lr(step, warmup_steps)
    return cosine_decay_lr(step - warmup_steps, steps - warmup_steps)
    # END SOLUTION


utils.test_warmup_cosine_lr(warmup_cosine_lr)

# %% [markdown]
# You should see a short ramp and a long, smooth fall to zero:

# %% tags=["nbval-ignore-output"]
schedule_steps = np.arange(0, 50_001, 250)
px.line(
    x=schedule_steps,
    y=[warmup_cosine_lr(int(s), 50_000) for s in schedule_steps],
    labels={"x": "step", "y": "learning-rate multiplier"},
    title="Warmup (2,500 steps) then half-cosine decay",
    width=700,
    height=300,
)

# %% [markdown]
# ## 3. Data
#
# ### Exercise 3: generate a batch
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · about 10 minutes
#
# Return a tensor of shape `(batch_size, n_inst, n_features)`: each feature present with
# probability `feature_probability`, present values uniform on $[0, 1)$, and every
# (datapoint, instance) vector scaled to unit length along the feature axis. A datapoint with no
# feature present must stay all zeros (no `NaN`).
#
# <details><summary>Hint 1</summary>
#
# Draw two uniform tensors of the full shape: one decides which features are present
# (`< feature_probability`), the other gives their values.
# </details>
#
# <details><summary>Hint 2</summary>
#
# Normalise over the *last* axis (features), keeping the dimension so that it broadcasts. An
# all-zero vector has norm 0: divide by `norm.clamp_min(1e-12)` instead, which leaves it at 0.
# </details>


# %%
def generate_batch(
    batch_size: int, n_inst: int, n_features: int, feature_probability: float
) -> Float[Tensor, "batch inst feats"]:
    """Sparse, non-negative datapoints of unit L2 norm (or exactly zero)."""
    # BEGIN SOLUTION
    shape = (batch_size, n_inst, n_features)
    present = torch.rand(shape) < feature_probability
    values = torch.rand(shape) * present
    norms = values.norm(dim=-1, keepdim=True)
    return values / norms.clamp_min(1e-12)
    # END SOLUTION


utils.test_generate_batch(generate_batch)

# %% [markdown]
# ## 4. The model and the loss
#
# ### Exercise 4.1: the toy model
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · about 10 minutes
#
# Two parameters: `W` of shape `(n_inst, d_hidden, n_features)` and `b` of shape
# `(n_inst, n_features)`. Initialise each instance's `W` with Xavier-normal,
# $\sigma = \sqrt{2 / (m + n)}$, and `b` with zeros. `forward` maps `(batch, inst, feats)` to the
# same shape: $\mathrm{ReLU}(W^\top W x + b)$, per instance.
#
# <details><summary>Hint 1</summary>
#
# `nn.init.xavier_normal_` on the 3-D tensor `(inst, m, n)` computes its fan-in and fan-out from
# the wrong axes and gives $\sigma \approx 0.013$ instead of $0.045$. Compute the standard deviation
# yourself and scale `torch.randn`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# Two `einops.einsum` calls: encode with `"batch inst feats, inst hidden feats -> batch inst hidden"`,
# decode with the *same* `W`, then add `b` and apply the ReLU.
# </details>


# %%
class ToyModel(nn.Module):
    """`n_inst` independent tied-weight ReLU models, trained side by side."""

    def __init__(self, n_inst: int, n_features: int = 1000, d_hidden: int = 2):
        super().__init__()
        # BEGIN SOLUTION
        std = (2 / (d_hidden + n_features)) ** 0.5
        self.W = nn.Parameter(torch.randn(n_inst, d_hidden, n_features) * std)
        self.b = nn.Parameter(torch.zeros(n_inst, n_features))
        # END SOLUTION

    def forward(
        self, features: Float[Tensor, "batch inst feats"]
    ) -> Float[Tensor, "batch inst feats"]:
        # BEGIN SOLUTION
        hidden = einops.einsum(
            features, self.W, "batch inst feats, inst hidden feats -> batch inst hidden"
        )
        decoded = einops.einsum(
            hidden, self.W, "batch inst hidden, inst hidden feats -> batch inst feats"
        )
        return F.relu(decoded + self.b)
        # END SOLUTION


utils.test_toy_model(ToyModel)

# %% [markdown]
# ### Exercise 4.2: the loss
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · about 5 minutes
#
# Return one loss per instance: the sum over features of the squared error, averaged over the
# batch. Do **not** average over features too: that divides the loss by 1000 and makes the early
# gradients so small that Adam's $\epsilon$ starts to matter, which changes the experiment.
#
# <details><summary>Hint</summary>
#
# `.sum(-1)` over features, then `.mean(0)` over the batch leaves shape `(inst,)`. Sanity check:
# an all-zero `out` on unit-norm data gives exactly 1.0.
# </details>


# %%
def calculate_loss(
    out: Float[Tensor, "batch inst feats"], batch: Float[Tensor, "batch inst feats"]
) -> Float[Tensor, " inst"]:
    """Per-instance loss: mean over datapoints of Σ_features (x - x')²."""
    # BEGIN SOLUTION
    return (batch - out).pow(2).sum(-1).mean(0)
    # END SOLUTION


utils.test_calculate_loss(calculate_loss)

# %% [markdown]
# ## 5. Training
#
# ### Exercise 5: the training loop
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · about 15 minutes
#
# Train `model` on the fixed `data` (the *same* batch at every step) for `steps` steps with
# `torch.optim.AdamW(lr=lr, weight_decay=weight_decay)`. Before each step, set every parameter
# group's learning rate to `lr * warmup_cosine_lr(step, steps, warmup_steps)` for
# `step = 0, 1, ..., steps - 1` (so the first update has rate 0, exactly like PyTorch's
# `LambdaLR`). Return the per-instance loss of the final weights on `data`.
#
# <details><summary>Hint 1</summary>
#
# Generate nothing inside the loop: the dataset is fixed. Sum the per-instance losses before
# `backward()`: the instances share no parameters, so each gets exactly its own gradient.
# </details>
#
# <details><summary>Hint 2</summary>
#
# Order inside the loop: set the rate, `zero_grad()`, forward, loss, `backward()`, `step()`.
# Forgetting `zero_grad()` adds every old gradient to the new one.
# </details>


# %%
def train(
    model: ToyModel,
    data: Float[Tensor, "batch inst feats"],
    steps: int,
    warmup_steps: int = 2500,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
) -> Float[Tensor, " inst"]:
    """Full-batch AdamW on one fixed dataset; returns the final loss per instance."""
    # BEGIN SOLUTION
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * warmup_cosine_lr(step, steps, warmup_steps)
        optimizer.zero_grad()
        calculate_loss(model(data), data).sum().backward()
        optimizer.step()
    with torch.no_grad():
        return calculate_loss(model(data), data)
    # END SOLUTION


utils.test_train(train, ToyModel)

# %% [markdown]
# ## 6. Dimensionality
#
# How much of the hidden space does a vector get? For vectors $v_1, \dots, v_k$ (the columns of $W$
# for features, or the hidden vectors $h_i = W x_i$ for datapoints), the paper uses
#
# $$D_i = \frac{\lVert v_i \rVert^2}{\sum_{j} (\hat v_i \cdot v_j)^2},$$
#
# with the sum over *all* $j$, including $j = i$. A vector alone in its direction gets 1; $k$
# vectors spread evenly around a circle in $m = 2$ dimensions each get $2/k$; a vector that
# shares its direction with many others gets little.
#
# ### Exercise 6: dimensionality
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · about 10 minutes
#
# Input `(..., k, d_hidden)`, output `(..., k)`. Leading dimensions are independent sets of
# vectors. A zero vector gets 0, not `NaN`.
#
# <details><summary>Hint 1</summary>
#
# `einops.einsum(units, data, "... i hidden, ... j hidden -> ... i j")` gives every
# $\hat v_i \cdot v_j$ at once; square and sum over `j`.
# </details>
#
# <details><summary>Hint 2</summary>
#
# For a zero vector both the numerator and the denominator are 0. Clamp the norm you divide by
# (for the unit vector) and the denominator, so that 0 / tiny = 0.
# </details>


# %%
def dimensionality(data: Float[Tensor, "... batch d_hidden"]) -> Float[Tensor, "... batch"]:
    """Generalised dimensionality of each vector among the others in its set."""
    # BEGIN SOLUTION
    squared_norms = data.pow(2).sum(-1)
    units = data / squared_norms.sqrt().clamp_min(1e-12).unsqueeze(-1)
    overlaps = einops.einsum(units, data, "... i hidden, ... j hidden -> ... i j")
    return squared_norms / overlaps.pow(2).sum(-1).clamp_min(1e-30)
    # END SOLUTION


utils.test_dimensionality(dimensionality)

# %% [markdown]
# ## 7. A first sweep with your own model
#
# Train your model on a few small dataset sizes (10,000 steps each, about a minute on a CPU). For each
# $T$ we keep the instance with the lowest training loss and look at its hidden datapoints
# $h_i = W x_i$.

# %% tags=["nbval-ignore-output"]
SMALL_SIZES = (3, 4, 5, 8)
N_FEATURES, FEATURE_PROBABILITY, N_INST = 1000, 0.01, 10

torch.manual_seed(0)
small_runs = {}
for T in tqdm(SMALL_SIZES, desc="dataset sizes"):
    data = generate_batch(T, N_INST, N_FEATURES, FEATURE_PROBABILITY)
    model = ToyModel(N_INST, N_FEATURES)
    losses = train(model, data, steps=10_000, warmup_steps=500)
    small_runs[T] = (model, data, losses)

# %%
small_hidden = []
for T, (model, data, losses) in small_runs.items():
    best = losses.argmin().item()
    hidden = analysis.hidden_vectors(model.W[best].detach(), data[:, best])
    small_hidden.append(hidden)
    dims = dimensionality(hidden.T)
    print(
        f"T = {T:2d}: best train loss {losses[best].item():.4f}; "
        f"datapoint dimensionalities {dims.min().item():.3f}–{dims.max().item():.3f} (2/T = {2 / T:.3f})"
    )

# %% [markdown]
# You should see a training loss near 0 and every datapoint with a dimensionality close to $2/T$:
# the model has placed the $T$ hidden datapoints at the corners of a regular $T$-gon, so that each
# can be read out without the others.

# %% tags=["nbval-ignore-output"]
utils.plot_features_in_2d(
    small_hidden,
    title="Hidden datapoints h = W x of the best instance: regular T-gons",
    subplot_titles=[f"T = {T}" for T in SMALL_SIZES],
    allow_different_limits_across_subplots=True,
)

# %% [markdown]
# ## 8. The full replication
#
# The paper-faithful sweep is 17 dataset sizes × 10 instances × 50,000 steps. Trained one model
# at a time with PyTorch, as above, it takes about a day on a laptop CPU. The course's engine,
# `sweep_engine.py`, runs exactly the same training (same data, init, AdamW, schedule and loss) for
# all 170 models at once in a fused CPU kernel, in a few minutes. On a GPU machine it switches to a
# batched PyTorch version of your model. Finished sweeps are cached in `.sweep_cache/`, so running
# this cell again is instant.

# %% tags=["nbval-ignore-output"]
config = SweepConfig()
result = run_sweep(config)

# %% [markdown]
# For each $T$ we keep the best instance (lowest final training loss), and compute with *your*
# `dimensionality` the dimensionality of each of its 1000 features (columns of $W$) and of each of
# its $T$ hidden datapoints.

# %%
sizes = list(config.sizes)
feature_vectors, hidden_data, feature_dims, data_dims = analysis.best_instance_geometry(
    result, dimensionality
)

rule = analysis.RegimeRule()
regimes = [rule.classify(f, d) for f, d in zip(feature_dims, data_dims)]
print(f"{'T':>5} {'train loss':>10} {'regime':>13}   top feature dims       | datapoint dims (2/T)")
for T, loss, regime, f, d in zip(
    sizes, result.train_loss.min(1).values, regimes, feature_dims, data_dims
):
    top = ", ".join(f"{v:.2f}" for v in f.topk(5).values.tolist())
    print(
        f"{T:>5} {loss.item():>10.4f} {regime:>13}   [{top}] | "
        f"median {d.median().item():.4f}, max {d.max().item():.3f} ({2 / T:.4f})"
    )

# %% [markdown]
# ### The geometry
#
# Top row: the 1000 feature vectors (columns of $W$). Bottom row: the $T$ hidden datapoints. Each
# subplot has its own scale.

# %% tags=["nbval-ignore-output"]
utils.plot_features_in_2d(
    feature_vectors + hidden_data,
    title="Features (top) and hidden datapoints (bottom), best instance per dataset size",
    subplot_titles=[f"features, T = {T}" for T in sizes] + [f"data, T = {T}" for T in sizes],
    allow_different_limits_across_subplots=True,
    n_rows=2,
)

# %% [markdown]
# You should see something like this (the reference figure, from `scripts/make_figures.py`):
#
# ![geometry](../images/geometry.png)
#
# ### Dimensionality against dataset size
#
# Each dot is one feature (blue) or one training datapoint (red). The dashed line is $2/T$, where a
# regular $T$-gon puts every datapoint. The shading shows the regime that `analysis.RegimeRule`
# assigns to each size from the geometry above.

# %% tags=["nbval-ignore-output"]
analysis.dimensionality_figure(sizes, feature_dims, data_dims, regimes)

# %% [markdown]
# ![dimensionality](../images/dimensionality.png)
#
# ## 9. The test loss: double descent
#
# A memorising model has learnt nothing about features it never saw, so it should do badly on
# fresh data. Let's measure it: a fresh test set of 10,000 datapoints, shared by all models.
#
# ### Exercise 9: test loss
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · about 10 minutes
#
# Given trained weights `W (inst, d_hidden, feats)` and `b (inst, feats)`, return every instance's
# loss on the shared `test_batch (batch, feats)`. The full output would be
# `(10,000, 10, 1000)` floats per dataset size, so work through the test set in chunks of
# `chunk_size` datapoints and combine the chunks correctly.
#
# <details><summary>Hint 1</summary>
#
# The test batch has no instance axis: use it in the einsum as `"batch feats, inst hidden feats -> ..."`
# and, for the error, `chunk.unsqueeze(1)` so it broadcasts over instances.
# </details>
#
# <details><summary>Hint 2</summary>
#
# Add up the *sum* of the per-datapoint losses over chunks and divide once by the total number of
# datapoints. Averaging the chunk means is wrong when the last chunk is smaller.
# </details>


# %%
def evaluate_test_loss(
    W: Float[Tensor, "inst d_hidden feats"],
    b: Float[Tensor, "inst feats"],
    test_batch: Float[Tensor, "batch feats"],
    chunk_size: int = 1000,
) -> Float[Tensor, " inst"]:
    """Per-instance paper-scale loss of the tied-weight ReLU model on a shared test set."""
    # BEGIN SOLUTION
    total = torch.zeros(W.shape[0])
    for chunk in test_batch.split(chunk_size):
        hidden = einops.einsum(chunk, W, "batch feats, inst hidden feats -> batch inst hidden")
        out = F.relu(
            einops.einsum(hidden, W, "batch inst hidden, inst hidden feats -> batch inst feats") + b
        )
        total += (chunk.unsqueeze(1) - out).pow(2).sum(-1).sum(0)
    return total / test_batch.shape[0]
    # END SOLUTION


utils.test_evaluate_test_loss(evaluate_test_loss)

# %%
torch.manual_seed(1234)
test_batch = generate_batch(10_000, 1, N_FEATURES, FEATURE_PROBABILITY)[:, 0]
with torch.no_grad():
    test_loss = torch.stack(
        [evaluate_test_loss(W, b, test_batch) for W, b in zip(result.W, result.b)]
    )
train_loss = result.train_loss

print(f"{'T':>5} {'train (mean)':>12} {'test (mean)':>12} {'test (min–max over instances)':>30}")
for T, tr, te in zip(sizes, train_loss, test_loss):
    print(
        f"{T:>5} {tr.mean().item():>12.3f} {te.mean().item():>12.3f} {te.min().item():>16.3f} – {te.max().item():.3f}"
    )
peak = test_loss.mean(1).argmax().item()
print(f"\nPeak mean test loss {test_loss[peak].mean().item():.3f} at T = {sizes[peak]}")

# %% tags=["nbval-ignore-output"]
analysis.loss_curve_figure(sizes, train_loss, test_loss, regimes)

# %% [markdown]
# ![loss curve](../images/loss_curve.png)
#
# Read the curve from left to right:
# - **small $T$**: train loss ≈ 0 and test loss a little above 1: the model memorised its handful of
#   datapoints and has nothing useful to say about new ones;
# - **growing $T$**: the datapoints still sit on a $T$-gon, but the train loss climbs as the gon gets
#   crowded, and the test loss shoots up, by two orders of magnitude in this run. The mean is
#   dominated by a tail of test points: to memorise, the model grows a few feature vectors to
#   norm ≈ 5–8 and hides them behind large negative biases, and a fresh datapoint that lines up
#   with one of them gets a huge output. Most test points still score about 1;
# - **the peak** sits at the edge of the memorising regime, just before both geometries collapse;
# - **large $T$**: a pentagon of features appears, and train and test loss meet just below 1.
#
# The test-loss peak is much higher than the ≈ 1.25–1.5 that a published replication of this
# scaled-down setting reported after fewer steps with another rate; the paper notes that the bump
# grows with longer training and with less weight decay (the ablations below show the second).
#
# The largest sizes, 5,000 and 10,000, show whether the large-data regime settles. They cost as
# much as the rest of the sweep together, so `scripts/run_experiments.py` trained them once (on a
# GPU machine, through the engine's PyTorch backend) and stored the losses in `results/`:

# %%
extended = analysis.load_results("results/extended_sizes.json")
(run,) = extended["runs"]
print(f"{'T':>6} {'train (mean)':>12} {'test (mean)':>12}")
for T, tr, te in zip(run["sizes"], run["train_loss"], run["test_loss"]):
    print(f"{T:>6} {tr.mean().item():>12.3f} {te.mean().item():>12.3f}")

# %% [markdown]
# ## 10. Ablations (optional)
#
# The paper reports that the bump in test loss grows when weight decay is lower and vanishes when
# it is 1.0, and that generalisation starts once each feature has appeared a handful of times,
# i.e. around a fixed $T \cdot p$. `scripts/run_experiments.py` ran these sweeps with the engine (5
# instances each, all other settings as above); here we load and plot what they measured.
#
# ### Weight decay

# %% tags=["nbval-ignore-output"]
weight_decay_runs = analysis.load_results("results/ablation_weight_decay.json")
analysis.weight_decay_figure(weight_decay_runs)

# %%
print("\n".join(analysis.ablation_peaks(weight_decay_runs, "weight_decay")))

# %% [markdown]
# ![weight decay](../images/ablation_weight_decay.png)
#
# ### Sparsity: plotting against $T \cdot p$

# %% tags=["nbval-ignore-output"]
sparsity_runs = analysis.load_results("results/ablation_feature_probability.json")
analysis.feature_probability_figure(sparsity_runs)

# %%
print("\n".join(analysis.ablation_peaks(sparsity_runs, "feature_probability")))

# %% [markdown]
# ![sparsity](../images/ablation_feature_probability.png)
#
# ## 11. Explore
#
# Pick a dataset size to see its geometry, dimensionalities and losses together.

# %% tags=["nbval-ignore-output"]
explorer = analysis.SweepExplorer(
    sizes, feature_vectors, hidden_data, feature_dims, data_dims, train_loss, test_loss, regimes
)
explorer.widget()

# %% [markdown]
# ## 12. What this run shows
#
# The summary below is computed from the sweep above, not written in advance.

# %%
print(analysis.describe_run(sizes, feature_dims, data_dims, regimes, train_loss, test_loss))

# %% [markdown]
# How it compares with the paper (Henighan et al., 2023):
# - memorising models store their datapoints as regular $T$-gons (datapoint dimensionality
#   ≈ $2/T$), here for every $T$ up to a few hundred, even where the training loss is far from 0;
# - generalising models store about five features as a pentagon, with dimensionalities near 0.3,
#   below $2/5$ because the many small features add to the denominator;
# - between them both geometries collapse, and the test loss peaks;
# - the ablations agree with the paper's trends: less weight decay gives a larger bump, weight
#   decay 1.0 all but removes it, and across feature probabilities the peak sits at the same
#   $T \cdot p \approx 3$–$5$ and generalisation starts near $T \cdot p \approx 10$. The paper's own
#   setting ($n = 10{,}000$, $p = 0.001$, peak at $T \approx 2000$) is at $T \cdot p \approx 2$.
