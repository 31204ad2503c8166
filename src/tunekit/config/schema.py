"""Configuration: one dataclass per concern; attribute docstrings are the option's help text.

A YAML config is these dataclasses serialised. Validation (types, unknown keys, cross-field
checks) happens when the config is built, before any work starts.
"""

from __future__ import annotations

import codecs
from dataclasses import field
from typing import Literal

from pydantic import ConfigDict, field_validator
from pydantic.dataclasses import dataclass

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True)


@dataclass(config=_STRICT)
class DataConfig:
    train: str | None = None
    """Training data: a CSV/TSV/JSONL/Parquet file, or a directory with one sub-folder of .txt files per label."""
    validation: str | None = None
    """Validation data (same formats). If absent, `data.validation_size` of the training data is held out."""
    test: str | None = None
    """Test data. If absent and only `data.train` is given, `data.test_size` of it is held out."""
    text_column: str = "text"
    """Column holding the text."""
    text_pair_column: str | None = None
    """Column holding the second text of a sentence pair (e.g. a hypothesis or an answer)."""
    label_column: str = "label"
    """Column holding the label (a list, or delimited text, for multi-label data)."""
    multi_label: bool = False
    """Each text may carry several labels: sigmoid outputs with per-label thresholds tuned on validation."""
    label_delimiter: str | None = None
    """Delimiter splitting a multi-label cell like `billing|refund`. JSON lists need none."""
    validation_size: float = 0.1
    """Fraction of the training data held out for validation when `data.validation` is not given."""
    test_size: float = 0.1
    """Fraction held out for testing when neither `data.validation` nor `data.test` is given."""
    split_seed: int = 0
    """Seed of the stratified split, so the same file always splits the same way."""
    encoding: str | None = None
    """File encoding. None: UTF-8 (with a hint if a file is not); `auto`: UTF-8, else cp1252/latin-1 per file."""
    tsv_quoting: Literal["none", "csv"] = "none"
    """How TSV fields are quoted: `none` (GLUE-style, quotes are text) or `csv` (double-quoted fields)."""
    max_seq_len: int = 128
    """Maximum tokens per example (per chunk with `data.long_text=chunk`)."""
    long_text: Literal["truncate", "chunk"] = "truncate"
    """Texts longer than `data.max_seq_len`: cut them, or split into overlapping chunks whose predictions are pooled."""
    chunk_stride: int = 32
    """Tokens shared by consecutive chunks when `data.long_text=chunk`."""
    chunk_pooling: Literal["mean", "max"] = "mean"
    """How chunk probabilities combine into one prediction per text."""
    counterfactual_augmentation: str | None = None
    """Add a word-swapped copy (same label) of each training text with a listed word: `gender` or a pair-list file."""

    def __post_init__(self) -> None:
        for name in ("validation_size", "test_size"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise ValueError(f"`data.{name}` must be between 0 and 0.5, got {value}")
        if self.max_seq_len < 8:
            raise ValueError(f"`data.max_seq_len` must be at least 8, got {self.max_seq_len}")
        if self.long_text == "chunk" and not 0 <= self.chunk_stride < self.max_seq_len // 2:
            raise ValueError("`data.chunk_stride` must be below half of `data.max_seq_len`")
        if self.encoding not in (None, "auto"):
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"`data.encoding`: unknown encoding {self.encoding!r}; "
                                 "use e.g. utf-8, cp1252, latin-1 or auto") from None
        if self.long_text == "chunk" and self.text_pair_column is not None:
            raise ValueError("`data.long_text=chunk` works on single texts; set `data.long_text=truncate` for pairs")


@dataclass(config=_STRICT)
class ModelConfig:
    name: str = "minilm-l6"
    """A model alias (`tunekit models` lists them), a local Hugging Face model directory, or a hub id."""


@dataclass(config=_STRICT)
class LoraConfig:
    """LoRA: low-rank adapters on the attention projections (Hu et al. 2021, arXiv:2106.09685).

    Also the options of `rslora`, `dora` and (alpha, dropout, target modules) `adalora`."""

    r: int = 16
    """Rank of the update matrices."""
    alpha: int = 32
    """Scaling numerator: the update is scaled by alpha / r."""
    dropout: float = 0.1
    """Dropout on the adapter input."""
    target_modules: list[str] | None = None
    """Module names to adapt. None: the attention and feed-forward projections of the architecture."""

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1:
            raise ValueError(f"`lora.r` and `lora.alpha` must be at least 1, got r={self.r}, alpha={self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`lora.dropout` must be in [0, 1), got {self.dropout}")


