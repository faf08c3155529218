"""The principal-component bottleneck in front of the image projection."""

import pytest
import torch

from genre_core.modalities.image import ImageProjection, PrincipalComponents


def test_components_are_standardised_and_uncorrelated():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(200, 12, generator=generator) @ torch.randn(12, 12, generator=generator) + 3.0
    bottleneck = PrincipalComponents(12, 4)
    bottleneck.fit(features)
    projected = bottleneck(features)
    assert projected.shape == (200, 4)
    assert torch.allclose(projected.mean(0), torch.zeros(4), atol=1e-4)
    covariance = projected.T @ projected / len(projected)
    assert torch.allclose(covariance, torch.eye(4), atol=1e-3)


def test_too_few_images_are_rejected():
    with pytest.raises(ValueError, match="image_components"):
        PrincipalComponents(12, 4).fit(torch.randn(3, 12))


def test_projection_without_components_is_unchanged():
    """components 0 keeps the layers and state keys of the full-width projection."""
    projection = ImageProjection(1280, 8)
    assert [type(layer).__name__ for layer in projection.project] == ["LayerNorm", "Dropout", "Linear", "GELU", "Linear"]
    assert projection.project[0].normalized_shape == (1280,)
    features = torch.randn(5, 1280)
    projection.fit_components(features, torch.ones(5))  # no bottleneck: nothing to fit


def test_fit_uses_only_items_with_an_image():
    projection = ImageProjection(6, 8, components=2)
    features = torch.randn(10, 6)
    features[8:] = 1e6  # items without an image carry filler that must not shape the components
    projection.fit_components(features, torch.tensor([1.0] * 8 + [0.0] * 2))
    bottleneck = projection.project[0]
    assert torch.allclose(bottleneck.mean, features[:8].mean(0), atol=1e-5)
    assert set(projection.state_dict()) >= {"project.0.mean", "project.0.weights"}


def test_projection_with_components_has_no_layer_norm():
    """The components already have unit variance; at the all-zero catalogue-mean baseline a LayerNorm would be singular."""
    projection = ImageProjection(1280, 8, components=16)
    assert [type(layer).__name__ for layer in projection.project] == [
        "PrincipalComponents", "Dropout", "Linear", "GELU", "Linear"]


def test_text_projection_bottleneck():
    from genre_core.modalities.encoders import TextProjection

    plain = TextProjection(384, 8)
    assert [type(layer).__name__ for layer in plain.project] == ["Dropout", "Linear", "GELU", "Linear"]

    projection = TextProjection(6, 8, components=2)
    vectors = torch.randn(10, 6)
    vectors[8:] = 0.0  # items without a text have zero rows, which must not shape the components
    projection.fit_components(vectors, torch.tensor([1.0] * 8 + [0.0] * 2))
    bottleneck = projection.project[0]
    assert torch.allclose(bottleneck.mean, vectors[:8].mean(0), atol=1e-5)
    vector, present = projection({"text": vectors, "text_present": torch.ones(10)})
    assert vector.shape == (10, 8)
    assert present.all()

    with pytest.raises(ValueError, match="model.text_components is 4"):
        TextProjection(6, 8, components=4).fit_components(torch.randn(3, 6), torch.ones(3))
