"""Liveness-based static memory planning.

Tensors that are zero-copy views of each other (Reshape-like ops) share one storage
class. Classes holding a graph input or output live in the caller's buffers; the rest
get offsets in one arena. Two classes may overlap in the arena only if their lifetimes
(first write .. last read, in execution order) are disjoint, or if a layer that can run in
place (OpDef.in_place: row by row through a line buffer, or element by element) writes one
over the other: then both start at one offset. Layers run in place only where that makes the arena smaller,
which takes it below the liveness bound (the largest total of tensors live at one step).
So does patch-based execution (MCUNetV2), where a layer that computes its output a row at
a time (OpDef.row_producer: a 1x1 convolution) runs inside the next layer, which alone reads
that output (OpDef.window_reader): each of the reader's output rows first has the producer
compute the input rows it reads into a window of as many rows, so the producer's output
never exists as a whole.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from edgeopt.errors import UnsupportedError, unsupported_summary
from edgeopt.ops.registry import MALFORMED, NodeUnsupported, OpContext, malformed


@dataclass
class MemoryPlan:
    # tensor name -> ("input", index) | ("output", index) | ("arena", byte offset) | ("const", None)
    storage: dict
    arena_bytes: int
    peak_bytes: int  # the liveness bound: the largest total of arena tensors live at one step
    copies: set = field(default_factory=set)  # ids of alias nodes that must copy instead
    scratch: dict = field(default_factory=dict)  # node id -> arena byte offset of its scratch
    scratch_bytes: int = 0  # the largest scratch any kernel asks for
    in_place: dict = field(default_factory=dict)  # node id -> (InPlace, arena offset of its line buffer or None)
    windows: dict = field(default_factory=dict)  # reader node id -> Window (its producer runs inside it)
    windowed: set = field(default_factory=set)  # ids of the producers that run inside their reader


def plan_memory(graph, registry, alignment: int = 4) -> MemoryPlan:
    parent = {}

    def find(name):
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    kinds = {name: ("input", index) for index, name in enumerate(graph.inputs)}
    kinds.update({name: ("const", None) for name, t in graph.tensors.items() if t.is_constant})
    kinds.update({name: ("output", index) for index, name in enumerate(graph.outputs)})
    members = {}  # class root -> tensor names in the class

    def class_kinds(root):
        return [kinds[name] for name in members.get(root, [root]) if name in kinds]

    copies = set()
    for node in graph.nodes:
        if not registry[node.op_type].alias:
            continue
        src, dst = find(node.inputs[0]), find(node.outputs[0])
        if class_kinds(src) and class_kinds(dst):
            copies.add(id(node))  # e.g. an input or a second output returned as an output
            continue
        parent[dst] = src
        members[src] = members.get(src, [src]) + members.pop(dst, [dst])

    storage, classes = {}, {}
    names = set(graph.inputs) | set(graph.outputs)
    names.update(name for node in graph.nodes for name in node.inputs + node.outputs if name)
    for name in sorted(names):
        root = find(name)
        found = class_kinds(root)
        if found:
            storage[name] = found[0]
        else:
            classes.setdefault(root, []).append(name)

    # Lifetimes of arena classes, in node (step) indices.
    first, last = {}, {}
    for step, node in enumerate(graph.nodes):
        for name in node.outputs:
            root = find(name)
            if root in classes:
                first.setdefault(root, step)
                last[root] = max(last.get(root, step), step)
        for name in node.inputs:
            root = find(name) if name else None
            if root in classes:
                last[root] = step
    sizes = {root: _aligned(graph.tensor(root).nbytes, alignment) for root in classes}
    intervals = {root: (first.get(root, 0), last.get(root, 0)) for root in classes}
    scratch_keys, problems = {}, []
    for step, node in enumerate(graph.nodes):
        scratch = registry[node.op_type].scratch
        try:
            size = scratch(OpContext(node, graph)) if scratch else 0
        except (NodeUnsupported, *MALFORMED) as exc:  # lowering reports the node
            problems.append((node.op_type, node.name, str(exc) if isinstance(exc, NodeUnsupported)
                             else malformed(exc)))
            continue
        if size:
            key = f"\0scratch{step}"  # cannot clash with a tensor name from a model
            scratch_keys[id(node)] = key
            sizes[key], intervals[key] = _aligned(size, alignment), (step, step)
    if problems:
        raise UnsupportedError(unsupported_summary(problems))
    peak = _peak(intervals, sizes, len(graph.nodes))
    candidates = _in_place_candidates(graph, registry, find, classes, first, last)
    windows = _window_candidates(graph, registry, find, classes, last)

    def with_windows(windows):
        """Sizes and lifetimes when each window's producer runs inside its reader (steps s
        and s + 1 as one): the producer's output never exists, its rows pass through the
        window; the producer's input, the reader's output and both scratches live over both
        steps."""
        all_sizes, all_intervals = dict(sizes), dict(intervals)
        for window in windows:
            step = window.step
            del all_sizes[window.tensor], all_intervals[window.tensor]
            for key in (window.source, scratch_keys.get(id(window.producer))):
                if key in all_intervals:
                    all_intervals[key] = (all_intervals[key][0], max(all_intervals[key][1], step + 1))
            for key in (window.result, scratch_keys.get(id(window.reader))):
                if key in all_intervals:
                    all_intervals[key] = (min(all_intervals[key][0], step), all_intervals[key][1])
            all_sizes[window.key] = _aligned(window.bytes, alignment)
            all_intervals[window.key] = (step, step + 1)
        return all_sizes, all_intervals

    def place(chosen, base):
        """Offsets and arena size with the chosen in-place layers: each one's input and
        output start at one offset (a tied group; they may overlap), plus its line buffer."""
        all_sizes, all_intervals = dict(base[0]), dict(base[1])
        group = {root: root for root in all_sizes}

        def top(root):
            while group[root] != root:
                root = group[root]
            return root

        for _, _, _, src, dst in chosen:
            group[top(dst)] = top(src)
        tied = {}
        for root in all_sizes:
            tied.setdefault(top(root), []).append(root)
        for step, _, rule, _, _ in chosen:
            if rule.line_bytes:
                all_sizes[f"\0line{step}"] = _aligned(rule.line_bytes, alignment)
                all_intervals[f"\0line{step}"] = (step, step)
        return assign_offsets(all_intervals, all_sizes, [g for g in tied.values() if len(g) > 1])

    def search(strict, windows):
        """Greedy: take each layer that shrinks the arena (strict) or does not grow it (two
        layers may only pay together), then drop those it does not need."""
        base = with_windows(windows)
        busy = {step for window in windows for step in (window.step, window.step + 1)}
        chosen = []
        offsets, arena = place(chosen, base)
        for candidate in (c for c in candidates if c[0] not in busy):
            trial, total = place(chosen + [candidate], base)
            if total < arena or (total == arena and not strict):
                chosen, offsets, arena = chosen + [candidate], trial, total
        for candidate in list(chosen):
            rest = [c for c in chosen if c is not candidate]
            trial, total = place(rest, base)
            if total <= arena:
                chosen, offsets, arena = rest, trial, total
        return arena, sum(sizes[dst] for *_, dst in chosen), chosen, offsets  # dst: the bytes copied

    def best(windows):  # the smaller arena; at a tie the fewer bytes copied out of line buffers
        return min((search(True, windows), search(False, windows)), key=lambda found: found[:2])

    # patch-based execution only where it makes the arena smaller (it costs a kernel call
    # per row and the rows the window keeps moved up)
    chosen_windows, found = [], best([])
    for window in windows:
        trial = best(chosen_windows + [window])
        if trial[0] < found[0]:
            chosen_windows, found = chosen_windows + [window], trial
    arena, _, chosen, offsets = found
    windowed = {window.tensor: window for window in chosen_windows}
    for root, names_in_class in classes.items():
        for name in names_in_class:
            storage[name] = ("arena", offsets[windowed[root].key if root in windowed else root])
    scratch_offsets = {node_id: offsets[key] for node_id, key in scratch_keys.items()}
    largest_scratch = max((sizes[key] for key in scratch_keys.values()), default=0)
    in_place = {id(node): (rule, offsets.get(f"\0line{step}")) for step, node, rule, _, _ in chosen}
    return MemoryPlan(storage, arena, peak, copies, scratch_offsets, largest_scratch, in_place,
                      {id(window.reader): window for window in chosen_windows},
                      {id(window.producer) for window in chosen_windows})


@dataclass(frozen=True)
class Window:
    """Patch-based execution of two layers: the producer (at `step`) computes its output a
    row at a time into a window of `rows` rows that the reader (the next step, its output's
    only reader) runs over, one output row at a time."""

    step: int
    producer: object
    reader: object
    source: str  # class roots: the producer's input, its output, the reader's output
    tensor: str
    result: str
    rows: int
    row_bytes: int

    @property
    def bytes(self) -> int:
        return self.rows * self.row_bytes

    @property
    def key(self) -> str:
        return f"\0window{self.step}"


def _window_candidates(graph, registry, find, classes, last):
    """The Windows that could run: a row producer whose output (one arena tensor, no view of
    it) only the next step reads, as the first input of a window reader."""
    found = []
    for step, (producer, reader) in enumerate(zip(graph.nodes, graph.nodes[1:])):
        produces, reads = registry[producer.op_type].row_producer, registry[reader.op_type].window_reader
        if produces is None or reads is None or not producer.outputs or not reader.inputs:
            continue
        name = producer.outputs[0]
        root = find(name)
        if root not in classes or classes[root] != [name] or last.get(root) != step + 1 \
                or reader.inputs[0] != name or name in reader.inputs[1:] or "activation" in producer.attrs:
            continue
        try:
            rows = produces(OpContext(producer, graph)) and reads(OpContext(reader, graph))
        except (NodeUnsupported, *MALFORMED):  # lowering reports the node
            continue
        if rows:
            shape = graph.tensor(name).shape
            found.append(Window(step, producer, reader, find(producer.inputs[0]), root, find(reader.outputs[0]),
                                rows, int(shape[2] * shape[3])))
    return found


def _in_place_candidates(graph, registry, find, classes, first, last):
    """(step, node, InPlace, input class, output class) of the layers that could write their
    output over their input: both in the arena, the input read by no later step."""
    found = []
    for step, node in enumerate(graph.nodes):
        rule = registry[node.op_type].in_place
        if rule is None or not node.inputs or not node.inputs[0] or not node.outputs[0]:
            continue
        src, dst = find(node.inputs[0]), find(node.outputs[0])
        if src not in classes or dst not in classes or src == dst or last.get(src) != step \
                or first.get(dst) != step:
            continue
        try:
            chosen = rule(OpContext(node, graph))
        except (NodeUnsupported, *MALFORMED):  # lowering reports the node
            continue
        if chosen is not None:
            found.append((step, node, chosen, src, dst))
    return found


def _aligned(size, alignment):
    return -(-size // alignment) * alignment


def _peak(intervals, sizes, steps):
    live = [0] * max(steps, 1)
    for root, (start, end) in intervals.items():
        for step in range(start, end + 1):
            live[step] += sizes[root]
    return max(live) if live else 0


def assign_offsets(intervals, sizes, tied=()):
    """Offsets for buffers with lifetimes {key: (first, last step)} and byte sizes, such that
    buffers alive at the same step never overlap, except within a tied group (keys that
    share one offset: a layer run in place and its input): greedy placement under several
    orders, keeping the smallest total. Returns ({key: offset}, total bytes)."""
    units = {key: [key] for key in intervals}
    for group in tied:
        for key in group:
            del units[key]
        units[group[0]] = list(group)
    span = {u: (min(intervals[k][0] for k in ks), max(intervals[k][1] for k in ks)) for u, ks in units.items()}
    size = {u: max(sizes[k] for k in ks) for u, ks in units.items()}
    orders = (
        lambda r: (-size[r], span[r][0]),
        lambda r: (span[r][0], -size[r]),
        lambda r: (-(span[r][1] - span[r][0]), -size[r]),
        lambda r: (-size[r] * (span[r][1] - span[r][0] + 1), span[r][0]),
    )
    best = None
    for order in orders:
        placed, total = {}, 0

        def busy(key):
            start, end = intervals[key]
            return sorted((placed[o], placed[o] + sizes[o]) for o in placed
                          if intervals[o][0] <= end and start <= intervals[o][1])

        for unit in sorted(units, key=lambda r: (order(r), r)):
            members = units[unit]
            if len(members) == 1:
                offset = _first_fit(busy(unit), sizes[unit])
            else:  # the lowest offset where every member fits beside what its steps hold
                taken = {key: busy(key) for key in members}
                offset = min(c for c in {0} | {end for ranges in taken.values() for _, end in ranges}
                             if all(c + sizes[k] <= b or e <= c for k in members for b, e in taken[k]))
            for key in members:
                placed[key] = offset
            total = max(total, offset + size[unit])
        if best is None or total < best[1]:
            best = (placed, total)
    return best if best else ({}, 0)


def _first_fit(busy, size):
    """Lowest offset where `size` bytes fit between the busy ranges (best-fit gap)."""
    candidate, best_gap = None, None
    cursor = 0
    for begin, end in busy:
        gap = begin - cursor
        if gap >= size and (best_gap is None or gap < best_gap):
            candidate, best_gap = cursor, gap
        cursor = max(cursor, end)
    return candidate if candidate is not None else cursor
