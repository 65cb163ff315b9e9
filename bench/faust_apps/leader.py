"""The Faust "Leader Election" tutorial app, as the benchmark runs it.

Same as the tutorial (an agent `say`, a timer `publish_greetings` on the leader only), with
the timer interval from BENCH_INTERVAL (tutorial: 2.0) and one addition: a line
"BENCH LEADER <wall-clock ns>" when this worker becomes the leader (common.report_leadership).
"""

import random

import faust

from common import app_settings, env, report_leadership

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


report_leadership(app)
