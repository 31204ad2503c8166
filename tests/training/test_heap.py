"""retain_freed_memory: freed tensors' pages stay mapped for the next allocation instead of being faulted in again."""

import subprocess
import sys
import textwrap

import pytest

# Ten 3 MB tensors allocated, written and freed, 20 times: under glibc's defaults the freed top of the heap usually
# goes back to the kernel each time, so the next round faults every page in again (how often depends on where the
# heap lands in the address space, so the default is not asserted on).
_WORKLOAD = textwrap.dedent("""
    import resource, sys, torch
    from tunekit.training.heap import retain_freed_memory
    if sys.argv[1] == "retain":
        assert retain_freed_memory()
    def round_trip():
        tensors = [torch.empty(3 * 2**20 // 4).fill_(1.0) for _ in range(10)]
        del tensors
    round_trip(); round_trip()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        round_trip()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _page_faults(mode: str) -> int:
    """Minor page faults of the workload's 20 rounds in a fresh process, with ``mode`` "retain" or "default"."""
    result = subprocess.run([sys.executable, "-c", _WORKLOAD, mode], capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs glibc's mallopt (Linux)")
def test_freed_memory_is_reused_without_page_faults():
    pages_written = 20 * 10 * 3 * 2**20 // 4096
    assert _page_faults("retain") < pages_written / 20
