"""Log-mel spectrograms of item sounds, cached on disk, and the small CNN that encodes them.

Choice: a small convolutional encoder trained with the recommender, not a frozen pretrained
audio model. No pretrained audio network ships inside a PyPI or Debian package that runs on
PyTorch offline here, and a trained CNN keeps the time × frequency layout of the input, so
attributions can be drawn over the spectrogram. The slow step is cached on disk. There,
OGG or WAV is decoded with soundfile (libsndfile), mixed to mono and resampled to 16 kHz.
The first 3.1 s (zero-padded when shorter) become a 64-band log-mel spectrogram with a
1024-sample window, a 512-sample hop and 96 frames.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genre_core.modalities.feature_cache import FeatureCache
from genre_core.modalities.media_files import MediaError, MediaFeatures, encode_files

log = logging.getLogger(__name__)

AUDIO_MODEL = "logmel-16k-64x96"
SAMPLE_RATE = 16_000
N_FFT = 1024
HOP_LENGTH = 512
N_MELS = 64
N_FRAMES = 96
SPECTROGRAM_SHAPE = (N_MELS, N_FRAMES)
# Floor added before the logarithm, about -80 dB below full scale.
LOG_FLOOR = 1e-8


def load_audio(path: str | Path) -> np.ndarray:
    """Decode an audio file to mono float32 samples at SAMPLE_RATE; raises MediaError when it cannot."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"audio file {path} not found")
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise MediaError(f"audio file {path} is corrupt or not in a format libsndfile reads (OGG, WAV, FLAC): {error}") from error
    if samples.size == 0:
        raise MediaError(f"audio file {path} is empty (no samples); replace it with a valid sound file")
    mono = samples.mean(axis=1)
    if not np.isfinite(mono).all():
        raise MediaError(f"audio file {path} contains non-finite samples; re-encode it")
    return resample(mono, rate, SAMPLE_RATE)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of mono samples from `rate` to `target` Hz."""
    from scipy.signal import resample_poly

    if rate == target:
        return samples.astype(np.float32)
    ratio = Fraction(target, rate).limit_denominator(1000)
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """Triangular mel filters (HTK mel scale, Slaney area normalisation): (N_MELS, N_FFT // 2 + 1)."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def to_hz(mel):
        return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(0.0), to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return (filters * (2.0 / (upper - lower))).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Log-mel spectrogram (N_MELS, N_FRAMES) of the first N_FRAMES hops of 16 kHz mono samples."""
    length = N_FFT + HOP_LENGTH * (N_FRAMES - 1)
    padded = np.zeros(length, dtype=np.float32)
    padded[:min(length, len(samples))] = samples[:length]
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:N_FRAMES]
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)) ** 2
    return np.log(mel_filterbank() @ power.T + LOG_FLOOR).astype(np.float32)


def spectrogram(path: str | Path) -> np.ndarray:
    """Decode one file and return its log-mel spectrogram (N_MELS, N_FRAMES)."""
    return log_mel(load_audio(path))


def encode_sounds(paths: list, cache_dir: Path, progress: bool = True) -> MediaFeatures:
    """Log-mel spectrograms of the sounds at `paths`, reusing the disk cache.

    A blank path is a missing sound. A missing or corrupt file is absent too and is listed
    in `errors` with its row, so the item keeps its other modalities.
    """
    cache = FeatureCache(cache_dir, "audio", AUDIO_MODEL, SPECTROGRAM_SHAPE)
    settings = f"{SAMPLE_RATE}-{N_FFT}-{HOP_LENGTH}-{N_MELS}-{N_FRAMES}"
    return encode_files(paths, cache, AUDIO_MODEL, settings, load_audio,
                        lambda batch: np.stack([log_mel(samples) for samples in batch]), 32, "audio", progress)


class AudioEncoder(nn.Module):
    """A small CNN over the log-mel spectrogram, trained with the recommender: (n, 64, 96) -> (n, dim).

    Only items that have a sound go through the network, so the batch-norm statistics come
    from real spectrograms; absent items get zeros, which fusion masks.
    """

    modality = "audio"

    def __init__(self, dim: int, dropout: float = 0.1, channels: int = 16):
        super().__init__()
        # Averaging 2×2 cells first (32 bands × 48 frames) makes a training step about three times faster.
        self.network = nn.Sequential(
            nn.BatchNorm2d(1), nn.AvgPool2d(2),
            nn.Conv2d(1, channels, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * channels, 2 * channels, 3, stride=2, padding=1), nn.GELU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * channels, dim),
        )

    def encode(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """Encode spectrograms (n, N_MELS, N_FRAMES) that all exist: (n, dim)."""
        return self.network(spectrograms.unsqueeze(1))

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        spectrograms = inputs["audio"]
        present = inputs["audio_present"] > 0
        dim = self.network[-1].out_features
        vectors = spectrograms.new_zeros(spectrograms.shape[0], dim)
        if present.any():
            vectors = vectors.index_put((present.nonzero(as_tuple=True)[0],), self.encode(spectrograms[present]))
        return vectors, present
