"""`prepare_run_dir`: what a new run into an existing run directory keeps, replaces and refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tunekit.errors import RunDirError
from tunekit.run.layout import RunLayout
from tunekit.run.setup import prepare_run_dir


@pytest.fixture
def compressed_copy(tiny_compressed_run, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_compressed_run, tmp_path / "run"))


def test_overwrite_removes_the_old_runs_outputs_and_its_compressed_model(compressed_copy):
    """The int8 model was made from the weights being replaced: it goes with them."""
    layout = RunLayout(compressed_copy)
    assert layout.compressed_model.is_file() and layout.model.is_dir()
    prepare_run_dir(layout, resume=False, overwrite=True)
    for gone in (layout.compressed, layout.model, layout.evaluations, layout.checkpoints, layout.metrics,
                 layout.report, layout.status, layout.train_log):
        assert not gone.exists(), gone
    assert layout.config.is_file()  # rewritten by the new run


def test_without_overwrite_nothing_is_removed(compressed_copy):
    before = sorted(str(p.relative_to(compressed_copy)) for p in compressed_copy.rglob("*"))
    with pytest.raises(RunDirError, match="already holds a run") as error:
        prepare_run_dir(RunLayout(compressed_copy), resume=False, overwrite=False)
    assert "--overwrite" in error.value.fix
    assert sorted(str(p.relative_to(compressed_copy)) for p in compressed_copy.rglob("*")) == before
