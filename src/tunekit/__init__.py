"""tunekit: adapt, measure, explain, audit and serve foundation models on your labeled text."""

from __future__ import annotations

from tunekit.mkl_on_amd import use_mkl_avx2_on_amd_when_torch_loads

use_mkl_avx2_on_amd_when_torch_loads()  # before torch's first MKL call, which fixes MKL's code path for the process

__version__ = "0.1.0"
__all__ = ["TextClassifier", "TokenTagger", "Predictor", "TunekitError"]


def __getattr__(name: str):
    # Lazy: `import tunekit` stays fast for the CLI; torch loads on first use.
    if name == "TextClassifier":
        from tunekit.api.classifier import TextClassifier

        return TextClassifier
    if name == "TokenTagger":
        from tunekit.api.tagger import TokenTagger

        return TokenTagger
    if name == "Predictor":
        from tunekit.inference.predictor import Predictor

        return Predictor
    if name == "TunekitError":
        from tunekit.errors import TunekitError

        return TunekitError
    raise AttributeError(f"module 'tunekit' has no attribute {name!r}")
