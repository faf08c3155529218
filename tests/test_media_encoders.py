"""Image and audio encoders on real files: EfficientNet-Lite0 on a photo, log-mel on Tux Paint sounds, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genre_core.modalities.audio import (
    N_FRAMES, N_MELS, SAMPLE_RATE, AudioEncoder, encode_sounds, load_audio, log_mel, mel_filterbank, spectrogram,
)
from genre_core.modalities.image import classify, encode_images, load_image, preprocess
from genre_core.modalities.media_files import MediaError

STAMPS = Path("/usr/share/tuxpaint/stamps")
BIRD_SOUND = STAMPS / "animals/birds/blackbird.ogg"
SPOKEN_WAV = STAMPS / "food/vegetables/corn_desc_pt_BR.wav"
BIRD_PICTURE = STAMPS / "animals/birds/blackbird.png"
# ImageNet classes 281-285: tabby, tiger cat, Persian, Siamese and Egyptian cat.
CAT_CLASSES = range(281, 286)

needs_stamps = pytest.mark.usefixtures("stamps_installed")


@pytest.fixture(scope="module")
def cat_photo(tmp_path_factory) -> Path:
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    corrupt_png = tmp_path / "corrupt.png"
    corrupt_png.write_bytes(b"\x89PNG\r\n\x1a\n this is not image data")
    corrupt_ogg = tmp_path / "corrupt.ogg"
    corrupt_ogg.write_bytes(b"OggS" + bytes(200))
    svg = tmp_path / "drawing.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    return {"corrupt_png": corrupt_png, "corrupt_ogg": corrupt_ogg, "svg": svg, "missing": tmp_path / "missing.png"}


def test_efficientnet_cat_photo_is_a_cat(cat_photo):
    top_class, probability = classify(cat_photo, top=1)[0]
    assert top_class in CAT_CLASSES
    assert probability > 0.3


def test_preprocess_flattens_transparency_onto_white(tmp_path):
    from PIL import Image

    path = tmp_path / "clear.png"
    Image.new("RGBA", (30, 10), (255, 0, 0, 0)).save(path)
    pixels = load_image(path)
    assert np.allclose(pixels, 1.0)
    tensor = preprocess(pixels)
    assert tensor.shape == (3, 224, 224)
    white = (1.0 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(tensor[:, 112, 112], white, atol=1e-4)


def test_image_features_cached_on_disk(cat_photo, tmp_path):
    first = encode_images([str(cat_photo)], tmp_path, progress=False)
    assert first.present.tolist() == [True]
    assert first.features.shape == (1, 1280)
    assert (tmp_path / "image" / "efficientnet-lite0" / "features.npy").is_file()
    second = encode_images([str(cat_photo)], tmp_path, progress=False)
    assert np.array_equal(first.features, second.features)


def test_bad_images_reported_by_row(cat_photo, bad_files, tmp_path):
    paths = [str(cat_photo), None, str(bad_files["corrupt_png"]), str(bad_files["svg"]), str(bad_files["missing"])]
    result = encode_images(paths, tmp_path, progress=False)
    assert result.present.tolist() == [True, False, False, False, False]
    assert set(result.errors) == {2, 3, 4}
    assert "corrupt" in result.errors[2]
    assert str(bad_files["corrupt_png"]) in result.errors[2]
    assert "SVG" in result.errors[3]
    assert "not found" in result.errors[4]
    assert not result.features[2:].any()


@needs_stamps
def test_real_ogg_to_log_mel():
    samples = load_audio(BIRD_SOUND)
    assert samples.dtype == np.float32
    assert len(samples) > SAMPLE_RATE  # the blackbird song lasts about 8 s
    mel = spectrogram(BIRD_SOUND)
    assert mel.shape == (N_MELS, N_FRAMES)
    assert np.isfinite(mel).all()
    assert mel.std() > 0.5


@needs_stamps
def test_real_wav_to_log_mel():
    mel = spectrogram(SPOKEN_WAV)
    assert mel.shape == (N_MELS, N_FRAMES)
    assert np.isfinite(mel).all()


def test_resampled_tone_peaks_in_its_band(tmp_path):
    import soundfile

    rate, seconds, frequency = 44_100, 2.0, 1000.0
    time = np.arange(int(rate * seconds)) / rate
    path = tmp_path / "tone.wav"
    soundfile.write(path, (0.5 * np.sin(2 * np.pi * frequency * time)).astype(np.float32), rate)

    decoded = load_audio(path)
    assert abs(len(decoded) - SAMPLE_RATE * seconds) <= 2
    filters = mel_filterbank()
    band_centres = (filters * np.linspace(0, SAMPLE_RATE / 2, filters.shape[1])).sum(1) / filters.sum(1)
    peak_band = int(log_mel(decoded).mean(1).argmax())
    assert abs(band_centres[peak_band] - frequency) < 150


def test_corrupt_sound_raises_and_is_reported(bad_files, tmp_path):
    with pytest.raises(MediaError, match="corrupt"):
        load_audio(bad_files["corrupt_ogg"])
    result = encode_sounds([str(bad_files["corrupt_ogg"]), ""], tmp_path, progress=False)
    assert result.present.tolist() == [False, False]
    assert list(result.errors) == [0]
    assert str(bad_files["corrupt_ogg"]) in result.errors[0]


@needs_stamps
def test_sound_cache_and_masked_encoder(tmp_path):
    result = encode_sounds([str(BIRD_SOUND), None], tmp_path, progress=False)
    assert result.present.tolist() == [True, False]
    assert (tmp_path / "audio").is_dir()
    encoder = AudioEncoder(dim=8).eval()
    inputs = {"audio": torch.from_numpy(result.features), "audio_present": torch.from_numpy(result.present).float()}
    vectors, present = encoder(inputs)
    assert vectors.shape == (2, 8)
    assert present.tolist() == [True, False]
    assert torch.count_nonzero(vectors[1]) == 0
