"""SHAP values of the user's and the item's tabular features (KernelExplainer with a background sample)."""

from __future__ import annotations

import numpy as np
import shap
import torch

from genre_core.explain.scoring import tabular_features

CHUNK_ROWS = 256


class TabularColumns:
    """The raw tabular features of one table as one float matrix, and back to encoder inputs."""

    def __init__(self, encoding, tensors: dict[str, torch.Tensor], prefix: str):
        self.prefix = prefix
        self.tensors = tensors
        self.names = [*encoding.categorical]
        self.names += [f"{column}={label}" for column, labels in encoding.multilabel.items() for label in labels]
        self.names += [*encoding.numeric]
        self.widths = (len(encoding.categorical), encoding.n_multilabel, encoding.n_numeric)

    def matrix(self, rows) -> np.ndarray:
        parts = [self.tensors[self.prefix + key][rows].to(torch.float32) for key in ("categorical", "multilabel", "numeric")]
        return torch.cat(parts, 1).numpy()

    def to_inputs(self, matrix: np.ndarray, present_row: int) -> dict[str, torch.Tensor]:
        values = torch.from_numpy(np.asarray(matrix, dtype=np.float32))
        categorical, multilabel, numeric = torch.split(values, list(self.widths), 1)
        present = self.tensors[self.prefix + "numeric_present"][present_row].expand(len(values), -1)
        return {
            self.prefix + "categorical": categorical.round().long(), self.prefix + "multilabel": multilabel,
            self.prefix + "numeric": numeric, self.prefix + "numeric_present": present,
        }


def tabular_shap(problem, recommender, user_index: int, settings) -> dict:
    """SHAP values of the first target item's score over the user's and the item's tabular features."""
    model, meta = problem.model, recommender.meta
    from genre_core.features import TabularEncoding

    user_columns = TabularColumns(TabularEncoding.from_dict(meta["user_encoding"]), recommender.inputs.users, "user_")
    item_columns = TabularColumns(TabularEncoding.from_dict(meta["item_encoding"]), recommender.inputs.items, "item_")
    user_encoder = model.user_tower.attributes
    item_encoder = model.item_tower.encoders["tabular"] if "tabular" in model.item_tower.encoders else None
    item_index = problem.item_indices[0]
    split = len(user_columns.names)

    def score(matrix: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(matrix), CHUNK_ROWS):
                chunk = matrix[start:start + CHUNK_ROWS]
                rows = len(chunk)
                inputs = [tensor.expand(rows, *tensor.shape[1:]).clone() for tensor in problem.inputs]
                if user_encoder is not None and split:
                    inputs[3] = tabular_features(user_encoder, user_columns.to_inputs(chunk[:, :split], user_index))
                if item_encoder is not None:
                    inputs[1][:, 0] = tabular_features(item_encoder, item_columns.to_inputs(chunk[:, split:], item_index))
                out.append(problem.forward(*inputs).numpy())
        return np.concatenate(out)

    generator = np.random.default_rng(settings.seed)
    users = generator.choice(recommender.dataset.n_users, settings.shap_background)
    items = generator.choice(recommender.dataset.n_items, settings.shap_background)
    background = np.concatenate([user_columns.matrix(users), item_columns.matrix(items)], 1)
    row = np.concatenate([user_columns.matrix([user_index]), item_columns.matrix([item_index])], 1)

    explainer = shap.KernelExplainer(score, background, silent=True)
    values = explainer.shap_values(row, nsamples=settings.shap_samples, silent=True)
    names = [f"user {name}" for name in user_columns.names] + [f"item {name}" for name in item_columns.names]
    return {
        "expected_value": float(np.asarray(explainer.expected_value).ravel()[0]),
        "features": [
            {"feature": name, "value": float(raw), "shap": float(value)}
            for name, raw, value in zip(names, row[0], np.asarray(values).reshape(-1))
        ],
        "background_size": int(settings.shap_background),
        "nsamples": int(settings.shap_samples),
    }
