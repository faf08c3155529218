"""A fixed principal-component bottleneck for cached item features (picture features or sentence vectors)."""

from __future__ import annotations

import torch


class PrincipalComponents(torch.nn.Module):
    """A fixed linear bottleneck: the top principal components of the catalogue's features (pictures or texts).

    The features are standardised, projected on the `components` leading directions and scaled
    to unit variance. With few directions the features tell items apart less well, so the model
    memorises fewer items through them. `fit` sets the buffers, and a saved model restores them
    with its state. `key` names the config key in errors.
    """

    def __init__(self, width: int, components: int, key: str = "model.image_components"):
        super().__init__()
        if components > width:
            raise ValueError(f"{key} is {components}, but the features have only {width} values per item; "
                             f"set {key} to at most {width}, or to 0 to keep all {width}")
        self.key = key
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("weights", torch.zeros(components, width))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> None:
        """Fit on the features (n, width) of the items that have the modality."""
        components = self.weights.shape[0]
        if features.shape[0] <= components:
            raise ValueError(f"{self.key} is {components}, but only {features.shape[0]} items have this modality; "
                             f"lower {self.key} below that number")
        features = features.double()
        mean, std = features.mean(0), features.std(0, unbiased=False) + 1e-6
        _, singular, directions = torch.linalg.svd((features - mean) / std, full_matrices=False)
        # The features arrive as float32, so directions with a singular value below float32 rounding are
        # noise. Whitening them would scale by millions, or divide by zero for repeated or constant rows.
        tolerance = singular[0] * max(features.shape) * torch.finfo(torch.float32).eps
        rank = int((singular > tolerance).sum())
        if rank < components:
            fix = f"lower {self.key} to at most {rank}" if rank else f"set {self.key} to 0"
            raise ValueError(f"{self.key} is {components}, but the features of the {features.shape[0]} items "
                             f"span only {rank} independent directions (repeated or constant values); {fix}")
        scale = singular[:components] / features.shape[0] ** 0.5
        self.mean.copy_(mean.float())
        self.weights.copy_((directions[:components] / std / scale.unsqueeze(1)).float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) @ self.weights.T
