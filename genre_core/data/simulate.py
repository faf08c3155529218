"""Seeded simulated interactions over the Tux Paint catalogue, each user driven by one modality.

The media are real; the interactions are not. Every simulated user has one true driver and
likes the items that have one property, which is read from one modality's raw data only:

- image: a warm picture. More than half of the drawn pixels (those not near white) are
  saturated (HSV saturation above 0.3) with a red, orange or yellow hue (H below 0.17 or above 0.92).
- text: the English description names something proper: a capitalised word follows its
  first word ("A European coin", "A spiny lobster, from the Hawaiian islands").
- audio: a high-pitched sound. The power-weighted mean mel band of the first 3.1 s of the
  sound (the log-mel input the model reads) is above the median over the catalogue's sounds.

Users are split evenly over the three drivers. A user's interactions are drawn without
replacement: each is, with probability 1 - noise, one of the items with the user's property,
otherwise any other item. Timestamps are one hour apart in the drawn order. The users table
records each user's driver in the column `driver`, and the items table records each item's
properties in `simulated_properties` (joined with "|"), so explanations can be checked
against the truth.

Silent symbol stamps (letters, digits, flags, coins) are left out of the catalogue: they are
drawn alike in few colours, so their colour could be read from their description too.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from genre_core.config import SimulationConfig
from genre_core.data.dataset import Dataset, FeatureSpec
from genre_core.data.tuxpaint import AUDIO_PATH, CATEGORY, DESCRIPTION, IMAGE_PATH, read_catalogue, sample_catalogue
from genre_core.schema import ITEM_ID, MULTILABEL_SEPARATOR, RATING, TIMESTAMP, USER_ID

log = logging.getLogger(__name__)

DRIVER = "driver"
PROPERTIES = "simulated_properties"
DRIVERS = ("image", "text", "audio")
PROPERTY_NAMES = {"image": "warm picture", "text": "proper noun in the description", "audio": "high-pitched sound"}
START_TIMESTAMP = 1_700_000_000
SECONDS_BETWEEN_INTERACTIONS = 3600

WARM_SHARE = 0.5
SATURATION_MIN = 0.3
WARM_HUES = (0.17, 0.92)
# A pixel whose channels are all within this distance of white is background.
BACKGROUND_DISTANCE = 0.08
PROPER_NOUN = re.compile(r"\s[A-Z][a-z]")


def warm_share(image_path: str) -> float:
    """Share of the drawn pixels of a picture that are saturated red, orange or yellow."""
    from skimage.color import rgb2hsv

    from genre_core.modalities.image import load_image

    rgb = load_image(image_path)
    drawn = (1.0 - rgb).max(-1) > BACKGROUND_DISTANCE
    if not drawn.any():
        return 0.0
    hsv = rgb2hsv(rgb)[drawn]
    warm = (hsv[:, 1] > SATURATION_MIN) & ((hsv[:, 0] < WARM_HUES[0]) | (hsv[:, 0] > WARM_HUES[1]))
    return float(warm.mean())


def pitch(audio_path: str) -> float:
    """Power-weighted mean mel band (0-63) of the sound's log-mel spectrogram."""
    from genre_core.modalities.audio import spectrogram

    power = np.exp(spectrogram(audio_path)).sum(1)
    return float((power * np.arange(len(power))).sum() / power.sum())


def item_properties(items: pd.DataFrame) -> pd.DataFrame:
    """Compute one boolean column per driver: whether the item has that driver's property."""
    warm = np.array([warm_share(path) > WARM_SHARE for path in items[IMAGE_PATH]])
    proper = items[DESCRIPTION].map(lambda text: bool(PROPER_NOUN.search(text))).to_numpy()
    pitches = np.array([pitch(path) if isinstance(path, str) else np.nan for path in items[AUDIO_PATH]])
    high = np.nan_to_num(pitches, nan=-np.inf) > np.nanmedian(pitches)
    return pd.DataFrame({"image": warm, "text": proper, "audio": high}, index=items.index)


def simulate_interactions(properties: pd.DataFrame, settings: SimulationConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the users (with their driver) and their interactions, as item row positions; see the module text."""
    rng = np.random.default_rng(settings.seed)
    drivers = [DRIVERS[user % len(DRIVERS)] for user in range(settings.users)]
    rng.shuffle(drivers)
    n_items = len(properties)
    rows = []
    for user, driver in enumerate(drivers):
        liked = np.flatnonzero(properties[driver].to_numpy())
        others = np.setdiff1d(np.arange(n_items), liked)
        if len(liked) < 3:
            raise ValueError(f"only {len(liked)} items have the {driver} property; raise data.simulation.max_items")
        count = min(settings.interactions_per_user, n_items - 1)
        from_liked = min(int(rng.binomial(count, 1.0 - settings.noise)), len(liked) - 2)
        chosen = np.concatenate([
            rng.choice(liked, size=from_liked, replace=False),
            rng.choice(others, size=min(count - from_liked, len(others)), replace=False),
        ])
        for step, item in enumerate(rng.permutation(chosen)):
            rows.append((f"u{user:04d}", int(item), START_TIMESTAMP + step * SECONDS_BETWEEN_INTERACTIONS))
    users = pd.DataFrame({USER_ID: [f"u{user:04d}" for user in range(settings.users)], DRIVER: drivers})
    return users, pd.DataFrame(rows, columns=[USER_ID, "item_row", TIMESTAMP])


def load_tuxpaint(path: str | Path | None, settings: SimulationConfig, name: str = "tuxpaint") -> Dataset:
    """Load the Tux Paint catalogue (real media, read in place) with simulated interactions; `simulated` is True."""
    catalogue, _ = read_catalogue(path)
    silent_symbols = (catalogue[CATEGORY] == "symbols") & catalogue[AUDIO_PATH].isna()
    items = sample_catalogue(catalogue[~silent_symbols], settings.max_items, settings.seed)
    properties = item_properties(items)
    items[PROPERTIES] = [
        MULTILABEL_SEPARATOR.join(driver for driver in DRIVERS if row[driver]) for _, row in properties.iterrows()
    ]
    log.info("simulating %d users over %d stamps: %s", settings.users, len(items),
             ", ".join(f"{int(properties[driver].sum())} items with a {PROPERTY_NAMES[driver]}" for driver in DRIVERS))

    users, drawn = simulate_interactions(properties, settings)
    interactions = pd.DataFrame({
        USER_ID: drawn[USER_ID], ITEM_ID: items[ITEM_ID].to_numpy()[drawn["item_row"].to_numpy()],
        RATING: np.nan, TIMESTAMP: drawn[TIMESTAMP].astype("int64"),
    })
    return Dataset(name, interactions, items, users, FeatureSpec(text=[DESCRIPTION]), FeatureSpec(), simulated=True)


def simulated_drivers(dataset: Dataset) -> dict[str, str]:
    """Return each simulated user's true driver by user ID; empty for data without recorded drivers."""
    if DRIVER not in dataset.users.columns:
        return {}
    return dict(zip(dataset.users[USER_ID].astype(str), dataset.users[DRIVER].astype(str)))
