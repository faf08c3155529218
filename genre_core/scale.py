"""Scoring a synthetic catalogue of millions of items in chunks, against the memory-bandwidth bound.

Scoring a batch of users against a catalogue reads every item vector once, so
with few users it is limited by memory bandwidth, not arithmetic: the time of
one pass can be no lower than (catalogue bytes) / (bandwidth). The bandwidth is
measured on this machine twice: with a large tensor copy, counted as bytes read
plus bytes written, and with a read-only pass (the faster of a sum and a dot
product of the catalogue with itself). The share reported is the bound's time
divided by the measured time.

With more users per batch the product needs 2 * users * dim floating-point
operations per item. The packed matrix product of `torch.mm` copies every block
before multiplying it and stays near a third of the read bound from about 4
users on, so batches of up to 16 users go through the compiled kernels of
`genre_core.scale_kernel` instead, which read each item vector once. Their
arithmetic overlaps the read only in part, so the share still falls as the
users grow; docs/benchmarks.md (section Scale) has the measurements.
"""

from __future__ import annotations

import logging
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from numbers import Integral
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from genre_core.scale_kernel import (
    KERNEL_MAX_USERS, LANES, kernel_layout, kernel_width, merge_kernel, score_kernel,
)

log = logging.getLogger(__name__)

FLOAT_BYTES = 4
GIB = 2**30
MIB = 2**20
# Largest chunk `suggest_chunk_size` proposes; bigger chunks no longer cut per-chunk overhead.
MAX_SUGGESTED_CHUNK = 1 << 20
# Bytes held per score of a chunk: the float32 score buffer, the benchmark's product-only buffer
# of the same size and the group maxima (1/GROUP of it). This is an upper estimate.
SCORE_WORKING_BYTES = 3 * FLOAT_BYTES
# Items whose scores share one maximum in the running top-k filter of `top_k_chunked`.
GROUP = 64
# Item vectors multiplied at a time: small enough to stay in one core's L2 cache for the product.
STAGING_BYTES = 1 * MIB
# From this many users on, each block is copied into the staging buffer before the product.
STAGE_MIN_USERS = 5
# Largest k that the kernel path merges. Its merge shifts the running top-k to insert each new item, O(k)
# per item, so a k near the catalogue size takes time quadratic in k. On 200,000 64-d items, 4 users and
# 1 thread (2-core Xeon with AVX-512) the kernel path took 29 ms at k 1,024 against 25 ms for torch.mm,
# and 16.9 s at k 65,536 against 0.1 s. Above this k the torch.mm path scores the batch.
KERNEL_MAX_K = 1024
# Item bytes per thread below which the kernel scores a chunk on the calling thread alone. Handing a part
# to a worker thread costs tens of microseconds. On the machine above, chunks of 4,096 64-d items
# (1 MiB) were still slower on 2 threads than on 1. The value is an estimate, not tuned per machine.
MIN_SPLIT_BYTES = 1 * MIB


class ScaleMemoryError(RuntimeError):
    """The requested catalogue or chunk does not fit in the memory limit."""


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo, or the physical memory where that file is missing."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def reset_peak_memory() -> bool:
    """Restart the peak-memory count of this process (Linux: write 5 to /proc/self/clear_refs); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_bytes() -> int:
    """Peak resident memory of this process since the last reset (VmHWM), or since it started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# Memory planning


def _gib(n_bytes: float) -> str:
    """`n_bytes` in GiB for messages, with two significant digits below 0.1 GiB so small limits do not read 0.0."""
    gib = n_bytes / GIB
    return f"{gib:.1f} GiB" if gib >= 0.1 else f"{gib:.2g} GiB"


def suggest_chunk_size(dim: int, n_users: int, budget_bytes: float) -> int:
    """Largest power-of-two chunk whose item vectors and score buffer fit in `budget_bytes`."""
    per_item = dim * FLOAT_BYTES + n_users * SCORE_WORKING_BYTES
    chunk = 1
    while chunk * 2 * per_item <= budget_bytes and chunk * 2 <= MAX_SUGGESTED_CHUNK:
        chunk *= 2
    return chunk


