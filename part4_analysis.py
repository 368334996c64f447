"""The notebook's analysis helpers (`import part4_analysis as analysis`): a facade over
`double_descent.analysis`, which holds them in rooms (geometry, figures, loss anatomy, results,
replication, learning rate, dynamics, widget)."""

from double_descent.analysis import *  # noqa: F403
from double_descent.analysis import __all__  # noqa: F401
