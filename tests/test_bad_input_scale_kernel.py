"""Bad and unusual input for the compiled scoring kernels, `top_k_chunked` and `genre bench` memory planning."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from genre_core.scale import (
    GROUP, KERNEL_MAX_K, MIN_SPLIT_BYTES, ScaleMemoryError, benchmark_scoring, check_memory, chunks_of,
    top_k_chunked, uses_kernel,
)
from genre_core.scale_kernel import ScoreKernel, score_kernel


def kernel_arrays(kernel: ScoreKernel, dim: int = 32):
    items = np.ones((GROUP, dim), np.float32)
    users = kernel.users_array(np.ones((kernel.width, dim), np.float32))
    return items, users, np.zeros((1, kernel.width), np.float32)


# ScoreKernel


def test_kernel_rejects_read_only_memmap(tmp_path):
    """Writing the maxima into a read-only mapping crashed the process with SIGSEGV."""
    path = tmp_path / "maxima.bin"
    np.zeros((1, 4), np.float32).tofile(path)
    maxima = np.memmap(path, dtype=np.float32, mode="r", shape=(1, 4))
    kernel = score_kernel(4, GROUP, "dot")
    items, users, _ = kernel_arrays(kernel)

    with pytest.raises(ValueError, match="maxima is read-only; pass a writable float32 array"):
        kernel(items, users, maxima)


def test_kernel_leaves_immutable_buffer_alone():
    data = bytes(16)
    maxima = np.frombuffer(data, dtype=np.float32).reshape(1, 4)
    kernel = score_kernel(4, GROUP, "outer")
    items, users, _ = kernel_arrays(kernel)

    with pytest.raises(ValueError, match="maxima is read-only"):
        kernel(items, users, maxima)
    assert data == bytes(16)


def test_kernel_rejects_maxima_sharing_items():
    kernel = score_kernel(4, GROUP, "dot")
    items, users, _ = kernel_arrays(kernel)

    with pytest.raises(ValueError, match="maxima must not share memory with items or users"):
        kernel(items, users, items.reshape(-1, 4))
    with pytest.raises(ValueError, match="maxima must not share memory with items or users"):
        kernel(items, users, users.reshape(-1, 4)[:1])


def test_kernel_rejects_unaligned_items():
    kernel = score_kernel(4, GROUP, "dot")
    _, users, maxima = kernel_arrays(kernel)
    raw = np.zeros(GROUP * 32 * 4 + 1, np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(GROUP, 32)
    assert not unaligned.flags.aligned

    with pytest.raises(ValueError, match=r"items must be aligned to 4 bytes, .* copy it with \.copy\(\)"):
        kernel(unaligned, users, maxima)


@pytest.mark.parametrize("name, position", [("items", 0), ("users", 1), ("maxima", 2)])
def test_kernel_rejects_wrong_dimensions(name, position):
    kernel = score_kernel(4, GROUP, "dot")
    arrays = list(kernel_arrays(kernel))
    flat = arrays[:]
    flat[position] = arrays[position].ravel()
    cube = arrays[:]
    cube[position] = arrays[position].reshape(1, *arrays[position].shape)

    with pytest.raises(ValueError, match=rf"{name} must be a 2-D array, got shape \({arrays[position].size},\)"):
        kernel(*flat)
    with pytest.raises(ValueError, match=rf"{name} must be a 2-D array, got shape \(1, "):
        kernel(*cube)


def test_kernel_rejects_tensors_and_lists():
    kernel = score_kernel(4, GROUP, "dot")
    items, users, maxima = kernel_arrays(kernel)

    with pytest.raises(ValueError, match=r"items must be a 2-D numpy array, got Tensor; .* \.numpy\(\)"):
        kernel(torch.from_numpy(items), users, maxima)
    with pytest.raises(ValueError, match="users must be a 2-D numpy array, got list"):
        kernel(items, users.tolist(), maxima)
    with pytest.raises(ValueError, match=r"users must be a 2-D array, got shape \(32,\)"):
        kernel.users_array(np.ones(32, np.float32))


def test_kernel_errors_name_the_fix():
    kernel = score_kernel(4, GROUP, "dot")
    items, users, maxima = kernel_arrays(kernel)

    with pytest.raises(ValueError, match=r"got one with strides \(256, 8\); copy it with np.ascontiguousarray"):
        kernel(np.ones((GROUP, 64), np.float32)[:, ::2], users, maxima)
    with pytest.raises(ValueError, match=r"got float64; convert it with \.astype\(np\.float32\)"):
        kernel(items, users, maxima.astype(np.float64))
    with pytest.raises(ValueError, match=r"users must have shape \(4, 48\) for items of 48 dimensions"):
        kernel(np.ones((GROUP, 48), np.float32), users, maxima)


@pytest.mark.parametrize("width, group", [(True, GROUP), (4.0, GROUP), (4, 64.0), (4, "64"), (4, None)])
def test_kernel_settings_must_be_integers(width, group):
    """A bool or float width or group used to reach the LLVM parser as an i64 constant."""
    with pytest.raises(ValueError, match="kernel width must be one of|group must be a positive multiple"):
        ScoreKernel(width, group, "dot")


def test_kernel_accepts_numpy_integer_settings():
    kernel = ScoreKernel(np.int64(2), np.int64(GROUP), "outer")
    items, users, maxima = kernel_arrays(kernel, dim=7)

    kernel(items, users, maxima)

    assert maxima.tolist() == [[7.0, 7.0]]


# top_k_chunked


def nan_free_top_k(users: torch.Tensor, items: torch.Tensor, k: int):
    """The top-k of the exact scores, where a NaN score ranks below every item."""
    scores = (users.double() @ items.double().T).nan_to_num(nan=float("-inf"), posinf=float("inf"))
    return torch.topk(scores, k, dim=1)


@pytest.mark.parametrize("n_users", [1, 5, 16, 17])
def test_top_k_nan_in_last_partial_group(torch_threads, n_users):
    """A NaN item in the last partial group of a chunk hid the group's best item from the kernel path."""
    generator = torch.Generator().manual_seed(n_users)
    users = torch.randn(n_users, 16, generator=generator)
    items = torch.randn(100, 16, generator=generator)
    items[80] = users[0] * 10  # user 0's best item, in the partial group 64..99
    items[70, 3] = float("nan")

    values, indices = top_k_chunked(users, chunks_of(items, 100), 5, 100)
    expected = nan_free_top_k(users, items, 5)

    assert indices[0, 0] == 80
    assert not torch.isnan(values).any()
    assert torch.equal(indices, expected.indices)


