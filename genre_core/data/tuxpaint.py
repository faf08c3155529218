"""The Tux Paint stamp catalogue: real pictures, descriptions and sounds, read from the installed Debian package.

Each stamp with a PNG picture and an English description (`<name>.txt`, first line) is an item;
its sound effect is `<name>.ogg` or `<name>.wav` beside it, when there is one (spoken
descriptions `<name>_desc*.ogg` and localised names are not sound effects). Stamps that exist
only as SVG are skipped and counted, because no SVG renderer is installed. The files are read
in place and never copied: the package is GPL-2 and 161 MB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genre_core.schema import AUDIO_PATH, IMAGE_PATH, ITEM_ID, TITLE

log = logging.getLogger(__name__)

STAMPS_DIR = Path("/usr/share/tuxpaint/stamps")
DEBIAN_PACKAGE = "tuxpaint-stamps-default"
DESCRIPTION = "description"
CATEGORY = "category"
SOUND_SUFFIXES = (".ogg", ".wav")
# Mirrored copies of a stamp (`<name>_mirror.png`) are the same picture flipped, not new items.
MIRROR_SUFFIX = "_mirror"


@dataclass
class CatalogueSummary:
    """Counts of a catalogue read: stamps read, stamps skipped because they are SVG only, stamps with sound."""

    items: int
    svg_only: int
    with_sound: int


def stamps_folder(path: str | Path | None = None) -> Path:
    """Return the stamps folder, or raise FileNotFoundError naming the Debian package that provides it."""
    folder = Path(path).expanduser() if path else STAMPS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Tux Paint stamps not found at {folder}; install the Debian package {DEBIAN_PACKAGE} with "
            f"`sudo apt-get install --no-install-recommends {DEBIAN_PACKAGE}` (GENRE never downloads it itself)"
        )
    return folder


def read_description(text_file: Path) -> str:
    """Return the English description: the first line of the stamp's .txt file, without the locale lines."""
    try:
        lines = text_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return lines[0].strip() if lines and "=" not in lines[0] else ""


def sound_file(picture: Path) -> Path | None:
    for suffix in SOUND_SUFFIXES:
        candidate = picture.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def read_catalogue(path: str | Path | None = None) -> tuple[pd.DataFrame, CatalogueSummary]:
    """Read every PNG stamp with an English description: item_id, title, description, category, image and audio paths.

    item_id is the stamp's path below the stamps folder without its suffix, for example
    `animals/birds/blackbird`; rows are sorted by it.
    """
    folder = stamps_folder(path)
    rows = []
    for picture in sorted(folder.rglob("*.png")):
        if picture.stem.endswith(MIRROR_SUFFIX):
            continue
        description = read_description(picture.with_suffix(".txt"))
        if not description:
            continue
        relative = picture.relative_to(folder).with_suffix("")
        sound = sound_file(picture)
        rows.append({
            ITEM_ID: relative.as_posix(),
            TITLE: picture.stem.replace("_", " ").replace("-", " "),
            DESCRIPTION: description,
            CATEGORY: relative.parts[0],
            IMAGE_PATH: str(picture),
            AUDIO_PATH: str(sound) if sound else None,
        })
    svg_only = sum(1 for svg in folder.rglob("*.svg") if not svg.with_suffix(".png").is_file())
    items = pd.DataFrame(rows, columns=[ITEM_ID, TITLE, DESCRIPTION, CATEGORY, IMAGE_PATH, AUDIO_PATH])
    summary = CatalogueSummary(len(items), svg_only, int(items[AUDIO_PATH].notna().sum()))
    log.info("read %d Tux Paint stamps from %s (%d with a sound; %d SVG-only stamps skipped, no SVG renderer)",
             summary.items, folder, summary.with_sound, summary.svg_only)
    return items, summary


def sample_catalogue(items: pd.DataFrame, max_items: int, seed: int) -> pd.DataFrame:
    """Keep every stamp with a sound plus a seeded random sample of the others, `max_items` in all."""
    if max_items < 1:
        raise ValueError(f"invalid catalogue size {max_items}; give at least 1 item")
    with_sound = items[items[AUDIO_PATH].notna()]
    silent = items[items[AUDIO_PATH].isna()]
    if len(items) <= max_items:
        return items.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    keep_sound = with_sound.iloc[np.sort(rng.permutation(len(with_sound))[:max_items])]
    room = max_items - len(keep_sound)
    keep_silent = silent.iloc[np.sort(rng.permutation(len(silent))[:room])]
    return pd.concat([keep_sound, keep_silent]).sort_values(ITEM_ID).reset_index(drop=True)
