"""The sweep explorer widget: one size's geometry and losses, chosen with a slider."""

from __future__ import annotations

import json
from collections.abc import Sequence

import plotly.graph_objects as go
from jaxtyping import Float
from torch import Tensor

from double_descent.plot import plot_features_in_2d

from .geometry import summarise_dims


class SweepExplorer:
    """Browse one sweep by dataset size: geometry, dimensionalities and losses together.

    `render(index)` builds the figure and the text for one size (tests call it directly);
    `widget()` wraps it in an ipywidgets dropdown for Colab and Jupyter.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        feature_vectors: Sequence[Float[Tensor, "d_hidden feats"]],
        hidden_data: Sequence[Float[Tensor, "d_hidden batch"]],
        feature_dims: Sequence[Float[Tensor, " feats"]],
        data_dims: Sequence[Float[Tensor, " batch"]],
        train_loss: Float[Tensor, "size inst"],
        test_loss: Float[Tensor, "size inst"],
        regimes: Sequence[str],
    ):
        lengths = {
            len(sizes),
            len(feature_vectors),
            len(hidden_data),
            len(feature_dims),
            len(data_dims),
            len(train_loss),
            len(test_loss),
            len(regimes),
        }
        if len(lengths) != 1 or not sizes:
            raise ValueError(
                "SweepExplorer: expected one entry per dataset size in every argument, got "
                f"lengths {sorted(lengths)}"
            )
        self.sizes = list(sizes)
        self.feature_vectors, self.hidden_data = feature_vectors, hidden_data
        self.feature_dims, self.data_dims = feature_dims, data_dims
        self.train_loss, self.test_loss, self.regimes = train_loss, test_loss, regimes

    def summary(self, index: int) -> str:
        """Losses, regime and dimensionalities of one dataset size, as text."""
        return (
            f"T = {self.sizes[index]} ({self.regimes[index]}): "
            f"train loss {self.train_loss[index].mean().item():.3f}, "
            f"test loss {self.test_loss[index].mean().item():.3f} (means over instances)\n"
            f"features: {summarise_dims(self.feature_dims[index])}\n"
            f"datapoints: {summarise_dims(self.data_dims[index])} (2/T = "
            f"{2 / self.sizes[index]:.4f})"
        )

    def render(self, index: int) -> tuple[go.Figure, str]:
        """Geometry figure (features, datapoints) and summary text for `sizes[index]`."""

        if not 0 <= index < len(self.sizes):
            raise ValueError(f"index: expected 0 ≤ index < {len(self.sizes)}, got {index}")
        T = self.sizes[index]
        figure = plot_features_in_2d(
            [self.feature_vectors[index], self.hidden_data[index]],
            subplot_titles=[f"features (T = {T})", f"hidden datapoints (T = {T})"],
            allow_different_limits_across_subplots=True,
        )
        return figure, self.summary(index)

    @staticmethod
    def figure_bundle(figure: go.Figure) -> dict[str, object]:
        """The mimebundle a notebook front end needs to draw `figure`.

        plotly's JSON (JupyterLab, VS Code, the HTML report of `scripts/make_report.py`), plus
        what the active default renderer adds, e.g. HTML in Colab, which cannot read that JSON.
        """
        import plotly.io as pio

        title = figure.layout.title.text or "untitled"
        return {
            "text/plain": f"<plotly figure: {title}>",
            "application/vnd.plotly.v1+json": json.loads(pio.to_json(figure)),
            **figure._repr_mimebundle_(),
        }

    def widget(self):
        """An ipywidgets dropdown over T that redraws the figure and the summary.

        The figure goes into the `Output` widget as an explicit mimebundle (`figure_bundle`):
        `append_display_data(figure)` would store an empty one, since a plotly `Figure` displays
        itself through `_ipython_display_` rather than through IPython's formatters.
        """
        import ipywidgets as widgets

        dropdown = widgets.Dropdown(
            options=[(f"T = {T}", i) for i, T in enumerate(self.sizes)],
            value=0,
            description="dataset:",
        )
        output = widgets.Output()

        def show(change: dict) -> None:
            figure, text = self.render(change["new"])
            output.outputs = (
                {"output_type": "stream", "name": "stdout", "text": text + "\n"},
                {"output_type": "display_data", "data": self.figure_bundle(figure), "metadata": {}},
            )

        dropdown.observe(show, names="value")
        show({"new": dropdown.value})
        return widgets.VBox([dropdown, output])
