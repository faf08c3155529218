"""Bad input to replay, bench, the --dataset shortcut and own media files: one clear error, no traceback."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from genre_core.config import PROJECT_ROOT, load_config, save_config
from genre_core.monitoring.stream import InteractionStream, StreamError, check_window
from genre_core.replay import load_run, run_file
from genre_core.schema import IMAGE_PATH, ITEM_ID, TIMESTAMP, USER_ID


def _stream(stamps) -> pd.DataFrame:
    return pd.DataFrame({USER_ID: range(len(stamps)), ITEM_ID: range(len(stamps)), TIMESTAMP: stamps})


@pytest.mark.parametrize("sort", [False, True])
def test_stream_rejects_missing_timestamp_with_row(sort):
    with pytest.raises(StreamError, match=r"timestamp is missing at row 1; 1 rows have none"):
        InteractionStream(_stream([1, np.nan, 0, 4]), sort=sort)


def test_stream_rejects_timestamps_that_are_not_numbers():
    with pytest.raises(StreamError, match=r"'timestamp' must hold numbers .* got dtype object"):
        InteractionStream(_stream([1, "a", 3]))


def test_stream_names_plain_index_label():
    frame = _stream([1, 3, 2]).set_axis(np.array([7, 8, 9]))
    with pytest.raises(StreamError, match=r"at row 2 \(index 9\)"):
        InteractionStream(frame)


def test_empty_stream_says_it_is_empty():
    with pytest.raises(StreamError, match="the stream has no interactions to replay"):
        check_window(1, 0)


@pytest.fixture
def replay_config(tmp_path):
    return load_config(None, {"paths.registry_dir": str(tmp_path / "models")})


@pytest.mark.parametrize("content, reason", [
    (b"{}", "no 'created_at'"),
    (b"[]", "no 'created_at'"),
    (b"\xff\xfe garbage", "codec can't decode"),
])
def test_corrupt_run_file_names_path(replay_config, content, reason):
    path = run_file(replay_config)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(ValueError, match=reason) as caught:
        load_run(replay_config)
    assert str(path) in str(caught.value)
    assert "run `genre replay` again" in str(caught.value)


def test_run_file_without_policy_timeline_is_corrupt(replay_config):
    run = {"created_at": "x", "dataset": "d", "machine": "m", "windows": 1, "seconds": 1.0,
           "interactions": {"initial": 1, "streamed": 1}, "settings": {"k": 10, "window": 5},
           "policies": {name: {"summary": {}, "timeline": []} for name in ("static", "periodic")}}
    path = run_file(replay_config)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(run))
    with pytest.raises(ValueError, match=r"no 'policies.adaptive.summary'"):
        load_run(replay_config)


def test_health_page_with_corrupt_run_shows_error(monkeypatch, replay_config, tmp_path):
    path = run_file(replay_config)
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    config_path = tmp_path / "movielens.yaml"
    save_config(replay_config, config_path)
    monkeypatch.setenv("GENRE_CONFIG", str(config_path))
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=60)
    at.run()
    at = at.switch_page("views/health.py").run()

    assert not at.exception
    assert len(at.error) == 1
    assert "no 'created_at'" in at.code[0].value


def test_bench_help_prints():
    from genre_core.cli import build_parser

    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["bench", "--help"])
    assert caught.value.code == 0


@pytest.mark.parametrize("text", ["1e400", "-1e400", "abc"])
def test_bench_count_rejects_overflow_and_words(text):
    from genre_core.cli_bench import _count

    with pytest.raises(argparse.ArgumentTypeError, match="invalid count"):
        _count(text)


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), 0.0, -1.0])
def test_bench_memory_limit_nan_inf_zero_negative(limit):
    from genre_core.cli_bench import run_bench
    from genre_core.scale import ScaleMemoryError

    args = argparse.Namespace(memory_limit_gib=limit, dims=[8], users=[1], scale=10, chunk_size=4, stream=False)
    with pytest.raises(ScaleMemoryError, match="invalid --memory-limit-gib"):
        run_bench(args)


@pytest.mark.parametrize("name", ["", "../configs/movielens", "TuxPaint"])
def test_dataset_shortcut_takes_shipped_names_only(name):
    from genre_core.cli_media import dataset_config

    with pytest.raises(FileNotFoundError, match=r"no shipped config for dataset .*available: .*tuxpaint"):
        dataset_config(name)


def test_media_path_that_is_a_folder_is_named(tmp_path):
    from genre_core.data.media_columns import read_media_columns
    from genre_core.data.table_files import Table

    (tmp_path / "pictures").mkdir()
    frame = pd.DataFrame({IMAGE_PATH: ["pictures", ""]})
    table = Table("items.csv", frame, lambda positions: [f"line {int(p) + 2}" for p in positions])
    with pytest.warns(UserWarning, match=r"items.csv:line 2: column 'image_path': path is a folder, not a file"):
        columns = read_media_columns(table, tmp_path)
    assert columns[IMAGE_PATH].tolist() == [None, None]