@dataclass(config=_STRICT)
class AdaLoraConfig:
    """AdaLoRA: LoRA whose rank budget moves to the most important matrices during training (Zhang et al. 2023,
    arXiv:2303.10512). Shares `lora.alpha`, `lora.dropout` and `lora.target_modules`."""

    init_r: int = 12
    """Initial rank of every adapted matrix, before the budget schedule prunes it."""
    target_r: int = 8
    """Average rank per matrix left when the budget schedule ends."""
    tinit_ratio: float = 0.1
    """Fraction of the optimiser steps trained at full rank before pruning starts (the paper's t_i)."""
    tfinal_ratio: float = 0.2
    """Fraction of the optimiser steps at the end trained with the final rank pattern fixed (t_f)."""
    delta_t: int = 10
    """Optimiser steps between two budget re-allocations (the paper's ΔT)."""
    beta1: float = 0.85
    """Exponential-moving-average factor of the importance (sensitivity) scores."""
    beta2: float = 0.85
    """Exponential-moving-average factor of their uncertainty."""

    def __post_init__(self) -> None:
        if not 1 <= self.target_r <= self.init_r:
            raise ValueError(f"`adalora.target_r` must be between 1 and `adalora.init_r`={self.init_r}")
        if self.tinit_ratio < 0 or self.tfinal_ratio < 0 or self.tinit_ratio + self.tfinal_ratio >= 1:
            raise ValueError("`adalora.tinit_ratio` + `adalora.tfinal_ratio` must be below 1 (and each ≥ 0), "
                             "or no steps are left for the budget schedule")
        if self.delta_t < 1:
            raise ValueError("`adalora.delta_t` must be at least 1")


@dataclass(config=_STRICT)
class PromptConfig:
    """Prompt tuning (Lester et al. 2021, arXiv:2104.08691) and prefix tuning (Li & Liang 2021,
    arXiv:2101.00190): trained virtual tokens in front of every input."""

    num_virtual_tokens: int = 20
    """Virtual tokens prepended (prompt tuning: to the input embeddings; prefix tuning: to every layer's keys and
    values). `data.max_seq_len` + this must fit the model's position embeddings."""

    def __post_init__(self) -> None:
        if self.num_virtual_tokens < 1:
            raise ValueError("`prompt.num_virtual_tokens` must be at least 1")


@dataclass(config=_STRICT)
class AdapterConfig:
    """Bottleneck adapters (Houlsby et al. 2019, arXiv:1902.00751; Pfeiffer et al. 2020, arXiv:2005.00247)."""

    reduction_factor: int = 16
    """Hidden size divided by the bottleneck size (384 / 16 = a 24-wide bottleneck on MiniLM)."""
    nonlinearity: Literal["relu", "gelu", "tanh"] = "relu"
    """Activation between the down- and the up-projection."""

    def __post_init__(self) -> None:
        if self.reduction_factor < 1:
            raise ValueError("`adapter.reduction_factor` must be at least 1")


