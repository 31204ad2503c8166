"""Request and response bodies of the HTTP API: the contract other tools rely on."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Label = str | int
Text = Annotated[str, Field(pattern=r"\S", description="A text; it must contain a non-blank character.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextsRequest(_Strict):
    """A batch of texts. The server's limits cap the number of texts (413) and each text's length (422)."""

    texts: list[Text] = Field(min_length=1, examples=[["a charming and often affecting journey", "dull"]])


class Entity(BaseModel):
    """A span found by a token-classification (tagger) run; offsets are character positions in the text."""

    text: str
    label: str
    start: int = Field(description="Offset of the first character.")
    end: int = Field(description="Offset one past the last character.")
    score: float


class Prediction(BaseModel):
    """One text's prediction. Classification runs give `label` and `probabilities` (multi-label runs: `label` is
    the list of labels above their thresholds); tagger runs give `entities`."""

    label: Label | list[Label] | None = None
    probabilities: dict[str, float] | None = Field(default=None, description="Probability per label name.")
    entities: list[Entity] | None = None


class PredictResponse(BaseModel):
    predictions: list[Prediction] = Field(description="One prediction per input text, in input order.")


class Explanation(BaseModel):
    """Why the model predicted ``label`` for one text: one attribution score per token."""

    model_config = ConfigDict(extra="allow")  # explainers may add fields (e.g. the label's probability)

    tokens: list[str]
    attributions: list[float] = Field(description="One score per token: its contribution to the label.")
    label: Label
    method: str = Field(description="The attribution method, e.g. occlusion.")


class ExplainResponse(BaseModel):
    explanations: list[Explanation] = Field(description="One explanation per input text, in input order.")


class ModelInfo(BaseModel):
    """What is being served."""

    run_dir_name: str = Field(description="The run directory's name (never its path on the server).")
    task: str
    labels: list[Label]
    metrics: dict[str, Any] = Field(description="The run's validation and test metrics.")
    model_card: str | None = Field(description="MODEL_CARD.md of the run, when it has one.")
    audit: str = Field(description="passed, failed or not audited.")
    audit_gate: dict[str, Any] | None = None
    compression: dict[str, Any] | None = Field(
        None, description="When the compressed (ONNX) model answers /v1/predict (`compressed: true`): its "
                          "compression.json, the check against the run's model. Null when the run's own model "
                          "answers.")


class AlertInfo(BaseModel):
    name: str
    kind: str
    label: str | None
    window: int
    above: float
    value: float | None = Field(description="Current value; null until `window` predictions were seen.")
    observed: int
    firing: bool
    since: float | None = Field(description="Unix time the alert started firing.")


class AlertsResponse(BaseModel):
    alerts: list[AlertInfo]
    label_drift_psi: float | None = Field(description="PSI of recent predicted labels vs. the training labels.")
    length_drift_psi: float | None = Field(description="PSI of recent input lengths vs. the training texts.")


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    detail: Any
