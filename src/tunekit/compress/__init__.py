"""Compress a finished run for CPU inference: its classifier exported to ONNX with int8 weights, or with its own
fp32 ones (`onnx_int8`), run by ONNX Runtime (`onnx_classifier`), kept only when it classifies as well as the run's
own model (`tunekit.recipes.compress_run`)."""