@dataclass(config=_STRICT)
class TrainConfig:
    epochs: int | None = None
    """Passes over the training data. None: enough for ~`train.min_steps` optimiser steps, between 2 and 20 epochs."""
    min_steps: int = 2000
    """With `train.epochs` unset, train at least this many optimiser steps (small data needs more passes)."""
    max_steps: int | None = None
    """Stop after this many optimiser steps (overrides epochs)."""
    batch_size: int = 32
    """Examples per forward pass."""
    gradient_accumulation_steps: int = 1
    """Forward passes per optimiser step; the effective batch is batch_size × this."""
    learning_rate: float | None = None
    """Peak learning rate. None: the method's default (full: 1e-4, lora: 1e-3)."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay (not applied to biases and LayerNorm weights)."""
    lr_schedule: Literal["linear", "cosine", "constant"] = "linear"
    """Learning-rate decay after warmup."""
    warmup_ratio: float | None = None
    """Fraction of steps spent warming up. Default 0.06 when neither this nor `train.warmup_steps` is set."""
    warmup_steps: int | None = None
    """Warmup length in optimiser steps."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm to this value; None disables clipping."""
    bf16: Literal["auto", "on", "off"] = "auto"
    """bfloat16 autocast. auto: on where the CPU has native bf16 (AVX512-BF16/AMX) or on a bf16-capable GPU."""
    class_weights: Literal["none", "balanced"] = "none"
    """Weight the loss by inverse class frequency for imbalanced data."""
    early_stopping_metric: Literal["accuracy", "macro_f1", "micro_f1", "weighted_f1", "loss"] | None = None
    """Validation metric that picks the best checkpoint and drives early stopping. None: macro_f1 for
    classification; entity-level micro_f1 for token classification (where accuracy is token accuracy)."""
    early_stopping_patience: int | None = 3
    """Stop after this many evaluations without improvement; None trains all epochs. The best one is restored."""
    evaluations_per_epoch: int = 1
    """Validation passes per epoch (each also writes a checkpoint)."""
    checkpoint_every_steps: int | None = None
    """Also write a resumable checkpoint every N optimiser steps."""
    seed: int = 0
    """Seed for initialisation, shuffling and dropout: the same seed gives the same metrics."""
    num_threads: int | None = None
    """CPU threads for torch. None: all cores."""
    gradient_checkpointing: bool = False
    """Recompute each encoder layer's activations during backward: less memory (larger models, longer texts)
    for about one extra forward pass per step."""
    fast_dropout: bool = True
    """On a CPU, draw dropout masks from a compiled SplitMix64 kernel instead of torch's Bernoulli sampler (a
    dropout's forward and backward 5-8x faster; p quantised to 1/65536), attention-probability dropout included.
    Still seeded by `train.seed` and reproduced on resume, but a different random stream from `false`, so metrics
    differ from a run without it."""
    log_every_steps: int = 20
    """Optimiser steps between log lines (JSONL and TensorBoard)."""
    tensorboard: bool = True
    """Write TensorBoard event files under RUN_DIR/tensorboard."""
    progress_bar: bool = True
    """Show a progress bar with loss, samples/s and ETA."""

    @field_validator("bf16", mode="before")
    @classmethod
    def _bf16_from_yaml_bool(cls, value: object) -> object:
        if isinstance(value, bool):  # YAML 1.1 reads `bf16: off` as False
            return "on" if value else "off"
        return value

    def __post_init__(self) -> None:
        if self.warmup_ratio is not None and self.warmup_steps is not None:
            raise ValueError("`train.warmup_ratio` and `train.warmup_steps` are both set; choose one")
        if self.warmup_ratio is not None and not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"`train.warmup_ratio` must be in [0, 1), got {self.warmup_ratio}")
        for name in ("batch_size", "gradient_accumulation_steps", "log_every_steps", "evaluations_per_epoch",
                     "min_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"`train.{name}` must be at least 1")
        for name in ("epochs", "max_steps", "checkpoint_every_steps", "warmup_steps", "num_threads"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "warmup_steps" else 1):
                raise ValueError(f"`train.{name}` must be positive, got {value}")
        if self.learning_rate is not None and not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"`train.learning_rate` must be in (0, 1), got {self.learning_rate}")


@dataclass(config=_STRICT)
class TaggingConfig:
    """Token classification (`task: token_classification`): CoNLL files, or JSONL with word and tag lists or with
    raw text (`data.text_column`) and character-offset entities."""

    tokens_column: str = "tokens"
    """JSONL key holding a sentence's words."""
    tags_column: str = "tags"
    """JSONL key holding one IOB tag per word (IOB1 is converted to IOB2)."""
    entities_column: str = "entities"
    """JSONL key holding `{"start", "end", "label"}` character spans of the text in `data.text_column`."""
    label_all_subtokens: bool = False
    """Train on every sub-word of a word (B- becomes I- after the first) instead of only the first."""


