"""Seeded simulated interactions over the Tux Paint catalogue, each user driven by one modality.

The media are real; the interactions are not. The catalogue is the stamps that have a sound,
so every item has a picture, a description and a sound, and no modality can tell a user's
driver from which items have a sound. Every simulated user has one true driver, a modality,
and likes the items that score high on that modality's property.

Real media are correlated: the kind of animal predicts its colours, its sound and its name, and
the catalogue's families (animals, digits, letters, instruments) show in all three. A property
such as "warm colours" or "high pitch" can then be read from the other modalities too, and a
model that lacks the driver's modality still fits the user. So each property is built to be
what only its own modality tells:

1. Each modality's features are reduced to their 16 leading principal components (standardised
   first): EfficientNet-Lite0 features of the picture, the mean of each of the 64 mel bands of
   the sound (the log-mel input the audio model reads), and the all-MiniLM-L6-v2 sentence vector
   of the description.
2. A ridge regression predicts the modality's components from the other two modalities'
   components. Each item is predicted by a model fitted on the other folds of the catalogue
   (5 folds), and the prediction is subtracted: what is left is what the other modalities do
   not tell about this one.
3. The property's score is the main direction (first principal component) of what is left.
   The property is "among the top 20% of the catalogue on that score", so about 26 of the 131
   stamps have each property.

The tests check that each property is predictable from its own modality's features and much
less from the other two, and that a model without the driver's modality ranks new items for
that driver's users far worse.

Users are split evenly over the three drivers. A user's interactions are drawn without
replacement: each is, with probability 1 - noise, one of the items with the user's property,
otherwise any other item. Timestamps are one hour apart in the drawn order. The users table
records each user's driver in the column `driver`, and the items table records each item's
properties in `simulated_properties` (joined with "|"), so explanations can be checked
against the truth.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from genre_core.config import SimulationConfig
from genre_core.data.dataset import Dataset, FeatureSpec
from genre_core.data.tuxpaint import AUDIO_PATH, DESCRIPTION, IMAGE_PATH, read_catalogue, sample_catalogue
from genre_core.schema import ITEM_ID, MULTILABEL_SEPARATOR, RATING, TIMESTAMP, USER_ID

log = logging.getLogger(__name__)

DRIVER = "driver"
PROPERTIES = "simulated_properties"
DRIVERS = ("image", "text", "audio")
PROPERTY_NAMES = {
    "image": "picture property",
    "text": "description property",
    "audio": "sound property",
}
# Bumped whenever the simulation changes, so data prepared by an older version is prepared again.
SIMULATOR_VERSION = 2
START_TIMESTAMP = 1_700_000_000
SECONDS_BETWEEN_INTERACTIONS = 3600

# The sentence model that reads the descriptions for the text property (the model's default text encoder).
TEXT_MODEL = "all-MiniLM-L6-v2"
TEXT_MAX_LENGTH = 32
# Leading principal components kept of each modality's features; FOLDS folds cross-fit the ridge regressions.
COMPONENTS = 16
FOLDS = 5
# Share of the catalogue that has each property: small enough that knowing a user's driver ranks well.
PROPERTY_SHARE = 0.2
# Minimum catalogue size at which the top PROPERTY_SHARE contains 3 items per property
# (the lower bound of data.simulation.max_items).
MIN_ITEMS = 12
RIDGE_ALPHAS = np.logspace(-2, 3, 12)


def modality_features(items: pd.DataFrame, cache_dir: Path, progress: bool = False) -> dict[str, np.ndarray]:
    """Features of each modality, (items, width): picture features, mel-band means, sentence vectors."""
    from genre_core.modalities.audio import encode_sounds
    from genre_core.modalities.image import encode_images
    from genre_core.modalities.text import encode_texts

    images = encode_images(items[IMAGE_PATH].tolist(), cache_dir, progress=progress)
    sounds = encode_sounds(items[AUDIO_PATH].tolist(), cache_dir, progress=progress)
    for name, media in (("picture", images), ("sound", sounds)):
        if not media.present.all():
            row, error = next(iter(media.errors.items()))
            raise ValueError(f"the {name} of stamp {items[ITEM_ID].iloc[row]} cannot be read: {error}")
    return {
        "image": images.features,
        "audio": sounds.features.mean(2),
        "text": encode_texts(items[DESCRIPTION].tolist(), TEXT_MODEL, cache_dir, TEXT_MAX_LENGTH, progress=progress),
    }


def components(features: np.ndarray, count: int = COMPONENTS) -> np.ndarray:
    """Standardised features projected on their `count` leading principal components."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    standard = StandardScaler().fit_transform(features)
    return PCA(n_components=min(count, *standard.shape), svd_solver="full").fit_transform(standard)


