"""Typed configuration: YAML in, validated dataclasses out.

Every section is a dataclass. Field types, allowed values (``Literal``) and
numeric ranges (``field(metadata={"min": ..., "max": ...})``) are declared on
the field, and :func:`from_dict` is the one place that checks them. A bad key
or value raises :class:`ConfigError` naming the dotted key, what is allowed
and what was given.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

PACKAGE_ROOT = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_ROOT.parent
DEFAULT_CONFIG = PROJECT_ROOT / "assets" / "configs" / "movielens.yaml"


class ConfigError(ValueError):
    """An invalid configuration key or value."""


def _range(minimum: float | None = None, maximum: float | None = None) -> dict:
    return {"min": minimum, "max": maximum}


@dataclass
class SimulationConfig:
    """Simulated interactions over a real media catalogue (data.source tuxpaint)."""

    # Stamps kept, at most: a seeded sample of the stamps with a sound (the package has 131). At
    # least 12, because each property goes to the top 20% of the catalogue and needs 3 items or more.
    max_items: int = field(default=320, metadata=_range(12, 100_000))
    users: int = field(default=600, metadata=_range(3, 1_000_000))
    interactions_per_user: int = field(default=20, metadata=_range(3, 1000))
    # Share of a user's interactions drawn from the whole catalogue instead of the preferred items.
    noise: float = field(default=0.1, metadata=_range(0.0, 0.9))
    seed: int = 0


@dataclass
class DataConfig:
    # recbole: MovieLens-100k from the installed recbole package;
    # grouplens: the official ml-100k folder or zip at `path`;
    # custom: your own interactions/items/users files in the folder at `path`;
    # tuxpaint: Tux Paint stamps from the installed Debian package, with simulated interactions.
    source: Literal["recbole", "grouplens", "custom", "tuxpaint"] = "recbole"
    path: str | None = None
    name: str = "ml-100k"
    item_text: list[str] = field(default_factory=lambda: ["title"])
    item_categorical: list[str] = field(default_factory=list)
    item_multilabel: list[str] = field(default_factory=lambda: ["genres"])
    item_numeric: list[str] = field(default_factory=lambda: ["year"])
    user_categorical: list[str] = field(default_factory=lambda: ["gender", "occupation"])
    user_numeric: list[str] = field(default_factory=lambda: ["age"])
    simulation: SimulationConfig = field(default_factory=SimulationConfig)


@dataclass
class SplitConfig:
    # temporal: each user's last interaction is the test item, the one before the
    # validation item. recbole: per-user random 0.8/0.1/0.1. msr: per-user random
    # 75/25, with `valid_fraction` of the training part held out for early stopping.
    protocol: Literal["temporal", "recbole", "msr"] = "temporal"
    seed: int = 0
    valid_fraction: float = field(default=0.05, metadata=_range(0.0, 0.5))


@dataclass
class TextLoraConfig:
    # LoRA adapters (through peft) on the tuned top layers of the text model.
    r: int = field(default=8, metadata=_range(1, 1024))
    alpha: float = field(default=16.0, metadata=_range(1e-3, 1e4))
    dropout: float = field(default=0.0, metadata=_range(0.0, 0.9))
    # Linear layers inside one transformer layer, by name or name suffix (BERT: query, key, value, dense).
    target_modules: list[str] = field(default_factory=lambda: ["query", "value"])


@dataclass
class TextConfig:
    # A name from the text encoder registry, or a local Hugging Face model folder.
    model: str = "all-MiniLM-L6-v2"
    max_length: int = field(default=32, metadata=_range(4, 512))
    batch_size: int = field(default=64, metadata=_range(1, 4096))
    # frozen: cached sentence vectors. top_layers: train the top `tune_layers` layers.
    # lora: train LoRA adapters on those layers. Both run the top layers on the
    # cached token states of the frozen lower layers in every forward pass.
    tuning: Literal["frozen", "top_layers", "lora"] = "frozen"
    tune_layers: int = field(default=1, metadata=_range(1, 512))
    lora: TextLoraConfig = field(default_factory=TextLoraConfig)


@dataclass
class ModelConfig:
    dim: int = field(default=128, metadata=_range(4, 4096))
    modalities: list[Literal["text", "tabular", "id", "image", "audio"]] = field(
        default_factory=lambda: ["text", "tabular", "id"]
    )
    # lm: the other modality vectors join the title tokens in the text model's top `text.tune_layers` layers.
    fusion: Literal["concat_mlp", "attention", "lm"] = "concat_mlp"
    dropout: float = field(default=0.1, metadata=_range(0.0, 0.9))
    attention_heads: int = field(default=2, metadata=_range(1, 64))
    max_history: int = field(default=1024, metadata=_range(1, 100_000))
    task: Literal["ranking", "click", "rating"] = "ranking"
    # Loss of the ranking task. sampled_softmax with num_negatives: 0 uses the whole catalogue.
    loss: Literal["sampled_softmax", "bpr"] = "sampled_softmax"
    num_negatives: int = field(default=0, metadata=_range(0, 1_000_000))
    temperature: float = field(default=1.0, metadata=_range(1e-3, 100.0))
    # A learned score bias per item. false keeps it at 0, so scores come from content alone,
    # because a free per-item bias learns popularity the way an item ID embedding would.
    item_bias: bool = True
    # Principal components of the image features kept before the image projection, or 0 for all
    # 1280 features. With few components the pictures stand in less for item IDs.
    image_components: int = field(default=0, metadata=_range(0, 1280))
    # The same for the frozen sentence vectors of the text: 0 keeps all of them. Rejected with
    # model.fusion lm or a text.tuning other than frozen, which use no sentence vectors.
    text_components: int = field(default=0, metadata=_range(0, 4096))


@dataclass
class TrainingConfig:
    epochs: int = field(default=80, metadata=_range(1, 10_000))
    batch_size: int = field(default=64, metadata=_range(1, 1_000_000))
    learning_rate: float = field(default=4e-3, metadata=_range(1e-6, 1.0))
    weight_decay: float = field(default=0.0, metadata=_range(0.0, 1.0))
    # Share of each user's training items fed to the user tower as history in a step.
    # The rest are the targets, so a target is never part of the model's input.
    history_keep: float = field(default=0.5, metadata=_range(0.05, 0.95))
    patience: int = field(default=20, metadata=_range(1, 10_000))
    # cosine: the learning rate decays to zero over `epochs` (one cycle, no restarts).
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    device: str = "auto"
    # Autocast dtype of the training steps. bf16 runs on CPU and CUDA; fp16 needs CUDA
    # and adds a gradient scaler.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"


@dataclass
class BPRConfig:
    dim: int = field(default=200, metadata=_range(1, 4096))
    epochs: int = field(default=100, metadata=_range(1, 10_000))
    learning_rate: float = field(default=0.01, metadata=_range(1e-6, 1.0))
    reg: float = field(default=0.01, metadata=_range(0.0, 1.0))
    batch_size: int = field(default=1024, metadata=_range(1, 1_000_000))


@dataclass
class ItemKNNConfig:
    neighbours: int = field(default=100, metadata=_range(1, 100_000))
    shrink: float = field(default=10.0, metadata=_range(0.0, 1e6))


@dataclass
class EvaluationConfig:
    ks: list[int] = field(default_factory=lambda: [5, 10, 20])
    bpr: BPRConfig = field(default_factory=BPRConfig)
    itemknn: ItemKNNConfig = field(default_factory=ItemKNNConfig)


@dataclass
class PathsConfig:
    # Relative paths are resolved against the project root.
    data_dir: str = "data"
    registry_dir: str = "models"
    cache_dir: str = "cache"

    def resolve(self, name: str) -> Path:
        path = Path(getattr(self, name)).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass
class FeedbackConfig:
    # Any SQLAlchemy URL (for example postgresql+psycopg://user@host/genre);
    # null stores labels in SQLite at <paths.data_dir>/feedback.sqlite.
    database_url: str | None = None
    # Largest drop in validation NDCG@10 that still lets a retrained model be promoted.
    tolerance: float = field(default=0.01, metadata=_range(0.0, 1.0))
    # Share of the training users whose original interactions are replayed in fine-tuning.
    replay_fraction: float = field(default=0.2, metadata=_range(0.0, 1.0))
    epochs: int = field(default=5, metadata=_range(1, 1000))
    learning_rate: float = field(default=1e-3, metadata=_range(1e-6, 1.0))
    # Weight of the loss term that moves labelled items up (relevant) or down (irrelevant).
    label_weight: float = field(default=1.0, metadata=_range(0.0, 1000.0))
    # Lowest and highest rating a label may carry.
    rating_min: float = 1.0
    rating_max: float = 5.0


# Names of the adaptation actions a policy rule may take.
ADAPTATION_ACTIONS = ("adjust_lr", "adjust_regularisation", "incremental_update", "full_retrain")
# Signals a policy rule may react to; each is measured once per stream window.
ADAPTATION_TRIGGERS = ("detector_alarm", "quality_drop", "score_psi", "feature_psi", "staleness", "update_rejected")


@dataclass
class PolicyRuleConfig:
    # The rule fires when `trigger` reaches `threshold` (ignored by detector_alarm and update_rejected).
    trigger: Literal["detector_alarm", "quality_drop", "score_psi", "feature_psi", "staleness", "update_rejected"] = "detector_alarm"
    action: Literal["adjust_lr", "adjust_regularisation", "incremental_update", "full_retrain"] = "incremental_update"
    threshold: float = field(default=0.0, metadata=_range(0.0, 1e6))


@dataclass
class AdaptationPolicyConfig:
    # Rules are checked in order after each window; every rule that fires adds its action once.
    # No default rule reads feature_psi: MovieLens users arrive in cohorts, so the largest feature PSI
    # against the training part was between 3.0 and 8.1 in every window of a default replay.
    rules: list[PolicyRuleConfig] = field(default_factory=lambda: [
        PolicyRuleConfig("update_rejected", "adjust_regularisation"),
        PolicyRuleConfig("detector_alarm", "incremental_update"),
        PolicyRuleConfig("quality_drop", "incremental_update", 0.15),
        PolicyRuleConfig("score_psi", "incremental_update", 0.25),
        PolicyRuleConfig("staleness", "incremental_update", 2),
    ])
    # adjust_lr multiplies the fine-tuning learning rate by this factor; adjust_regularisation the weight decay.
    lr_factor: float = field(default=0.5, metadata=_range(1e-3, 1e3))
    weight_decay_factor: float = field(default=2.0, metadata=_range(1e-3, 1e3))
    # Weight decay that adjust_regularisation starts from when the current one is 0.
    min_weight_decay: float = field(default=1e-4, metadata=_range(0.0, 1.0))


@dataclass
class ReplayConfig:
    # Share of MovieLens interactions, oldest first, that trains the initial model; the rest is streamed.
    train_fraction: float = field(default=0.5, metadata=_range(0.05, 0.95))
    # Model width of the replay models (smaller than model.dim so that a replay finishes in minutes on a CPU).
    dim: int = field(default=64, metadata=_range(4, 4096))
    initial_epochs: int = field(default=20, metadata=_range(1, 10_000))
    learning_rate: float = field(default=4e-3, metadata=_range(1e-6, 1.0))
    # Epochs of one incremental update on the interactions since the last update plus a replay sample.
    update_epochs: int = field(default=2, metadata=_range(1, 1000))
    update_learning_rate: float = field(default=1e-3, metadata=_range(1e-6, 1.0))
    # Share of the other known users whose interactions are replayed in an incremental update.
    replay_fraction: float = field(default=0.2, metadata=_range(0.0, 1.0))
    # The periodic policy updates after every `periodic_every` windows.
    periodic_every: int = field(default=1, metadata=_range(1, 10_000))
    # Share of each user's interactions since the last update (the newest, at least one) held out of
    # the update, so that the promotion guard measures serving model and candidate on unseen data.
    guard_fraction: float = field(default=0.2, metadata=_range(0.01, 0.9))
    # null streams every interaction after the training part; a number stops after that many windows.
    max_windows: int | None = field(default=None, metadata=_range(1, 1_000_000))


@dataclass
class MonitoringConfig:
    # Interactions per stream window; quality and drift are measured once per window.
    window: int = field(default=2500, metadata=_range(1, 10_000_000))
    k: int = field(default=10, metadata=_range(1, 1000))
    # A rating at or above this counts as positive feedback.
    positive_rating: float = 4.0
    psi_bins: int = field(default=10, metadata=_range(2, 1000))
    # PSI above this is reported as drift (0.1: moderate, 0.25: major, by the usual rule of thumb).
    psi_threshold: float = field(default=0.2, metadata=_range(0.0, 1e6))
    # Kolmogorov-Smirnov p-values below this are reported as drift.
    ks_alpha: float = field(default=0.01, metadata=_range(1e-12, 1.0))
    # Concept-drift detector on the per-user NDCG@k stream (river.drift).
    detector: Literal["adwin", "page_hinkley"] = "adwin"
    # ADWIN's confidence parameter, or the change magnitude that Page-Hinkley tolerates.
    detector_delta: float = field(default=0.002, metadata=_range(1e-12, 1.0))
    # Page-Hinkley threshold (lambda); ignored by ADWIN.
    detector_threshold: float = field(default=50.0, metadata=_range(1e-6, 1e9))
    policy: AdaptationPolicyConfig = field(default_factory=AdaptationPolicyConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)


@dataclass
class ServingConfig:
    # none: float32 model and item vectors. int8: int8 dynamic quantisation of the
    # Linear layers of both towers. fp16_vectors / int8_vectors: the float32 model
    # with item vectors stored as float16, or as int8 with one scale per vector.
    # int8_serving: int8 user tower and int8 item vectors, with the item vectors
    # computed once at load by the float32 item tower.
    compression: Literal["none", "int8", "fp16_vectors", "int8_vectors", "int8_serving"] = "none"


@dataclass
class Config:
    name: str = "movielens"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML file (the default config when `path` is None) and validate it.

    `overrides` maps dotted keys such as ``"split.protocol"`` to values and is
    applied before validation, so an override is checked like a file value.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}. Pass an existing YAML file with --config.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(raw).__name__}")
    if not raw:
        warnings.warn(f"config file {path} is empty; every setting takes its built-in default", stacklevel=2)
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    return from_dict(raw)


def from_dict(raw: dict[str, Any]) -> Config:
    """Build a validated :class:`Config` from plain data (YAML or JSON)."""
    config = _build(Config, raw, prefix="")
    _check_text_components(config)
    return config


def _check_text_components(config: Config) -> None:
    """Reject model.text_components where no cached sentence vectors reach the model, so it would do nothing."""
    components = config.model.text_components
    if not components or "text" not in config.model.modalities:
        return
    if config.model.fusion == "lm":
        raise ConfigError(
            f"config key 'model.text_components': value {components} has no effect with model.fusion lm, "
            "which feeds title tokens to the text model instead of sentence vectors; "
            "set model.text_components to 0 or use model.fusion concat_mlp or attention"
        )
    if config.text.tuning != "frozen":
        raise ConfigError(
            f"config key 'model.text_components': value {components} has no effect with text.tuning "
            f"{config.text.tuning}, which trains on token states instead of sentence vectors; "
            "set model.text_components to 0 or text.tuning to frozen"
        )


def save_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        if node.get(part) is None:  # a missing section, or one left empty in the YAML file
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"config key '{dotted}': '{part}' is not a section")
    node[leaf] = value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"config section '{where}' must be a mapping, got {raw!r}")

    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; allowed keys in {where}: {', '.join(fields)}"
        )

    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        values[name] = _check_value(hints[name], value, f"{prefix}{name}", fields[name].metadata)
    return cls(**values)


def _check_value(hint: Any, value: Any, key: str, metadata: Any = None) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    if dataclasses.is_dataclass(hint):
        return _build(hint, value if value is not None else {}, f"{key}.")

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _check_value(inner, value, key, metadata)

    if origin is Literal:
        if value not in args:
            allowed = ", ".join(str(arg) for arg in args)
            raise ConfigError(f"config key '{key}': invalid value {value!r}; allowed values: {allowed}")
        return value

    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [_check_value(args[0], item, f"{key}[{index}]") for index, item in enumerate(value)]

    return _check_scalar(hint, value, key, metadata or {})


def _check_scalar(hint: type, value: Any, key: str, metadata: Any) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if hint is float and isinstance(value, str):
        try:
            value = float(value)  # YAML reads "1e-3" without a dot as a string
        except ValueError:
            pass
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"config key '{key}': expected {hint.__name__}, got {value!r}")
    if hint is float and not math.isfinite(value):
        raise ConfigError(f"config key '{key}': expected a finite number, got {value!r}")

    minimum, maximum = metadata.get("min"), metadata.get("max")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ConfigError(
            f"config key '{key}': value {value!r} is out of range; allowed range: [{minimum}, {maximum}]"
        )
    return value
