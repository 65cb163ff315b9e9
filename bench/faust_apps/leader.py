"""The Faust "Leader Election" tutorial app, as the benchmark runs it.

Same as the tutorial (an agent `say`, a timer `publish_greetings` on the leader only), with
the timer interval from BENCH_INTERVAL (tutorial: 2.0) and one addition: a line
"BENCH LEADER <wall-clock ns>" when this worker becomes the leader, since Faust itself logs
nothing when leadership moves.
"""

import random
import time

import faust

from common import app_settings, env

app = faust.App(env("BENCH_APP_ID"), **app_settings())


@app.agent()
async def say(greetings):
    async for greeting in greetings:
        print(greeting)


@app.timer(float(env("BENCH_INTERVAL", "2.0")), on_leader=True)
async def publish_greetings():
    print("PUBLISHING ON LEADER!")
    greeting = str(random.random())
    await say.send(value=greeting)


_was_leader = False


@app.on_partitions_assigned.connect
async def announce_leadership(sender, assigned, **kwargs):
    global _was_leader
    leader = app.is_leader()
    if leader and not _was_leader:
        print(f"BENCH LEADER {time.time_ns()}")
    _was_leader = leader