def test_top_k_nan_same_on_both_paths():
    """17 users go through torch.mm, which ranked a NaN score first; the kernel path never returns it."""
    generator = torch.Generator().manual_seed(7)
    users = torch.randn(17, 24, generator=generator)
    items = torch.randn(500, 24, generator=generator)
    items[10, 0] = float("nan")
    users[3, 5] = float("nan")

    matmul_values, matmul_indices = top_k_chunked(users, chunks_of(items, 128), 4, 128)
    kernel_values, kernel_indices = top_k_chunked(users[:16], chunks_of(items, 128), 4, 128)

    expected = nan_free_top_k(users, items, 4)
    assert not torch.isnan(matmul_values).any()
    assert torch.equal(matmul_indices[:16], kernel_indices)
    assert (matmul_indices[3] == -1).all()  # a NaN user has no scores
    assert torch.equal(matmul_indices[4:], expected.indices[4:])


def test_top_k_large_k_leaves_kernel():
    """The kernel merge is quadratic in k: k 65,536 over 200,000 items took 17 s against 0.1 s by torch.mm."""
    assert uses_kernel(4, torch.float32, KERNEL_MAX_K)
    assert not uses_kernel(4, torch.float32, KERNEL_MAX_K + 1)
    generator = torch.Generator().manual_seed(2)
    users, items = torch.randn(4, 32, generator=generator), torch.randn(6000, 32, generator=generator)

    values, indices = top_k_chunked(users, chunks_of(items, 4096), 6000, 4096)

    expected = torch.topk(users @ items.T, 6000)
    assert torch.allclose(values, expected.values, atol=1e-5)
    assert torch.equal(indices.sort(dim=1).values, torch.arange(6000).expand(4, -1))


