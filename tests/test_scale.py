"""Chunked scoring of a synthetic catalogue, memory planning and `genre bench`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from genre_core.config import PROJECT_ROOT
import numpy as np

from genre_core import scale
from genre_core.scale import (
    FLOAT_BYTES, GROUP, ScaleMemoryError, benchmark_scoring, check_memory, chunks_of, kernel_works, suggest_chunk_size,
    synthetic_catalogue, synthetic_chunks, top_k_chunked, uses_kernel,
)
from genre_core.scale_kernel import LANES, ScoreKernel, fold_plan, kernel_layout, kernel_width, merge_kernel, score_kernel


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genre_core", "bench", "--quiet", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("n_users", [1, 3, 6])
@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000, 5000])
def test_chunked_top_k_matches_full_top_k(chunk_size, n_users):
    generator = torch.Generator().manual_seed(0)
    users = torch.randn(n_users, 16, generator=generator)
    items = torch.randn(1000, 16, generator=generator)

    values, indices = top_k_chunked(users, chunks_of(items, chunk_size), 10, chunk_size)
    expected_values, expected_indices = torch.topk(users @ items.T, 10)

    assert torch.equal(indices, expected_indices)
    assert torch.allclose(values, expected_values, atol=1e-5)


def test_fold_plan_sums_each_vector_into_its_lane():
    vectors = np.random.default_rng(0).standard_normal((LANES, LANES))
    for level in fold_plan():
        vectors = np.stack([
            np.concatenate([first, second])[low] + np.concatenate([first, second])[high]
            for (first, second), (low, high) in zip(zip(vectors[0::2], vectors[1::2]), level)
        ])
    assert np.allclose(vectors[0], np.random.default_rng(0).standard_normal((LANES, LANES)).sum(axis=1))


@pytest.mark.parametrize("layout, dim", [("dot", 16), ("dot", 64), ("dot", 128), ("outer", 1), ("outer", 7), ("outer", 64)])
@pytest.mark.parametrize("width", [1, 2, 4, 8, 16])
def test_score_kernel_group_maxima_match_matrix_product(layout, dim, width):
    generator = np.random.default_rng(width * 1000 + dim)
    items = generator.standard_normal((3 * GROUP, dim), dtype=np.float32)
    users = generator.standard_normal((width, dim), dtype=np.float32)
    kernel = score_kernel(width, GROUP, layout)
    maxima = np.full((4, width), np.nan, np.float32)

    kernel(items, kernel.users_array(users), maxima)

    expected = items @ users.T
    assert np.allclose(maxima[:3], expected.reshape(3, GROUP, width).max(axis=1), atol=1e-4)
    assert np.isnan(maxima[3:]).all()  # nothing written beyond the items' groups


def test_score_kernel_pads_narrow_batches_with_zero_users():
    kernel = score_kernel(4, GROUP, "dot")
    users = np.ones((3, 16), np.float32)
    assert np.array_equal(kernel.users_array(users)[3], np.zeros(16, np.float32))
    assert score_kernel(4, GROUP, "outer").users_array(users).shape == (16, 4)
    with pytest.raises(ValueError, match="at most 4 users, got 5"):
        kernel.users_array(np.ones((5, 16), np.float32))


@pytest.mark.parametrize("arguments, message", [
    ((3, GROUP, "dot"), r"kernel width must be one of \(1, 2, 4, 8, 16\), got 3"),
    ((4, GROUP, "rows"), "kernel layout must be 'dot' or 'outer', got 'rows'"),
    ((4, 12, "outer"), "group must be a positive multiple of 8, got 12"),
    ((16, 0, "dot"), "group must be a positive multiple of 2, got 0"),
])
def test_score_kernel_rejects_bad_settings(arguments, message):
    with pytest.raises(ValueError, match=message):
        ScoreKernel(*arguments)


def test_score_kernel_rejects_bad_arrays():
    kernel = score_kernel(2, GROUP, "dot")
    items, users = np.zeros((GROUP, 32), np.float32), kernel.users_array(np.zeros((2, 32), np.float32))
    maxima = np.zeros((1, 2), np.float32)
    with pytest.raises(ValueError, match="whole groups of 64 items, got 63"):
        kernel(items[:63], users, maxima)
    with pytest.raises(ValueError, match="items must be a C-contiguous float32 array, got float64"):
        kernel(items.astype(np.float64), users, maxima)
    with pytest.raises(ValueError, match="items must be a C-contiguous"):
        kernel(np.zeros((GROUP, 64), np.float32)[:, ::2], users, maxima)
    with pytest.raises(ValueError, match=r"users must have shape \(2, 32\)"):
        kernel(items, users.T.copy(), maxima)
    with pytest.raises(ValueError, match="multiple of 16, got 8"):
        kernel(np.zeros((GROUP, 8), np.float32), np.zeros((2, 8), np.float32), maxima)
    with pytest.raises(ValueError, match="maxima must have at least 1 rows of 2"):
        kernel(items, users, maxima[:0])


def test_kernel_width_and_layout():
    assert [kernel_width(n) for n in (1, 2, 3, 5, 8, 9, 16)] == [1, 2, 4, 8, 8, 16, 16]
    with pytest.raises(ValueError, match="at most 16 users at a time, got 17"):
        kernel_width(17)
    assert [kernel_layout(4, dim) for dim in (16, 64, 128, 7, 100)] == ["dot", "dot", "dot", "outer", "outer"]


def test_merge_kernel_keeps_the_top_k_in_order():
    merge = merge_kernel()
    # One dimension and a user of 1, so each item's score is its value.
    items = np.array([[1.0], [5.0], [3.0], [5.0], [-2.0], [4.0], [0.5], [0.25], [np.nan]], np.float32)
    users = np.ones((1, 1), np.float32)
    maxima = np.array([[5.0], [5.0], [0.5]], np.float32)
    values, indices = np.full((1, 3), -np.inf, np.float32), np.full((1, 3), -1, np.int64)

    merge(items, users, maxima, 9, 1, 3, 100, values, indices)

    assert values.tolist() == [[5.0, 5.0, 4.0]]
    assert indices.tolist() == [[101, 103, 105]]  # of equal scores the earlier item stays first

    merge(items, users, np.array([[np.nan], [1.0], [np.nan]], np.float32), 9, 1, 3, 0, values, indices)
    assert indices.tolist() == [[101, 103, 105]]  # NaN maxima and scores never enter the top-k
    merge(items, users, maxima, 9, 1, 3, 0, np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64))  # k = 0


def test_merge_kernel_rescores_only_the_k_best_groups():
    """A group whose maximum is below the k best groups' maxima is not scored, even when its items would fit."""
    merge = merge_kernel()
    items = np.arange(12, dtype=np.float32).reshape(12, 1)  # groups of 3: maxima 2, 5, 8, 11
    users = np.ones((1, 1), np.float32)
    maxima = np.array([[2.0], [5.0], [8.0], [11.0]], np.float32)
    values, indices = np.full((1, 2), -np.inf, np.float32), np.full((1, 2), -1, np.int64)

    merge(items, users, maxima, 12, 1, 3, 0, values, indices)

    assert indices.tolist() == [[11, 10]]
    # Maxima that understate a group, as a wrong kernel would write them, hide its items: only maxima steer the merge.
    values[:], indices[:] = -np.inf, -1
    merge(items, users, np.array([[2.0], [5.0], [8.0], [-1.0]], np.float32), 12, 1, 3, 0, values, indices)
    assert indices.tolist() == [[8, 7]]


