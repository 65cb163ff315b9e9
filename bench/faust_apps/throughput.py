"""Agent throughput, Faust side: a no-op agent over a pre-filled topic.

The agent counts what it receives and, at BENCH_EXPECT messages, writes the same report line
as faust-host's noop plugin to BENCH_OUTPUT: wall-clock nanoseconds of the first and last one.
"""

import time

import faust

from common import app_settings, env

EXPECT = int(env("BENCH_EXPECT"))
OUTPUT = env("BENCH_OUTPUT")

app = faust.App(env("BENCH_APP_ID"), **app_settings())
source = app.topic(env("BENCH_TOPIC"), value_serializer="raw")


@app.agent(source)
async def noop(stream):
    count = 0
    first_ns = 0
    async for _ in stream:
        count += 1
        if count == 1:
            first_ns = time.time_ns()
        if count == EXPECT:
            with open(OUTPUT, "w") as report:
                report.write(f"count={count} first_ns={first_ns} last_ns={time.time_ns()}\n")