@pytest.mark.parametrize("chunk_size", [GROUP, MIN_SPLIT_BYTES // (16 * 4) * 2 + GROUP + 5])
def test_top_k_chunks_at_split_size(torch_threads, chunk_size):
    generator = torch.Generator().manual_seed(chunk_size)
    users, items = torch.randn(3, 16, generator=generator), torch.randn(2 * chunk_size + 17, 16, generator=generator)

    values, indices = top_k_chunked(users, chunks_of(items, chunk_size), 10, chunk_size)
    expected = torch.topk(users @ items.T, 10)

    assert torch.equal(indices, expected.indices)
    assert torch.allclose(values, expected.values, atol=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda users, items: top_k_chunked(users, chunks_of(items, 10), -1, 10), "invalid k -1"),
    (lambda users, items: top_k_chunked(users, chunks_of(items, 10), 2.0, 10), "invalid k 2.0"),
    (lambda users, items: top_k_chunked(users, chunks_of(items, 10), 3, 0), "invalid chunk_size 0"),
    (lambda users, items: top_k_chunked(users, chunks_of(items, 10), 3, -100), "invalid chunk_size -100"),
    (lambda users, items: top_k_chunked(users[0], chunks_of(items, 10), 3, 10), "user_vectors must be a 2-D"),
    (lambda users, items: top_k_chunked(users, chunks_of(items[:, :8], 10), 3, 10),
     r"a chunk has shape \(10, 8\), but the users have 16 dims"),
    (lambda users, items: top_k_chunked(users, [items[0]], 3, 10), r"a chunk has shape \(16,\)"),
    (lambda users, items: top_k_chunked(users, chunks_of(items.double(), 10), 3, 10),
     r"a chunk has dtype torch.float64, but the users have torch.float32; convert the chunks with \.to"),
])
@pytest.mark.parametrize("n_users", [2, 17])
def test_top_k_rejects_bad_arguments(call, message, n_users):
    users, items = torch.randn(n_users, 16), torch.randn(30, 16)

    with pytest.raises(ValueError, match=message):
        call(users, items)


def test_top_k_accepts_numpy_integer_k():
    users, items = torch.randn(2, 16), torch.randn(30, 16)

    values, indices = top_k_chunked(users, chunks_of(items, 10), np.int64(3), np.int64(10))

    assert torch.equal(indices, torch.topk(users @ items.T, 3).indices)


# benchmark_scoring and check_memory


def test_benchmark_clamps_k_to_catalogue():
    """A k of 10**11 tried to allocate 400 GB for the running top-k."""
    result = benchmark_scoring(300, 8, 2, 300, k=10**11, repeats=1, stream=True)

    assert result.k == 300
    assert result.scorer == "kernel"


def test_streamed_pass_excludes_compile_time():
    """With --stream there is no warm-up pass, so one repeat used to time the kernel's compilation too."""
    score_kernel.cache_clear()
    result = benchmark_scoring(2000, 17, 1, 512, repeats=1, stream=True)

    start = time.perf_counter()
    ScoreKernel(1, GROUP, "outer")
    compile_seconds = time.perf_counter() - start

    assert result.scorer == "kernel"
    assert result.seconds_per_pass < compile_seconds


def test_memory_check_names_dims_limit():
    """A vector too large for any chunk used to suggest --chunk-size 1, which failed the same way."""
    with pytest.raises(ScaleMemoryError, match=r"one item vector of 1,000,000,000 dims .* lower --dims to at most"):
        check_memory(10, 10**9, 1, 1, limit_bytes=2**30, stream=True)


def test_memory_check_tiny_limit_names_minimum():
    with pytest.raises(ScaleMemoryError, match=r"too small to score even one user; raise --memory-limit-gib"):
        check_memory(1000, 16, 4, 1000, limit_bytes=1, stream=False)
    with pytest.raises(ScaleMemoryError, match=r"needs 6e-05 GiB of float32 vectors, .* 0.0001 GiB memory limit"):
        check_memory(1000, 16, 4, 1000, limit_bytes=1e-4 * 2**30, stream=False)


@pytest.mark.parametrize("text, message", [
    ("1e30", "invalid count '1e30'"),  # not exact as a float
    ("20000000001", "invalid scale 20,000,000,001; give at most 10,000,000,000 items"),
])
def test_bench_rejects_huge_scale(text, message):
    """--scale 1e30 used to suggest a streamed run that would never finish."""
    import argparse

    from genre_core.cli_bench import _scale

    with pytest.raises(argparse.ArgumentTypeError, match=message):
        _scale(text)
