"""The exercises notebook's Colab path, exercised the way Colab runs it.

A fresh Python process with a stub `google.colab` module, in an empty folder outside the
repository, runs the notebook's setup cell, which clones the course from `COURSE_REPO_URL` (here a
local git repository holding the working tree's files) into `COURSE_CLONE_PARENT` (Colab's
/content, here a temporary folder), imports the helpers from the clone and runs the first
exercise's check on the reference solution. Every package is already installed, so the setup
cell's `pip install` branch installs nothing (`PIP_NO_INDEX` makes sure it could not download).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks as build  # noqa: E402

RUNNER = """
import sys, types
sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = types.ModuleType("google.colab")
namespace = {}
for path in sys.argv[1:]:
    exec(compile(open(path).read(), path, "exec"), namespace)
import os
print("helpers imported from", namespace["utils"].__file__)
print("working directory", os.getcwd())  # later cells read results/ relative to it
"""
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")


def notebook_code(kind: str) -> list[str]:
    return [c.source for c in build.build(kind).cells if c.cell_type == "code"]


def setup_cell() -> str:
    """The exercises notebook's setup cell, as a student gets it."""
    return next(code for code in notebook_code("exercises") if "IN_COLAB =" in code)


def first_exercise_solved() -> str:
    """The first exercise cell with the reference code in place of the placeholder."""
    pairs = zip(notebook_code("exercises"), notebook_code("solutions"))
    return next(sol for ex, sol in pairs if "raise NotImplementedError()" in ex)


def course_repo(folder: Path, change: Callable[[Path], None] | None = None) -> Path:
    """A git repository of the working tree's files (what GitHub would serve), maybe altered."""
    folder.mkdir(parents=True, exist_ok=True)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    if change is not None:
        change(folder)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "--quiet"], cwd=folder, check=True)
    subprocess.run([*git, "add", "--all"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "course"], cwd=folder, check=True)
    return folder


def run_in_colab(tmp_path: Path, repo_url: str) -> subprocess.CompletedProcess:
    """Run the setup cell and the first exercise as Colab would, in an empty folder."""
    cells = tmp_path / "cells"
    cells.mkdir()
    (cells / "setup.py").write_text(setup_cell())
    (cells / "exercise.py").write_text(first_exercise_solved())
    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {
        "COURSE_REPO_URL": repo_url,
        "COURSE_CLONE_PARENT": str(tmp_path / "content"),
        "PIP_NO_INDEX": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(cells / "setup.py"), str(cells / "exercise.py")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def good_repo(tmp_path_factory) -> Path:
    return course_repo(tmp_path_factory.mktemp("origin") / "double-descent")


def test_setup_cell_clones_the_course_and_the_first_check_passes(good_repo, tmp_path):
    result = run_in_colab(tmp_path, good_repo.as_uri())
    assert result.returncode == 0, f"Colab setup failed:\n{result.stdout}\n{result.stderr}"
    clone = tmp_path / "content" / "double-descent"
    assert f"helpers imported from {clone / 'part4_utils.py'}" in result.stdout
    assert f"working directory {clone}\n" in result.stdout
    assert "Setup complete" in result.stdout
    assert re.search(r"All tests in `\w+` passed!", result.stdout), result.stdout


def test_setup_cell_fails_on_a_broken_clone_url(tmp_path):
    result = run_in_colab(tmp_path, (tmp_path / "no-such-repo").as_uri())
    assert result.returncode != 0
    assert "CalledProcessError" in result.stderr and "git" in result.stderr


def test_setup_cell_fails_when_a_helper_is_missing_from_the_clone(tmp_path):
    repo = course_repo(tmp_path / "double-descent", lambda d: (d / "part4_utils.py").unlink())
    result = run_in_colab(tmp_path, repo.as_uri())
    assert result.returncode != 0
    assert "No module named 'part4_utils'" in result.stderr


def test_setup_cell_fails_on_an_import_the_clone_cannot_satisfy(tmp_path):
    def needs_a_missing_package(folder: Path) -> None:
        path = folder / "part4_analysis.py"
        path.write_text(path.read_text() + "\nimport package_colab_lacks\n")

    repo = course_repo(tmp_path / "double-descent", needs_a_missing_package)
    result = run_in_colab(tmp_path, repo.as_uri())
    assert result.returncode != 0
    assert "No module named 'package_colab_lacks'" in result.stderr


@pytest.mark.parametrize("kind", ["exercises", "solutions"])
def test_notebook_images_are_absolute_urls_of_committed_files(kind):
    """Relative paths do not resolve in Colab; the URLs must point at files in images/."""
    notebook: nbformat.NotebookNode = build.build(kind)
    urls = [u for c in notebook.cells if c.cell_type == "markdown" for u in IMAGE.findall(c.source)]
    local = [u for u in urls if not u.startswith(build.IMAGES_URL) and "://" not in u]
    assert local == [], f"relative image paths (broken in Colab): {local}"
    ours = [u for u in urls if u.startswith(build.IMAGES_URL)]
    assert len(ours) >= 5
    missing = [u for u in ours if not (ROOT / "images" / u.split("/")[-1]).is_file()]
    assert missing == [], f"image URLs with no file in images/: {missing}"


def test_images_url_is_derived_from_the_repository_url():
    owner_and_name = build.REPO_URL.removeprefix("https://github.com/")
    assert build.IMAGES_URL == f"https://raw.githubusercontent.com/{owner_and_name}/main/images"
