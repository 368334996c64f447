"""Analysis and figures for the double-descent sweep, shared by the notebooks and the scripts.

The notebook computes dimensionalities and test losses with the student's own functions and passes
them in here; `scripts/make_figures.py` uses `dimensionality` below. Every figure is a plotly
`Figure`, so the same call renders in Colab, Jupyter and (through kaleido) to the PNGs in `images/`.

Rooms: `geometry` (dimensionality, hidden datapoints, regimes), `figures` (curves over dataset
size), `loss_anatomy` (the test loss point by point), `results` (the stored `results/*.json`),
`replication` (the published replication beside ours), `paper_scale` (the pentagon test at the
paper's n, and what the paper and a replication report there), `learning_rate` (the
lowest-train-loss solution over learning rates), `dynamics` (training over time) and `widget` (the
sweep explorer).
"""

from .dynamics import (
    learning_figure,
    learning_strip_figure,
    optimizer_steps_progress,
)
from .figures import (
    REGIME_COLOURS,
    ablation_figure,
    dimensionality_figure,
    exposure_figure,
    feature_probability_figure,
    hidden_size_figure,
    loss_curve_figure,
    training_length_figure,
    weight_decay_figure,
)
from .geometry import (
    GEOMETRY_SIZES,
    RegimeRule,
    best_instance_geometry,
    describe_run,
    dimensionality,
    geometry_figure,
    hidden_vectors,
    regime_bands,
    summarise_dims,
)
from .learning_rate import (
    CLUSTER_SHARE,
    KIND_COLOURS,
    RANDOM_SHARE,
    SOLUTION_KINDS,
    direction_share,
    kind_spans,
    learning_rate_figure,
    lowest_train_loss,
    rate_curves,
    solution_kind,
    winners_geometry_figure,
)
from .loss_anatomy import (
    HISTOGRAM_BIN,
    TAIL_QUANTILES,
    blowup_summary,
    largest_feature,
    log_loss_bins,
    loss_histogram_figure,
    per_point_loss,
    point_anatomy,
    tail_figure,
    tail_statistics,
)
from .paper_scale import (
    POLYGON_TOLERANCE,
    REPORTED_AT_PAPER_SCALE,
    join_sizes,
    paper_scale_figure,
    polygon_test,
)
from .replication import (
    MATCH_STANDARD_ERRORS,
    PUBLISHED_REPLICATION,
    published_recipe_table,
    recipe_comparison,
    recipe_draws,
    replication_figure,
    replication_rows,
)
from .results import (
    ablation_peaks,
    load_results,
    peak_lines,
    run_peaks,
)
from .widget import (
    SweepExplorer,
)

__all__ = [
    "CLUSTER_SHARE",
    "GEOMETRY_SIZES",
    "HISTOGRAM_BIN",
    "KIND_COLOURS",
    "MATCH_STANDARD_ERRORS",
    "POLYGON_TOLERANCE",
    "PUBLISHED_REPLICATION",
    "REPORTED_AT_PAPER_SCALE",
    "RANDOM_SHARE",
    "REGIME_COLOURS",
    "SOLUTION_KINDS",
    "TAIL_QUANTILES",
    "RegimeRule",
    "SweepExplorer",
    "ablation_figure",
    "ablation_peaks",
    "best_instance_geometry",
    "blowup_summary",
    "describe_run",
    "dimensionality",
    "dimensionality_figure",
    "direction_share",
    "exposure_figure",
    "feature_probability_figure",
    "geometry_figure",
    "hidden_size_figure",
    "hidden_vectors",
    "kind_spans",
    "largest_feature",
    "learning_figure",
    "learning_rate_figure",
    "learning_strip_figure",
    "load_results",
    "log_loss_bins",
    "loss_curve_figure",
    "loss_histogram_figure",
    "lowest_train_loss",
    "optimizer_steps_progress",
    "peak_lines",
    "join_sizes",
    "paper_scale_figure",
    "per_point_loss",
    "polygon_test",
    "point_anatomy",
    "published_recipe_table",
    "rate_curves",
    "recipe_comparison",
    "recipe_draws",
    "regime_bands",
    "replication_figure",
    "replication_rows",
    "run_peaks",
    "solution_kind",
    "summarise_dims",
    "tail_figure",
    "tail_statistics",
    "training_length_figure",
    "weight_decay_figure",
    "winners_geometry_figure",
]
