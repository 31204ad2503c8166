"""Import first in the speed benchmark's harness: its baselines run torch's MKL as their users get it.

`import tunekit` lets MKL take its AVX2 path on AMD CPUs (`tunekit.mkl_on_amd`), and the harness forks every
system from a process that has imported tunekit. So the harness turns that off for itself, and tunekit's systems
apply it in their own process (`speed_train.py`, `speed_infer.py`), as `import tunekit` does for a user.
"""

import os

os.environ["TUNEKIT_MKL_ON_AMD"] = "off"  # tunekit.mkl_on_amd.ENV_VAR, set before tunekit is imported
