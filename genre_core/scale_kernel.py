"""Vectorised kernels that find, for up to 16 users, the best score in each group of item vectors.

`top_k_chunked` uses them for batches of 1 to KERNEL_MAX_USERS users, where the
packed product of `torch.mm` copies every block before multiplying it and does
not keep up with the read of the catalogue. A kernel computes every user's score
for every item of a chunk but writes only each user's maximum per group of
`group` items. `merge_kernel` then scores again the items of the few groups
that can change a user's running top-k. Writing all the scores instead cost
a fifth to a third of the pass with 8 and 16 users. Each item then took a store
of a row of scores beside its own read, and each line of scores was read from
memory before it was written.

Two layouts of the product, chosen by `kernel_layout`:

- "dot", for dimensions in multiples of 16: 16 running sums of 16 lanes each,
  for 16 / width items times `width` users. They run along the item vectors 16
  coordinates at a time, so each item vector is read once, in whole cache lines.
  A fixed tree of shuffles and adds then folds the 16 sums into one vector
  whose lanes are the scores in row order. 16 users take two panels of 8, the
  second reading the step's 2 items from cache.
- "outer", for other dimensions: the users' vectors are stored transposed, so
  coordinate k of every user is one vector of `width` floats. For each k the
  kernel adds that vector, times coordinate k of the item (read from memory as a
  broadcast), to the item's row of scores, for ROWS items at a time. It needs no
  sums across lanes, but each item costs `dim` multiply-adds whatever the
  width, and on 64- and 128-d vectors it ran 5 to 15 points of the read bound
  below the dot layout.

The loops are written in LLVM IR through llvmlite, the compiler library under
numba, because numba's own loops leave such small fixed-width products scalar.
They are compiled for the host processor on first use, once per width and
layout. docs/benchmarks.md (section Scale) has the measurements.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

# Items per step of the "outer" layout: independent sums that keep the multiply-add units busy.
ROWS = 8
# Floats per vector register (AVX-512) in the "dot" layout, and so its number of running sums.
LANES = 16
# Relative gap below the k-th score under which the merge skips a group (float32 rounding is about 6e-8).
SKIP_MARGIN = 1e-5
# Supported numbers of users per call; a batch is padded with zero users to the next width.
WIDTHS = (1, 2, 4, 8, 16)
KERNEL_MAX_USERS = WIDTHS[-1]


def kernel_width(n_users: int) -> int:
    """Return the smallest kernel width that fits `n_users` users."""
    for width in WIDTHS:
        if n_users <= width:
            return width
    raise ValueError(f"the kernel scores at most {KERNEL_MAX_USERS} users at a time, got {n_users}")


def kernel_layout(width: int, dim: int) -> str:
    """Choose the layout for `width` users of `dim` dimensions: "dot" where the dimension allows it (see the module text)."""
    return "dot" if dim % LANES == 0 else "outer"


def _kernel_function(name: str, vector):
    """Declare `void group_maxima(float* items, float* users, float* maxima, i64 n_items, i64 dim)` in a new module.

    Returns the module, the function (arrays marked as not overlapping) and the
    fused multiply-add intrinsic for `vector`.
    """
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    pointer, i64 = ir.FloatType().as_pointer(), ir.IntType(64)
    module = ir.Module(name=name)
    module.triple = llvm.get_process_triple()
    function = ir.Function(
        module, ir.FunctionType(ir.VoidType(), [pointer, pointer, pointer, i64, i64]), name="group_maxima"
    )
    for argument in function.args[:3]:
        argument.add_attribute("noalias")
    fma = ir.Function(module, ir.FunctionType(vector, [vector] * 3), name=f"llvm.fma.v{vector.count}f32")
    return module, function, fma


def _build_outer_ir(width: int, group: int, rows: int = ROWS) -> str:
    """LLVM IR of the "outer" layout: `void group_maxima(items, users_t, maxima, n_items, dim)`.

    items: n_items x dim float32, row-major; n_items a multiple of `group`.
    users_t: dim x width float32 (the users' vectors as columns).
    maxima: (n_items / group) x width float32, the largest score of each user in each group of items.
    """
    import llvmlite.ir as ir

    f32, i64, i32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
    vector = ir.VectorType(f32, width)
    vector_pointer = vector.as_pointer()
    module, function, fma = _kernel_function(f"genre_outer_{width}", vector)
    items, users_t, maxima, n_items, dim = function.args

    def constant(value: int) -> ir.Constant:
        return ir.Constant(i64, value)

    zeros = ir.Constant(vector, [0.0] * width)
    lowest = ir.Constant(vector, [float("-inf")] * width)
    splat = ir.Constant(ir.VectorType(i32, width), [0] * width)
    blocks = {
        name: function.append_basic_block(name)
        for name in ("entry", "group_head", "group_body", "row_head", "row_body", "k_head", "k_body", "k_exit",
                     "group_exit", "done")
    }
    builder = ir.IRBuilder(blocks["entry"])
    builder.branch(blocks["group_head"])

    # for start in range(0, n_items, group):
    builder.position_at_end(blocks["group_head"])
    start = builder.phi(i64, "start")
    start.add_incoming(constant(0), blocks["entry"])
    builder.cbranch(builder.icmp_signed("<", start, n_items), blocks["group_body"], blocks["done"])
    builder.position_at_end(blocks["group_body"])
    builder.branch(blocks["row_head"])

    #     for row in range(start, start + group, ROWS), keeping the group's running maximum:
    builder.position_at_end(blocks["row_head"])
    row = builder.phi(i64, "row")
    row.add_incoming(start, blocks["group_body"])
    best = builder.phi(vector, "best")
    best.add_incoming(lowest, blocks["group_body"])
    builder.cbranch(
        builder.icmp_signed("<", row, builder.add(start, constant(group))), blocks["row_body"], blocks["group_exit"]
    )
    builder.position_at_end(blocks["row_body"])
    builder.branch(blocks["k_head"])

    #         for k in range(dim): sums[r] += items[row + r, k] * users_t[k]
    builder.position_at_end(blocks["k_head"])
    k = builder.phi(i64, "k")
    k.add_incoming(constant(0), blocks["row_body"])
    sums = []
    for r in range(rows):
        total = builder.phi(vector, f"sum{r}")
        total.add_incoming(zeros, blocks["row_body"])
        sums.append(total)
    builder.cbranch(builder.icmp_signed("<", k, dim), blocks["k_body"], blocks["k_exit"])
    builder.position_at_end(blocks["k_body"])
    column = builder.load(
        builder.bitcast(builder.gep(users_t, [builder.mul(k, constant(width))]), vector_pointer), align=4
    )
    for r in range(rows):
        coordinate = builder.load(builder.gep(items, [builder.add(builder.mul(builder.add(row, constant(r)), dim), k)]))
        broadcast = builder.shuffle_vector(
            builder.insert_element(ir.Constant(vector, ir.Undefined), coordinate, ir.Constant(i32, 0)),
            ir.Constant(vector, ir.Undefined),
            splat,
        )
        sums[r].add_incoming(builder.call(fma, [broadcast, column, sums[r]]), blocks["k_body"])
    k.add_incoming(builder.add(k, constant(1)), blocks["k_body"])
    builder.branch(blocks["k_head"])

    #         best = max(best, sums[r])
    builder.position_at_end(blocks["k_exit"])
    running = best
    for r in range(rows):
        running = builder.select(builder.fcmp_ordered(">", sums[r], running), sums[r], running)
    row.add_incoming(builder.add(row, constant(rows)), blocks["k_exit"])
    best.add_incoming(running, blocks["k_exit"])
    builder.branch(blocks["row_head"])

    #     maxima[start / group] = best
    builder.position_at_end(blocks["group_exit"])
    slot = builder.gep(maxima, [builder.mul(builder.sdiv(start, constant(group)), constant(width))])
    builder.store(best, builder.bitcast(slot, vector_pointer), align=4)
    start.add_incoming(builder.add(start, constant(group)), blocks["group_exit"])
    builder.branch(blocks["group_head"])

    builder.position_at_end(blocks["done"])
    builder.ret_void()
    return str(module)


def fold_plan(lanes: int = LANES) -> list[list[tuple[list[int], list[int]]]]:
    """Shuffle masks that fold `lanes` vectors of partial sums into one vector whose lane i sums vector i.

    Each level pairs the vectors in order. Of each vector's lanes that hold one
    sum, the low half goes into the first shuffle and the high half into the
    second, at the same places. Their sum then needs half as many lanes per sum. After
    log2(lanes) levels every lane contains one whole sum, in the order of the vectors.
    Returns, per level and pair, the (low, high) masks over the pair's 2 * lanes lanes.
    """
    owners = [[vector] * lanes for vector in range(lanes)]
    levels = []
    while len(owners) > 1:
        level, merged = [], []
        for first, second in zip(owners[0::2], owners[1::2]):
            low, high, merged_owners = [], [], []
            for source, offset in ((first, 0), (second, lanes)):
                for owner in sorted(set(source)):
                    places = [lane for lane, held in enumerate(source) if held == owner]
                    half = len(places) // 2
                    low += [offset + lane for lane in places[:half]]
                    high += [offset + lane for lane in places[half:]]
                    merged_owners += [owner] * half
            level.append((low, high))
            merged.append(merged_owners)
        levels.append(level)
        owners = merged
    return levels


def _build_dot_ir(width: int, group: int) -> str:
    """LLVM IR of the "dot" layout: `void group_maxima(items, users, maxima, n_items, dim)`.

    items: n_items x dim, row-major; n_items a multiple of `group`, dim of LANES.
    users: width x dim, row-major.
    maxima: as in `_build_outer_ir`.
    With 16 users the sums for a step do not fit in the registers, so the users
    are taken in panels of 8: the second panel reads the step's items from cache.
    """
    import llvmlite.ir as ir

    f32, i64, i32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
    vector = ir.VectorType(f32, LANES)
    vector_pointer = vector.as_pointer()
    panel = min(width, LANES // 2)  # users per panel
    per_block = LANES // panel  # items per step: per_block x panel running sums
    module, function, fma = _kernel_function(f"genre_dot_{width}", vector)
    items, users, maxima, n_items, dim = function.args
    builder = ir.IRBuilder(function.append_basic_block("entry"))

    def constant(value: int) -> ir.Constant:
        return ir.Constant(i64, value)

    def mask(lanes: list[int]) -> ir.Constant:
        return ir.Constant(ir.VectorType(i32, len(lanes)), lanes)

    def larger(left, right):
        return builder.select(builder.fcmp_ordered(">", left, right), left, right)

    def lanes_of(value, first: int, count: int):
        return builder.shuffle_vector(value, value, mask(list(range(first, first + count))))

    def load_vector(base, row, column):
        place = builder.gep(base, [builder.add(builder.mul(row, dim), column)])
        return builder.load(builder.bitcast(place, vector_pointer), align=4)

    panel_vector = ir.VectorType(f32, panel)
    group_head, group_body, row_head, group_exit, done = (
        function.append_basic_block(name) for name in ("group_head", "group_body", "row_head", "group_exit", "done")
    )
    entry = builder.block
    builder.branch(group_head)

    # for start in range(0, n_items, group):
    builder.position_at_end(group_head)
    start = builder.phi(i64, "start")
    start.add_incoming(constant(0), entry)
    builder.cbranch(builder.icmp_signed("<", start, n_items), group_body, done)
    builder.position_at_end(group_body)
    builder.branch(row_head)

    #     for row in range(start, start + group, per_block), keeping each panel's lane-wise running maximum:
    builder.position_at_end(row_head)
    row = builder.phi(i64, "row")
    row.add_incoming(start, group_body)
    bests = []
    for number in range(width // panel):
        best = builder.phi(vector, f"best{number}")
        best.add_incoming(ir.Constant(vector, [float("-inf")] * LANES), group_body)
        bests.append(best)
    row_body = function.append_basic_block("row_body")
    builder.cbranch(builder.icmp_signed("<", row, builder.add(start, constant(group))), row_body, group_exit)
    builder.position_at_end(row_body)

    new_bests = []
    for number, best in enumerate(bests):
        first_user = number * panel
        #         for k in range(0, dim, LANES):
        #             sums[t * panel + u] += items[row + t, k:k + LANES] * users[first_user + u, k:k + LANES]
        k_head, k_body, k_exit = (function.append_basic_block(f"{name}{number}") for name in ("k_head", "k_body", "k_exit"))
        before = builder.block
        builder.branch(k_head)
        builder.position_at_end(k_head)
        k = builder.phi(i64, "k")
        k.add_incoming(constant(0), before)
        sums = []
        for lane in range(LANES):
            total = builder.phi(vector, f"sum{lane}")
            total.add_incoming(ir.Constant(vector, [0.0] * LANES), before)
            sums.append(total)
        builder.cbranch(builder.icmp_signed("<", k, dim), k_body, k_exit)
        builder.position_at_end(k_body)
        user_parts = [load_vector(users, constant(first_user + u), k) for u in range(panel)]
        for t in range(per_block):
            item_part = load_vector(items, builder.add(row, constant(t)), k)
            for u in range(panel):
                total = sums[t * panel + u]
                total.add_incoming(builder.call(fma, [item_part, user_parts[u], total]), k_body)
        k.add_incoming(builder.add(k, constant(LANES)), k_body)
        builder.branch(k_head)

        #         the 16 sums folded into one vector of per_block rows of `panel` scores
        builder.position_at_end(k_exit)
        folded = list(sums)
        for level in fold_plan():
            folded = [
                builder.fadd(builder.shuffle_vector(left, right, mask(low)),
                             builder.shuffle_vector(left, right, mask(high)))
                for (left, right), (low, high) in zip(zip(folded[0::2], folded[1::2]), level)
            ]
        new_bests.append(larger(folded[0], best))
    for best, new_best in zip(bests, new_bests):
        best.add_incoming(new_best, builder.block)
    row.add_incoming(builder.add(row, constant(per_block)), builder.block)
    builder.branch(row_head)

    #     maxima[start / group] = each panel's lane-wise maximum folded down to one lane per user
    builder.position_at_end(group_exit)
    slot = builder.mul(builder.sdiv(start, constant(group)), constant(width))
    for number, best in enumerate(bests):
        size = LANES
        while size > panel:
            size //= 2
            best = larger(lanes_of(best, 0, size), lanes_of(best, size, size))
        target = builder.gep(maxima, [builder.add(slot, constant(number * panel))])
        builder.store(best, builder.bitcast(target, panel_vector.as_pointer()), align=4)
    start.add_incoming(builder.add(start, constant(group)), group_exit)
    builder.branch(group_head)

    builder.position_at_end(done)
    builder.ret_void()
    return str(module)


class ScoreKernel:
    """One compiled kernel, for one width and layout, that writes group maxima; call it with numpy float32 arrays.

    `users_array` puts a batch of users into the layout the kernel reads,
    padded with zero users to the width.
    """

    def __init__(self, width: int, group: int, layout: str):
        import llvmlite.binding as llvm

        # The width and group become i64 constants in the IR, so a bool or float there fails in the LLVM parser.
        if not _is_integer(width) or width not in WIDTHS:
            raise ValueError(f"kernel width must be one of {WIDTHS}, got {width!r}")
        if layout not in ("dot", "outer"):
            raise ValueError(f"kernel layout must be 'dot' or 'outer', got {layout!r}")
        step = LANES // min(width, LANES // 2) if layout == "dot" else ROWS
        if not _is_integer(group) or group <= 0 or group % step:
            raise ValueError(f"group must be a positive multiple of {step}, got {group!r}")
        width, group = int(width), int(group)
        self.width, self.group, self.layout = width, group, layout
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        source = _build_dot_ir(width, group) if layout == "dot" else _build_outer_ir(width, group)
        module = llvm.parse_assembly(source)
        module.verify()
        machine = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3
        )
        passes = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
        passes.getModulePassManager().run(module, passes)
        # The engine owns the machine code; keep it (and the module) alive as long as the function.
        self._engine = llvm.create_mcjit_compiler(module, machine)
        self._engine.finalize_object()
        self._module = module
        address = self._engine.get_function_address("group_maxima")
        pointer = ctypes.c_void_p
        # A CFUNCTYPE call releases the GIL while the kernel runs.
        self._function = ctypes.CFUNCTYPE(None, pointer, pointer, pointer, ctypes.c_int64, ctypes.c_int64)(address)

    def users_array(self, users: np.ndarray) -> np.ndarray:
        """Return the (n_users, dim) users padded and laid out as the kernel reads them.

        The result is width x dim in the "dot" layout and dim x width in the "outer" layout.
        """
        _check_matrix("users", users)
        n_users, dim = users.shape
        if n_users > self.width:
            raise ValueError(f"this kernel takes at most {self.width} users, got {n_users}")
        padded = np.zeros((self.width, dim), dtype=np.float32)
        padded[:n_users] = users
        return padded if self.layout == "dot" else np.ascontiguousarray(padded.T)

    def __call__(self, items: np.ndarray, users: np.ndarray, maxima: np.ndarray) -> None:
        """Write each user's largest score in each group of `items` into maxima[:len(items) // group].

        `users` comes from `users_array`. Shapes: items (n_items, dim) with n_items
        a multiple of the group, maxima (>= n_items / group, width).
        """
        # The compiled loop reads and writes through raw pointers with no bounds checks, so every
        # shape, dtype, layout and the write access are checked here.
        for name, array in (("items", items), ("users", users), ("maxima", maxima)):
            _check_matrix(name, array)
            if array.dtype != np.float32:
                raise ValueError(
                    f"{name} must be a C-contiguous float32 array, got {array.dtype}; convert it with .astype(np.float32)"
                )
            if not array.flags.c_contiguous:
                raise ValueError(
                    f"{name} must be a C-contiguous float32 array, got one with strides {array.strides}; "
                    f"copy it with np.ascontiguousarray"
                )
            if not array.flags.aligned:
                raise ValueError(f"{name} must be aligned to 4 bytes, got an unaligned view; copy it with .copy()")
        if not maxima.flags.writeable:
            raise ValueError("maxima is read-only; pass a writable float32 array for the kernel to fill")
        # The function's arguments are declared noalias, so the optimiser may reorder reads and writes.
        if np.may_share_memory(maxima, items) or np.may_share_memory(maxima, users):
            raise ValueError("maxima must not share memory with items or users; pass a separate array")
        n_items, dim = items.shape
        if n_items % self.group:
            raise ValueError(f"the kernel takes whole groups of {self.group} items, got {n_items}")
        expected = (self.width, dim) if self.layout == "dot" else (dim, self.width)
        if users.shape != expected:
            raise ValueError(
                f"users must have shape {expected} for items of {dim} dimensions in the {self.layout} layout, "
                f"got {users.shape}; build it from the (n_users, {dim}) user vectors with users_array"
            )
        if self.layout == "dot" and dim % LANES:
            raise ValueError(
                f"the dot layout needs a dimension that is a multiple of {LANES}, got {dim}; "
                f"use the layout that kernel_layout returns"
            )
        if maxima.shape[1:] != (self.width,) or len(maxima) < n_items // self.group:
            raise ValueError(
                f"maxima must have at least {n_items // self.group} rows of {self.width}, got {maxima.shape}"
            )
        self._function(items.ctypes.data, users.ctypes.data, maxima.ctypes.data, n_items, dim)


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_matrix(name: str, array) -> None:
    """Raise ValueError unless `array` is a 2-D numpy array."""
    if not isinstance(array, np.ndarray):
        hint = "; convert a torch tensor with .numpy()" if type(array).__module__.startswith("torch") else ""
        raise ValueError(f"{name} must be a 2-D numpy array, got {type(array).__name__}{hint}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")


@lru_cache(maxsize=None)
def score_kernel(width: int, group: int, layout: str) -> ScoreKernel:
    """Compile the kernel for `width` users, groups of `group` items and `layout`, once per process."""
    return ScoreKernel(width, group, layout)


@lru_cache(maxsize=1)
def merge_kernel():
    """Compile, once, the numba merge of a chunk into each user's running top-k, in place, from group maxima.

    merge(items, users, maxima, n_items, n_users, group, offset, best_values, best_indices):
    items is the chunk (n_items, dim), users (n_users, dim), maxima (groups, lanes)
    as the kernel writes them. best_values (users, k) is sorted in descending
    order, with -inf in empty slots, and best_indices has the catalogue index of
    each. Only the chunk's k groups with the highest maxima can hold a new top-k
    item, and of those only groups whose maximum beats the user's k-th score. So
    for each user the merge scores the items of at most k groups again. Once
    the running top-k contains good items, most chunks need none. A score equal to
    the k-th does not displace it.

    The kernel sums in another order than this loop, so a maximum can differ
    from the same item's score here by float32 rounding. A group is skipped only
    when its maximum is below the k-th score by more than SKIP_MARGIN of their
    size, so no item is lost to that rounding.
    """
    import numba

    margin = SKIP_MARGIN

    # Reassociation lets LLVM vectorise the dot products. The full fastmath set would also assume that no
    # value is NaN, which breaks the NaN checks below.
    @numba.njit(fastmath={"reassoc", "contract"}, boundscheck=False, nogil=True, cache=True)
    def merge(items, users, maxima, n_items, n_users, group, offset, best_values, best_indices):
        k = best_values.shape[1]
        if k == 0:
            return
        dim = items.shape[1]
        n_groups = (n_items + group - 1) // group
        top_maxima = np.empty(k, np.float32)
        top_groups = np.empty(k, np.int64)
        for user in range(n_users):
            # The chunk's (up to) k groups with the highest maxima above the k-th score, in descending order.
            found = 0
            for number in range(n_groups):
                largest = maxima[number, user]
                kth = best_values[user, k - 1]
                # Written so that a NaN maximum is skipped too.
                if not largest >= kth - margin * (abs(largest) + abs(kth)):
                    continue
                if found == k and not largest > top_maxima[k - 1]:
                    continue
                slot = found if found < k else k - 1
                while slot > 0 and top_maxima[slot - 1] < largest:
                    top_maxima[slot] = top_maxima[slot - 1]
                    top_groups[slot] = top_groups[slot - 1]
                    slot -= 1
                top_maxima[slot] = largest
                top_groups[slot] = number
                if found < k:
                    found += 1
            for candidate in range(found):
                largest = top_maxima[candidate]
                kth = best_values[user, k - 1]
                if not largest >= kth - margin * (abs(largest) + abs(kth)):
                    break
                first = top_groups[candidate] * group
                for item in range(first, min(n_items, first + group)):
                    score = np.float32(0.0)
                    for j in range(dim):
                        score += items[item, j] * users[user, j]
                    if not score > best_values[user, k - 1]:
                        continue
                    slot = k - 1
                    while slot > 0 and best_values[user, slot - 1] < score:
                        best_values[user, slot] = best_values[user, slot - 1]
                        best_indices[user, slot] = best_indices[user, slot - 1]
                        slot -= 1
                    best_values[user, slot] = score
                    best_indices[user, slot] = offset + item

    return merge
