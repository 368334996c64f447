"""Fast, exact training of the whole double-descent sweep (Henighan et al. 2023, toy model).

Every (dataset size T, instance) pair is an independent model

    h = W x,   out = ReLU(Wᵀ h + b),   W: (d_hidden, n_features),   b: (n_features,)

trained full-batch on ONE fixed dataset of T points with the loss
``mean over datapoints of Σ_f (x_f − out_f)²`` (an all-zero output scores 1.0 on unit-norm data),
``torch.optim.AdamW`` (betas (0.9, 0.999), eps 1e-8, decoupled weight decay on W and b) and the
paper's schedule: linear warmup, then half-cosine decay to 0 (see :func:`lr_multiplier`).

The rooms:

- :mod:`~double_descent.engine.config`: ``SweepConfig``, the schedule, data and initial weights,
  and the training records (``TrainState``, ``SweepResult``);
- :mod:`~double_descent.engine.cpu`: the CPU the numba kernels are compiled for, and the explicit
  pin that makes their results bitwise the same on every x86-64-v3 CPU;
- :mod:`~double_descent.engine.kernels`: one model's dense arithmetic in numba (loss, gradients,
  AdamW); :mod:`~double_descent.engine.bound`: the ReLU-bound gradients (``kernel="bound"``);
  :mod:`~double_descent.engine.parallel`: the kernels that run every model at once;
- :mod:`~double_descent.engine.backends`: the "numba" and "torch" backends;
- :mod:`~double_descent.engine.train`: :func:`run_sweep` and its training loop;
- :mod:`~double_descent.engine.cache`: the on-disk cache of sweeps and checkpoints.

Importing the engine has no side effects; the numba kernels are loaded (and numba pinned) when
first needed.
"""

from double_descent.engine.backends import (
    balanced_bins,
    bound_exact_share,
    fused_loss_and_grads,
    torch_model_loss,
)
from double_descent.engine.config import (
    BETAS,
    BOUND_MIN_T,
    ENGINE_VERSION,
    EPS,
    KERNELS,
    LOSS_EVERY,
    PAPER_SIZES,
    UNIT_OVERHEAD,
    SparseData,
    SweepConfig,
    SweepResult,
    TrainState,
    build_problem,
    evaluate_loss,
    generate_data,
    init_weights,
    log_spaced_steps,
    lr_multiplier,
    size_generator,
)
from double_descent.engine.cpu import NUMBA_CPU, X86_64_V3, pin_numba_cpu
from double_descent.engine.train import run_sweep

__all__ = [
    "BETAS",
    "BOUND_MIN_T",
    "ENGINE_VERSION",
    "EPS",
    "KERNELS",
    "LOSS_EVERY",
    "NUMBA_CPU",
    "PAPER_SIZES",
    "UNIT_OVERHEAD",
    "X86_64_V3",
    "SparseData",
    "SweepConfig",
    "SweepResult",
    "TrainState",
    "balanced_bins",
    "bound_exact_share",
    "build_problem",
    "evaluate_loss",
    "fused_loss_and_grads",
    "generate_data",
    "init_weights",
    "log_spaced_steps",
    "lr_multiplier",
    "pin_numba_cpu",
    "run_sweep",
    "size_generator",
    "torch_model_loss",
]
