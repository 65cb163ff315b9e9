"""End-to-end latency, Faust side, sending worker: a timer (not on_leader) that sends its
CLOCK_MONOTONIC nanoseconds to the sink's topic every BENCH_INTERVAL seconds.

It is an app of its own (its own consumer group), so the sink's partition can only ever be
assigned to the other worker: a Faust worker subscribes to every topic of its app.
"""

import time

import faust

from common import app_settings, env

app = faust.App(env("BENCH_APP_ID"), **app_settings())
sink_topic = app.topic(env("BENCH_TOPIC"), value_serializer="raw")


@app.timer(float(env("BENCH_INTERVAL", "0.01")))
async def latency_probe():
    await sink_topic.send(value=str(time.monotonic_ns()).encode())
