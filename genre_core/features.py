"""Turn item and user tables into the tensors the towers read.

The vocabularies and numeric statistics are fitted once and stored with each
model version, so a saved model always reads features exactly as it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from genre_core.data.dataset import FeatureSpec
from genre_core.schema import MULTILABEL_SEPARATOR

UNKNOWN = "<unknown>"


@dataclass
class TabularEncoding:
    """Vocabularies and standardisation statistics of one table's tabular features."""

    categorical: dict[str, list[str]] = field(default_factory=dict)
    multilabel: dict[str, list[str]] = field(default_factory=dict)
    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, table: pd.DataFrame, spec: FeatureSpec) -> TabularEncoding:
        encoding = cls()
        for column in spec.categorical:
            values = sorted({str(value) for value in table[column].dropna()})
            encoding.categorical[column] = [UNKNOWN, *values]
        for column in spec.multilabel:
            labels = set()
            for cell in table[column].dropna():
                labels.update(label for label in str(cell).split(MULTILABEL_SEPARATOR) if label)
            encoding.multilabel[column] = sorted(labels)
        for column in spec.numeric:
            values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            mean = float(finite.mean()) if len(finite) else 0.0
            std = float(finite.std()) if len(finite) > 1 else 1.0
            encoding.numeric[column] = (mean, std if std > 0 else 1.0)
        return encoding

    @property
    def is_empty(self) -> bool:
        return not (self.categorical or self.multilabel or self.numeric)

    def cardinalities(self) -> list[int]:
        return [len(vocab) for vocab in self.categorical.values()]

    @property
    def n_multilabel(self) -> int:
        return sum(len(labels) for labels in self.multilabel.values())

    @property
    def n_numeric(self) -> int:
        return len(self.numeric)

    def transform(self, table: pd.DataFrame) -> dict[str, torch.Tensor]:
        """Encode `table` rows: categorical codes, multi-hot labels, standardised numbers and a mask."""
        n = len(table)
        codes = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for position, (column, vocab) in enumerate(self.categorical.items()):
            lookup = {value: code for code, value in enumerate(vocab)}
            codes[:, position] = [lookup.get(str(value), 0) for value in table[column].fillna(UNKNOWN)]

        multi_hot = np.zeros((n, self.n_multilabel), dtype=np.float32)
        offset = 0
        for column, labels in self.multilabel.items():
            lookup = {label: offset + index for index, label in enumerate(labels)}
            for row, cell in enumerate(table[column].fillna("")):
                for label in str(cell).split(MULTILABEL_SEPARATOR):
                    if label in lookup:
                        multi_hot[row, lookup[label]] = 1.0
            offset += len(labels)

        numbers = np.zeros((n, self.n_numeric), dtype=np.float32)
        present = np.zeros((n, self.n_numeric), dtype=np.float32)
        for position, (column, (mean, std)) in enumerate(self.numeric.items()):
            values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
            finite = np.isfinite(values)
            numbers[finite, position] = (values[finite] - mean) / std
            present[:, position] = finite

        return {
            "categorical": torch.from_numpy(codes),
            "multilabel": torch.from_numpy(multi_hot),
            "numeric": torch.from_numpy(numbers),
            "numeric_present": torch.from_numpy(present),
        }

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> TabularEncoding:
        numeric = {column: tuple(stats) for column, stats in raw.get("numeric", {}).items()}
        return cls(raw.get("categorical", {}), raw.get("multilabel", {}), numeric)
