"""Forwarding, Faust side: an agent that sends every value of BENCH_TOPIC on to BENCH_OUT_TOPIC.

BENCH_TAKE: 0 (default) forwards one value at a time (`async for value in stream`); N > 0 takes
up to N values, or what came within BENCH_TAKE_WITHIN seconds (`stream.take(N, within=...)`),
and sends them one after another. BENCH_GUARANTEE: Faust's processing_guarantee,
"at_least_once" (its default) or "exactly_once". The driver measures from outside, with a
read_committed consumer of the output topic.
"""

import faust

from common import app_settings, env

TAKE = int(env("BENCH_TAKE", "0"))
TAKE_WITHIN = float(env("BENCH_TAKE_WITHIN", "0.05"))

app = faust.App(env("BENCH_APP_ID"), processing_guarantee=env("BENCH_GUARANTEE", "at_least_once"),
                **app_settings())
source = app.topic(env("BENCH_TOPIC"), value_serializer="raw")
out = app.topic(env("BENCH_OUT_TOPIC"), value_serializer="raw")


@app.agent(source)
async def forward(stream):
    if TAKE > 0:
        async for values in stream.take(TAKE, within=TAKE_WITHIN):
            for value in values:
                await out.send(value=value)
    else:
        async for value in stream:
            await out.send(value=value)
