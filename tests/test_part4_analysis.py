"""Regime rules, figure builders, the results loader and the explorer widget's callback."""

from __future__ import annotations

import json
import math

import pytest
import torch

import part4_analysis as analysis
from sweep_engine import evaluate_loss


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


def test_explorer_widget_output_holds_the_plotly_figure_of_the_chosen_size(sweep):
    dropdown, output = make_explorer(sweep).widget().children
    dropdown.value = 2
    figures = [
        o["data"]["application/vnd.plotly.v1+json"]
        for o in output.outputs
        if o["output_type"] == "display_data" and "application/vnd.plotly.v1+json" in o["data"]
    ]
    assert len(figures) == 1, f"expected one plotly figure in the output, got {output.outputs}"
    titles = [a["text"] for a in figures[0]["layout"]["annotations"]]
    assert titles[:2] == ["features (T = 1000)", "hidden datapoints (T = 1000)"]
    assert len(figures[0]["data"]) > 0
    json.dumps(output.outputs)  # what the kernel sends to the front end must be plain JSON


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
            "train_loss": torch.tensor([[0.0, 0.0], [train, train], [0.98, 0.98]]),
        }
        for wd, scale, train in ((0.0, 50.0, 0.3), (1.0, 1.15, 0.9))
    ]
    return {"runs": runs}


def test_ablation_peaks_name_the_setting_and_the_peak(ablation_results):
    assert analysis.ablation_peaks(ablation_results, "weight_decay") == [
        "weight decay 0: peak test loss 50.0 at T = 100 (T·p = 1)",
        "weight decay 1: peak test loss 1.1 at T = 100 (T·p = 1)",
    ]


def test_ablation_figures_plot_one_curve_per_run(ablation_results):
    wd = analysis.weight_decay_figure(ablation_results)
    assert [t.name for t in wd.data] == [
        "weight decay 0",
        "weight decay 1",
        "weight decay 0 (train)",
        "weight decay 1 (train)",
    ]
    assert list(wd.data[3].y) == pytest.approx([0.0, 0.9, 0.98])
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


def test_best_instance_geometry_calls_the_given_best_instance_and_hidden_functions():
    result = FakeResult()
    calls = []

    def last_instance(W, data, train_loss):
        calls.append((W.shape, data.shape, train_loss.shape))
        return W[-1], data[:, -1]

    def hidden_rows(W, data):
        return data @ W.T

    features, hidden, _, data_dims = analysis.best_instance_geometry(
        result, analysis.dimensionality, last_instance, hidden_rows
    )
    assert calls == [((3, 2, 6), (4, 3, 6), (3,)), ((3, 2, 6), (5, 3, 6), (3,))]
    torch.testing.assert_close(features[0], result.W[0][2])
    torch.testing.assert_close(hidden[0], result.W[0][2] @ result.datasets[0][:, 2].T)
    assert [h.shape for h in hidden] == [(2, 4), (2, 5)]
    torch.testing.assert_close(data_dims[1], analysis.dimensionality(hidden[1].T))


@pytest.mark.parametrize(
    "train_loss, expected", [(None, "memorising"), (0.1, "memorising"), (0.9, "transition")]
)
def test_regime_rule_needs_a_fitted_training_set_to_call_a_gon_memorising(train_loss, expected):
    rule = analysis.RegimeRule()
    feature_dims = analysis.dimensionality(torch.randn(100, 2) * 1e-3)
    regime = rule.classify(feature_dims, analysis.dimensionality(polygon(6)), train_loss=train_loss)
    assert regime == expected


def test_per_point_loss_known_answers_and_mean_matches_the_engine():
    generator = torch.Generator().manual_seed(0)
    data = torch.rand(30, 12, generator=generator)
    data = data / data.norm(dim=-1, keepdim=True)
    zeros = analysis.per_point_loss(torch.zeros(2, 2, 12), torch.zeros(2, 12), data)
    torch.testing.assert_close(zeros, torch.ones(2, 30))
    W, b = torch.randn(3, 2, 12, generator=generator), torch.randn(3, 12, generator=generator)
    losses = analysis.per_point_loss(W, b, data, chunk_size=7)
    assert losses.shape == (3, 30)
    torch.testing.assert_close(losses.mean(1), evaluate_loss(W, b, data))