def residual(target: np.ndarray, predictors: np.ndarray, seed: int) -> np.ndarray:
    """`target` minus its cross-fitted ridge prediction from `predictors` (each row predicted by the other folds)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict

    folds = KFold(min(FOLDS, len(target)), shuffle=True, random_state=seed)
    return target - cross_val_predict(RidgeCV(alphas=RIDGE_ALPHAS), predictors, target, cv=folds)


def item_scores(features: dict[str, np.ndarray], seed: int) -> pd.DataFrame:
    """Each driver's score per item: the main direction of what the other two modalities do not predict (module text)."""
    reduced = {name: components(features[name]) for name in DRIVERS}
    scores = {}
    for name in DRIVERS:
        others = np.concatenate([reduced[other] for other in DRIVERS if other != name], 1)
        scores[name] = components(residual(reduced[name], others, seed), 1)[:, 0]
    return pd.DataFrame(scores)


def item_properties(scores: pd.DataFrame, share: float = PROPERTY_SHARE) -> pd.DataFrame:
    """Mark, per driver, whether each item's score is among the catalogue's top `share` (one boolean column each)."""
    return pd.DataFrame({name: scores[name] > scores[name].quantile(1.0 - share) for name in DRIVERS},
                        index=scores.index)


def simulate_interactions(properties: pd.DataFrame, settings: SimulationConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the users (with their driver) and their interactions, as item row positions; see the module text."""
    rng = np.random.default_rng(settings.seed)
    if settings.interactions_per_user > len(properties) - 1:
        log.warning("data.simulation.interactions_per_user is %d, but the catalogue has %d items; "
                    "each user gets at most %d interactions", settings.interactions_per_user, len(properties),
                    len(properties) - 1)
    drivers = [DRIVERS[user % len(DRIVERS)] for user in range(settings.users)]
    rng.shuffle(drivers)
    n_items = len(properties)
    rows = []
    for user, driver in enumerate(drivers):
        liked = np.flatnonzero(properties[driver].to_numpy())
        others = np.setdiff1d(np.arange(n_items), liked)
        if len(liked) < 3:
            raise ValueError(
                f"only {len(liked)} of the {n_items} simulated items have the {driver} property, and each "
                f"property needs at least 3; raise data.simulation.max_items (now {settings.max_items})"
            )
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


def simulated_catalogue(path: str | Path | None, settings: SimulationConfig, cache_dir: str | Path,
                        progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Read the stamps with a sound (at most `max_items`) and compute their driver scores and modality features."""
    catalogue, _ = read_catalogue(path)
    with_sound = catalogue[catalogue[AUDIO_PATH].notna()]
    if len(with_sound) < MIN_ITEMS:
        raise ValueError(f"only {len(with_sound)} Tux Paint stamps have a sound; the simulation needs at least "
                         f"{MIN_ITEMS}")
    items = sample_catalogue(with_sound, settings.max_items, settings.seed)
    features = modality_features(items, Path(cache_dir), progress)
    return items, item_scores(features, settings.seed), features


def load_tuxpaint(path: str | Path | None, settings: SimulationConfig, name: str = "tuxpaint",
                  cache_dir: str | Path = "cache", progress: bool = False) -> Dataset:
    """Load the Tux Paint catalogue (real media, read in place) with simulated interactions; `simulated` is True."""
    items, scores, _ = simulated_catalogue(path, settings, cache_dir, progress)
    properties = item_properties(scores)
    items[PROPERTIES] = [
        MULTILABEL_SEPARATOR.join(driver for driver in DRIVERS if row[driver]) for _, row in properties.iterrows()
    ]
    log.info("simulating %d users over %d stamps with a sound: %s", settings.users, len(items),
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
