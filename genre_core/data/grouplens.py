"""Load MovieLens-100k from the official GroupLens files (a folder or ml-100k.zip).

The files (described in the README that ships with them):

- ``u.data``: tab-separated ``user id, item id, rating, timestamp``;
- ``u.item``: pipe-separated, Latin-1: ``id|title (year)|release date|video
  release date|IMDb URL`` followed by 19 genre flags (0 or 1) in the order of
  :data:`GENRE_NAMES`;
- ``u.user``: pipe-separated ``id|age|gender|occupation|zip code``.

The result has the same columns and types as :func:`load_recbole_ml100k`.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from genre_core.data.column_parsers import parse_ids, parse_numbers, parse_timestamps
from genre_core.data.dataset import Dataset
from genre_core.data.movielens import ITEM_FEATURES, USER_FEATURES, genre_flags_to_labels
from genre_core.data.table_files import Table
from genre_core.data.validation import DataProblem, ProblemLog
from genre_core.schema import (
    AGE, GENDER, GENRES, ITEM_ID, OCCUPATION, RATING, TIMESTAMP, TITLE, USER_ID, YEAR,
)

log = logging.getLogger(__name__)

RATINGS_FILE = "u.data"
ITEMS_FILE = "u.item"
USERS_FILE = "u.user"
GROUPLENS_FILES = (RATINGS_FILE, ITEMS_FILE, USERS_FILE)

# The official zip keeps the files in this folder; a re-packed zip may hold them at the top level.
ZIP_FOLDER = "ml-100k"

# Latin-1 maps every byte to a character, so decoding never fails; u.item needs it for accented titles.
ENCODING = "latin-1"

GENRE_NAMES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
ITEM_FIELDS = [ITEM_ID, TITLE, "release_date", "video_release_date", "imdb_url", *GENRE_NAMES]
RATING_FIELDS = [USER_ID, ITEM_ID, RATING, TIMESTAMP]
USER_FIELDS = [USER_ID, AGE, GENDER, OCCUPATION, "zip_code"]

# "Toy Story (1995)" -> ("Toy Story", "1995"). A four-digit year at the end is
# removed, optionally followed by the "(V)" that u.item puts after video releases.
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)(?:\s*\(V\))?\s*$")
# "01-Jan-1995" -> "1995"
_DATE_YEAR = re.compile(r"(\d{4})\s*$")

DOWNLOAD_HINT = "download ml-100k.zip from https://grouplens.org/datasets/movielens/100k/"


def load_grouplens(path: str | Path) -> Dataset:
    """Read u.data, u.item and u.user from a folder or a zip, and validate them.

    A folder may hold the files directly or in an ``ml-100k`` subfolder; a zip
    may hold them at the top level or under ``ml-100k/``. Raises
    FileNotFoundError naming the path and the expected files, or
    DataValidationError listing every malformed line.
    """
    path = Path(path).expanduser()
    texts = _read_texts(path)
    log.info("reading GroupLens MovieLens-100k from %s", path)

    problems = ProblemLog(path)
    ratings_table = _split_lines(texts[RATINGS_FILE], RATINGS_FILE, "\t", RATING_FIELDS, problems)
    items_table = _split_lines(texts[ITEMS_FILE], ITEMS_FILE, "|", ITEM_FIELDS, problems)
    users_table = _split_lines(texts[USERS_FILE], USERS_FILE, "|", USER_FIELDS, problems)

    interactions = _parse_ratings(ratings_table, problems)
    items = _parse_items(items_table, problems)
    users = _parse_users(users_table, problems)
    ratings_table.report_unknown_ids(ITEM_ID, interactions[ITEM_ID], items[ITEM_ID], ITEMS_FILE, problems)
    ratings_table.report_unknown_ids(USER_ID, interactions[USER_ID], users[USER_ID], USERS_FILE, problems)
    problems.raise_if_any()

    return Dataset("ml-100k", interactions, items, users, ITEM_FEATURES, USER_FEATURES)


def _read_texts(path: Path) -> dict[str, str]:
    if path.is_dir():
        return _read_folder(path)
    if path.is_file():
        return _read_zip(path)
    raise FileNotFoundError(
        f"GroupLens ml-100k not found: {path} does not exist. Pass the ml-100k folder or ml-100k.zip, "
        f"which holds {', '.join(GROUPLENS_FILES)}; {DOWNLOAD_HINT}"
    )


def _read_folder(folder: Path) -> dict[str, str]:
    base = folder / ZIP_FOLDER if (folder / ZIP_FOLDER / RATINGS_FILE).is_file() else folder
    missing = [name for name in GROUPLENS_FILES if not (base / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"GroupLens ml-100k folder {folder} lacks {', '.join(missing)}; it needs "
            f"{', '.join(GROUPLENS_FILES)} directly or in a '{ZIP_FOLDER}' subfolder; {DOWNLOAD_HINT}"
        )
    return {name: (base / name).read_text(encoding=ENCODING) for name in GROUPLENS_FILES}


def _read_zip(path: Path) -> dict[str, str]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise FileNotFoundError(
            f"GroupLens ml-100k not found: {path} is not a zip archive ({error}). Pass the ml-100k folder or "
            f"ml-100k.zip, which holds {', '.join(GROUPLENS_FILES)}; {DOWNLOAD_HINT}"
        ) from error

    with archive:
        names = set(archive.namelist())
        prefix = f"{ZIP_FOLDER}/" if f"{ZIP_FOLDER}/{RATINGS_FILE}" in names else ""
        missing = [name for name in GROUPLENS_FILES if f"{prefix}{name}" not in names]
        if missing:
            raise FileNotFoundError(
                f"zip archive {path} lacks {', '.join(prefix + name for name in missing)}; it needs "
                f"{', '.join(GROUPLENS_FILES)} at the top level or under '{ZIP_FOLDER}/'; {DOWNLOAD_HINT}"
            )
        return {name: archive.read(f"{prefix}{name}").decode(ENCODING) for name in GROUPLENS_FILES}


def _split_lines(text: str, file: str, separator: str, fields: list[str], problems: ProblemLog) -> Table:
    """Split a headerless file into a table of strings; lines with the wrong field count are reported and skipped.

    The files use no quoting, so a plain split is exact. Rows are labelled with their 1-based line numbers.
    """
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(separator)
        if len(cells) != len(fields):
            problems.add(DataProblem(
                file=file, location=f"line {number}",
                problem=f"{len(cells)} fields separated by {separator!r}, expected {len(fields)}",
                fix=f"restore the line from the original {file}; {DOWNLOAD_HINT}",
            ))
            continue
        rows.append(cells)
        line_numbers.append(number)
    if not text.strip():
        problems.add(DataProblem(file=file, problem="empty file", fix=f"restore the original {file}; {DOWNLOAD_HINT}"))

    frame = pd.DataFrame(rows, columns=fields, dtype=str)
    lines = np.asarray(line_numbers, dtype=np.int64)
    return Table(file, frame, lambda positions: [f"line {lines[position]}" for position in positions])


def _parse_ratings(table: Table, problems: ProblemLog) -> pd.DataFrame:
    frame = table.frame
    parsed = {
        USER_ID: parse_ids(frame[USER_ID]),
        ITEM_ID: parse_ids(frame[ITEM_ID]),
        RATING: parse_numbers(frame[RATING], required=True),
        TIMESTAMP: parse_timestamps(frame[TIMESTAMP]),
    }
    for column, result in parsed.items():
        table.report_issues(column, result, problems)

    return pd.DataFrame({
        USER_ID: parsed[USER_ID].values.astype(str),
        ITEM_ID: parsed[ITEM_ID].values.astype(str),
        RATING: parsed[RATING].values.astype(float),
        TIMESTAMP: parsed[TIMESTAMP].values.astype("int64"),
    })


def _parse_items(table: Table, problems: ProblemLog) -> pd.DataFrame:
    frame = table.frame
    ids = parse_ids(frame[ITEM_ID])
    table.report_issues(ITEM_ID, ids, problems)
    table.report_duplicate_ids(ITEM_ID, ids.values, "item", problems)

    flags = frame[GENRE_NAMES].apply(lambda column: column.str.strip())
    for genre in GENRE_NAMES:
        invalid = ~flags[genre].isin(["0", "1"])
        problems.add_cells(
            table.file, table.locate, genre, invalid.to_numpy(), frame[genre], "genre flag is not 0 or 1",
            f"restore the line from the original {ITEMS_FILE}; {DOWNLOAD_HINT}",
        )

    split_titles = [_title_and_year(title, date) for title, date in zip(frame[TITLE], frame["release_date"])]
    return pd.DataFrame({
        ITEM_ID: ids.values.astype(str),
        TITLE: pd.Series([title for title, _ in split_titles], dtype=str),
        YEAR: pd.Series([year for _, year in split_titles], dtype=float),
        GENRES: pd.Series(genre_flags_to_labels((flags == "1").to_numpy(), GENRE_NAMES), dtype=str),
    })


def _title_and_year(raw_title: str, release_date: str) -> tuple[str, float]:
    """Split 'Toy Story (1995)' into title and year; without a year in the title, use the release date's.

    The title's year comes first because recbole's bundled copy took its years
    from the titles. That copy differs on item 1412: its year there is "V",
    which shows that the u.item title ends in "(1995) (V)". Recbole keeps
    "(1995)" in the title and has no year; this function returns the bare
    title and 1995.
    """
    match = _TITLE_YEAR.match(raw_title)
    if match:
        return match["title"], float(match["year"])
    date_match = _DATE_YEAR.search(release_date)
    return raw_title.strip(), float(date_match.group(1)) if date_match else np.nan


def _parse_users(table: Table, problems: ProblemLog) -> pd.DataFrame:
    frame = table.frame
    ids = parse_ids(frame[USER_ID])
    ages = parse_numbers(frame[AGE], required=True)
    table.report_issues(USER_ID, ids, problems)
    table.report_duplicate_ids(USER_ID, ids.values, "user", problems)
    table.report_issues(AGE, ages, problems)

    return pd.DataFrame({
        USER_ID: ids.values.astype(str),
        AGE: ages.values.astype(float),
        GENDER: frame[GENDER].str.strip().astype(str),
        OCCUPATION: frame[OCCUPATION].str.strip().astype(str),
    })
