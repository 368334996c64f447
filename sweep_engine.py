"""The sweep engine under the name the notebook imports: see :mod:`double_descent.engine`.

Re-exports the engine's public names (``SweepConfig``, ``run_sweep``, ``build_problem``,
``evaluate_loss``, ...); the code lives in the ``double_descent/engine/`` package.
"""

from double_descent.engine import *  # noqa: F403
from double_descent.engine import __all__ as __all__
