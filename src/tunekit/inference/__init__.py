"""Inference: batched probabilities and the run-directory `Predictor`."""
