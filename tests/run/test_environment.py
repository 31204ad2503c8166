"""`describe_environment`: the record of versions, seed and machine written into every run."""

from __future__ import annotations

import json
import os
import platform
import subprocess

import numpy
import peft
import torch
import transformers

from tunekit.mkl_on_amd import mkl_path_in_use
from tunekit.run import environment
from tunekit.run.environment import describe_environment


def test_records_seed_and_package_versions():
    env = describe_environment(seed=1234)
    assert env["seed"] == 1234
    packages = env["packages"]
    assert set(packages) == set(environment.PACKAGES)
    assert packages["torch"] == torch.__version__
    assert packages["transformers"] == transformers.__version__
    assert packages["peft"] == peft.__version__
    assert packages["numpy"] == numpy.__version__
    assert packages["tunekit"] is not None
    assert env["python"] == platform.python_version()


def test_records_the_machine():
    machine = describe_environment(seed=0)["machine"]
    assert machine["cpu_count"] == os.cpu_count()
    assert machine["torch_threads"] == torch.get_num_threads()
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert machine["mkl_path_on_amd"] == mkl_path_in_use()
    assert machine["platform"] == platform.platform()
    assert isinstance(machine["processor"], str)
    assert machine["cuda"] is None if not torch.cuda.is_available() else isinstance(machine["cuda"], str)


def test_missing_package_is_recorded_as_none(monkeypatch):
    monkeypatch.setattr(environment, "PACKAGES", ("torch", "tunekit-no-such-package-xyz"))
    packages = describe_environment(seed=0)["packages"]
    assert packages == {"torch": torch.__version__, "tunekit-no-such-package-xyz": None}


def test_git_commit_is_the_checkout_head():
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                         cwd=os.path.dirname(environment.__file__))
    expected = out.stdout.strip() or None
    assert describe_environment(seed=0)["git_commit"] == expected


def test_is_json_serialisable():
    env = describe_environment(seed=3)
    assert json.loads(json.dumps(env)) == env
