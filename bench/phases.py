"""Where a run's wall time goes inside Tempograph's own process: the API's admission and
start, the worker's workflow tasks and node activities, each part timed per call.

    .venv/bin/python bench/phases.py [--runs 150] [--messages 1000]

Starts ``tempograph up --config bench/peer/langgraph.json`` with ``bench/phases_site`` on
its ``PYTHONPATH`` (its ``sitecustomize`` wraps the functions it lists with wall-time
counters and writes them to a file each second), then runs ``--runs`` sequential
``runs.wait`` through ``langgraph_sdk``, after 20 untimed ones: chain3 (three no-op nodes)
on one thread, or with ``--messages N`` chat (three nodes, each appending a ~500-character
message) on a copy of a thread seeded with N messages. It prints the runs' median, then
each part's calls and milliseconds per run. Parts nest (a workflow task's activation
holds its encoding and its completion; a node activity holds its claim and its node), so
the rows do not add up to the run. Wall time on two noisy cores: compare rows measured in
the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langgraph_sdk import get_client

from bench.api import messages, running, tempograph_command

SITE = Path(__file__).resolve().parent / "phases_site"


async def measure(runs: int, held: int, new_threads: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="tempograph-phases-") as tmp:
        counters = Path(tmp) / "phases.json"
        env = {"PYTHONPATH": str(SITE), "TEMPOGRAPH_PHASES": str(counters)}
        async with running("tempograph", tempograph_command, env) as stack:
            sdk = get_client(url=stack.url)
            if held:
                # A thread of `held` messages, copied for each run (the copy runs nothing).
                seeded = (await sdk.threads.create())["thread_id"]
                await sdk.runs.wait(seeded, "chat", input={"messages": messages(held - 3)})

                async def one() -> None:
                    copy = (await sdk.threads.copy(seeded))["thread_id"]
                    out = await sdk.runs.wait(copy, "chat", input={"messages": messages(1)})
                    checked_length(out, held + 4)
            elif new_threads:
                # Like bench/api.py's "new thread" row: the thread is made untimed.
                async def one() -> None:
                    thread = (await sdk.threads.create())["thread_id"]
                    start = time.perf_counter()
                    await sdk.runs.wait(thread, "chain3", input={"path": []})
                    took.append((time.perf_counter() - start) * 1000)
            else:
                thread = (await sdk.threads.create())["thread_id"]

                async def one() -> None:
                    await sdk.runs.wait(thread, "chain3", input={"path": []})

            took: list[float] = []
            for _ in range(20):  # warm-up
                await one()
            await asyncio.sleep(1.5)
            before = json.loads(counters.read_text())
            took.clear()
            for _ in range(runs):
                start = time.perf_counter()
                await one()
                if not new_threads:
                    took.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(1.5)
            after = json.loads(counters.read_text())
    what = (
        f"chat on {held} messages (a copy of one thread each)"
        if held
        else f"chain3 on {'a new thread each' if new_threads else 'one thread'}"
    )
    print(f"{what}: runs.wait median {statistics.median(took):.1f} ms over {runs} runs")
    print()
    print("| part | calls per run | ms per call | ms per run |")
    print("|---|---|---|---|")
    for name in sorted(after):
        calls = after[name][0] - before.get(name, [0, 0.0])[0]
        seconds = after[name][1] - before.get(name, [0, 0.0])[1]
        if calls:
            print(
                f"| {name} | {calls / runs:.1f} | {seconds / calls * 1000:.2f} |"
                f" {seconds / runs * 1000:.1f} |"
            )


def checked_length(out: Any, count: int) -> None:
    if not isinstance(out, dict) or len(out.get("messages", [])) != count:
        raise RuntimeError(f"expected {count} messages back, got {str(out)[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument(
        "--messages", type=int, default=0, help="run chat on a thread of this many messages"
    )
    parser.add_argument(
        "--new-threads",
        action="store_true",
        help="chain3 on a new thread each run (threads.create untimed); else on one thread",
    )
    args = parser.parse_args()
    asyncio.run(measure(args.runs, args.messages, args.new_threads))


if __name__ == "__main__":
    main()
