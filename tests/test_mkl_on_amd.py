"""mkl_on_amd: torch's MKL answers "Intel CPU" on an AMD AVX2 CPU once tunekit is imported, and only then."""

import ctypes
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from tunekit import mkl_on_amd
from tunekit.mkl_on_amd import Outcome, describes_amd_avx2

_ZEN3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n\nprocessor\t: 1\n"
_ZEN4 = "vendor_id\t: AuthenticAMD\nflags\t\t: avx fma avx2 avx512f avx512_bf16\n"
_INTEL = "vendor_id\t: GenuineIntel\nflags\t\t: avx fma avx2\n"
_OLD_AMD = "vendor_id\t: AuthenticAMD\nflags\t\t: sse2 avx\n"

needs_amd_mkl = pytest.mark.skipif(
    not (mkl_on_amd.cpu_is_amd_avx2() and sys.platform.startswith("linux") and torch.backends.mkl.is_available()),
    reason="needs an AMD AVX2 CPU and torch with MKL on Linux")

# Prints what MKL answers to its vendor test after the snippet in argv[1] ran, and the tunekit outcome.
_PROBE = textwrap.dedent("""
    import ctypes, os, sys
    exec(sys.argv[1])
    import torch
    from tunekit.mkl_on_amd import use_mkl_avx2_on_amd
    torch.ones(4).exp()  # MKL's first call, if nothing before made one
    library = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"),
                          mode=os.RTLD_NOLOAD)
    print(library.mkl_serv_intel_cpu_true(), use_mkl_avx2_on_amd().value)
""")


def _run(code: str, *args: str, **env: str) -> str:
    """What ``python -c code *args`` prints in a fresh interpreter, with ``env`` added to the environment."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()


def _probe(before: str, **env: str) -> tuple[int, str]:
    answer, outcome = _run(_PROBE, before, **env).split(" ", 1)
    return int(answer), outcome


def test_cpuinfo_names_only_amd_avx2_without_avx512():
    assert describes_amd_avx2(_ZEN3)
    assert not describes_amd_avx2(_ZEN4)
    assert not describes_amd_avx2(_INTEL)
    assert not describes_amd_avx2(_OLD_AMD)
    assert not describes_amd_avx2("")


@needs_amd_mkl
def test_importing_tunekit_first_gives_mkl_its_avx2_path():
    assert _probe("import tunekit") == (1, Outcome.APPLIED.value)
    assert _probe("import torch; import tunekit") == (1, Outcome.APPLIED.value)  # torch loaded, no operation yet


@needs_amd_mkl
def test_mkl_keeps_its_own_path_when_turned_off_or_too_late():
    assert _probe("import tunekit", TUNEKIT_MKL_ON_AMD="off") == (0, Outcome.TOO_LATE.value)
    assert _probe("import torch; torch.ones(2).exp(); import tunekit") == (0, Outcome.TOO_LATE.value)


@needs_amd_mkl
def test_matmuls_on_the_avx2_path_agree_with_numpy():
    code = ("import tunekit, numpy, torch; a, b = torch.randn(217, 384), torch.randn(384, 1536); "
            "print(numpy.abs((a @ b).numpy() - a.numpy() @ b.numpy()).max())")
    assert float(_run(code)) < 1e-3  # fp32 sums of 384 products of magnitude ~1


def test_an_mkl_that_reads_differently_is_left_alone(monkeypatch):
    monkeypatch.setattr(mkl_on_amd, "cpu_is_amd_avx2", lambda: True)
    monkeypatch.setattr(ctypes, "string_at", lambda address, size: b"\x90" * size)  # not the expected code
    assert mkl_on_amd.use_mkl_avx2_on_amd() is Outcome.UNAVAILABLE


def test_other_cpus_are_left_alone(monkeypatch):
    monkeypatch.setattr(mkl_on_amd, "cpu_is_amd_avx2", lambda: False)
    assert mkl_on_amd.use_mkl_avx2_on_amd() is Outcome.NOT_AMD_AVX2


@needs_amd_mkl
def test_torch_keeps_its_own_loader_and_the_finder_is_gone():
    code = ("import sys, tunekit, torch; from tunekit.mkl_on_amd import _AfterTorchImport as hook; "
            "print(isinstance(torch.__loader__, hook), isinstance(torch.__spec__.loader, hook), "
            "any(isinstance(finder, hook) for finder in sys.meta_path))")
    assert _run(code).split() == ["False", "False", "False"]


@needs_amd_mkl
def test_the_path_in_use_is_read_without_changing_it():
    code = ("import sys, torch; from tunekit.mkl_on_amd import mkl_path_in_use as path; before = path(); "
            "torch.ones(2).exp(); print(before, '|', path())")
    assert _run(code, TUNEKIT_MKL_ON_AMD="off") == "not chosen yet | as shipped"
    assert _run(code) == "avx2 | avx2"
