"""Explanations: word attributions by occlusion (any predictor) and integrated gradients (a run's torch model)."""

from tunekit.explain.occlusion import explain_with_predictor, occlusion_attributions

__all__ = ["explain_with_predictor", "occlusion_attributions"]
