"""Keep freed memory in the process while training, instead of handing it back to the kernel after each step.

A training step on a CPU allocates and frees megabytes of tensors (bf16 weight copies, fp32 weight gradients,
activations) every few milliseconds. glibc's default ``malloc`` serves blocks above a threshold with their
own ``mmap`` and returns free memory at the top of the heap to the kernel past a second threshold, so every
step maps fresh pages again and the kernel zero-fills each one on first touch (a minor page fault). Raising
both thresholds keeps freed blocks in the heap for the next step. Measured on the speed benchmark's MiniLM
step: 1,500–1,800 → ~700 page faults a step (the rest is oneDNN compiling kernels for new matmul shapes) and
5–9% shorter steps (``bench/speed_ab.py heap``) (docs/benchmarks.md, "Speed").

Peak memory does not grow: the heap still holds only what the step uses at its peak; it is just not
returned between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum: blocks above it (the embedding tables' state) still get mmap
TRIM_THRESHOLD = 2**30  # free memory at the heap's top kept up to 1 GiB, more than a step frees


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when applied (glibc on Linux), False
    elsewhere (other C libraries, macOS, Windows), where it changes nothing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; musl's stub returns 0
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
