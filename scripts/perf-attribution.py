#!/usr/bin/env python3
"""Where a worker's CPU goes, from Linux perf samples of its workerd processes.

    perf record -F 1999 -g -p <workerd pids, comma-separated> -o run.data -- <load for N s>
    perf script -i run.data -F pid,ip,sym > run.txt
    python3 scripts/perf-attribution.py run.txt <requests answered> <proxy pid>

Prints milliseconds of CPU per request by what each sample's stack was doing
(docs/performance.md, "Session 7"). `wrangler dev` runs two workerd processes: its dev
proxy, which every request crosses first (name its pid), and the worker's own. The
wasm's rows need V8's JIT names (workerd run with `--perf-basic-prof`) and a wasm
built with its name section; without them that time lands in "request plumbing".
Samples are at 1999 Hz: one sample is about 0.5 ms of CPU.
"""
import collections
import re
import sys

# First match wins, in this order: the local D1 before the wasm that called it.
CATEGORIES = [
    ("click write: SQLite (local D1)", r"sqlite3|^json[A-Z]"),
    ("click write: the D1 object's JavaScript", r"database\.worker\.js"),
    (
        "click write: rows to JSON, the D1 binding",
        r"write_clicks|click_databases|store::clicks|json_chunks|d1-api|worker::d1",
    ),
    ("write window timer", r"Delay|write_in_window|setTimeout"),
    (
        "garbage collection",
        r"Heap::CollectGarbage|Scavenger|MinorGC|cppgc::|MarkCompact|ConcurrentMarking"
        r"|IncrementalMarking|HeapTracer|GCEpilogue",
    ),
    ("the request's cf object", r"getCf|CfProperty|jsonClone|serializeCfBlob"),
    (
        "wasm: the click's plan (ID, signature, template, bots)",
        r"edgeback::click::|click_id::|template::|plan_click|sha2|hmac",
    ),
    ("wasm: the click handler", r"runtime::click::handle"),
    (
        "wasm and glue, other",
        r"JS:.*(edgeback|worker\[|wasm_bindgen|web_sys|js_sys|core\[|alloc\[|std\[|dlmalloc"
        r"|url\[|serde)",
    ),
    ("headers", r"api7Headers|api::Headers"),
    ("JavaScript glue", r"JS:.*entry\.js"),
    ("miniflare's entry worker", r"entry\.worker\.js"),
]
# workerd's type wrapper has every API type in its symbol name: never matched.
TYPE_WRAPPER = "_ZN7workerd3jsg11TypeWrapper"


def samples(path):
    """(pid, frames leaf first) for each sample of `perf script -F pid,ip,sym`."""
    pid, stack = None, []
    with open(path, errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            if not line.startswith("\t"):
                if stack:
                    yield pid, stack
                pid, stack = line.split()[0], []
            else:
                parts = line.strip().split(" ", 1)
                stack.append(parts[1] if len(parts) > 1 else "")
    if stack:
        yield pid, stack


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    path, requests, proxy = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    counts = collections.Counter()
    for pid, stack in samples(path):
        if pid == proxy:
            counts["wrangler's dev proxy process"] += 1
            continue
        frames = "\n".join(f for f in stack if not f.startswith(TYPE_WRAPPER))
        for name, pattern in CATEGORIES:
            if re.search(pattern, frames, re.M):
                counts[name] += 1
                break
        else:
            counts["request plumbing (workerd HTTP, promises, kernel)"] += 1
    per_request = 0.5 / requests  # ms of CPU per sample at 1999 Hz, per request
    print(f"{path}: {sum(counts.values()) * per_request:.3f} ms CPU per request")
    for name, count in counts.most_common():
        print(f"  {count * per_request:.3f}  {name}")


if __name__ == "__main__":
    main()
