"""Chunked scoring of a synthetic catalogue, memory planning and `genre bench`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from genre_core.config import PROJECT_ROOT
from genre_core.scale import (
    FLOAT_BYTES, ScaleMemoryError, benchmark_scoring, check_memory, chunks_of, dot_kernel, suggest_chunk_size,
    synthetic_catalogue, synthetic_chunks, top_k_chunked, uses_kernel,
)


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


@pytest.fixture
def one_thread():
    """Run torch on one thread, as `genre bench` does with OMP_NUM_THREADS=1; the kernel needs it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("n_items, dim, n_users", [(1, 3, 2), (1001, 16, 4), (2000, 64, 8), (777, 128, 16), (999, 7, 6)])
def test_dot_kernel_matches_matrix_product(n_items, dim, n_users):
    generator = torch.Generator().manual_seed(2)
    items, users = torch.randn(n_items, dim, generator=generator), torch.randn(n_users, dim, generator=generator)
    out = torch.full((n_users, n_items + 5), float("nan"))

    dot_kernel()(items.numpy(), users.numpy(), out[:, :n_items].numpy())

    assert torch.allclose(out[:, :n_items], users @ items.T, atol=1e-4)
    assert out[:, n_items:].isnan().all()  # nothing written beyond the block's columns


@pytest.mark.parametrize("n_users", [3, 4, 7, 8])
def test_kernel_top_k_matches_topk(one_thread, n_users):
    assert uses_kernel(n_users)
    generator = torch.Generator().manual_seed(3)
    users, items = torch.randn(n_users, 32, generator=generator), torch.randn(3001, 32, generator=generator)

    values, indices = top_k_chunked(users, chunks_of(items, 512), 10, 512)
    expected_values, expected_indices = torch.topk(users @ items.T, 10)

    assert torch.equal(indices, expected_indices)
    assert torch.allclose(values, expected_values, atol=1e-5)


def test_uses_kernel_small_batches_one_thread(one_thread):
    assert [uses_kernel(n) for n in (1, 2, 3, 8, 9, 64)] == [False, False, True, True, False, False]
    assert not uses_kernel(8, torch.float64)
    torch.set_num_threads(2)
    assert not uses_kernel(8)


def test_chunked_top_k_staging_blocks(monkeypatch):
    # 4 KiB of 16-d vectors is one 64-item staging block, so each 1000-item chunk takes 16 products.
    monkeypatch.setattr("genre_core.scale.STAGING_BYTES", 4096)
    monkeypatch.setattr("genre_core.scale.KERNEL_USERS", (0, -1))  # torch.mm with staging, whatever the threads
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