def test_tail_statistics_of_one_outlier():
    losses = torch.ones(2, 50)
    losses[1, 7] = 101.0
    stats = analysis.tail_statistics(losses)
    assert stats["q50"] == pytest.approx(1.0) and stats["mean"] == pytest.approx(2.0)
    assert stats["worst_1pct_share"] == pytest.approx(101 / 200)
    assert stats["above_2"] == pytest.approx(0.01)
    assert stats["test_set_se"] == pytest.approx(0.5 * (100 * math.sqrt(1 / 50)) / math.sqrt(50))


def test_point_anatomy_blames_the_absent_feature_that_fires():
    W = torch.tensor([[2.0, 2.0, 0.0], [0.0, 0.0, 1.0]])  # features 0 and 1 share a direction
    b = torch.tensor([0.0, 0.0, -5.0])
    data = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    anatomy = analysis.point_anatomy(W, b, data)
    # point 0: out = (4, 4, 0), loss 9 + 16 = 25, of which 16 from absent feature 1
    torch.testing.assert_close(anatomy["loss"], torch.tensor([25.0, 1.0]))
    torch.testing.assert_close(anatomy["false_fire_share"], torch.tensor([16 / 25, 0.0]))
    torch.testing.assert_close(anatomy["false_fires"], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(anatomy["hidden_norm"], torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(anatomy["present_norm"], torch.tensor([2.0, 1.0]))
    summary = analysis.blowup_summary(W[None], b[None], data, worst_fraction=0.5)
    assert summary["worst"]["loss"] == pytest.approx(25.0)
    assert summary["weights"]["max_norm"] == pytest.approx(2.0)


def fake_run(sizes, means, steps=1000, d_hidden=2):
    test_loss = torch.tensor([[m - 0.01, m + 0.01] for m in means])
    return {
        "config": {"steps": steps, "d_hidden": d_hidden},
        "sizes": sizes,
        "feature_probability": 0.01,
        "train_loss": torch.full((len(sizes), 2), 0.5),
        "test_loss": test_loss,
        "tail": [{"q50": 1.0, "worst_1pct_share": 0.25} for _ in sizes],
        "best_instance": {"data_dims": [[2 / t] * t for t in sizes]},
    }


def test_replication_rows_put_ours_beside_the_published_numbers():
    sizes = sorted(analysis.PUBLISHED_REPLICATION["test_loss"])
    rows = analysis.replication_rows(fake_run(sizes, [2.0] * len(sizes)))
    assert rows[0] == "test loss T = 3: ours 2.000 (1.990–2.010, median point 1.000), published 1.1"
    assert rows[-1] == "train loss T = 500: ours 0.500 (0.500–0.500), published 0.96"
    fig = analysis.replication_figure(fake_run(sizes, [2.0] * len(sizes)))
    assert list(fig.data[-1].x) == sizes


def test_run_peaks_and_the_training_length_figure():
    results = {
        "runs": [
            fake_run([10, 100, 1000], [1.0, 5.0, 0.99], steps=3000),
            fake_run([10, 100, 1000], [1.0, 50.0, 0.99], steps=50000),
        ]
    }
    peaks = analysis.run_peaks(results, "steps")
    assert [(p["steps"], p["size"]) for p in peaks] == [(3000, 100), (50000, 100)]
    assert [p["mean"] for p in peaks] == pytest.approx([5.0, 50.0])
    assert analysis.peak_lines(results, "steps")[0] == (
        "steps 3000: peak mean test loss 5.0 at T = 100 (median point 1.000, worst 1% carry 25%)"
    )
    fig = analysis.training_length_figure(results)
    assert list(fig.data[-1].y) == pytest.approx([5.0, 50.0])


def test_hidden_size_figure_draws_one_gon_line_per_m():
    results = {"runs": [fake_run([10, 100], [1.0, 2.0], d_hidden=m) for m in (2, 5)]}
    fig = analysis.hidden_size_figure(results)
    lines = [t for t in fig.data if t.name == "m/T"]
    assert len(lines) == 2 and lines[1].y[0] == pytest.approx(5 / lines[1].x[0])
    assert len(fig.data[0].x) == 110


def test_largest_feature_finds_the_lone_big_vector_and_its_share_of_the_loss():
    W = torch.tensor([[0.1, 3.0, 0.2], [0.0, 0.0, 0.1]])
    b = torch.tensor([0.0, -1.0, 0.0])
    train = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    test = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    report = analysis.largest_feature(W, b, train, test)
    assert report["feature"] == 1 and report["train_points"] == 1
    assert report["norm"] == pytest.approx(3.0) and report["bias"] == pytest.approx(-1.0)
    losses = analysis.per_point_loss(W[None], b[None], test)[0]
    assert report["loss_share"] == pytest.approx((losses[0] / losses.sum()).item())
    assert report["test_fraction"] == pytest.approx(1 / 3)


def snapshot_run(sizes=(3, 10), n_frames=4, n_features=6):
    """A fake run with snapshots: frame k scales every vector by k + 1."""
    frames = [
        {
            "test_loss": [[1.0 + k, 2.0 + k] for k in range(n_frames)],
            "features": [[[k + 1.0] * n_features, [0.0] * n_features] for k in range(n_frames)],
            "hidden": [[[0.0] * t, [-(k + 1.0)] * t] for k in range(n_frames)],
        }
        for t in sizes
    ]
    return {
        "sizes": list(sizes),
        "best_instance": {"index": [1, 0]},
        "snapshots": {"steps": [0, 10, 100, 1000][:n_frames], "frames": frames},
    }


def test_learning_figure_slider_shows_one_snapshot_at_a_time():
    run = snapshot_run()
    fig = analysis.learning_figure(run)
    (slider,) = fig.layout.sliders
    assert [s.label for s in slider.steps] == ["0", "10", "100", "1,000"]
    static = 2  # one test-loss line per size
    per_frame = 2 * 2 + 1
    visible = slider.steps[1].args[0]["visible"]
    assert visible[:static] == [True, True]
    assert [k for k, v in enumerate(visible[static:]) if v] == list(range(per_frame, 2 * per_frame))
    assert slider.steps[3].args[1]["xaxis.range"] == pytest.approx([-4.4, 4.4])
    assert list(fig.data[0].y) == [2.0, 3.0, 4.0, 5.0]  # the best instance (1) of T = 3


def test_learning_strip_figure_has_one_panel_per_size_and_frame():
    fig = analysis.learning_strip_figure(snapshot_run(), frames=[0, 3])
    assert len(fig.data) == 2 * 2 * 2
    assert fig.layout.annotations[1].text == "T = 3, step 1,000"


def test_optimizer_steps_progress_ticks_once_per_step_of_any_loop_and_unhooks() -> None:
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([param], lr=0.1)
    with analysis.optimizer_steps_progress(total=5, desc="test") as bar:
        for _ in range(5):
            optimizer.zero_grad()
            param.sum().backward()
            optimizer.step()
        assert bar.n == 5
    optimizer.step()
    assert bar.n == 5, "the hook must be removed when the block ends"


def random_directions(k: int, seed: int = 0) -> torch.Tensor:
    angles = torch.rand(k, generator=torch.Generator().manual_seed(seed)) * 2 * math.pi
    return torch.stack([angles.cos(), angles.sin()])


def clusters(k: int, per_cluster: int, spread: float = 1e-4) -> torch.Tensor:
    """k clusters of `per_cluster` points, each cluster within `spread` radians of one angle."""
    centres = torch.arange(k).repeat_interleave(per_cluster) * 2 * math.pi / k
    angles = centres + torch.linspace(0, spread, per_cluster).repeat(k)
    return torch.stack([angles.cos(), angles.sin()])


@pytest.mark.parametrize(
    "hidden, low, high",
    [
        (polygon(7).T, 1.0, 1.0),
        (polygon(300).T * torch.linspace(1, 2, 300), 1.0, 1.0),
        (random_directions(3000), analysis.RANDOM_SHARE - 0.03, analysis.RANDOM_SHARE + 0.03),
        (clusters(10, 30), 10 / 300, 10 / 300),
        (torch.cat([polygon(10).T, torch.zeros(2, 10)], dim=1), 1.0, 1.0),
        (torch.cat([clusters(3, 10), polygon(30).T * 1e-3], dim=1), 0.1, 0.1),
        (torch.tensor([[1.0, 0.0], [0.0, 0.0]]), 1.0, 1.0),
        (torch.zeros(2, 5), 0.0, 0.0),
    ],
    ids=[
        "gon",
        "gon-radii",
        "random",
        "clusters",
        "half-stored",
        "tiny-gon-ignored",
        "one",
        "none",
    ],
)
def test_direction_share_targets(hidden, low, high):
    assert low - 1e-9 <= analysis.direction_share(hidden) <= high + 1e-9


def test_direction_share_rejects_other_hidden_sizes():
    with pytest.raises(ValueError, match="hidden: expected 2 hidden dimensions"):
        analysis.direction_share(torch.zeros(3, 5))


def one_point_each(hidden: torch.Tensor, n: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and data of a model storing each training point on its own feature: point i is
    feature i alone, and W's column i is the hidden position `hidden[:, i]`."""
    n_points = hidden.shape[1]
    features = torch.randn(2, n, generator=torch.Generator().manual_seed(1)) * 1e-3
    features[:, :n_points] = hidden
    return features, torch.eye(n)[:n_points]


def pentagon_model(n_points: int = 50, n: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """A pentagon of features, with each of the five features in ten training points."""
    data = torch.zeros(n_points, n)
    data[torch.arange(n_points), torch.arange(n_points) % 5] = 1.0
    return pentagon_features(n).T, data


@pytest.mark.parametrize(
    "model, expected",
    [
        (one_point_each(polygon(6).T), "memorising points"),
        (one_point_each(polygon(3).T), "memorising points"),
        (one_point_each(clusters(4, 10)), "memorising clusters"),
        (pentagon_model(), "generalising"),
    ],
    ids=["hexagon", "triangle-of-features", "clusters", "pentagon"],
)
def test_solution_kind(model, expected):
    assert analysis.solution_kind(*model) == expected


def lr_results(losses: dict[float, list[list[float]]], kinds: dict[float, list[list[str]]]):
    """A learning-rate results file: one run per rate with (size, inst) losses and kinds."""
    runs = []
    for lr, train in losses.items():
        train = torch.tensor(train)
        runs.append(
            {
                "config": {"lr": lr},
                "sizes": [10, 100][: train.shape[0]],
                "train_loss": train,
                "test_loss": train + 1,
                "solutions": {
                    "kind": kinds[lr],
                    "direction_share": [[0.9] * train.shape[1]] * train.shape[0],
                },
            }
        )
    return {"runs": runs}


def test_lowest_train_loss_takes_the_minimum_over_rates_and_instances():
    points, general = "memorising points", "generalising"
    results = lr_results(
        {1e-3: [[0.2, 0.1], [0.9, 0.8]], 1e-2: [[0.3, 0.05], [0.95, 0.85]]},
        {1e-3: [[points] * 2, [points, general]], 1e-2: [[points, points], [points] * 2]},
    )
    winners = analysis.lowest_train_loss(results)
    assert [(w["size"], w["lr"], w["instance"], w["kind"]) for w in winners] == [
        (10, 1e-2, 1, points),
        (100, 1e-3, 1, general),
    ]
    assert winners[1]["test_loss"] == pytest.approx(1.8)
    assert analysis.kind_spans(winners) == [(points, 10, 10), (general, 100, 100)]
    curves = analysis.rate_curves(results)
    assert list(curves) == [1e-3, 1e-2]
    assert curves[1e-2]["train_loss"] == pytest.approx([0.05, 0.85])
    assert curves[1e-3]["mean_test_loss"] == pytest.approx([1.15, 1.85])


def test_kind_spans_merge_consecutive_sizes_of_one_kind():
    kinds = ["memorising points"] * 3 + ["generalising"] * 2 + ["memorising points"]
    winners = [{"size": t, "kind": k} for t, k in zip((3, 5, 10, 30, 100, 300), kinds)]
    assert analysis.kind_spans(winners) == [
        ("memorising points", 3, 10),
        ("generalising", 30, 100),
        ("memorising points", 300, 300),
    ]


def test_learning_rate_figures():
    points = "memorising points"
    results = lr_results(
        {1e-3: [[0.2, 0.1], [0.9, 0.8]], 1e-2: [[0.3, 0.05], [0.95, 0.85]]},
        {lr: [[points] * 2] * 2 for lr in (1e-3, 1e-2)},
    )
    fig = analysis.learning_rate_figure(results)
    names = [trace.name for trace in fig.data]
    assert names == [
        "lr 0.001",
        "lr 0.01",
        f"lowest train loss: {points}",
        f"lowest train loss: {points}",
        "course rate 0.001: mean test loss",
    ]
    winners = [
        {
            "size": T,
            "lr": 1e-2,
            "kind": points,
            "features": torch.randn(2, 8).tolist(),
            "hidden": polygon(T).T.tolist(),
        }
        for T in (3, 5)
    ]
    titles = [a.text for a in analysis.winners_geometry_figure(winners, (3, 5)).layout.annotations]
    assert titles == [f"T = {T}, lr 0.01<br>{points}" for T in (3, 5)] + [
        "data, T = 3",
        "data, T = 5",
    ]
    with pytest.raises(ValueError, match=r"shown: sizes \[7\] have no stored winner"):
        analysis.winners_geometry_figure(winners, (3, 7))


def with_tiny_features(strong: torch.Tensor, n: int = 10_000) -> torch.Tensor:
    """`strong` (2, k) followed by n - k tiny random features: a model at the paper's n."""
    tiny = torch.randn(2, n - strong.shape[1], generator=torch.Generator().manual_seed(2)) * 1e-3
    return torch.cat([strong, tiny], dim=1)


def rotated(angles_degrees: list[float], norms: list[float] | None = None) -> torch.Tensor:
    """Features at these angles (degrees), unit length unless `norms` are given."""
    angles = torch.deg2rad(torch.tensor(angles_degrees))
    norms = torch.ones(len(angles_degrees)) if norms is None else torch.tensor(norms)
    return torch.stack([angles.cos(), angles.sin()]) * norms


@pytest.mark.parametrize(
    "features, regular, gaps",
    [
        (with_tiny_features(polygon(5).T), True, [72.0] * 5),
        (with_tiny_features(rotated([10, 85, 150, 230, 300])), True, [75, 65, 80, 70, 70]),
        (with_tiny_features(polygon(6).T), False, None),
        (with_tiny_features(rotated([0, 20, 40, 60, 80])), False, [20, 20, 20, 20, 280]),
        (with_tiny_features(rotated([0, 72, 144, 216, 288], [1, 1, 1, 0.1, 0.1])), False, None),
        (with_tiny_features(polygon(4).T), False, None),
        (torch.zeros(2, 100), False, None),
    ],
    ids=["pentagon", "uneven-pentagon", "hexagon", "fan", "two-short", "square", "zeros"],
)
def test_polygon_test_targets(features, regular, gaps):
    test = analysis.polygon_test(features)
    assert test["regular"] is regular
    assert len(test["dims"]) == 5 and test["dims"] == sorted(test["dims"], reverse=True)
    assert sum(test["gaps"]) == pytest.approx(360)
    if gaps is not None:
        assert sorted(test["gaps"]) == pytest.approx(sorted(gaps), abs=1e-3)


def test_polygon_test_dims_of_a_pentagon_among_tiny_features():
    assert analysis.polygon_test(polygon(5).T)["dims"] == pytest.approx([0.4] * 5)
    dims = analysis.polygon_test(with_tiny_features(polygon(5).T))["dims"]
    assert all(0.39 < d < 0.4 for d in dims), "9,995 tiny features add to each denominator"


@pytest.mark.parametrize(
    "features, k, message",
    [
        (torch.zeros(3, 100), 5, r"features: expected shape \(2, feats\)"),
        (torch.zeros(2, 4), 5, "k: expected 2 to 4"),
        (torch.zeros(2, 10), 1, "k: expected 2 to 10"),
    ],
)
def test_polygon_test_rejects_bad_input(features, k, message):
    with pytest.raises(ValueError, match=message):
        analysis.polygon_test(features, k)


def size_run(sizes: list[int], instances: int = 2) -> dict:
    """A `load_results` run with these sizes: losses, tails and best-instance entries per size."""
    losses = torch.tensor([[float(T)] * instances for T in sizes])
    return {
        "config": {"sizes": sizes},
        "sizes": sizes,
        "train_loss": losses / 10,
        "test_loss": losses,
        "tail": [{"q50": float(T)} for T in sizes],
        "best_instance": {"index": [0] * len(sizes), "feature_dims_top": [[T] for T in sizes]},
    }


def test_join_sizes_appends_every_per_size_entry_in_order():
    joined = analysis.join_sizes(size_run([30, 100]), size_run([20_000]))
    assert joined["sizes"] == [30, 100, 20_000]
    assert joined["test_loss"][:, 0].tolist() == [30, 100, 20_000]
    assert joined["train_loss"].shape == (3, 2)
    assert [tail["q50"] for tail in joined["tail"]] == [30, 100, 20_000]
    assert joined["best_instance"]["feature_dims_top"] == [[30], [100], [20_000]]
    assert joined["config"] == {"sizes": [30, 100]}


def test_join_sizes_rejects_no_runs_and_other_instance_counts():
    with pytest.raises(ValueError, match="runs: expected at least one run"):
        analysis.join_sizes()
    with pytest.raises(ValueError, match=r"runs: expected one instance count, got \[2, 3\]"):
        analysis.join_sizes(size_run([30]), size_run([100], instances=3))


def test_paper_scale_figure_places_the_reported_curves_beside_ours():
    ours = size_run([300, 4000, 20_000]) | {"feature_probability": 0.001}
    fig = analysis.paper_scale_figure({"ours": ours})
    reported = {t.name.split(" ")[0]: t for t in fig.data if "(reported)" in (t.name or "")}
    assert set(reported) == {"paper", "Jermyn"}
    assert list(reported["paper"].x) == pytest.approx([0.7, 5]) and set(reported["paper"].y) == {
        1.01
    }
    assert list(reported["Jermyn"].x) == pytest.approx([0.1, 20])
    assert set(reported["Jermyn"].y) == {5000}
    lines = sorted(shape.x0 for shape in fig.layout.shapes if shape.x0 == shape.x1)
    assert lines == pytest.approx([5, 20])
    assert "generalising from T ≈ 20,000" in reported["Jermyn"].name
    assert not fig.layout.annotations, "an annotation's x on a log axis is in log10 units"
    ours_trace = next(t for t in fig.data if t.name == "ours")
    assert list(ours_trace.x) == pytest.approx([0.3, 4, 20])


def test_recipe_draws_put_the_published_mean_among_the_draws():
    def run(seed: int, losses: list[list[float]], variant: str = "recipe") -> dict:
        return {
            "variant": variant,
            "config": {"seed": seed},
            "sizes": [500, 1000],
            "test_loss": torch.tensor(losses),
        }

    recipe = {"runs": [run(0, [[1.2, 1.4], [1.0, 1.02]]), run(0, [[9, 9], [9, 9]], "full_batch")]}
    draws = {"runs": [run(1, [[1.6, 1.8], [1.04, 1.06]]), run(2, [[1.1, 1.3], [1.08, 1.1]])]}
    rows = analysis.recipe_draws(recipe, draws)
    assert [row["size"] for row in rows] == [500, 1000]
    assert [row["published"] for row in rows] == [1.53, 1.06]
    assert rows[0]["means"] == pytest.approx({0: 1.3, 1: 1.7, 2: 1.2})
    assert (rows[0]["low"], rows[0]["high"], rows[0]["reaching"]) == pytest.approx((1.2, 1.7, 1))
    assert (rows[1]["low"], rows[1]["high"], rows[1]["reaching"]) == pytest.approx((1.01, 1.09, 1))
