"""Times the largest `plot_features_in_2d` call of the course and reports its JSON size.

The call draws 17 feature matrices (2, 1000) and 17 hidden-data matrices (2, T), one per training
set size T, in one figure of 34 subplots. Run from the repository root:

    python scripts/bench_plot.py
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from part4_utils import plot_features_in_2d  # noqa: E402

COURSE_T = [3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000]


def main(repeats: int = 3) -> None:
    torch.manual_seed(0)
    W = [torch.randn(2, 1000) for _ in COURSE_T] + [torch.randn(2, T) for T in COURSE_T]
    titles = [f"features, T={T}" for T in COURSE_T] + [f"data, T={T}" for T in COURSE_T]
    build, serialise = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fig = plot_features_in_2d(W, subplot_titles=titles, n_rows=2)
        build.append(time.perf_counter() - start)
        start = time.perf_counter()
        size = len(fig.to_json())
        serialise.append(time.perf_counter() - start)
    print(f"subplots: {len(W)}, traces: {len(fig.data)}")
    print(f"build: {min(build):.3f} s (best of {repeats})")
    print(f"to_json: {min(serialise):.3f} s, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
