"""Summarise a py-spy raw (collapsed stacks) profile: inclusive and self shares by function.

    .venv/bin/py-spy record -p PID -d 8 -f raw -o out.txt
    python bench/profile_summary.py out.txt [--top 40] [--match lease]

Idle samples (the event loop waiting in epoll/select) are counted apart, so the shares are of
busy time. `--match` keeps only stacks containing that text (e.g. one route).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

IDLE = re.compile(r"\b(select|poll|epoll_wait|_run_once|run_forever)\b.*\(")
IDLE_LEAF = ("select (selectors.py", "poll (", "epoll", "wait (threading.py", "_worker (concurrent")


def frame_name(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"
    m = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame.strip())
    if not m:
        return frame.strip()
    func, path = m.groups()
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{func} ({short})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", default=None)
    args = p.parse_args()
    inclusive: Counter[str] = Counter()
    selfc: Counter[str] = Counter()
    total = idle = 0
    with open(args.path) as fh:
        for line in fh:
            stack, _, count_raw = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count_raw)
            if args.match and args.match not in stack:
                continue
            frames = [frame_name(f) for f in stack.split(";")]
            leaf = frames[-1]
            if any(leaf.startswith(x) or x in leaf for x in IDLE_LEAF):
                idle += count
                continue
            total += count
            for name in set(frames):
                inclusive[name] += count
            selfc[leaf] += count
    print(f"busy samples {total}, idle samples {idle} (busy {total / max(1, total + idle):.0%})")
    print("\n-- inclusive (share of busy) --")
    for name, c in inclusive.most_common(args.top):
        print(f"{c / total:6.1%}  {name}")
    print("\n-- self --")
    for name, c in selfc.most_common(args.top // 2):
        print(f"{c / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