def check_memory(n_items: int, dim: int, n_users: int, chunk_size: int, limit_bytes: float, stream: bool) -> None:
    """Raise ScaleMemoryError, naming a chunk size that fits, when the run would exceed `limit_bytes`."""
    # NOTE: the per-user top-k state and the k * GROUP scores merged per chunk are not counted.
    # With 2,000,000 users and k 10 they took about 4 GiB against 72 MB planned here.
    catalogue = 0 if stream else n_items * dim * FLOAT_BYTES
    chunk_items = min(chunk_size, n_items)
    # top_k_chunked pads its score buffer to whole groups of GROUP items, and the kernel's batch to its width.
    score_columns = -(-chunk_items // GROUP) * GROUP
    scored_users = kernel_width(n_users) if 1 <= n_users <= KERNEL_MAX_USERS else n_users
    working = score_columns * scored_users * SCORE_WORKING_BYTES + (chunk_items * dim * FLOAT_BYTES if stream else 0)
    if catalogue + working <= limit_bytes:
        return

    # Even the smallest chunk needs GROUP scores per user, so no chunk size fits a batch too large for that.
    fewest = GROUP * n_users * SCORE_WORKING_BYTES
    if fewest > limit_bytes / 2:
        max_users = int(limit_bytes / 2 // (GROUP * SCORE_WORKING_BYTES))
        if max_users < 1:
            raise ScaleMemoryError(
                f"the {_gib(limit_bytes)} memory limit is too small to score even one user; raise "
                f"--memory-limit-gib to at least {2 * fewest / GIB:.2g} for {n_users:,} users"
            )
        raise ScaleMemoryError(
            f"scores of {n_users:,} users need {_gib(fewest)} even with the smallest chunk, more than half "
            f"of the {_gib(limit_bytes)} memory limit; lower --users to at most {max_users:,}"
        )

    # A streamed chunk of one item still contains its vector, so no chunk size fits a dimension too large for that.
    one_item = GROUP * scored_users * SCORE_WORKING_BYTES + dim * FLOAT_BYTES
    if one_item > limit_bytes / 2:
        max_dim = int((limit_bytes / 2 - GROUP * scored_users * SCORE_WORKING_BYTES) // FLOAT_BYTES)
        raise ScaleMemoryError(
            f"one item vector of {dim:,} dims takes {_gib(dim * FLOAT_BYTES)}, so even a streamed chunk "
            f"of one item needs more than half of the {_gib(limit_bytes)} memory limit; "
            f"lower --dims to at most {max_dim:,}"
        )

    if catalogue > limit_bytes / 2:
        suggested = suggest_chunk_size(dim, scored_users, limit_bytes / 4)
        raise ScaleMemoryError(
            f"a catalogue of {n_items:,} items x {dim} dims needs {_gib(catalogue)} of float32 vectors, "
            f"more than half of the {_gib(limit_bytes)} memory limit; rerun with --stream --chunk-size "
            f"{suggested} to generate and score {suggested:,} items at a time "
            f"({suggested * (dim * FLOAT_BYTES + scored_users * SCORE_WORKING_BYTES) / MIB:.0f} MiB per chunk)"
        )
    suggested = suggest_chunk_size(dim, scored_users, (limit_bytes - catalogue) / 2)
    raise ScaleMemoryError(
        f"scores of {n_users} users x {chunk_items:,} items per chunk need {_gib(working)}, which with the "
        f"{_gib(catalogue)} catalogue exceeds the {_gib(limit_bytes)} memory limit; "
        f"use --chunk-size {suggested}"
    )


# Catalogue and scoring


def synthetic_chunks(n_items: int, dim: int, chunk_size: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """Yield the catalogue's item vectors chunk by chunk: standard normal, seeded per chunk, so reproducible."""
    for number, start in enumerate(range(0, n_items, chunk_size)):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + number)
        yield torch.randn(min(chunk_size, n_items - start), dim, generator=generator)


def empty_on_huge_pages(*shape: int) -> torch.Tensor:
    """Return an uninitialised float32 tensor whose memory numpy allocates, asking Linux for transparent huge pages.

    numpy advises the kernel to back large arrays with 2 MiB pages (`madvise`), and
    torch's CPU allocator does not. On 4 KiB pages a pass over a million 64-d item
    vectors took about 1.7 times as long here, from the misses in the address
    translation cache. Where huge pages are off this is a plain allocation.
    """
    return torch.from_numpy(np.empty(shape, dtype=np.float32))


def synthetic_catalogue(n_items: int, dim: int, seed: int = 0, chunk_size: int = 65_536) -> torch.Tensor:
    """Build the whole synthetic catalogue (n_items, dim) in memory, chunk by chunk, as `synthetic_chunks` yields it."""
    catalogue = empty_on_huge_pages(n_items, dim)
    for start, chunk in zip(range(0, n_items, chunk_size), synthetic_chunks(n_items, dim, chunk_size, seed)):
        catalogue[start:start + len(chunk)] = chunk
    return catalogue


def chunks_of(catalogue: torch.Tensor, chunk_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(catalogue), chunk_size):
        yield catalogue[start:start + chunk_size]


def uses_kernel(n_users: int, dtype: torch.dtype = torch.float32, k: int = 1) -> bool:
    """True when `top_k_chunked` scores a batch of `n_users` users of this dtype, top-k `k`, with the SIMD kernel."""
    return 1 <= n_users <= KERNEL_MAX_USERS and dtype == torch.float32 and k <= KERNEL_MAX_K and kernel_works()


@lru_cache(maxsize=1)
def kernel_works() -> bool:
    """Check once per process that the SIMD kernels compile here and agree with numpy on a small product.

    If not (llvmlite missing, or a processor it cannot compile for), scoring
    falls back to `torch.mm`, which gives the same top-k more slowly, and a
    warning in the log gives the reason.
    """
    try:
        generator = np.random.default_rng(0)
        items = generator.standard_normal((2 * GROUP, LANES), dtype=np.float32)
        users = generator.standard_normal((3, LANES), dtype=np.float32)
        expected = items @ users.T
        for layout in ("dot", "outer"):
            kernel = score_kernel(4, GROUP, layout)
            maxima = np.empty((2, 4), np.float32)
            kernel(items, kernel.users_array(users), maxima)
            if not np.allclose(maxima[:, :3], expected.reshape(2, GROUP, 3).max(axis=1), atol=1e-4):
                raise RuntimeError(f"the {layout} kernel's group maxima differ from numpy's")
        merge_kernel()
    except Exception as error:  # any failure to build or run the kernel leaves the torch.mm path
        log.warning("the compiled scoring kernel is unavailable here (%s); scoring uses torch.mm instead", error)
        return False
    return True


def top_k_chunked(
    user_vectors: torch.Tensor, item_chunks: Iterable[torch.Tensor], k: int, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k dot-product scores and item indices of each user over a catalogue given in chunks.

    The running top-k is updated from groups of GROUP items: one maximum per user
    and group, and only items of the k groups with the highest maxima are merged,
    instead of a top-k over the whole chunk. Memory beyond the catalogue is the
    group maxima of one chunk and the running top-k, plus, on the `torch.mm`
    path, one chunk of scores and a staging block of STAGING_BYTES, whatever the
    catalogue size.

    Up to KERNEL_MAX_USERS float32 users, with k up to KERNEL_MAX_K, are scored
    by the kernels of `genre_core.scale_kernel` (see `_kernel_scorer`).
    Otherwise each chunk goes through `torch.mm`, in blocks of about
    STAGING_BYTES of item vectors copied first into a staging block that stays
    in the core's cache. On both paths a NaN score never enters the top-k.
    """
    if user_vectors.dim() != 2:
        raise ValueError(f"user_vectors must be a 2-D (users, dims) tensor, got shape {tuple(user_vectors.shape)}")
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 0:
        raise ValueError(f"invalid k {k!r}; give a whole number of at least 0")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"invalid chunk_size {chunk_size!r}; give a whole number of at least 1")
    k, chunk_size = int(k), int(chunk_size)
    n_users, dim = user_vectors.shape
    # Scores are written into preallocated buffers (out= and numpy views), which take no autograd graph.
    users = user_vectors.detach().contiguous()
    dtype = users.dtype
    width = -(-chunk_size // GROUP) * GROUP
    best_values = torch.full((n_users, k), float("-inf"), dtype=dtype)
    best_indices = torch.full((n_users, k), -1, dtype=torch.long)
    scorer = _kernel_scorer if uses_kernel(n_users, dtype, k) else _matmul_scorer
    merge_chunk = scorer(users, width)
    offset = 0
    for chunk in item_chunks:
        chunk = chunk.detach()
        if chunk.dim() != 2 or chunk.shape[1] != dim:
            raise ValueError(
                f"a chunk has shape {tuple(chunk.shape)}, but the users have {dim} dims; "
                f"give chunks of shape (items, {dim})"
            )
        if chunk.dtype != dtype:
            raise ValueError(
                f"a chunk has dtype {chunk.dtype}, but the users have {dtype}; convert the chunks with .to({dtype})"
            )
        n_items = len(chunk)
        if n_items > chunk_size:
            raise ValueError(f"a chunk has {n_items} items, more than chunk_size={chunk_size}")
        best_values, best_indices = merge_chunk(chunk, offset, best_values, best_indices)
        offset += n_items
    # Slots never filled (a catalogue of fewer than k items) keep index -1.
    best_indices.masked_fill_(best_values == float("-inf"), -1)
    return best_values, best_indices


def _kernel_scorer(users: torch.Tensor, width: int):
    """A function that merges a chunk into the running top-k, in place, through the SIMD kernel.

    The kernel writes each user's maximum per group of GROUP items. `merge_kernel`
    then scores again only the groups that can change the user's top-k. A batch
    narrower than the kernel gets zero users, whose maxima are never read. With
    several torch threads the chunk's whole groups are split between them, at
    least MIN_SPLIT_BYTES of item vectors each; the kernel releases the GIL.
    """
    n_users, dim = users.shape
    lanes = kernel_width(n_users)
    kernel, merge = score_kernel(lanes, GROUP, kernel_layout(lanes, dim)), merge_kernel()
    users_array = users.numpy()
    kernel_users = kernel.users_array(users_array)
    maxima = np.empty((width // GROUP, lanes), dtype=np.float32)
    threads = torch.get_num_threads()
    pool = _worker_pool(threads - 1) if threads > 1 else None

    def score_part(items: np.ndarray, first: int, last: int) -> None:
        kernel(items[first:last], kernel_users, maxima[first // GROUP:])

    def merge_chunk(chunk, offset, best_values, best_indices):
        items = chunk.contiguous().numpy()
        n_items = len(items)
        whole = n_items - n_items % GROUP
        n_parts = min(threads, max(1, whole * dim * FLOAT_BYTES // MIN_SPLIT_BYTES))
        if pool is None or n_parts == 1:
            score_part(items, 0, whole)
        else:
            bounds = [whole // GROUP * part // n_parts * GROUP for part in range(n_parts + 1)]
            parts = [pool.submit(score_part, items, first, last) for first, last in zip(bounds[1:-1], bounds[2:])]
            score_part(items, bounds[0], bounds[1])
            for part in parts:
                part.result()
        if whole < n_items:
            # The last, partial group, by numpy: at most GROUP - 1 items. fmax skips NaN scores as the
            # kernel does, so one NaN item does not hide the group's other items from the merge.
            maxima[whole // GROUP, :n_users] = np.fmax.reduce(items[whole:] @ users_array.T, axis=0)
        merge(items, users_array, maxima, n_items, n_users, GROUP, offset, best_values.numpy(), best_indices.numpy())
        return best_values, best_indices

    return merge_chunk


@lru_cache(maxsize=None)
def _worker_pool(workers: int) -> ThreadPoolExecutor:
    """Threads that run the kernel on parts of a chunk beside the calling thread, kept for the process."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genre-score")


def _matmul_scorer(users: torch.Tensor, width: int):
    """A function that scores a chunk with `torch.mm` and returns the running top-k merged with it.

    With few users the product reads each chunk from memory in one call. With
    more, each block is first copied into a staging buffer that stays in cache,
    because the packed product is slower when it reads memory itself.
    """
    n_users, dim = users.shape
    buffer = torch.empty(n_users, width, dtype=users.dtype)
    all_groups = buffer.view(n_users, width // GROUP, GROUP)
    group_maxima = torch.empty(n_users, width // GROUP, dtype=users.dtype)
    rows = torch.arange(n_users).unsqueeze(1)
    if n_users >= STAGE_MIN_USERS:
        block = max(GROUP, STAGING_BYTES // (max(dim, 1) * users.element_size()) // GROUP * GROUP)
        staging = torch.empty(block, dim, dtype=users.dtype)
    else:
        block, staging = width, None

    def merge_chunk(chunk, offset, best_values, best_indices):
        n_items = len(chunk)
        for start in range(0, n_items, block):
            part = chunk[start:start + block]
            if staging is not None:
                part = staging[:len(part)].copy_(part)
            torch.mm(users, part.T, out=buffer[:, start:start + len(part)])
        n_groups = -(-n_items // GROUP)
        if n_items % GROUP:
            buffer[:, n_items:n_groups * GROUP] = float("-inf")
        maxima = group_maxima[:, :n_groups]
        torch.amax(all_groups[:, :n_groups], dim=2, out=maxima)
        # amax and topk rank NaN above every number. NaN scores become -inf, which never enters the
        # top-k, as on the kernel path. Only chunks with a NaN score (so a NaN maximum) pay for it.
        if torch.isnan(maxima).any():
            buffer[:, :n_items].nan_to_num_(nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))
            torch.amax(all_groups[:, :n_groups], dim=2, out=maxima)
        return _merge_top_groups(all_groups[:, :n_groups], maxima, offset, best_values, best_indices, rows)

    return merge_chunk


def _merge_top_groups(groups, maxima, offset, best_values, best_indices, rows):
    """Merge the items of each user's k highest-maximum groups of one chunk into that user's running top-k.

    An item outside those groups cannot be in the user's top-k. The maximum of
    each of the k groups is the score of one of its items. Each such score is at
    least the maximum of the item's own group, so at least the item's score. So k * GROUP scores per user and chunk are
    merged, with no top-k over the whole chunk.
    """
    k = best_values.shape[1]
    top_groups = torch.topk(maxima, min(k, maxima.shape[1]), dim=1).indices
    values = groups[rows, top_groups].flatten(1)
    indices = ((offset + top_groups * GROUP).unsqueeze(2) + torch.arange(GROUP)).flatten(1)
    best_values, order = torch.topk(torch.cat([best_values, values], 1), k, dim=1)
    return best_values, torch.cat([best_indices, indices], 1).gather(1, order)


# Bandwidth


class BandwidthProbe:
    """Memory bandwidth in bytes/s, measured best-of-n: a tensor copy (read + write) and a read-only pass.

    The copy arrays take 2 * `copy_bytes`; keep that far above the last-level cache.
    The read-only pass (the faster of a sum and a dot product of the array with
    itself) runs over the array it is given, so a scoring benchmark can measure it
    on the very catalogue it scores.
    """

    def __init__(self, copy_bytes: int = 256 * MIB):
        self.copy_bytes = copy_bytes
        self.source = torch.ones(copy_bytes // FLOAT_BYTES)
        self.target = torch.empty_like(self.source)
        self.target.copy_(self.source)
        self.copy_seconds = float("inf")
        self.read_seconds = float("inf")
        self.read_bytes = 0

    def measure(self, read_array: torch.Tensor | None = None) -> None:
        """Time one copy and one read (of `read_array`, or of the copy source), keeping the fastest of each."""
        start = time.perf_counter()
        self.target.copy_(self.source)
        self.copy_seconds = min(self.copy_seconds, time.perf_counter() - start)

        array = self.source if read_array is None else read_array
        start = time.perf_counter()
        array.sum()
        self.read_seconds = min(self.read_seconds, time.perf_counter() - start)
        # A dot product of the array with itself also reads it once. On this machine it
        # streams about a tenth faster than the sum, so the faster of the two sets the bound.
        flat = array.reshape(-1)
        start = time.perf_counter()
        torch.dot(flat, flat)
        self.read_seconds = min(self.read_seconds, time.perf_counter() - start)
        self.read_bytes = array.numel() * array.element_size()

    @property
    def copy_bandwidth(self) -> float:
        return 2 * self.copy_bytes / self.copy_seconds

    @property
    def read_bandwidth(self) -> float:
        return self.read_bytes / self.read_seconds


def peak_flops(size: int = 512, seconds: float = 0.05) -> float:
    """Floating-point operations per second of a float32 matrix product on cache-resident data, best of a few.

    A `size` x `size` product reuses each loaded value `size` times, so it runs at the arithmetic
    limit of the threads torch uses, not at the memory's. It sets the compute side of the roofline.
    """
    left, right = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(left, right, out=out)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        torch.mm(left, right, out=out)
        best = min(best, time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return 2 * size**3 / best


# Benchmark


@dataclass
class ScaleResult:
    n_items: int
    dim: int
    n_users: int
    chunk_size: int
    k: int
    stream: bool
    seconds_per_pass: float
    users_per_second: float
    catalogue_bytes: int
    working_bytes: int
    # Peak resident memory of the whole process during this row: Python, torch, the catalogue,
    # the score buffer and the bandwidth probe's two copy arrays.
    peak_memory_bytes: int = 0
    # Bandwidths measured between the passes of this row, so they share its load on the machine.
    copy_bandwidth: float | None = None
    read_bandwidth: float | None = None
    # Time of one pass at the measured copy and read bandwidth, and the share of it reached.
    bound_seconds_copy: float | None = None
    bound_seconds_read: float | None = None
    share_of_copy_bound: float | None = None
    share_of_read_bound: float | None = None
    # The matrix product alone (`torch.mm` of each chunk into one buffer, no staging, no top-k),
    # best of the same repeats, and its share of the read bound: the ceiling of the full pass.
    product_seconds: float | None = None
    product_share_of_read_bound: float | None = None
    # The roofline: the pass needs 2 * users * dim * items operations. At the measured peak rate
    # that takes bound_seconds_compute; the pass can be no faster than the larger of that and the
    # read bound. `scorer` is "kernel" (genre_core.scale_kernel) or "torch.mm".
    peak_flops: float | None = None
    bound_seconds_compute: float | None = None
    share_of_roofline: float | None = None
    scorer: str = "torch.mm"

    def to_dict(self) -> dict:
        return asdict(self)


def benchmark_scoring(
    n_items: int,
    dim: int,
    n_users: int,
    chunk_size: int,
    k: int = 10,
    repeats: int = 3,
    stream: bool = False,
    seed: int = 0,
    copy_bytes: int = 256 * MIB,
) -> ScaleResult:
    """Time the top-k of `n_users` random users over a synthetic catalogue (best of `repeats` passes).

    Unless the catalogue is streamed, each pass follows a bandwidth measurement (a
    copy of `copy_bytes` and a read of the catalogue itself) and a pass of the
    matrix product alone. So the bound and the passes see the same load from
    other processes.
    """
    # The score and product buffers take chunk_size columns, so a chunk larger than the catalogue would
    # allocate memory that `check_memory` (which counts at most n_items columns) never planned.
    chunk_size = min(chunk_size, n_items)
    # The running top-k takes k slots per user. Slots beyond the catalogue stay empty, so a larger k only
    # allocates memory that `check_memory` never planned.
    k = min(k, n_items)
    reset_peak_memory()
    users = torch.randn(n_users, dim, generator=torch.Generator().manual_seed(seed + 1))
    catalogue = None if stream else synthetic_catalogue(n_items, dim, seed)
    probe = None if stream else BandwidthProbe(copy_bytes)

    def one_pass() -> float:
        chunks = synthetic_chunks(n_items, dim, chunk_size, seed) if stream else chunks_of(catalogue, chunk_size)
        start = time.perf_counter()
        top_k_chunked(users, chunks, k, chunk_size)
        return time.perf_counter() - start

    product_buffer = None if stream else torch.empty(n_users, chunk_size)

    def product_pass() -> float:
        start = time.perf_counter()
        for chunk in chunks_of(catalogue, chunk_size):
            torch.mm(users, chunk.T, out=product_buffer[:, :len(chunk)])
        return time.perf_counter() - start

    if not stream:
        one_pass()  # warm-up: page in the catalogue and the score buffer
    else:
        # Warm-up: compile the kernel for this batch on one generated item, outside the timed passes.
        top_k_chunked(users, synthetic_chunks(1, dim, 1, seed), k, chunk_size)
    seconds = product_seconds = float("inf")
    flops = 0.0
    for _ in range(repeats):
        if probe is not None:
            probe.measure(catalogue)
            product_seconds = min(product_seconds, product_pass())
            flops = max(flops, peak_flops())
        seconds = min(seconds, one_pass())

    catalogue_bytes = n_items * dim * FLOAT_BYTES
    chunk_items = min(chunk_size, n_items)
    result = ScaleResult(
        n_items=n_items, dim=dim, n_users=n_users, chunk_size=chunk_size, k=k, stream=stream,
        seconds_per_pass=seconds, users_per_second=n_users / seconds,
        catalogue_bytes=0 if stream else catalogue_bytes,
        working_bytes=chunk_items * n_users * SCORE_WORKING_BYTES + (chunk_items * dim * FLOAT_BYTES if stream else 0),
    )
    result.peak_memory_bytes = peak_memory_bytes()
    # A streamed catalogue is generated during the pass, so the bandwidth bound does not apply to it.
    if probe is not None:
        result.copy_bandwidth, result.read_bandwidth = probe.copy_bandwidth, probe.read_bandwidth
        result.bound_seconds_copy = catalogue_bytes / probe.copy_bandwidth
        result.bound_seconds_read = catalogue_bytes / probe.read_bandwidth
        result.share_of_copy_bound = result.bound_seconds_copy / seconds
        result.share_of_read_bound = result.bound_seconds_read / seconds
        result.product_seconds = product_seconds
        result.product_share_of_read_bound = result.bound_seconds_read / product_seconds
        result.peak_flops = flops
        result.bound_seconds_compute = 2 * n_users * dim * n_items / flops
        result.share_of_roofline = max(result.bound_seconds_read, result.bound_seconds_compute) / seconds
    result.scorer = "kernel" if uses_kernel(n_users, users.dtype, k) else "torch.mm"
    log.info("scored a batch of %d user%s x %d items (%d dims) in %.3f s", n_users, "" if n_users == 1 else "s",
             n_items, dim, seconds)
    return result
