"""Regime rules, figure builders, the results loader and the explorer widget's callback."""

from __future__ import annotations

import json
import math

import pytest
import torch

import part4_analysis as analysis


def polygon(k: int, radius: float = 1.0) -> torch.Tensor:
    angles = torch.arange(k) * 2 * math.pi / k
    return radius * torch.stack([angles.cos(), angles.sin()], dim=-1)


def test_dimensionality_known_answers():
    for k in (3, 5, 8):
        torch.testing.assert_close(analysis.dimensionality(polygon(k)), torch.full((k,), 2 / k))
    vectors = torch.tensor([[1.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    torch.testing.assert_close(analysis.dimensionality(vectors), torch.tensor([1.0, 1.0, 0.0]))


def test_dimensionality_handles_leading_batch_dims():
    stacked = torch.stack([polygon(4), polygon(4) * 2])
    torch.testing.assert_close(analysis.dimensionality(stacked), torch.full((2, 4), 0.5))


def pentagon_features(n: int = 100) -> torch.Tensor:
    """Five strong feature directions and many tiny ones."""
    features = torch.randn(n, 2, generator=torch.Generator().manual_seed(0)) * 1e-3
    features[:5] = polygon(5)
    return features


@pytest.mark.parametrize(
    "features, data, expected",
    [
        (torch.randn(100, 2) * 1e-3, polygon(6), "memorising"),
        (pentagon_features(), torch.randn(50, 2) * 1e-3, "generalising"),
        (torch.randn(100, 2) * 1e-3, torch.cat([polygon(2), torch.zeros(48, 2)]), "transition"),
    ],
)
def test_regime_rule(features, data, expected):
    rule = analysis.RegimeRule()
    regime = rule.classify(analysis.dimensionality(features), analysis.dimensionality(data))
    assert regime == expected


def test_regime_bands_merge_neighbours_and_cover_all_sizes():
    sizes = [3, 10, 100, 300, 1000, 3000]
    regimes = ["memorising"] * 3 + ["transition"] + ["generalising"] * 2
    bands = analysis.regime_bands(sizes, regimes)
    assert [b[0] for b in bands] == ["memorising", "transition", "generalising"]
    assert bands[0][1] < 3 and bands[-1][2] > 3000
    assert bands[0][2] == pytest.approx(math.sqrt(100 * 300))
    assert all(b[2] == pytest.approx(n[1]) for b, n in zip(bands, bands[1:]))


def test_regime_bands_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="regimes"):
        analysis.regime_bands([3, 4], ["memorising"])
    with pytest.raises(ValueError, match="sizes"):
        analysis.regime_bands([], [])


@pytest.fixture
def sweep():
    """A fake 3-size sweep with the shapes a real one has."""
    sizes = [3, 50, 1000]
    generator = torch.Generator().manual_seed(0)
    features = [torch.randn(2, 40, generator=generator) for _ in sizes]
    hidden = [torch.randn(2, t, generator=generator) for t in sizes]
    return {
        "sizes": sizes,
        "features": features,
        "hidden": hidden,
        "feature_dims": [analysis.dimensionality(w.T) for w in features],
        "data_dims": [analysis.dimensionality(h.T) for h in hidden],
        "train_loss": torch.tensor([[0.0, 0.1], [0.3, 0.2], [0.9, 0.95]]),
        "test_loss": torch.tensor([[1.1, 1.2], [1.4, 1.3], [0.97, 0.98]]),
        "regimes": ["memorising", "transition", "generalising"],
    }


def test_dimensionality_figure_has_both_strips_and_the_gon_line(sweep):
    fig = analysis.dimensionality_figure(
        sweep["sizes"], sweep["feature_dims"], sweep["data_dims"], sweep["regimes"]
    )
    names = [trace.name for trace in fig.data]
    assert names[:2] == ["features", "datapoints"] and "m/T" in names[2]
    assert len(fig.data[0].x) == 3 * 40 and len(fig.data[1].x) == 3 + 50 + 1000
    assert len(fig.layout.shapes) == 3  # one shaded band per regime
    with pytest.raises(ValueError, match="equal lengths"):
        analysis.dimensionality_figure(sweep["sizes"][:2], sweep["feature_dims"], [], [])


def test_loss_curve_figure_plots_means_and_rejects_bad_shapes(sweep):
    fig = analysis.loss_curve_figure(
        sweep["sizes"], sweep["train_loss"], sweep["test_loss"], sweep["regimes"]
    )
    means = {trace.name: list(trace.y) for trace in fig.data if "mean" in trace.name}
    assert means["test loss (mean)"] == pytest.approx([1.15, 1.35, 0.975])
    assert means["train loss (mean)"] == pytest.approx([0.05, 0.25, 0.925])
    with pytest.raises(ValueError, match="test_loss"):
        analysis.loss_curve_figure(sweep["sizes"], sweep["train_loss"], sweep["test_loss"][:2])


def test_ablation_figure(sweep):
    fig = analysis.ablation_figure({"a": (sweep["sizes"], sweep["test_loss"])}, title="t")
    assert list(fig.data[0].y) == pytest.approx([1.15, 1.35, 0.975])
    with pytest.raises(ValueError, match="curves"):
        analysis.ablation_figure({}, title="t")


def test_describe_run_names_every_regime_and_the_peak(sweep):
    text = analysis.describe_run(
        sweep["sizes"],
        sweep["feature_dims"],
        sweep["data_dims"],
        sweep["regimes"],
        sweep["train_loss"],
        sweep["test_loss"],
    )
    assert "memorising: T = 3" in text and "transition: T = 50" in text
    assert "generalising: T = 1000" in text
    assert text.splitlines()[-1].startswith("peak mean test loss: 1.350 at T = 50")


def test_load_results_turns_losses_into_tensors(tmp_path):
    path = tmp_path / "r.json"
    run = {"sizes": [3, 4], "train_loss": [[0.1], [0.2]], "test_loss": [[1.0], [1.1]]}
    payload = {"runs": [run]}
    path.write_text(json.dumps(payload))
    (run,) = analysis.load_results(path)["runs"]
    assert run["sizes"] == [3, 4]
    assert run["test_loss"].shape == (2, 1) and run["test_loss"].dtype == torch.float32


def make_explorer(sweep) -> analysis.SweepExplorer:
    return analysis.SweepExplorer(
        sweep["sizes"],
        sweep["features"],
        sweep["hidden"],
        sweep["feature_dims"],
        sweep["data_dims"],
        sweep["train_loss"],
        sweep["test_loss"],
        sweep["regimes"],
    )


def test_explorer_render_shows_the_chosen_size(sweep):
    figure, text = make_explorer(sweep).render(1)
    assert "T = 50 (transition)" in text and "test loss 1.350" in text
    assert [a.text for a in figure.layout.annotations][:2] == [
        "features (T = 50)",
        "hidden datapoints (T = 50)",
    ]
    with pytest.raises(ValueError, match="index"):
        make_explorer(sweep).render(3)


def test_explorer_widget_callback_redraws_on_selection(sweep):
    widget = make_explorer(sweep).widget()
    dropdown, output = widget.children
    assert [label for label, _ in dropdown.options] == ["T = 3", "T = 50", "T = 1000"]
    dropdown.value = 2  # what a click in the browser does
    texts = [o.get("text", "") for o in output.outputs if o.get("output_type") == "stream"]
    assert any("T = 1000 (generalising)" in t for t in texts)


def test_explorer_rejects_mismatched_lengths(sweep):
    sweep["regimes"] = sweep["regimes"][:2]
    with pytest.raises(ValueError, match="one entry per dataset size"):
        make_explorer(sweep)


@pytest.fixture
def ablation_results():
    runs = [
        {
            "sizes": [10, 100, 1000],
            "weight_decay": wd,
            "feature_probability": 0.01,
            "test_loss": torch.tensor([[1.0, 1.2], [scale, scale], [0.99, 0.99]]),
        }
        for wd, scale in ((0.0, 50.0), (1.0, 1.15))
    ]
    return {"runs": runs}


def test_ablation_peaks_name_the_setting_and_the_peak(ablation_results):
    assert analysis.ablation_peaks(ablation_results, "weight_decay") == [
        "weight decay 0: peak test loss 50.0 at T = 100 (T·p = 1)",
        "weight decay 1: peak test loss 1.1 at T = 100 (T·p = 1)",
    ]


def test_ablation_figures_plot_one_curve_per_run(ablation_results):
    wd = analysis.weight_decay_figure(ablation_results)
    assert [t.name for t in wd.data] == ["weight decay 0", "weight decay 1"]
    fp = analysis.feature_probability_figure(ablation_results)
    assert list(fp.data[0].x) == pytest.approx([0.1, 1.0, 10.0])


class FakeResult:
    """The parts of an engine SweepResult that best_instance_geometry reads."""

    def __init__(self):
        generator = torch.Generator().manual_seed(1)
        self.W = [torch.randn(3, 2, 6, generator=generator) for _ in range(2)]
        self.datasets = [torch.rand(t, 3, 6, generator=generator) for t in (4, 5)]
        self.train_loss = torch.tensor([[0.5, 0.1, 0.3], [0.2, 0.4, 0.0]])

    def data(self, i):
        return self.datasets[i]

    def best_instance(self):
        return self.train_loss.argmin(1)


def test_best_instance_geometry_uses_the_best_instance_and_the_given_function():
    result = FakeResult()
    features, hidden, feature_dims, data_dims = analysis.best_instance_geometry(result)
    torch.testing.assert_close(features[0], result.W[0][1])
    torch.testing.assert_close(hidden[1], result.W[1][2] @ result.datasets[1][:, 2].T)
    torch.testing.assert_close(data_dims[1], analysis.dimensionality(hidden[1].T))
    assert [d.shape for d in feature_dims] == [(6,), (6,)]
    _, _, ones, _ = analysis.best_instance_geometry(result, lambda v: torch.ones(v.shape[0]))
    assert all(torch.equal(d, torch.ones(6)) for d in ones)
