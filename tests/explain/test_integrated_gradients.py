import pytest
import torch
from transformers import BertForSequenceClassification, BertTokenizer

from tunekit.explain.integrated_gradients import integrated_gradients


@pytest.fixture(scope="module")
def tiny_classifier(tiny_model_dir):
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    return model.eval(), BertTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("output", ["probability", "logit"])
def test_attributions_sum_to_the_output_difference(tiny_classifier, output):
    model, tokenizer = tiny_classifier
    result = integrated_gradients(model, tokenizer, "the film was great and the acting superb", output=output)
    assert result["tokens"][0] == "[CLS]" and len(result["attributions"]) == len(result["tokens"])
    gap = result["f_x"] - result["f_baseline"]
    assert abs(sum(result["attributions"]) - gap) <= 0.05 * abs(gap) + 1e-6  # completeness
    assert result["relative_delta"] <= 0.05


def test_a_word_the_model_reads_gets_the_attribution(tiny_model_dir):
    """Planted: the classifier reads only the embedding of "great" (all other weights zeroed)."""
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()
    tokenizer = BertTokenizer.from_pretrained(tiny_model_dir)
    great = tokenizer.convert_tokens_to_ids("great")
    with torch.no_grad():
        embeddings = model.get_input_embeddings().weight
        embeddings.zero_()
        embeddings[great, 0] = 3.0
    result = integrated_gradients(model, tokenizer, "the film was great", output="logit")
    scores = dict(zip(result["tokens"], result["attributions"], strict=True))
    assert abs(scores["great"]) > 10 * max(abs(scores["the"]), abs(scores["film"]), 1e-9)
