"""The tutorial's path, Faust side: the leader's timer sends to the `say` agent on another worker.

Both workers are one app (one consumer group, one leader), started from this module with
BENCH_ROLE:
  leader  the tutorial's `@app.timer(..., on_leader=True)`, sending its CLOCK_MONOTONIC
          nanoseconds every BENCH_INTERVAL seconds;
  agent   the tutorial's `say` agent, appending now - sent to BENCH_OUTPUT, one line per message.

Why two roles, where the tutorial runs one module everywhere: Faust's assignor gives topics with
the same partition count and the same subscribers to one worker together, so with a
one-partition `say` topic the leader would always consume its own greetings. With the agent
only in the agent role, its topic has one subscriber and goes to the other worker. The leader
sends through the agent's topic (what `say.send` does underneath), so it does not subscribe.
"""

import time

import faust

from common import app_settings, env, report_leadership

app = faust.App(env("BENCH_APP_ID"), **app_settings())
say_topic = app.topic(env("BENCH_TOPIC"), value_serializer="raw")
ROLE = env("BENCH_ROLE")

if ROLE == "leader":

    @app.timer(float(env("BENCH_INTERVAL", "0.2")), on_leader=True)
    async def publish_greetings():
        await say_topic.send(value=str(time.monotonic_ns()).encode())

elif ROLE == "agent":
    output = open(env("BENCH_OUTPUT"), "a")

    @app.agent(say_topic)
    async def say(greetings):
        async for sent in greetings:
            received = time.monotonic_ns()
            output.write(f"{received - int(sent)}\n")
            output.flush()

else:
    raise SystemExit(f"BENCH_ROLE must be 'leader' or 'agent', not '{ROLE}'")

report_leadership(app)
