"""Let torch's MKL run its AVX2 kernels on AMD CPUs, where it otherwise falls back to a slower generic path.

Intel's MKL, which torch's x86 wheels link statically for fp32 matmuls, picks its code path by CPU vendor: on an
AMD CPU it reports "Intel(R) Architecture processors" (``MKL_VERBOSE=1``) and runs kernels that are slow at the
small shapes fine-tuning uses. MKL caches the vendor test's answer (``mkl_serv_intel_cpu_true``) in a variable
on its first call; setting that variable to "yes" before the first call makes MKL run the AVX2/FMA kernels
that the CPU has. This is the in-process form of the widely used ``LD_PRELOAD`` shim that redefines the same
function. Measured on an AMD EPYC Zen 3 host (AVX2, no AVX-512): a batch-16 MiniLM step's matmul shapes ran at
112–147 GFLOP/s against 66–123 (`bench/speed_mkl_path.py`), and the full fine-tuning benchmark at 71.9–76.3
samples/s against 62.8–74.0 before (docs/benchmarks.md, "What changed in tunekit").

Where it applies: Linux, an AMD CPU with AVX2 and FMA and without AVX-512 (the kind measured), torch with MKL,
and only before MKL's first call in the process (any tensor operation may be one). `import tunekit` arranges
it for the moment torch is imported; set ``TUNEKIT_MKL_ON_AMD=off`` to leave MKL as it is.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.machinery
import logging
import os
import sys
from enum import StrEnum
from functools import cache
from pathlib import Path

ENV_VAR = "TUNEKIT_MKL_ON_AMD"  # "off" leaves MKL's own choice of code path
_LOAD_CACHED_ANSWER = b"\x8b\x05"  # mov eax, [rip + disp32]: the function's first instruction reads its cache
_TEST_CACHED_ANSWER = b"\x85\xc0"  # test eax, eax: then checks it (negative = not yet asked)
_NOT_YET_ASKED = -1

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    APPLIED = "applied"  # MKL will take its AVX2 path in this process
    NOT_AMD_AVX2 = "not an AMD AVX2 CPU"  # nothing to do: Intel CPUs already get it; others unmeasured
    UNAVAILABLE = "unavailable"  # not Linux, torch without MKL, or an MKL whose function does not read as expected
    TOO_LATE = "too late"  # MKL has already answered the vendor test in this process


@cache
def cpu_is_amd_avx2() -> bool:
    """True on AMD CPUs with AVX2 and FMA and without AVX-512 (read from /proc/cpuinfo)."""
    try:
        return describes_amd_avx2(Path("/proc/cpuinfo").read_text())
    except OSError:
        return False


def describes_amd_avx2(cpuinfo: str) -> bool:
    """Whether the first processor in ``cpuinfo`` (the text of /proc/cpuinfo) is the kind `cpu_is_amd_avx2`
    names."""
    first_cpu = cpuinfo.split("\n\n", 1)[0]
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first_cpu.splitlines())}
    flags = set(fields.get("flags", "").split())
    return fields.get("vendor_id") == "AuthenticAMD" and {"avx2", "fma"} <= flags and "avx512f" not in flags


def _cached_answer() -> ctypes.c_int | None:
    """The variable in which torch's MKL keeps its "is this an Intel CPU" answer, or None where it cannot be found."""
    torch = sys.modules.get("torch")
    if torch is None or not sys.platform.startswith("linux") or not torch.backends.mkl.is_available():
        return None
    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"), mode=os.RTLD_NOLOAD)
        address = ctypes.cast(library.mkl_serv_intel_cpu_true, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    code = ctypes.string_at(address, 8)
    if code[:2] != _LOAD_CACHED_ANSWER or code[6:8] != _TEST_CACHED_ANSWER:
        return None
    return ctypes.c_int.from_address(address + 6 + int.from_bytes(code[2:6], "little", signed=True))


def use_mkl_avx2_on_amd() -> Outcome:
    """Make torch's MKL (torch must be imported) take its AVX2 path in this process, where that applies.

    Returns:
        What happened; only `Outcome.APPLIED` changes anything.
    """
    if not cpu_is_amd_avx2():
        return Outcome.NOT_AMD_AVX2
    answer = _cached_answer()
    if answer is None:
        return Outcome.UNAVAILABLE
    if answer.value == 1:
        return Outcome.APPLIED
    if answer.value != _NOT_YET_ASKED:
        return Outcome.TOO_LATE
    answer.value = 1
    return Outcome.APPLIED


def mkl_path_in_use() -> str | None:
    """Which code path torch's MKL runs in this process, on a CPU where `use_mkl_avx2_on_amd` applies; None
    elsewhere. Only reads: "avx2" (set by tunekit), "as shipped", or "not chosen yet" (MKL not called so far)."""
    answer = _cached_answer() if cpu_is_amd_avx2() else None
    if answer is None:
        return None
    return {1: "avx2", _NOT_YET_ASKED: "not chosen yet"}.get(answer.value, "as shipped")


def _apply_and_report() -> None:
    outcome = use_mkl_avx2_on_amd()
    if outcome is Outcome.TOO_LATE:
        logger.info("torch had already run tensor operations when tunekit was imported, so MKL keeps its slower "
                    "generic path on this AMD CPU; import tunekit before running torch code to get its AVX2 path")


class _AfterTorchImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds torch as the usual finders do, and applies `use_mkl_avx2_on_amd` once torch has been imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            self._loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            self._loader.exec_module(module)
        finally:  # torch keeps its own loader (resources, source lookups), as if this finder had not been there
            module.__loader__ = module.__spec__.loader = self._loader
        _apply_and_report()

    def __getattr__(self, name: str):  # anything else asked of torch's loader while torch is being imported
        if name == "_loader":
            raise AttributeError(name)
        return getattr(self._loader, name)


def use_mkl_avx2_on_amd_when_torch_loads() -> None:
    """Arrange `use_mkl_avx2_on_amd` for the moment torch is imported (now, if it already is), unless
    ``TUNEKIT_MKL_ON_AMD=off`` or the CPU is not one it applies to."""
    if os.environ.get(ENV_VAR, "").lower() == "off" or not cpu_is_amd_avx2():
        return
    if "torch" in sys.modules:
        _apply_and_report()
    elif not any(isinstance(finder, _AfterTorchImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterTorchImport())
