"""Tests of the GroupLens, custom-data and config-driven dataset loaders."""

from __future__ import annotations

import importlib.util
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre_core.config import ConfigError, DataConfig
from genre_core.data.custom import DataValidationError, load_custom
from genre_core.data.dataset import FeatureSpec
from genre_core.data.grouplens import GENRE_NAMES, load_grouplens
from genre_core.data.loading import load_dataset
from genre_core.data.movielens import ITEM_FEATURES, USER_FEATURES
from genre_core.data.validation import MAX_LISTED_PROBLEMS
from genre_core.schema import AGE, GENDER, GENRES, ITEM_ID, OCCUPATION, RATING, TIMESTAMP, TITLE, USER_ID, YEAR

HAS_RECBOLE = importlib.util.find_spec("recbole") is not None

# ---------------------------------------------------------------- custom data

INTERACTIONS_CSV = """\
user_id,item_id,rating,timestamp
007,a1,4,881250949
7,a2,3.5,2024-03-01
007,a2,5,2024-03-01T12:30:00+08:00
"""

ITEMS_CSV = """\
item_id,title,brand,tags,price,unused
a1,"Red shoes, size 9",Acme,shoes | red|,19.5,x
a2,,  Bolt ,,,y
a3,"A long
description",Acme,hats,7,z
"""

USERS_CSV = """\
user_id,country,age
007,FR,31
7,,
"""


def custom_config(**overrides) -> DataConfig:
    settings = dict(
        source="custom", name="shop", item_text=["title"], item_categorical=["brand"], item_multilabel=["tags"],
        item_numeric=["price"], user_categorical=["country"], user_numeric=["age"],
    )
    settings.update(overrides)
    return DataConfig(**settings)


def write_custom(folder: Path, interactions: str = INTERACTIONS_CSV, items: str = ITEMS_CSV,
                 users: str | None = USERS_CSV) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "interactions.csv").write_text(interactions, encoding="utf-8")
    (folder / "items.csv").write_text(items, encoding="utf-8")
    if users is not None:
        (folder / "users.csv").write_text(users, encoding="utf-8")
    return folder


def load_error(folder: Path, config: DataConfig | None = None) -> DataValidationError:
    with pytest.raises(DataValidationError) as caught:
        load_custom(folder, config or custom_config())
    return caught.value


def test_custom_csv_well_formed(tmp_path):
    dataset = load_custom(write_custom(tmp_path / "shop"), custom_config())

    interactions = dataset.interactions
    assert interactions[USER_ID].tolist() == ["007", "7", "007"]
    assert interactions[ITEM_ID].tolist() == ["a1", "a2", "a2"]
    assert interactions[RATING].tolist() == [4.0, 3.5, 5.0]
    assert interactions[TIMESTAMP].tolist() == [881250949, 1709251200, 1709267400]
    assert interactions[TIMESTAMP].dtype == np.int64

    items = dataset.items
    assert items.columns.tolist() == [ITEM_ID, "title", "brand", "tags", "price"]
    assert items["title"].tolist() == ["Red shoes, size 9", "", "A long\ndescription"]
    assert items["brand"].tolist() == ["Acme", "Bolt", "Acme"]
    assert items["tags"].tolist() == ["shoes|red", "", "hats"]
    assert items["price"].iloc[0] == 19.5
    assert np.isnan(items["price"].iloc[1])

    users = dataset.users
    assert users[USER_ID].tolist() == ["007", "7"]
    assert users["country"].tolist() == ["FR", ""]
    assert users["age"].iloc[0] == 31.0
    assert np.isnan(users["age"].iloc[1])


def test_custom_feature_specs_from_config(tmp_path):
    dataset = load_custom(write_custom(tmp_path / "shop"), custom_config())

    assert dataset.item_features == FeatureSpec(text=["title"], categorical=["brand"], multilabel=["tags"],
                                                numeric=["price"])
    assert dataset.user_features == FeatureSpec(categorical=["country"], numeric=["age"])
    assert dataset.name == "shop"
    assert dataset.multilabel_values("tags") == ["hats", "red", "shoes"]


def test_custom_ids_keep_leading_zeros(tmp_path):
    dataset = load_custom(write_custom(tmp_path / "shop"), custom_config())

    assert dataset.n_users == 2
    assert dataset.user_position("007") != dataset.user_position("7")
    assert dataset.users[USER_ID].map(type).eq(str).all()
    assert dataset.interactions[USER_ID].map(type).eq(str).all()


