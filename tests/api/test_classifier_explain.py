import pytest

from tiny_fixtures import make_sentiment_rows
from tunekit import TextClassifier
from tunekit.errors import DataError


@pytest.fixture(scope="module")
def fitted(tiny_model_dir, tmp_path_factory):
    rows = make_sentiment_rows(120)
    clf = TextClassifier(model=str(tiny_model_dir), epochs=3, learning_rate=3e-3, max_seq_len=32,
                         output_dir=str(tmp_path_factory.mktemp("clf")),
                         config_overrides={"train.bf16": "off"})
    return clf.fit([r["text"] for r in rows], [r["label"] for r in rows])


def test_explain_returns_one_structured_result_per_text(fitted):
    results = fitted.explain(["the film was great", "a dull plot"])
    assert [r["method"] for r in results] == ["integrated_gradients"] * 2
    assert all(len(r["tokens"]) == len(r["attributions"]) and r["relative_delta"] <= 0.05 for r in results)
    assert [r["label"] for r in results] == fitted.predict(["the film was great", "a dull plot"])
    [occlusion] = fitted.explain(["the film was great"], method="occlusion")
    assert occlusion["tokens"] == ["the", "film", "was", "great"]
    with pytest.raises(DataError):
        fitted.explain(["x"], method="shap")