@dataclass(config=_STRICT)
class EvalConfig:
    batch_size: int = 128
    """Examples per inference batch."""
    calibration_bins: int = 15
    """Equal-width confidence bins for expected calibration error and the reliability diagram."""
    tag_decoding: Literal["viterbi", "argmax"] = "viterbi"
    """Tagger runs: `viterbi` picks the most probable valid IOB2 sequence (+0.8 to 1.2 CoNLL-2003 test F1 over
    `argmax`, docs/benchmarks.md); `argmax` takes each word's most probable tag and turns a stray I-X into B-X."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.calibration_bins < 1:
            raise ValueError("`eval.batch_size` and `eval.calibration_bins` must be at least 1")


@dataclass(config=_STRICT)
class PrivacyConfig:
    """Differentially private training: DP-SGD (Abadi et al. 2016, arXiv:1607.00133) through Opacus."""

    dp_sgd: bool = False
    """Train with DP-SGD: Poisson sampling, per-sample gradient clipping and Gaussian noise (needs `method=lora`)."""
    target_epsilon: float = 8.0
    """Privacy budget ε reached at the end of training; the noise multiplier is chosen to meet it."""
    delta: float | None = None
    """Privacy parameter δ. None: 1 / number of training examples."""
    max_per_sample_grad_norm: float = 1.0
    """Clip each example's gradient to this L2 norm before noise is added."""
    accountant: Literal["rdp", "prv"] = "rdp"
    """Privacy accountant: Rényi DP (`rdp`) or the privacy-random-variable accountant (`prv`)."""

    def __post_init__(self) -> None:
        if self.target_epsilon <= 0 or self.max_per_sample_grad_norm <= 0:
            raise ValueError("`privacy.target_epsilon` and `privacy.max_per_sample_grad_norm` must be positive")
        if self.delta is not None and not 0.0 < self.delta < 1.0:
            raise ValueError(f"`privacy.delta` must be in (0, 1), got {self.delta}")


@dataclass(config=_STRICT)
class AuditConfig:
    """`tunekit audit`: sample sizes and the gate's thresholds (a threshold of None is reported, not gated)."""

    max_examples: int = 1000
    """Audit at most this many examples of the audit data (a seeded sample) per check."""
    word_pairs: list[str] = field(default_factory=lambda: ["gender"])
    """Counterfactual swap lists: `gender` (built in, Bolukbasi et al. 2016) and/or pair-list files."""
    group_column: str | None = None
    """Column of the audit data holding a group label, for per-group metrics (Fairlearn)."""
    attack_examples: int = 200
    """Correctly classified examples the greedy word-substitution attack tries to flip."""
    attack_query_budget: int = 200
    """Model queries the attack may spend per example."""
    membership_examples: int = 1000
    """Training members and held-out non-members each, for the membership-inference attack."""
    seed: int = 0
    """Seed for sampling and perturbations: the same seed gives the same audit."""
    max_flip_rate: float | None = 0.05
    """Gate: highest share of counterfactual swaps allowed to change the predicted label."""
    max_accuracy_drop: float | None = 0.10
    """Gate: highest drop of accuracy under perturbations (clean minus perturbed accuracy)."""
    max_attack_success_rate: float | None = None
    """Gate: highest share of attacked examples the greedy attack may flip."""
    max_membership_inference_auc: float | None = 0.60
    """Gate: highest AUC of the loss-threshold membership-inference attack (0.5 = no leak)."""
    max_ece: float | None = 0.10
    """Gate: highest expected calibration error on the audit data."""
    max_pii_in_training: int | None = None
    """Gate: most PII findings (e-mails, phones, card and ID numbers) allowed in the training data."""

    def __post_init__(self) -> None:
        for name in ("max_examples", "attack_examples", "attack_query_budget", "membership_examples"):
            if getattr(self, name) < 1:
                raise ValueError(f"`audit.{name}` must be at least 1")


@dataclass(config=_STRICT)
class RunConfig:
    """Everything one `tunekit train` needs; written resolved into every run directory as config.yaml."""

    task: Literal["classification", "token_classification"] = "classification"
    """What the model predicts: one label per text, or one IOB2 tag per word (named entities)."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: Literal["full", "head_only", "bitfit", "lora", "rslora", "dora", "adalora", "ia3", "prompt_tuning",
                    "prefix_tuning", "houlsby", "pfeiffer"] = "full"
    """Adaptation method (docs/benchmarks.md compares them); every method but `full` trains the head in full."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    adalora: AdaLoraConfig = field(default_factory=AdaLoraConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    tagging: TaggingConfig = field(default_factory=TaggingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    output_dir: str | None = None
    """Run directory. None: runs/<config name>-<timestamp>."""
