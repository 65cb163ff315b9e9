"""End-to-end latency, Faust side, receiving worker: an agent that appends
now - sent (CLOCK_MONOTONIC nanoseconds) to BENCH_OUTPUT, one line per message."""

import time

import faust

from common import app_settings, env

app = faust.App(env("BENCH_APP_ID"), **app_settings())
sink_topic = app.topic(env("BENCH_TOPIC"), value_serializer="raw")
output = open(env("BENCH_OUTPUT"), "a")


@app.agent(sink_topic)
async def latency_sink(stream):
    async for sent in stream:
        received = time.monotonic_ns()
        output.write(f"{received - int(sent)}\n")
        output.flush()