def test_custom_without_users_file(tmp_path):
    folder = write_custom(tmp_path / "shop", users=None)

    dataset = load_custom(folder, custom_config(user_categorical=[], user_numeric=[]))

    assert dataset.users.columns.tolist() == [USER_ID]
    assert dataset.users[USER_ID].tolist() == ["007", "7"]
    assert dataset.user_features == FeatureSpec()


def test_custom_without_ratings(tmp_path):
    interactions = "user_id,item_id,timestamp\n007,a1,10\n7,a2,20\n"
    dataset = load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())

    assert dataset.interactions[RATING].isna().all()
    assert not dataset.has_ratings


def test_custom_parquet_matches_csv(tmp_path):
    csv_dataset = load_custom(write_custom(tmp_path / "csv"), custom_config())
    folder = tmp_path / "parquet"
    folder.mkdir()
    for stem in ("interactions", "items", "users"):
        frame = pd.read_csv(tmp_path / "csv" / f"{stem}.csv", dtype=str, keep_default_na=False)
        frame.to_parquet(folder / f"{stem}.parquet", index=False)

    parquet_dataset = load_custom(folder, custom_config())

    pd.testing.assert_frame_equal(parquet_dataset.interactions, csv_dataset.interactions)
    pd.testing.assert_frame_equal(parquet_dataset.items, csv_dataset.items)
    pd.testing.assert_frame_equal(parquet_dataset.users, csv_dataset.users)


def test_custom_parquet_native_types(tmp_path):
    folder = tmp_path / "typed"
    folder.mkdir()
    pd.DataFrame({
        USER_ID: [1, 2], ITEM_ID: [10, 11], RATING: [4, 5],
        TIMESTAMP: pd.to_datetime(["1997-12-04 15:55:49", "2024-03-01 00:00:00"]),
    }).to_parquet(folder / "interactions.parquet")
    pd.DataFrame({ITEM_ID: [10, 11], "tags": [["a", "b"], []]}).to_parquet(folder / "items.parquet")
    config = custom_config(item_text=[], item_categorical=[], item_multilabel=["tags"], item_numeric=[],
                           user_categorical=[], user_numeric=[])

    dataset = load_custom(folder, config)

    assert dataset.interactions[USER_ID].tolist() == ["1", "2"]
    assert dataset.interactions[TIMESTAMP].tolist() == [881250949, 1709251200]
    assert dataset.items[ITEM_ID].tolist() == ["10", "11"]
    assert dataset.items["tags"].tolist() == ["a|b", ""]


def test_custom_parquet_named_index(tmp_path):
    folder = write_custom(tmp_path / "shop")
    (folder / "items.csv").unlink()
    items = pd.DataFrame({ITEM_ID: ["a1", "a2"], "title": ["x", "y"], "brand": ["Acme", "Bolt"], "tags": ["", ""],
                          "price": [1.0, 2.0]})
    items.set_index(ITEM_ID).to_parquet(folder / "items.parquet")

    dataset = load_custom(folder, custom_config())

    assert dataset.items[ITEM_ID].tolist() == ["a1", "a2"]