@pytest.mark.parametrize("n_users", [1, 3, 4, 7, 8, 9, 16])
@pytest.mark.parametrize("dim", [32, 30])
def test_kernel_top_k_matches_topk(torch_threads, n_users, dim):
    assert uses_kernel(n_users)
    generator = torch.Generator().manual_seed(3)
    users, items = torch.randn(n_users, dim, generator=generator), torch.randn(3001, dim, generator=generator)

    values, indices = top_k_chunked(users, chunks_of(items, 512), 10, 512)
    expected_values, expected_indices = torch.topk(users @ items.T, 10)

    assert torch.equal(indices, expected_indices)
    assert torch.allclose(values, expected_values, atol=1e-5)


def test_uses_kernel_up_to_16_float32_users(torch_threads):
    assert [uses_kernel(n) for n in (1, 2, 3, 8, 16, 17, 64)] == [True] * 5 + [False] * 2
    assert not uses_kernel(8, torch.float64)


def test_kernel_failure_falls_back_to_matrix_product(monkeypatch, caplog):
    def broken(*arguments):
        raise OSError("no code generator")

    monkeypatch.setattr(scale, "score_kernel", broken)
    kernel_works.cache_clear()
    try:
        assert not uses_kernel(4)
        users, items = torch.randn(4, 16), torch.randn(300, 16)
        values, indices = top_k_chunked(users, chunks_of(items, 100), 5, 100)
    finally:
        kernel_works.cache_clear()
    assert torch.equal(indices, torch.topk(users @ items.T, 5).indices)
    assert "compiled scoring kernel is unavailable here (no code generator); scoring uses torch.mm" in caplog.text


