"""Settings shared by the benchmark's Faust apps, read from BENCH_* environment variables.

The driver (bench/driver.py) sets them; each app is run as
``python -m faust -A <module> worker -l info --web-port <port>`` from this folder.
"""

import os
import time


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"{name} is not set (the benchmark driver sets it)")
    return value


def app_settings() -> dict:
    """faust.App keyword arguments: broker, raw values, data folder, and, when the driver asks
    for them, the session timeout and heartbeat (otherwise Faust's defaults apply)."""
    settings = {
        "broker": env("BENCH_BROKER"),
        "value_serializer": "raw",
        "datadir": env("BENCH_DATADIR"),
        "topic_partitions": int(env("BENCH_TOPIC_PARTITIONS", "8")),
    }
    if "BENCH_SESSION_TIMEOUT" in os.environ:
        settings["broker_session_timeout"] = float(env("BENCH_SESSION_TIMEOUT"))
    if "BENCH_HEARTBEAT_INTERVAL" in os.environ:
        settings["broker_heartbeat_interval"] = float(env("BENCH_HEARTBEAT_INTERVAL"))
    return settings


def report_leadership(app) -> None:
    """Prints "BENCH LEADER <wall-clock ns>" whenever this worker becomes the leader: Faust
    itself logs nothing when leadership moves."""
    was_leader = False

    @app.on_partitions_assigned.connect
    async def announce_leadership(sender, assigned, **kwargs):
        nonlocal was_leader
        leader = app.is_leader()
        if leader and not was_leader:
            print(f"BENCH LEADER {time.time_ns()}")
        was_leader = leader
