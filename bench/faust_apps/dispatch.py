"""Leader dispatch, Faust side: an on_leader timer that, on its first run, sends BENCH_COUNT
values of BENCH_SIZE bytes to BENCH_TOPIC in that one call, as faust-host's `dispatch` plugin
does, then writes "count=N start_ns=S returned_ns=R" (CLOCK_MONOTONIC) to BENCH_OUTPUT.

`await topic.send()` returns once the message is in the producer's buffer; the driver's
read_committed counter tells when the last one reached the broker. Faust's sends are plain
(not transactional): nothing fences a stale leader's.
"""

import time

import faust

from common import app_settings, env

COUNT = int(env("BENCH_COUNT"))
SIZE = int(env("BENCH_SIZE", "100"))
OUTPUT = env("BENCH_OUTPUT")

app = faust.App(env("BENCH_APP_ID"), **app_settings())
out_topic = app.topic(env("BENCH_TOPIC"), value_serializer="raw")
dispatched = False


@app.timer(float(env("BENCH_INTERVAL", "1.0")), on_leader=True)
async def dispatch():
    global dispatched
    if dispatched:
        return
    dispatched = True
    start_ns = time.monotonic_ns()
    for i in range(COUNT):
        await out_topic.send(value=str(i).encode().ljust(SIZE, b"x")[:SIZE])
    returned_ns = time.monotonic_ns()
    with open(OUTPUT, "w") as report:
        report.write(f"count={COUNT} start_ns={start_ns} returned_ns={returned_ns}\n")