def test_custom_millisecond_timestamps_warn(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n007,a1,4,1709251200000\n"

    with pytest.warns(UserWarning, match=r"interactions\.csv: the latest timestamp 1709251200000 .*divide it by 1000"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


def test_custom_line_numbers_count_physical_lines(tmp_path):
    items = 'item_id,title,brand,tags,price\n\na1,"two\nlines",Acme,,1\n\na2,x,Acme,,cheap\n'

    error = load_error(write_custom(tmp_path / "shop", items=items))

    assert "items.csv:line 6: column 'price': not a number (value 'cheap')" in str(error)


def test_custom_missing_required_column(tmp_path):
    interactions = "user_id,item_id,rating\n007,a1,4\n"

    error = load_error(write_custom(tmp_path / "shop", interactions=interactions))

    assert re.search(
        r"interactions\.csv: column 'timestamp': missing column \(the file has user_id, item_id, rating\); "
        r"add the column; interactions\.csv needs the columns user_id, item_id, timestamp", str(error),
    )


def test_custom_missing_configured_column(tmp_path):
    with pytest.raises(DataValidationError, match=r"items\.csv: column 'colour': missing column .*"
                                                  r"remove 'colour' from data\.item_categorical"):
        load_custom(write_custom(tmp_path / "shop"), custom_config(item_categorical=["brand", "colour"]))


def test_custom_empty_id(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n007,a1,4,1\n ,a1,4,2\n"

    with pytest.raises(DataValidationError, match=r"interactions\.csv:line 3: column 'user_id': empty ID \(value ' '\)"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


def test_custom_rating_not_numeric(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n007,a1,five,1\n"

    with pytest.raises(DataValidationError,
                       match=r"interactions\.csv:line 2: column 'rating': not a number \(value 'five'\); write a number"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


def test_custom_rating_not_finite(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n007,a1,4,1\n007,a1,-inf,1\n"

    with pytest.raises(DataValidationError,
                       match=r"interactions\.csv:line 3: column 'rating': not finite \(value '-inf'\)"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


def test_custom_rating_empty(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n007,a1,,1\n"

    with pytest.raises(DataValidationError, match=r"interactions\.csv:line 2: column 'rating': empty"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


@pytest.mark.parametrize("value", ["2024-13-45", "yesterday", "1.5", "03/01/2024"])
def test_custom_timestamp_unparsable(tmp_path, value):
    interactions = f"user_id,item_id,rating,timestamp\n007,a1,4,{value}\n"

    with pytest.raises(DataValidationError, match=rf"interactions\.csv:line 2: column 'timestamp': "
                                                  rf"not integer seconds or an ISO-8601 date \(value '{re.escape(value)}'\)"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


def test_custom_numeric_feature_invalid(tmp_path):
    items = "item_id,title,brand,tags,price\na1,x,Acme,,cheap\na2,y,Acme,,inf\n"

    error = load_error(write_custom(tmp_path / "shop", items=items))

    assert "items.csv:line 2: column 'price': not a number (value 'cheap')" in str(error)
    assert "items.csv:line 3: column 'price': not finite (value 'inf')" in str(error)
    assert "leave the cell empty for a missing value" in str(error)


def test_custom_unknown_item_id(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n007,a1,4,1\n7,zz,4,1\n"

    with pytest.raises(DataValidationError,
                       match=r"interactions\.csv:line 3: column 'item_id': ID not found in items\.csv \(value 'zz'\)"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


def test_custom_unknown_user_id(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n007,a1,4,1\n0007,a1,4,1\n"

    with pytest.raises(DataValidationError,
                       match=r"interactions\.csv:line 3: column 'user_id': ID not found in users\.csv \(value '0007'\)"):
        load_custom(write_custom(tmp_path / "shop", interactions=interactions), custom_config())


def test_custom_duplicate_item_ids(tmp_path):
    items = "item_id,title,brand,tags,price\na1,x,Acme,,1\na2,y,Acme,,1\na1,z,Acme,,1\n"

    with pytest.raises(DataValidationError, match=r"items\.csv:line 4: column 'item_id': "
                                                  r"duplicate item ID \(first at line 2\) \(value 'a1'\); keep one row"):
        load_custom(write_custom(tmp_path / "shop", items=items), custom_config())


def test_custom_duplicate_user_ids(tmp_path):
    users = "user_id,country,age\n007,FR,31\n7,DE,40\n007,FR,32\n"

    with pytest.raises(DataValidationError, match=r"users\.csv:line 4: column 'user_id': "
                                                  r"duplicate user ID \(first at line 2\) \(value '007'\)"):
        load_custom(write_custom(tmp_path / "shop", users=users), custom_config())


def test_custom_empty_file(tmp_path):
    with pytest.raises(DataValidationError, match=r"items\.csv: empty file; write a header line"):
        load_custom(write_custom(tmp_path / "shop", items=""), custom_config())


def test_custom_header_without_rows(tmp_path):
    with pytest.raises(DataValidationError, match=r"interactions\.csv: no rows after the header"):
        load_custom(write_custom(tmp_path / "shop", interactions="user_id,item_id,timestamp\n"), custom_config())


def test_custom_file_not_found(tmp_path):
    folder = write_custom(tmp_path / "shop")
    (folder / "interactions.csv").unlink()

    with pytest.raises(DataValidationError, match=r"interactions\.csv: file not found in .*shop; add it; the folder "
                                                  r"needs interactions\.csv or interactions\.parquet \(required\), "
                                                  r"items\.csv or items\.parquet \(required\), "
                                                  r"users\.csv or users\.parquet \(optional\)"):
        load_custom(folder, custom_config())


def test_custom_folder_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data folder not found: .*nowhere"):
        load_custom(tmp_path / "nowhere", custom_config())


def test_custom_users_file_needed_for_user_features(tmp_path):
    with pytest.raises(DataValidationError, match=r"users\.csv: file not found, but the config names the user "
                                                  r"columns country, age; .*data\.user_categorical"):
        load_custom(write_custom(tmp_path / "shop", users=None), custom_config())


def test_custom_csv_and_parquet_both_present(tmp_path):
    folder = write_custom(tmp_path / "shop")
    pd.DataFrame({ITEM_ID: ["a1"]}).to_parquet(folder / "items.parquet")

    with pytest.raises(DataValidationError, match=r"both items\.csv and items\.parquet exist; keep one"):
        load_custom(folder, custom_config())


def test_custom_parquet_unreadable(tmp_path):
    folder = write_custom(tmp_path / "shop")
    (folder / "items.csv").unlink()
    (folder / "items.parquet").write_bytes(b"this is not parquet")

    with pytest.raises(DataValidationError, match=r"items\.parquet: could not be read as Parquet \(.+\); "
                                                  r"write the file again"):
        load_custom(folder, custom_config())


def test_custom_parquet_row_index_labels(tmp_path):
    folder = write_custom(tmp_path / "shop")
    (folder / "interactions.csv").unlink()
    pd.DataFrame({
        USER_ID: ["007", "7"], ITEM_ID: ["a1", "a2"], RATING: ["4", "high"], TIMESTAMP: [1, 2],
    }).to_parquet(folder / "interactions.parquet")

    with pytest.raises(DataValidationError, match=r"interactions\.parquet:row index 1: column 'rating': "
                                                  r"not a number \(value 'high'\)"):
        load_custom(folder, custom_config())


def test_custom_wrong_field_count(tmp_path):
    items = "item_id,title,brand,tags,price\na1,x,Acme,,1\na2,Red, blue,Acme,,1\na3,y,Acme\n"

    error = load_error(write_custom(tmp_path / "shop", items=items))

    assert "items.csv:line 3: 6 fields but the header has 5 columns; put double quotes around" in str(error)
    assert "items.csv:line 4: 3 fields but the header has 5 columns; add the missing cells" in str(error)


def test_custom_not_utf8(tmp_path):
    folder = write_custom(tmp_path / "shop")
    (folder / "items.csv").write_bytes("item_id,title,brand,tags,price\na1,Caf\u00e9,Acme,,1\n".encode("latin-1"))

    with pytest.raises(DataValidationError, match=r"items\.csv:line 2: not valid UTF-8 text \(byte 0xe9 at byte 7 "
                                                  r"of the line\); save the file with UTF-8 encoding"):
        load_custom(folder, custom_config())


def test_custom_utf8_byte_order_mark(tmp_path):
    folder = write_custom(tmp_path / "shop")
    (folder / "items.csv").write_bytes(b"\xef\xbb\xbf" + ITEMS_CSV.encode("utf-8"))

    dataset = load_custom(folder, custom_config())

    assert dataset.items[ITEM_ID].tolist() == ["a1", "a2", "a3"]


def test_custom_duplicate_header(tmp_path):
    items = "item_id,title,brand,tags,price,price\na1,x,Acme,,1,2\n"

    with pytest.raises(DataValidationError, match=r"items\.csv:line 1: column 'price': column name appears more "
                                                  r"than once in the header"):
        load_custom(write_custom(tmp_path / "shop", items=items), custom_config())


def test_custom_collects_every_problem(tmp_path):
    interactions = "user_id,item_id,rating,timestamp\n,a1,x,1\n7,zz,4,never\n"
    items = "item_id,title,brand,tags,price\na1,x,Acme,,1\na1,y,Acme,,cheap\n"

    error = load_error(write_custom(tmp_path / "shop", interactions=interactions, items=items))

    assert error.total == 6
    assert str(error).startswith(f"6 problems in the data at {tmp_path / 'shop'}:")
    message_lines = str(error).splitlines()[1:]
    assert [line.split(": ")[0].strip() for line in message_lines] == [
        "interactions.csv:line 2", "interactions.csv:line 2", "interactions.csv:line 3",
        "interactions.csv:line 3", "items.csv:line 3", "items.csv:line 3",
    ]


def test_custom_problem_list_is_capped(tmp_path):
    rows = "".join(f"u{index},a1,bad,1\n" for index in range(MAX_LISTED_PROBLEMS + 10))
    interactions = "user_id,item_id,rating,timestamp\n" + rows

    error = load_error(write_custom(tmp_path / "shop", interactions=interactions, users=None),
                       custom_config(user_categorical=[], user_numeric=[]))

    assert error.total == MAX_LISTED_PROBLEMS + 10
    message_lines = str(error).splitlines()
    assert len(message_lines) == 1 + MAX_LISTED_PROBLEMS + 1
    assert message_lines[-1] == "  ... and 10 more"


def test_custom_config_column_listed_twice(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'data\.item_numeric': column 'title' is also listed in "
                                          r"'data\.item_text'"):
        load_custom(write_custom(tmp_path / "shop"), custom_config(item_numeric=["title"]))


def test_custom_config_id_column_as_feature(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'data\.user_categorical': 'user_id' is the ID column"):
        load_custom(write_custom(tmp_path / "shop"), custom_config(user_categorical=["user_id"]))


# ------------------------------------------------------------ GroupLens files

FAKE_U_DATA = "1\t2\t3\t881250949\n2\t1\t5\t891717742\n1\t3\t1\t878887116\n"
FAKE_U_USER = "1|24|M|technician|85711\n2|53|F|other|94043\n"


def flags(*genres: str) -> str:
    return "|".join("1" if name in genres else "0" for name in GENRE_NAMES)


CHILDRENS = "Children's"
FAKE_U_ITEM = "".join([
    f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
    f"{flags('Animation', CHILDRENS, 'Comedy')}\n",
    f"2|Mis\u00e9rables, Les (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Mis%E9rables%2C%20Les%20%281995%29|"
    f"{flags('Drama', 'Musical')}\n",
    f"3|Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)|01-Jan-1995||http://x|{flags('Drama')}\n",
    f"4|unknown||||{flags('unknown')}\n",
    f"5|Land Before Time III: The Time of the Great Giving (1995) (V)|10-Feb-1995||http://x|"
    f"{flags('Animation', CHILDRENS)}\n",
])


def write_grouplens(folder: Path, u_data: str = FAKE_U_DATA, u_item: str = FAKE_U_ITEM,
                    u_user: str = FAKE_U_USER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_bytes(u_data.encode("latin-1"))
    (folder / "u.item").write_bytes(u_item.encode("latin-1"))
    (folder / "u.user").write_bytes(u_user.encode("latin-1"))
    return folder


def zip_folder(folder: Path, archive: Path, prefix: str) -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for name in ("u.data", "u.item", "u.user"):
            handle.write(folder / name, f"{prefix}{name}")
    return archive


def assert_same_dataset(left, right) -> None:
    pd.testing.assert_frame_equal(left.interactions, right.interactions)
    pd.testing.assert_frame_equal(left.items, right.items)
    pd.testing.assert_frame_equal(left.users, right.users)


def test_grouplens_folder(tmp_path):
    dataset = load_grouplens(write_grouplens(tmp_path / "ml-100k"))

    assert dataset.interactions[[USER_ID, ITEM_ID, RATING, TIMESTAMP]].to_dict("list") == {
        USER_ID: ["1", "2", "1"], ITEM_ID: ["2", "1", "3"], RATING: [3.0, 5.0, 1.0],
        TIMESTAMP: [881250949, 891717742, 878887116],
    }
    assert dataset.items[TITLE].tolist() == [
        "Toy Story", "Mis\u00e9rables, Les", "Shanghai Triad (Yao a yao yao dao waipo qiao)", "unknown",
        "Land Before Time III: The Time of the Great Giving",
    ]
    assert dataset.items[YEAR].tolist()[:3] == [1995.0, 1995.0, 1995.0]
    assert np.isnan(dataset.items[YEAR].iloc[3])
    assert dataset.items[YEAR].iloc[4] == 1995.0
    assert dataset.items[GENRES].tolist() == [
        "Animation|Children's|Comedy", "Drama|Musical", "Drama", "unknown", "Animation|Children's",
    ]
    assert dataset.users.to_dict("list") == {
        USER_ID: ["1", "2"], AGE: [24.0, 53.0], GENDER: ["M", "F"], OCCUPATION: ["technician", "other"],
    }
    assert dataset.item_features == ITEM_FEATURES
    assert dataset.user_features == USER_FEATURES


def test_grouplens_year_from_release_date(tmp_path):
    u_item = f"1|Toy Story|01-Jan-1995||http://x|{flags('Comedy')}\n"
    u_data = "1\t1\t3\t881250949\n"

    dataset = load_grouplens(write_grouplens(tmp_path / "ml-100k", u_data=u_data, u_item=u_item))

    assert dataset.items[TITLE].tolist() == ["Toy Story"]
    assert dataset.items[YEAR].tolist() == [1995.0]


@pytest.mark.parametrize("prefix", ["", "ml-100k/"])
def test_grouplens_zip_matches_folder(tmp_path, prefix):
    folder = write_grouplens(tmp_path / "ml-100k")
    archive = zip_folder(folder, tmp_path / "ml-100k.zip", prefix)

    assert_same_dataset(load_grouplens(archive), load_grouplens(folder))


def test_grouplens_parent_folder(tmp_path):
    folder = write_grouplens(tmp_path / "downloads" / "ml-100k")

    assert_same_dataset(load_grouplens(tmp_path / "downloads"), load_grouplens(folder))


def test_grouplens_path_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"GroupLens ml-100k not found: .*missing\.zip does not exist.*"
                                                r"u\.data, u\.item, u\.user"):
        load_grouplens(tmp_path / "missing.zip")


def test_grouplens_folder_lacks_file(tmp_path):
    folder = write_grouplens(tmp_path / "ml-100k")
    (folder / "u.user").unlink()

    with pytest.raises(FileNotFoundError, match=r"GroupLens ml-100k folder .*ml-100k lacks u\.user; it needs "
                                                r"u\.data, u\.item, u\.user"):
        load_grouplens(folder)


def test_grouplens_zip_lacks_file(tmp_path):
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("ml-100k/u.data", FAKE_U_DATA)

    with pytest.raises(FileNotFoundError, match=r"zip archive .*ml-100k\.zip lacks ml-100k/u\.item, "
                                                r"ml-100k/u\.user"):
        load_grouplens(archive)


def test_grouplens_not_a_zip(tmp_path):
    archive = tmp_path / "ml-100k.zip"
    archive.write_text("not a zip")

    with pytest.raises(FileNotFoundError, match=r"ml-100k\.zip is not a zip archive"):
        load_grouplens(archive)


def test_grouplens_malformed_lines(tmp_path):
    u_data = "1\t2\t3\t881250949\n2\t1\tfive\t891717742\n1\t3\t1\n1\t9\t4\t878887116\n"
    bad_flag = "2" + flags("unknown")[1:]
    u_item = FAKE_U_ITEM.replace(f"4|unknown||||{flags('unknown')}", f"4|unknown||||{bad_flag}")

    with pytest.raises(DataValidationError) as caught:
        load_grouplens(write_grouplens(tmp_path / "ml-100k", u_data=u_data, u_item=u_item))

    message = str(caught.value)
    assert "u.data:line 2: column 'rating': not a number (value 'five')" in message
    assert "u.data:line 3: 3 fields separated by '\\t', expected 4" in message
    assert "u.data:line 4: column 'item_id': ID not found in u.item (value '9')" in message
    assert "u.item:line 4: column 'unknown': genre flag is not 0 or 1 (value '2')" in message


def test_grouplens_duplicate_ids(tmp_path):
    u_user = FAKE_U_USER + "1|30|F|writer|12345\n"

    with pytest.raises(DataValidationError, match=r"u\.user:line 3: column 'user_id': duplicate user ID "
                                                  r"\(first at line 1\) \(value '1'\)"):
        load_grouplens(write_grouplens(tmp_path / "ml-100k", u_user=u_user))


def test_grouplens_empty_file(tmp_path):
    with pytest.raises(DataValidationError, match=r"u\.item: empty file; restore the original u\.item"):
        load_grouplens(write_grouplens(tmp_path / "ml-100k", u_item=""))


@pytest.mark.skipif(not HAS_RECBOLE, reason="needs the recbole package, which bundles MovieLens-100k")
def test_grouplens_matches_recbole_copy(tmp_path):
    """Write recbole's MovieLens-100k in the GroupLens format, read it back and compare."""
    from genre_core.data.movielens import load_recbole_ml100k

    reference = load_recbole_ml100k()
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    ratings = reference.interactions[[USER_ID, ITEM_ID, RATING, TIMESTAMP]].astype({RATING: int})
    ratings.to_csv(folder / "u.data", sep="\t", header=False, index=False)
    (folder / "u.item").write_bytes("".join(_u_item_line(row) for row in reference.items.itertuples()).encode("latin-1"))
    (folder / "u.user").write_text("".join(
        f"{row.user_id}|{int(row.age)}|{row.gender}|{row.occupation}|00000\n" for row in reference.users.itertuples()
    ))

    dataset = load_grouplens(folder)

    pd.testing.assert_frame_equal(dataset.interactions, reference.interactions)
    pd.testing.assert_frame_equal(dataset.users, reference.users)
    pd.testing.assert_series_equal(dataset.items[GENRES], reference.items[GENRES])
    # recbole's copy took the year of item 1412 from its "(V)" suffix; see _title_and_year.
    same = reference.items[ITEM_ID] != "1412"
    pd.testing.assert_frame_equal(dataset.items[same], reference.items[same])
    video = dataset.items.set_index(ITEM_ID).loc["1412"]
    assert video[TITLE] == "Land Before Time III: The Time of the Great Giving"
    assert video[YEAR] == 1995.0


def _u_item_line(row) -> str:
    """Rebuild the u.item line of one film from recbole's columns."""
    title = row.title if np.isnan(row.year) else f"{row.title} ({int(row.year)})"
    date = "" if np.isnan(row.year) else f"01-Jan-{int(row.year)}"
    if row.item_id == "1412":  # recbole's copy kept "(1995)" in the title and lost the year to "(V)"
        title, date = f"{row.title} (V)", "01-Jan-1995"
    return f"{row.item_id}|{title}|{date}||http://us.imdb.com/|{flags(*row.genres.split('|'))}\n"


# --------------------------------------------------------------- load_dataset

@pytest.mark.skipif(not HAS_RECBOLE, reason="needs the recbole package, which bundles MovieLens-100k")
def test_load_dataset_recbole_default():
    dataset = load_dataset(DataConfig())

    assert dataset.n_users == 943
    assert dataset.n_items == 1682
    assert len(dataset.interactions) == 100_000
    assert dataset.item_features == ITEM_FEATURES


def test_load_dataset_recbole_bad_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ml-100k\.inter not found; data\.path for source 'recbole'"):
        load_dataset(DataConfig(source="recbole", path=str(tmp_path)))


def test_load_dataset_grouplens(tmp_path):
    folder = write_grouplens(tmp_path / "ml-100k")

    dataset = load_dataset(DataConfig(source="grouplens", path=str(folder)))

    assert dataset.n_items == 5
    assert dataset.item_features == ITEM_FEATURES
    assert dataset.user_features == USER_FEATURES


def test_load_dataset_grouplens_warns_on_feature_lists(tmp_path):
    folder = write_grouplens(tmp_path / "ml-100k")

    with pytest.warns(UserWarning, match=r"feature lists are ignored for data\.source 'grouplens'"):
        dataset = load_dataset(DataConfig(source="grouplens", path=str(folder), item_numeric=[]))

    assert dataset.item_features == ITEM_FEATURES


@pytest.mark.parametrize("source", ["grouplens", "custom"])
def test_load_dataset_path_required(source):
    with pytest.raises(ConfigError, match=rf"config key 'data\.path' is required when data\.source is '{source}'"):
        load_dataset(DataConfig(source=source))


def test_load_dataset_custom(tmp_path):
    folder = write_custom(tmp_path / "shop")

    dataset = load_dataset(custom_config(path=str(folder), name="my-shop"))

    assert dataset.name == "my-shop"
    assert dataset.item_features.categorical == ["brand"]
    assert dataset.n_items == 3


def test_load_dataset_custom_default_name(tmp_path):
    folder = write_custom(tmp_path / "shop")

    dataset = load_dataset(custom_config(path=str(folder), name=DataConfig().name))

    assert dataset.name == "shop"
