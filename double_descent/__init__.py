"""The course's code, in rooms named for what they hold.

- ``double_descent.plot``: ``plot_features_in_2d``, the 2-D figure of features and datapoints;
- ``double_descent.checks``: the check functions students call after each exercise, one module
  per thing the student writes;
- ``double_descent.engine``: the sweep engine (configuration and data, numba kernels, the two
  backends and the training loop, the on-disk cache);
- ``double_descent.analysis``: dimensionality, regimes, figures and the explorer widget.

The notebook imports the top-level facades ``part4_utils``, ``part4_analysis`` and
``sweep_engine``, which re-export the names it uses.
"""
