"""The paper's own scale (n = 10,000, p = 0.001): the pentagon test, and our curve beside the
paper's and a replication's.

The paper (Henighan et al., 2023) reports middle-regime test losses of about 1.01 and
generalisation from T ≈ 5,000; Adam Jermyn, training the model as the paper describes (his comment
on the paper), found test losses up to about 5,000 and generalisation only from T ≈ 20,000.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import torch
from jaxtyping import Float
from torch import Tensor

from .figures import exposure_figure
from .geometry import RegimeRule, dimensionality

POLYGON_TOLERANCE = 0.25
"""The largest allowed departure of an angular gap from the even spacing 360°/k, as a fraction of
it (72° ± 18° for a pentagon)."""

REPORTED_AT_PAPER_SCALE: dict[str, dict[str, float]] = {
    "paper": {"middle_from": 700, "middle_test_loss": 1.01, "generalising_from": 5_000},
    "Jermyn": {"middle_from": 100, "middle_test_loss": 5_000, "generalising_from": 20_000},
}
"""What two sources report at n = 10,000, S = 0.999: where the middle regime starts, its test
losses (the paper: about 1.01; Jermyn: as high as about 5,000) and where generalisation starts,
in the paper's figure (Henighan et al., 2023) and in Adam Jermyn's replication "precisely as
described" (his comment at the end of the paper)."""
REPORTED_COLOURS = {"paper": "#00cc96", "Jermyn": "#ab63fa"}


def polygon_test(
    features: Float[Tensor, "d_hidden feats"], k: int = 5, rule: RegimeRule | None = None
) -> dict:
    """Whether the `k` features of largest dimensionality form a regular k-gon in 2-D.

    Returns `dims` (those k dimensionalities, largest first), `gaps` (the k angles in degrees
    between neighbouring directions of those features, sorted round the circle, starting from the
    smallest angle) and `regular`: every dimensionality is at least `rule.feature_threshold` (the
    course's 0.15) and every gap is within POLYGON_TOLERANCE of 360°/k.
    """
    if features.ndim != 2 or features.shape[0] != 2:
        raise ValueError(
            f"features: expected shape (2, feats) of a 2-D model, got {tuple(features.shape)}"
        )
    if not 2 <= k <= features.shape[1]:
        raise ValueError(f"k: expected 2 to {features.shape[1]} (the features), got {k}")
    rule = RegimeRule() if rule is None else rule
    dims, index = dimensionality(features.T.double()).topk(k)
    chosen = features[:, index].double()
    angles = torch.atan2(chosen[1], chosen[0]).sort().values
    gaps = torch.rad2deg(torch.diff(angles, append=angles[:1] + 2 * math.pi))
    even = 360 / k
    regular = bool(
        (dims >= rule.feature_threshold).all()
        and ((gaps - even).abs() <= POLYGON_TOLERANCE * even).all()
    )
    return {"dims": dims.tolist(), "gaps": gaps.tolist(), "regular": regular}


def join_sizes(*runs: dict) -> dict:
    """One run holding the sizes of several runs of one setting, in the given order (`load_results`
    runs: `sizes`, `train_loss`, `test_loss`, `tail` and `best_instance` are joined; the rest is
    the first run's)."""
    if not runs:
        raise ValueError("runs: expected at least one run, got none")
    instances = {run["test_loss"].shape[1] for run in runs}
    if len(instances) > 1:
        raise ValueError(f"runs: expected one instance count, got {sorted(instances)}")
    joined = dict(runs[0])
    joined["sizes"] = [T for run in runs for T in run["sizes"]]
    for name in ("train_loss", "test_loss"):
        joined[name] = torch.cat([run[name] for run in runs])
    joined["tail"] = [tail for run in runs for tail in run["tail"]]
    joined["best_instance"] = {
        key: [value for run in runs for value in run["best_instance"][key]]
        for key in runs[0]["best_instance"]
    }
    return joined


def paper_scale_figure(curves: dict[str, dict], feature_probability: float = 0.001) -> go.Figure:
    """`exposure_figure` of `curves` (label -> run) with what REPORTED_AT_PAPER_SCALE reports,
    at `feature_probability`: each source's middle-regime test loss as a dotted segment over its
    middle regime, and a dashed line where it generalises from, named in the segment's legend
    entry (a line's own label would stretch the log axis)."""
    fig = exposure_figure(curves)
    for source, reported in REPORTED_AT_PAPER_SCALE.items():
        colour = REPORTED_COLOURS[source]
        start, end = (
            reported[key] * feature_probability for key in ("middle_from", "generalising_from")
        )
        level = reported["middle_test_loss"]
        fig.add_trace(
            go.Scatter(
                x=[start, end],
                y=[level, level],
                mode="lines",
                line=dict(color=colour, dash="dot", width=3),
                name=f"{source} (reported): middle regime ≈ {level:g} over "
                f"T ≈ {reported['middle_from']:,}–{reported['generalising_from']:,},<br>"
                f"generalising from T ≈ {reported['generalising_from']:,} (dashed)",
            )
        )
        fig.add_vline(x=end, line=dict(color=colour, dash="dash", width=1))
    fig.update_layout(
        title="Test loss against T·p at the paper's scale, beside what the paper and a "
        "replication report"
    )
    return fig
