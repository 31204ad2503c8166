"""`export_fp32` and `export_int8`: ONNX logits against PyTorch's on padded batches, int8 weights, refusals."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from transformers import BertForSequenceClassification

from tiny_fixtures import make_sentiment_rows, padded_batch, tiny_sequence_classifier
from tunekit.compress import onnx_int8
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.compress.onnx_int8 import export_fp32, export_int8, model_inputs
from tunekit.errors import TunekitError
from tunekit.inference.predictor import Predictor

LENGTHS = (13, 9, 3, 1)  # longer and wider than the exporter's (2, 8) example: both axes must be dynamic


@pytest.mark.parametrize(("architecture", "inputs"), [
    ("bert", ("input_ids", "attention_mask", "token_type_ids")),
    ("mpnet", ("input_ids", "attention_mask")),  # MPNet's forward takes no token types
])
def test_fp32_graph_reproduces_the_torch_logits_on_a_padded_batch(architecture, inputs, tmp_path):
    """A graph traced without the mask (or in training mode, dropout on) gives other logits for padded rows."""
    model = tiny_sequence_classifier(architecture)
    assert model_inputs(model) == inputs
    batch = padded_batch(model, with_token_types="token_type_ids" in inputs, lengths=LENGTHS)
    single = {name: tensor[:1, :5] for name, tensor in batch.items()}  # one row, no padding
    with torch.no_grad():
        expected, expected_single = model(**batch).logits, model(**single).logits

    path = export_fp32(model, tmp_path / "model.onnx")
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == list(inputs) and [o.name for o in graph.output] == ["logits"]
    onnx_model = OnnxClassifier(path)
    torch.testing.assert_close(onnx_model(**batch).logits, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(onnx_model(**single).logits, expected_single, atol=1e-4, rtol=0)


class SubclassedBert(BertForSequenceClassification):
    pass


@pytest.mark.parametrize(("make", "first_token"), [
    (lambda: tiny_sequence_classifier("bert"), True),
    (lambda: tiny_sequence_classifier("mpnet"), False),
    (lambda: SubclassedBert(tiny_sequence_classifier("bert").config).eval(), False),
])
def test_a_stock_bert_is_exported_through_its_first_token_graph(make, first_token, monkeypatch, tmp_path):
    """The first-token graph for a stock BERT classifier only; its logits are the whole model's (the parity test
    above), and the fp32 graph here reproduces them too."""
    wrapped = []

    class Spy(onnx_int8.FirstTokenBertClassifier):
        def __init__(self, model):
            super().__init__(model)
            wrapped.append(model)

    monkeypatch.setattr(onnx_int8, "FirstTokenBertClassifier", Spy)
    model = make()
    batch = padded_batch(model, with_token_types="token_type_ids" in model_inputs(model), lengths=LENGTHS)
    with torch.no_grad():
        expected = model(**batch).logits
    path = export_fp32(model, tmp_path / "model.onnx")
    assert wrapped == ([model] if first_token else [])
    torch.testing.assert_close(OnnxClassifier(path)(**batch).logits, expected, atol=1e-4, rtol=0)


def test_export_leaves_the_model_in_eval_mode(tmp_path):
    model = tiny_sequence_classifier()
    batch = padded_batch(model, with_token_types=True, lengths=LENGTHS)
    with torch.no_grad():
        before = model(**batch).logits
    export_fp32(model, tmp_path / "model.onnx")
    assert not any(module.training for module in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, before)  # dropout (p=0.1) stayed off


@pytest.fixture(scope="module")
def trained(tiny_classifier_run):
    """The trained tiny classifier, its tokenizer and 60 unseen texts."""
    predictor = Predictor.from_run_dir(tiny_classifier_run)
    texts = [row["text"] for row in make_sentiment_rows(60, seed=11)]
    return predictor.model, predictor.tokenizer, texts


def test_int8_model_classifies_like_the_trained_model(trained, tmp_path):
    model, tokenizer, texts = trained
    batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        expected = model.eval()(**batch).logits
    path = export_int8(model, tmp_path / "model.int8.onnx")

    logits = OnnxClassifier(path)(**batch).logits
    assert (logits.argmax(dim=1) == expected.argmax(dim=1)).float().mean() >= 0.95
    assert (logits - expected).abs().max() > 1e-3  # int8 rounding moved them: this is not the fp32 graph
    # stated tolerance: within 0.05 of the run's probabilities (the tiny model measures ~0.016)
    torch.testing.assert_close(logits.softmax(dim=1), expected.softmax(dim=1), atol=0.05, rtol=0)


def test_int8_model_stores_every_weight_matrix_as_int8_per_output_channel(trained, tmp_path):
    model = trained[0]
    graph = onnx.load(export_int8(model, tmp_path / "model.int8.onnx")).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    assert not [name for name, w in weights.items() if w.dtype == np.float32 and w.ndim >= 2]
    assert {n.op_type for n in graph.node} >= {"MatMulInteger", "DynamicQuantizeLinear"}

    matrices = {name: w for name, w in weights.items() if name.endswith("_quantized") and w.dtype == np.int8}
    assert len(matrices) == 2 * 6 + 2  # per layer: query, key, value, output, intermediate, output; pooler; head
    for name, w in matrices.items():
        assert weights[name.replace("_quantized", "_scale")].shape == (w.shape[1],), name  # one per output
    torch_bytes = sum(p.numel() * 4 for p in model.parameters())
    assert sum(w.nbytes for w in weights.values()) < 0.35 * torch_bytes  # ~ a quarter: int8, plus the scales


def test_a_model_the_exporter_cannot_trace_is_a_tunekit_error(monkeypatch, tmp_path):
    def fails(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::weird' to ONNX opset version 17 is not supported")

    monkeypatch.setattr(torch.onnx, "export", fails)
    with pytest.raises(TunekitError, match="BertForSequenceClassification could not be exported.*aten::weird") \
            as error:
        export_int8(tiny_sequence_classifier(), tmp_path / "model.int8.onnx")
    assert "uncompressed" in error.value.fix
    assert not (tmp_path / "model.int8.onnx").exists()


def test_a_quantiser_failure_is_a_tunekit_error(monkeypatch, tmp_path):
    import onnxruntime.quantization

    def fails(*args, **kwargs):
        raise ValueError("unsupported initializer type")

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", fails)
    with pytest.raises(TunekitError, match="could not be exported to int8 ONNX.*unsupported initializer"):
        export_int8(tiny_sequence_classifier(), tmp_path / "model.int8.onnx")
    assert not (tmp_path / "model.int8.onnx").exists()


def test_int8_weights_use_seven_bits_so_no_cpu_saturates_their_products(trained, tmp_path):
    """AVX2's u8 x s8 multiply-add sums two products in a saturating int16: 2 * 255 * 64 fits, 2 * 255 * 127 not."""
    graph = onnx.load(export_int8(trained[0], tmp_path / "model.int8.onnx")).graph
    quantized = [numpy_helper.to_array(i) for i in graph.initializer if i.name.endswith("_quantized")]
    matrices = [w for w in quantized if w.dtype == np.int8]  # matmul weights (embedding tables are uint8 lookups)
    assert len(matrices) == 2 * 6 + 2 and all(np.abs(w.astype(np.int32)).max() <= 64 for w in matrices)
    assert max(np.abs(w.astype(np.int32)).max() for w in matrices) == 64  # the range is used, not just bounded
