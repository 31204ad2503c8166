"""torch's fp32 matmuls with MKL as shipped against MKL's AVX2 path (`tunekit.mkl_on_amd`), on an AMD CPU.

Each side runs in a fresh process (MKL fixes its code path at its first call), alternated ROUNDS times; each
prints GFLOP/s at a batch-16 MiniLM step's shapes (`speed_blas_linear.STEP_SHAPES`: the forward projections at
217 real tokens and two weight gradients) and the square-GEMM peak the speed benchmark divides by:

    flock /tmp/tunekit-heavy.lock python bench/speed_mkl_path.py 3

Results: docs/benchmarks.md, "What changed in tunekit" (MKL's AVX2 path on AMD CPUs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SETTINGS = ("off", "auto")  # TUNEKIT_MKL_ON_AMD for each side: MKL as shipped, then tunekit's default


def measure_here() -> None:
    import torch

    import tunekit  # noqa: F401  sets MKL's path (torch has run no operation yet) unless TUNEKIT_MKL_ON_AMD=off
    from speed_blas_linear import STEP_SHAPES
    from speed_flops import gemm_peak_gflops, shaped_gemm_gflops
    from tunekit.mkl_on_amd import ENV_VAR, use_mkl_avx2_on_amd

    shapes = {f"{m}x{k}x{n}": (m, k, n) for m, k, n in STEP_SHAPES}
    rates = shaped_gemm_gflops(shapes, torch.float32, reps=200)
    path = "as shipped" if os.environ.get(ENV_VAR) == "off" else use_mkl_avx2_on_amd().value  # after: asking sets it
    print(f"{path:>10}: " + "  ".join(f"{name} {rate:5.1f}" for name, rate in rates.items())
          + f"  | square peak {gemm_peak_gflops(torch.float32):5.1f} GFLOP/s", flush=True)


def main() -> None:
    if sys.argv[1:] == ["--here"]:
        measure_here()
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for _ in range(rounds):
        for setting in SETTINGS:
            subprocess.run([sys.executable, __file__, "--here"], check=True, cwd=Path(__file__).parent,
                           env={**os.environ, "TUNEKIT_MKL_ON_AMD": setting})


if __name__ == "__main__":
    main()