def test_chunked_top_k_staging_blocks(monkeypatch):
    # 4 KiB of 16-d vectors is one 64-item staging block, so each 1000-item chunk takes 16 products.
    monkeypatch.setattr("genre_core.scale.STAGING_BYTES", 4096)
    monkeypatch.setattr("genre_core.scale.uses_kernel", lambda *arguments: False)  # torch.mm with staging
    generator = torch.Generator().manual_seed(1)
    users = torch.randn(8, 16, generator=generator)
    items = torch.randn(5000, 16, generator=generator)

    values, indices = top_k_chunked(users, chunks_of(items, 1000), 20, 1000)
    expected_values, expected_indices = torch.topk(users @ items.T, 20)

    assert torch.equal(indices, expected_indices)
    assert torch.allclose(values, expected_values, atol=1e-5)


def test_chunked_top_k_of_fewer_items_than_k():
    users, items = torch.randn(2, 4), torch.randn(5, 4)

    values, indices = top_k_chunked(users, chunks_of(items, 3), 8, 3)

    assert torch.equal(indices[:, :5], torch.topk(users @ items.T, 5).indices)
    assert torch.equal(indices[:, 5:], torch.full((2, 3), -1))
    assert torch.isinf(values[:, 5:]).all()


def test_chunked_top_k_rejects_oversized_chunk():
    users, items = torch.randn(2, 4), torch.randn(100, 4)

    with pytest.raises(ValueError, match="more than chunk_size=10"):
        top_k_chunked(users, chunks_of(items, 20), 5, 10)


def test_synthetic_chunks_reproducible():
    first = torch.cat(list(synthetic_chunks(1000, 8, 300, seed=3)))
    second = synthetic_catalogue(1000, 8, seed=3, chunk_size=300)

    assert first.shape == (1000, 8)
    assert torch.equal(first, second)


def test_streamed_scoring_matches_resident():
    users = torch.randn(3, 8)
    resident = top_k_chunked(users, chunks_of(synthetic_catalogue(5000, 8, chunk_size=512), 512), 10, 512)
    streamed = top_k_chunked(users, synthetic_chunks(5000, 8, 512), 10, 512)

    assert torch.equal(resident[1], streamed[1])


def test_suggested_chunk_fits_budget():
    budget = 64 * 2**20
    chunk = suggest_chunk_size(128, 16, budget)

    assert chunk & (chunk - 1) == 0
    assert chunk * (128 + 3 * 16) * FLOAT_BYTES <= budget
    assert 2 * chunk * (128 + 3 * 16) * FLOAT_BYTES > budget


def test_catalogue_too_large_names_chunk_size():
    with pytest.raises(ScaleMemoryError, match=r"rerun with --stream --chunk-size \d+") as error:
        check_memory(100_000_000, 128, 16, 16_384, limit_bytes=8 * 2**30, stream=False)

    assert "47.7 GiB" in str(error.value)


def test_score_buffer_too_large_names_chunk_size():
    with pytest.raises(ScaleMemoryError, match=r"use --chunk-size \d+"):
        check_memory(1_000_000, 64, 100_000, 65_536, limit_bytes=4 * 2**30, stream=False)


def test_fitting_run_passes_memory_check():
    check_memory(1_000_000, 128, 16, 16_384, limit_bytes=2 * 2**30, stream=False)
    check_memory(100_000_000, 128, 16, 16_384, limit_bytes=1 * 2**30, stream=True)


def test_benchmark_reports_bandwidth_share():
    result = benchmark_scoring(50_000, 16, 2, 4096, repeats=2, copy_bytes=64 * 2**20)

    assert result.copy_bandwidth > 0
    assert result.read_bandwidth > 0
    assert result.users_per_second > 0
    assert result.catalogue_bytes == 50_000 * 16 * FLOAT_BYTES
    assert 0 < result.share_of_copy_bound
    assert result.product_seconds > 0
    assert result.product_share_of_read_bound > 0
    assert result.peak_memory_bytes > result.catalogue_bytes
    # The roofline: a peak arithmetic rate, the pass's operations at that rate, and the share of the larger bound.
    assert result.peak_flops > 1e8
    assert result.bound_seconds_compute == pytest.approx(2 * 2 * 16 * 50_000 / result.peak_flops)
    assert 0 < result.share_of_roofline
    assert result.share_of_roofline >= result.share_of_read_bound
    assert result.scorer in ("kernel", "torch.mm")


def test_bench_command_prints_json():
    result = run_bench("--scale", "20000", "--dims", "8", "--users", "1", "2", "--repeats", "1",
                       "--memory-limit-gib", "1", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [row["n_users"] for row in report["scoring"]] == [1, 2]
    assert report["scoring"][0]["n_items"] == 20000
    assert report["scoring"][0]["read_bandwidth"] > 0
    assert report["scoring"][0]["peak_memory_bytes"] > 0


def test_bench_command_out_of_memory_message():
    result = run_bench("--scale", "100000000", "--dims", "128", "--memory-limit-gib", "2", "--json")

    assert result.returncode == 2
    assert "--chunk-size" in result.stderr
    assert "Traceback" not in result.stderr
