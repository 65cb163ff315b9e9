#!/usr/bin/env python3
"""faust-host benchmarks, side by side with Python Faust (faust-streaming), bare librdkafka
and (forwarding) Kafka Streams, on one broker.

bench/run.sh builds the tree, starts the broker and the Python environment, then runs this
file with the environment's Python. Run by hand:

    python bench/driver.py --build-dir build-bench --broker 127.0.0.1:PORT --results bench/results

Scenarios (all by default; --only picks some):
  throughput  pre-produced messages through a no-op agent, one worker (in-process and isolated)
  latency     a 10 ms timer on one worker to an agent on another, send to handler
  failover    three workers running the tutorial; SIGINT the leader, then SIGKILL the next
  footprint   an idle tutorial worker: RSS, CPU over a window, start-up time
  tutorial    the tutorial's path: the leader's on_leader timer to an agent on another worker,
              and its floor: a bare librdkafka transaction per tick
  dispatch    one on_leader tick sends 10,000 messages: tick start until all are committed
  forward     an agent copies a topic to another: at least once, in batches, exactly once;
              Kafka Streams forwards at at_least_once and exactly_once_v2
  isolation   an agent with isolation: process whose plugin segfaults on every 100th message:
              from a crash to the next message the restarted process handles

With faust-host-sasl in --systems, throughput and tutorial also run faust-host over SASL_SSL
(SCRAM-SHA-512) on the secured broker whose state file --secured-state names.

Writes results.md, chart.png and raw.json into --results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
FAUST_APPS = BENCH_DIR / "faust_apps"

FH_READY = "worker ready:"
FH_LEADER = "this worker is now the leader"
FAUST_READY = "[^Worker]: Ready"
FAUST_LEADER = "BENCH LEADER"
KAFKA_STREAMS_READY = "kafka-streams: RUNNING"
# The systems a scenario can run rows of (BENCH_SYSTEMS picks some; throughput, tutorial and forward
# heed it).
SYSTEMS = ("faust-host", "faust", "bare", "kafka-streams", "faust-host-isolated")
# faust-host with isolation: process: the no-op agent (throughput), beside in-process batches; the
# tutorial path's on_leader timer and agent (tutorial).
ISOLATED = "faust-host-isolated"
ISOLATED_TUTORIAL = "faust-host (isolated: the timer and the agent)"  # its tutorial row
# faust-host over SASL_SSL (SCRAM-SHA-512) on a secured broker beside the plain one: throughput and
# tutorial rows, only when BENCH_SYSTEMS names it.
SASL = "faust-host-sasl"
OPTIONAL_SYSTEMS = (SASL,)
SASL_LABEL = "faust-host over SASL_SSL (SCRAM-SHA-512)"
SASL_THROUGHPUT = "faust-host (SASL_SSL)"  # its throughput row
# What the faust-host-sasl rows run on, for the tables.
SASL_NOTE = ("faust-host over SASL_SSL: the same worker with `security.protocol: SASL_SSL`, logged in with "
             "SCRAM-SHA-512 as a user with the documented prefixed ACLs (`bench-`), on a second broker of the same "
             "Kafka version and JVM flags (`scripts/kafka-broker.sh start-secured`; TLS 1.3, "
             "TLS_AES_256_GCM_SHA384); its topics are created and filled there.")
TICK = "PUBLISHING ON LEADER!"

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Timeout(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Processes


class Process:
    """A child process whose output lines are read as they come, each stamped with the wall
    clock (ns) at arrival, and copied to a log file."""

    live: list["Process"] = []

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict | None = None,
                 cwd: Path | None = None, stop_signal: int = signal.SIGINT):
        self.name = name
        self.stop_signal = stop_signal
        self.lines: list[tuple[int, str]] = []
        self._changed = threading.Condition()
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.exec_ns = time.time_ns()
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                      cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid
        Process.live.append(self)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in iter(self.popen.stdout.readline, b""):
            stamp = time.time_ns()
            text = raw.decode(errors="replace").rstrip("\n")
            self._log.write(text + "\n")
            with self._changed:
                self.lines.append((stamp, text))
                self._changed.notify_all()
        self._log.close()
        with self._changed:
            self._changed.notify_all()

    def find(self, needle: str, after_ns: int = 0) -> tuple[int, str] | None:
        with self._changed:
            for stamp, text in self.lines:
                if stamp >= after_ns and needle in text:
                    return stamp, text
        return None

    def wait_for(self, needle: str, timeout: float, after_ns: int = 0) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for stamp, text in self.lines:
                    if stamp >= after_ns and needle in text:
                        return stamp, text
                if self.popen.poll() is not None and not self._reader.is_alive():
                    raise Timeout(f"{self.name} exited ({self.popen.returncode}) before '{needle}'; "
                                  f"log {self.log_path}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"{self.name}: no '{needle}' within {timeout:.0f} s; log {self.log_path}")
                self._changed.wait(min(left, 0.05))

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send_signal(self, sig: int) -> int:
        """Sends `sig` and returns the wall clock just before it (ns)."""
        stamp = time.time_ns()
        os.kill(self.pid, sig)
        return stamp

    def cpu_seconds(self) -> float:
        """The process's CPU time, with its live children's (an isolated agent's plugin runners)."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if stat.parent.name == str(self.pid) or int(fields[1]) == self.pid:  # itself, or a child
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLOCK_TICKS

    def status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            try:
                os.kill(self.pid, self.stop_signal)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {timeout:.0f} s; killing it")
                self.popen.kill()
                self.popen.wait()
            except ProcessLookupError:
                pass
        self._reader.join(5)
        if self in Process.live:
            Process.live.remove(self)

    @classmethod
    def kill_all(cls) -> None:
        for process in list(cls.live):
            if process.alive():
                process.popen.kill()
                process.popen.wait()
            cls.live.remove(process)


def run_tool(argv: list[str], timeout: float = 600) -> dict:
    """Runs a bench tool that prints one JSON object."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise Timeout(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def wait_http(worker: Process, port: int, path: str, accept: Callable[[bytes], bool] = lambda _body: True,
              timeout: float = 60) -> float:
    """Polls the worker's web port until `path` answers 200 with a body `accept` takes; returns
    the seconds from the worker's exec to that answer."""
    url = f"http://127.0.0.1:{port}{path}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                answered_ns = time.time_ns()
                if response.status == 200 and accept(response.read()):
                    return (answered_ns - worker.exec_ns) / 1e9
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if not worker.alive():
            raise Timeout(f"{worker.name} exited; log {worker.log_path}")
        time.sleep(0.005)
    raise Timeout(f"{url}: not the answer awaited within {timeout:.0f} s")


# ---------------------------------------------------------------------------------------------
# The two kinds of worker


@dataclass
class Bench:
    build_dir: Path
    broker: str
    work_dir: Path
    python: str
    repeats: int
    settings: dict
    results: dict = field(default_factory=dict)
    # The Kafka Streams peer's build (bench/kafka_streams, built by run.sh): its jar and lib/.
    kafka_streams: Path | None = None
    systems: tuple[str, ...] = SYSTEMS
    # The broker's client settings: for the workers' manifests (`kafka:`) and for faust-bench-kafka
    # (--config FILE); none on the plain broker.
    security: dict = field(default_factory=dict)
    tool_config: str | None = None
    # The same bench on the secured broker, for the faust-host-sasl rows.
    secured: Bench | None = None

    def runs(self, system: str) -> bool:
        return system in self.systems

    def tool(self) -> list[str]:
        """faust-bench-kafka with this broker's client settings."""
        return [self.kafka_tool] + (["--config", self.tool_config] if self.tool_config else [])

    def manifest(self, app_id: str, **fields) -> str:
        """manifest_text on this broker, its security properties first under `kafka:`."""
        kafka = {**self.security, **(fields.pop("kafka", None) or {})}
        return manifest_text(app_id, broker=self.broker, kafka=kafka or None, **fields)

    @property
    def faust_host(self) -> str:
        return str(self.build_dir / "bin" / "faust-host")

    @property
    def kafka_tool(self) -> str:
        return str(self.build_dir / "bin" / "faust-bench-kafka")

    @property
    def bare_consumer(self) -> str:
        return str(self.build_dir / "bin" / "faust-bench-bare-consumer")

    def plugin(self, name: str) -> str:
        return str(self.build_dir / "bench" / "plugins" / f"{name}.so")

    def create_topic(self, topic: str, partitions: int) -> None:
        run_tool([*self.tool(), "create-topic", "--broker", self.broker, "--topic", topic,
                  "--partitions", str(partitions)])

    def start_faust_host(self, name: str, manifest: str, web_port: int = 0) -> Process:
        path = self.work_dir / f"{name}.yaml"
        path.write_text(manifest)
        return Process(name, [self.faust_host, "--manifest", str(path), "-l", "info", "--web-port", str(web_port)],
                       self.work_dir)

    def start_faust(self, name: str, module: str, env: dict, web_port: int | None = None) -> Process:
        data_dir = self.work_dir / f"{name}-data"
        data_dir.mkdir(exist_ok=True)
        full_env = dict(os.environ)
        full_env.update({"BENCH_BROKER": f"kafka://{self.broker}", "BENCH_DATADIR": str(data_dir),
                         "PYTHONUNBUFFERED": "1"})
        full_env.update({k: str(v) for k, v in env.items()})
        argv = [self.python, "-m", "faust", "-A", module, "worker", "-l", "info",
                "--web-port", str(web_port or free_port())]
        return Process(name, argv, self.work_dir, env=full_env, cwd=FAUST_APPS)


def manifest_text(app_id: str, *, broker: str, agents: dict | None = None, timers: dict | None = None,
                  app_extra: dict | None = None, kafka: dict | None = None) -> str:
    """A manifest as YAML (JSON is YAML, so values are written with json.dumps; a mapping other
    than `config:`, such as `batch:`, becomes a flow mapping with its types kept)."""
    lines = ["app:", f"  id: {app_id}", f"  broker: kafka://{broker}", "  value_serializer: raw"]
    for key, value in (app_extra or {}).items():
        lines.append(f"  {key}: {value}")
    if kafka:
        lines.append("kafka:")
        lines += [f"  {key}: {json.dumps(str(value))}" for key, value in kafka.items()]
    for section, entries in (("agents", agents), ("timers", timers)):
        if not entries:
            continue
        lines.append(f"{section}:")
        for name, fields in entries.items():
            lines.append(f"  {name}:")
            for key, value in fields.items():
                if key == "config":  # plugin config values are strings
                    lines.append(f"    {key}:")
                    lines += [f"      {k}: {json.dumps(str(v))}" for k, v in value.items()]
                else:
                    lines.append(f"    {key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def secured_bench(bench: Bench, state_file: Path) -> Bench:
    """The bench on the secured broker of `state_file` (scripts/kafka-broker.sh start-secured): its
    SASL_SSL listener; the workers log in as its user 'app' with SCRAM-SHA-512, the password read
    from its file through ${file:}; the bench's own clients as 'admin'. Its logs and reports go to
    a folder of their own, so the app ids can be the plain rows' ones."""
    facts = dict(line.split("=", 1) for line in state_file.read_text().splitlines() if "=" in line)
    security = {"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
                "sasl.username": facts["FAUST_SECURED_APP_USER"],
                "sasl.password": "${file:" + facts["FAUST_SECURED_APP_PASSWORD_FILE"] + "}",
                "ssl.ca.location": facts["FAUST_SECURED_CA"]}
    work_dir = bench.work_dir / "sasl_ssl"
    work_dir.mkdir(exist_ok=True)
    return replace(bench, broker=facts["FAUST_SECURED_SASL_SSL"], work_dir=work_dir, security=security,
                   tool_config=facts["FAUST_SECURED_ADMIN_KCAT_CONFIG"], secured=None)


def read_report(path: Path) -> dict:
    """The noop agents' line: count=N first_ns=F last_ns=L."""
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", path.read_text())}


# ---------------------------------------------------------------------------------------------
# Scenario 1: agent throughput


def throughput(bench: Bench) -> dict:
    messages = int(bench.settings["messages"])
    faust_messages = int(bench.settings["faust_messages"])
    size = int(bench.settings["message_size"])
    topic, faust_topic = "bench-throughput", "bench-throughput-faust"
    produced = {}
    topics = []  # (bench, topic, count, key in `produced`)
    if bench.runs("faust-host") or bench.runs("bare"):
        topics.append((bench, topic, messages, topic))
    if bench.runs("faust"):
        topics.append((bench, faust_topic, faust_messages, faust_topic))
    if bench.runs(SASL):
        topics.append((bench.secured, topic, messages, f"{topic} (SASL_SSL)"))
    for on, name, count, key in topics:
        on.create_topic(name, 8)
        produced[key] = run_tool([*on.tool(), "produce", "--broker", on.broker, "--topic", name,
                                  "--partitions", "8", "--count", str(count), "--size", str(size)])
        log(f"produced {count} x {size} B to {key} at {produced[key]['rate']:.0f} msg/s")

    # queued.min.messages: librdkafka 2.0.2 stops prefetching a partition at 100k queued
    # messages and backs off; the "tuned" rows show both consumers with a deeper queue.
    tuned = {"queued.min.messages": "1000000"}
    # The same no-op agent in a child process (isolation: process), message by message and in
    # batches, beside the in-process agent in the same batches.
    batch = {"batch": {"max_messages": 500, "max_wait": 0}}
    isolated = (("faust-host (batch 500)", batch), ("faust-host (isolated)", {"isolation": "process"}),
                ("faust-host (isolated, batch 500)", {"isolation": "process", **batch}))
    rows = {"faust-host": ["faust-host", "faust-host (tuned)"], ISOLATED: [label for label, _ in isolated],
            SASL: [SASL_THROUGHPUT], "faust": ["faust"], "bare": ["bare", "bare (tuned)"]}
    systems: dict[str, list[dict]] = {label: [] for name, labels in rows.items() if bench.runs(name)
                                      for label in labels}
    for run in range(1, bench.repeats + 1):
        if bench.runs("faust-host"):
            for label, kafka in (("faust-host", None), ("faust-host (tuned)", tuned)):
                systems[label].append(throughput_faust_host(bench, run, topic, messages, kafka, label))
        if bench.runs(ISOLATED):
            for label, agent in isolated:
                systems[label].append(throughput_faust_host(bench, run, topic, messages, None, label, agent))
        if bench.runs(SASL):
            systems[SASL_THROUGHPUT].append(
                throughput_faust_host(bench.secured, run, topic, messages, None, SASL_THROUGHPUT))
        if bench.runs("faust"):
            systems["faust"].append(throughput_faust(bench, run, faust_topic, faust_messages))
        if bench.runs("bare"):
            for label, kafka in (("bare", None), ("bare (tuned)", tuned)):
                systems[label].append(throughput_bare(bench, run, topic, messages, kafka, label))
    return {"produced": produced, "runs": systems}


def watch_commits(bench: Bench, group: str, topic: str, target: int) -> subprocess.Popen:
    return subprocess.Popen([*bench.tool(), "wait-committed", "--broker", bench.broker, "--group", group,
                             "--topic", topic, "--partitions", "8", "--target", str(target), "--timeout", "600",
                             "--interval-ms", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def commit_time(watcher: subprocess.Popen) -> int:
    out, err = watcher.communicate(timeout=660)
    if watcher.returncode != 0:
        raise RuntimeError(f"commit watcher: {err.strip()}")
    return json.loads(out)["committed_ns"]


def rates(count: int, ready_ns: int, first_ns: int, last_ns: int, committed_ns: int, cpu: float) -> dict:
    return {
        "count": count,
        "rate": count / ((last_ns - ready_ns) / 1e9),  # ready -> last message handled
        "rate_steady": (count - 1) / ((last_ns - first_ns) / 1e9),  # first -> last message
        "rate_committed": count / ((committed_ns - ready_ns) / 1e9),  # ready -> all offsets committed
        "ready_to_first_s": (first_ns - ready_ns) / 1e9,
        "cpu_s": cpu,
        "cpu_us_per_msg": cpu / count * 1e6,
    }


def throughput_faust_host(bench: Bench, run: int, topic: str, messages: int, kafka: dict | None,
                          label: str, agent: dict | None = None) -> dict:
    variant = re.sub(r"[^a-z0-9]+", "-", label.removeprefix("faust-host")).strip("-")
    app_id = f"bench-tp-fh{'-' + variant if variant else ''}-{run}"
    report = bench.work_dir / f"{app_id}.txt"
    watcher = watch_commits(bench, app_id, topic, messages)
    manifest = bench.manifest(app_id, kafka=kafka, agents={
        "noop": {"library": bench.plugin("noop"), "topic": topic, **(agent or {}),
                 "config": {"expect": messages, "output": str(report)}}})
    worker = bench.start_faust_host(app_id, manifest)
    try:
        ready_ns, _ = worker.wait_for(FH_READY, 60)
        wait_until(report.exists, 600, f"{app_id}: {messages} messages")
        cpu = worker.cpu_seconds()
        committed_ns = commit_time(watcher)
    finally:
        worker.stop()
        if watcher.poll() is None:
            watcher.kill()
    got = read_report(report)
    result = rates(messages, ready_ns, got["first_ns"], got["last_ns"], committed_ns, cpu)
    log(f"throughput {label} run {run}: {result['rate']:.0f} msg/s (committed {result['rate_committed']:.0f})")
    return result


def throughput_faust(bench: Bench, run: int, topic: str, messages: int) -> dict:
    app_id = f"bench-tp-faust-{run}"
    report = bench.work_dir / f"{app_id}.txt"
    watcher = watch_commits(bench, app_id, topic, messages)
    worker = bench.start_faust(app_id, "throughput", {
        "BENCH_APP_ID": app_id, "BENCH_TOPIC": topic, "BENCH_EXPECT": messages, "BENCH_OUTPUT": report})
    try:
        ready_ns, _ = worker.wait_for(FAUST_READY, 120)
        wait_until(report.exists, 900, f"{app_id}: {messages} messages", every=0.05)
        cpu = worker.cpu_seconds()
        committed_ns = commit_time(watcher)
    finally:
        worker.stop(30)
        if watcher.poll() is None:
            watcher.kill()
    got = read_report(report)
    result = rates(messages, ready_ns, got["first_ns"], got["last_ns"], committed_ns, cpu)
    log(f"throughput faust run {run}: {result['rate']:.0f} msg/s (committed {result['rate_committed']:.0f})")
    return result


def throughput_bare(bench: Bench, run: int, topic: str, messages: int, kafka: dict | None, label: str) -> dict:
    group = f"bench-tp-bare{'-tuned' if kafka else ''}-{run}"
    argv = [bench.bare_consumer, "--broker", bench.broker, "--group", group, "--topic", topic,
            "--count", str(messages)]
    for key, value in (kafka or {}).items():
        argv += ["--set", f"{key}={value}"]
    started = time.time_ns()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=660)
    if done.returncode != 0:
        raise RuntimeError(f"bare consumer: {done.stderr.strip()}")
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Whole process (connect to close); the workers' figure covers start to last message.
    cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    got = json.loads(done.stdout)
    # The consumer is "ready" when its partitions are assigned, as a worker is.
    result = rates(messages, got["assigned_ns"], got["first_ns"], got["last_ns"], got["committed_ns"], cpu)
    result["exec_to_assigned_s"] = (got["assigned_ns"] - started) / 1e9
    log(f"throughput {label} run {run}: {result['rate']:.0f} msg/s")
    return result


# ---------------------------------------------------------------------------------------------
# Scenario 2: end-to-end latency


def percentile(ordered: list[float], p: float) -> float:
    """The p-th percentile of values sorted in ascending order."""
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_stats(path: Path, skip: int, end: int | None = None) -> dict:
    """Percentiles of the samples in `path` from the skip-th up to the end-th (default: all)."""
    values = [int(line) for line in path.read_text().split()]
    kept = sorted(values[skip:end])
    if not kept:
        raise RuntimeError(f"{path}: no latency samples")

    def pct(p: float) -> float:
        return percentile(kept, p) / 1e6

    return {"samples": len(kept), "received": len(values), "p50_ms": pct(50), "p90_ms": pct(90),
            "p99_ms": pct(99), "max_ms": kept[-1] / 1e6, "mean_ms": statistics.fmean(kept) / 1e6}


def latency(bench: Bench) -> dict:
    seconds = float(bench.settings["latency_seconds"])
    interval = float(bench.settings["latency_interval"])
    skip = int(round(1.0 / interval))  # the first second is warm-up (connections, first fetch)
    runs: dict[str, list[dict]] = {"faust-host": [], "faust": [], "bare": []}
    for run in range(1, bench.repeats + 1):
        runs["faust-host"].append(latency_faust_host(bench, run, seconds, interval, skip))
        runs["faust"].append(latency_faust(bench, run, seconds, interval, skip))
        runs["bare"].append(latency_bare(bench, run, seconds, interval, skip))
    return {"seconds": seconds, "interval_s": interval, "warmup_samples_dropped": skip, "runs": runs}


def latency_faust_host(bench: Bench, run: int, seconds: float, interval: float, skip: int) -> dict:
    app_id = f"bench-lat-fh-{run}"
    topic = f"{app_id}-latency_sink"
    output = bench.work_dir / f"{app_id}.txt"
    bench.create_topic(topic, 1)
    sink = bench.start_faust_host(f"{app_id}-sink", manifest_text(
        app_id, broker=bench.broker, app_extra={"topic_partitions": 1},
        agents={"latency_sink": {"library": bench.plugin("latency"), "config": {"output": str(output)}}}))
    probe = None
    try:
        sink.wait_for(FH_READY, 60)
        probe = bench.start_faust_host(f"{app_id}-probe", manifest_text(
            app_id, broker=bench.broker, app_extra={"topic_partitions": 1},
            timers={"latency_probe": {"library": bench.plugin("latency"), "interval": interval,
                                      "on_leader": False, "config": {"topic": topic}}}))
        probe.wait_for(FH_READY, 60)
        time.sleep(seconds)
    finally:
        if probe:
            probe.stop()
        time.sleep(0.5)
        sink.stop()
    result = latency_stats(output, skip)
    log(f"latency faust-host run {run}: p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    return result


def latency_faust(bench: Bench, run: int, seconds: float, interval: float, skip: int) -> dict:
    topic = f"bench-lat-faust-{run}"
    output = bench.work_dir / f"{topic}.txt"
    bench.create_topic(topic, 1)
    common = {"BENCH_TOPIC": topic, "BENCH_TOPIC_PARTITIONS": 1}
    sink = bench.start_faust(f"{topic}-sink", "latency_sink",
                             {**common, "BENCH_APP_ID": f"{topic}-sink", "BENCH_OUTPUT": output})
    probe = None
    try:
        sink.wait_for(FAUST_READY, 120)
        probe = bench.start_faust(f"{topic}-probe", "latency_probe",
                                  {**common, "BENCH_APP_ID": f"{topic}-probe", "BENCH_INTERVAL": interval})
        probe.wait_for(FAUST_READY, 120)
        time.sleep(seconds)
    finally:
        if probe:
            probe.stop(30)
        time.sleep(0.5)
        sink.stop(30)
    result = latency_stats(output, skip)
    log(f"latency faust run {run}: p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    return result


def latency_bare(bench: Bench, run: int, seconds: float, interval: float, skip: int) -> dict:
    topic = f"bench-lat-bare-{run}"
    output = bench.work_dir / f"{topic}.txt"
    bench.create_topic(topic, 1)
    run_tool([bench.kafka_tool, "latency", "--broker", bench.broker, "--topic", topic, "--group", topic,
              "--interval-ms", str(round(interval * 1000)), "--seconds", str(seconds), "--output", str(output)],
             timeout=seconds + 120)
    result = latency_stats(output, skip)
    log(f"latency bare run {run}: p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    return result


# ---------------------------------------------------------------------------------------------
# Scenario 3: leader failover


def failover(bench: Bench) -> dict:
    interval = float(bench.settings["failover_interval"])
    fair = {"session_timeout": 6.0, "heartbeat_interval": 0.5}
    variants = {
        # faust-host's defaults are the fair settings (6 s / 0.5 s): one set of runs serves both rows.
        "faust-host": ("faust-host", None),
        "faust (fair)": ("faust", fair),
        "faust (defaults)": ("faust", None),
    }
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for run in range(1, bench.repeats + 1):
        for name, (kind, timing) in variants.items():
            runs[name].append(failover_once(bench, kind, timing, run, interval, name))
    return {"interval_s": interval, "fair_settings": fair, "runs": runs}


def failover_once(bench: Bench, kind: str, timing: dict | None, run: int, interval: float, label: str) -> dict:
    tag = {"faust-host": "fh", "faust": "faust"}[kind] + ("-fair" if kind == "faust" and timing else "")
    if kind == "faust" and not timing:
        tag = "faust-defaults"
    app_id = f"bench-fo-{tag}-{run}"
    ready, leader_line = (FH_READY, FH_LEADER) if kind == "faust-host" else (FAUST_READY, FAUST_LEADER)
    session = (timing or {}).get("session_timeout", 6.0 if kind == "faust-host" else 60.0)
    workers: list[Process] = []
    try:
        for index in range(3):
            name = f"{app_id}-w{index + 1}"
            if kind == "faust-host":
                manifest = manifest_text(app_id, broker=bench.broker, agents={"say": {"library": "say"}},
                                         timers={"publish_greetings": {"library": "publish_greetings",
                                                                       "interval": interval, "on_leader": True}})
                worker = bench.start_faust_host(name, manifest)
            else:
                env = {"BENCH_APP_ID": app_id, "BENCH_INTERVAL": interval}
                if timing:
                    env.update({"BENCH_SESSION_TIMEOUT": timing["session_timeout"],
                                "BENCH_HEARTBEAT_INTERVAL": timing["heartbeat_interval"]})
                worker = bench.start_faust(name, "leader", env)
            workers.append(worker)
            worker.wait_for(ready, 120)
        # Settled: the leader ticks, and has ticked for a while after the last worker joined.
        settle_from = time.time_ns()
        time.sleep(2.0)
        leader = current_leader(workers, settle_from, timeout=max(30.0, session + 30))
        result: dict = {}
        for step, sig in (("sigint", signal.SIGINT), ("sigkill", signal.SIGKILL)):
            others = [w for w in workers if w is not leader and w.alive()]
            signalled = leader.send_signal(sig)
            budget = session + 60 if sig == signal.SIGKILL else 60
            elected_ns, new_leader = first_line(others, leader_line, signalled, budget)
            tick_ns, ticker = first_line(others, TICK, signalled, budget)
            result[step] = {
                "elected_s": (elected_ns - signalled) / 1e9,
                "first_tick_s": (tick_ns - signalled) / 1e9,
                # What the timer's own schedule added after the election (at most one interval).
                "schedule_wait_s": (tick_ns - elected_ns) / 1e9,
                "same_worker": new_leader is ticker,
            }
            log(f"failover {label} run {run} {step}: elected {result[step]['elected_s']:.3f} s, "
                f"first tick {result[step]['first_tick_s']:.3f} s")
            leader.popen.wait(60)
            time.sleep(1.0)
            leader = ticker
        return result
    finally:
        for worker in workers:
            worker.stop(30)


def first_line(workers: list[Process], needle: str, after_ns: int, timeout: float) -> tuple[int, Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [(hit[0], w) for w in workers if (hit := w.find(needle, after_ns))]
        if found:
            return min(found, key=lambda item: item[0])
        time.sleep(0.005)
    raise Timeout(f"no '{needle}' from {[w.name for w in workers]} within {timeout:.0f} s")


def current_leader(workers: list[Process], after_ns: int, timeout: float) -> Process:
    """The one worker that ticks after `after_ns`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticking = [w for w in workers if w.find(TICK, after_ns)]
        if len(ticking) == 1:
            return ticking[0]
        if len(ticking) > 1:
            after_ns = time.time_ns()  # a handover in progress: look again from now
        time.sleep(0.05)
    raise Timeout("no single leader is ticking")


# ---------------------------------------------------------------------------------------------
# Scenario 4: footprint


def footprint(bench: Bench) -> dict:
    window = float(bench.settings["idle_seconds"])
    runs: dict[str, list[dict]] = {"faust-host": [], "faust": []}
    workers: list[tuple[str, Process, float]] = []
    try:
        # Started one after another (each alone while starting), then all measured over one window.
        for run in range(1, bench.repeats + 1):
            port = free_port()
            app_id = f"bench-idle-fh-{run}"
            manifest = manifest_text(app_id, broker=bench.broker, agents={"say": {"library": "say"}},
                                     timers={"publish_greetings": {"library": "publish_greetings",
                                                                   "interval": 2.0, "on_leader": True}})
            worker = bench.start_faust_host(app_id, manifest, web_port=port)
            ready_s = wait_http(worker, port, "/readyz")
            workers.append(("faust-host", worker, ready_s))
            log(f"footprint faust-host run {run}: ready in {ready_s:.3f} s")

            app_id = f"bench-idle-faust-{run}"
            worker = bench.start_faust(app_id, "leader", {"BENCH_APP_ID": app_id, "BENCH_INTERVAL": 2.0})
            ready_ns, _ = worker.wait_for(FAUST_READY, 120)
            ready_s = (ready_ns - worker.exec_ns) / 1e9
            workers.append(("faust", worker, ready_s))
            log(f"footprint faust run {run}: ready in {ready_s:.3f} s")
        time.sleep(5.0)  # let the last start-up settle
        before = [(w.cpu_seconds(), time.monotonic()) for _, w, _ in workers]
        peak = [0] * len(workers)
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            for i, (_, w, _) in enumerate(workers):
                peak[i] = max(peak[i], w.status_kb("VmRSS"))
            time.sleep(1.0)
        for i, (kind, w, ready_s) in enumerate(workers):
            cpu0, t0 = before[i]
            elapsed = time.monotonic() - t0
            rss = w.status_kb("VmRSS")
            runs[kind].append({
                "ready_s": ready_s,
                "rss_mb": rss / 1024,
                "rss_peak_in_window_mb": max(peak[i], rss) / 1024,
                "rss_anon_mb": w.status_kb("RssAnon") / 1024,
                "rss_file_mb": w.status_kb("RssFile") / 1024,
                "hwm_mb": w.status_kb("VmHWM") / 1024,
                "threads": int(Path(f"/proc/{w.pid}/status").read_text().split("Threads:")[1].split()[0]),
                "cpu_percent": (w.cpu_seconds() - cpu0) / elapsed * 100,
                "window_s": elapsed,
            })
    finally:
        for _, w, _ in workers:
            w.stop(30)
    return {"window_s": window, "runs": runs}


# ---------------------------------------------------------------------------------------------
# Scenario 5: the tutorial's path (on_leader timer -> agent on another worker)

# After the agent's worker is ready: the greetings sent while it was joining arrive in a burst,
# and Faust's group rebalances for the newcomer. Samples that arrived by then are dropped, as
# are those that arrive after the window (stopping Faust's leader rebalances the agent's group).
TUTORIAL_WARMUP_S = 2.0


def tutorial(bench: Bench) -> dict:
    seconds = float(bench.settings["tutorial_seconds"])
    interval = float(bench.settings["tutorial_interval"])
    systems = {"faust-host": tutorial_faust_host,
               ISOLATED: lambda b, run, s, i: tutorial_faust_host(b, run, s, i, ISOLATED_TUTORIAL, isolated=True),
               SASL: lambda b, run, s, i: tutorial_faust_host(b.secured, run, s, i, SASL_LABEL),
               "faust": tutorial_faust, "bare": tutorial_bare}
    runs: dict[str, list[dict]] = {name: [] for name in systems if bench.runs(name)}
    for run in range(1, bench.repeats + 1):
        for name in runs:
            runs[name].append(systems[name](bench, run, seconds, interval))
    return {"seconds": seconds, "interval_s": interval, "warmup_s": TUTORIAL_WARMUP_S, "runs": runs}


def sample_window(output: Path, seconds: float) -> tuple[int, int]:
    """Waits out the warm-up and then the measuring window; returns how many samples `output`
    held at the start and at the end of the window."""
    def samples() -> int:
        return len(output.read_text().split()) if output.exists() else 0
    time.sleep(TUTORIAL_WARMUP_S)
    first = samples()
    time.sleep(seconds)
    return first, samples()


def leadership_moved(leader: Process, agent: Process, leader_line: str) -> bool:
    """Whether the agent's worker has led so far. It has no timer: while it leads, no samples come."""
    return agent.find(leader_line) is not None or leader.find(leader_line) is None


def tutorial_result(label: str, run: int, output: Path, window: tuple[int, int], moved: bool) -> dict:
    result = latency_stats(output, *window)
    result["leader_moved"] = moved
    if moved:
        log(f"WARNING tutorial {label} run {run}: leadership was not with the timer's worker throughout")
    log(f"tutorial {label} run {run}: p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
        f"{result['samples']} samples")
    return result


def tutorial_faust_host(bench: Bench, run: int, seconds: float, interval: float, label: str = "faust-host",
                        isolated: bool = False) -> dict:
    """Two manifests of one app, as the latency scenario, but the timer is on_leader: its sends
    take the fenced (transactional) path and its worker must lead. That worker starts first
    and leads before the agent's joins; leadership stays with the live leader. `isolated`: the
    timer and the agent each with isolation: process."""
    app_id = f"bench-tut-fh{'-iso' if isolated else ''}-{run}"
    topic = f"{app_id}-latency_sink"
    output = bench.work_dir / f"{app_id}.txt"
    bench.create_topic(topic, 1)
    port = free_port()
    isolation = {"isolation": "process"} if isolated else {}
    leader = bench.start_faust_host(f"{app_id}-leader", bench.manifest(
        app_id, app_extra={"topic_partitions": 1},
        timers={"latency_probe": {"library": bench.plugin("latency"), "interval": interval,
                                  "on_leader": True, **isolation, "config": {"topic": topic}}}), web_port=port)
    agent = None
    try:
        leader.wait_for(FH_READY, 60)
        wait_http(leader, port, "/leader", lambda body: json.loads(body).get("is_leader") is True)
        agent = bench.start_faust_host(f"{app_id}-agent", bench.manifest(
            app_id, app_extra={"topic_partitions": 1},
            agents={"latency_sink": {"library": bench.plugin("latency"), **isolation,
                                     "config": {"output": str(output)}}}))
        agent.wait_for(FH_READY, 60)
        window = sample_window(output, seconds)
        moved = leadership_moved(leader, agent, FH_LEADER)
    finally:
        leader.stop()
        time.sleep(0.5)
        if agent:
            agent.stop()
    return tutorial_result(label, run, output, window, moved)


def tutorial_faust(bench: Bench, run: int, seconds: float, interval: float) -> dict:
    """Two workers of one Faust app (faust_apps/tutorial.py, one per role); the timer's worker
    starts first and leads; Faust's assignor keeps the leader partition where it is."""
    app_id = f"bench-tut-faust-{run}"
    topic = f"{app_id}-say"
    output = bench.work_dir / f"{app_id}.txt"
    bench.create_topic(topic, 1)
    common = {"BENCH_APP_ID": app_id, "BENCH_TOPIC": topic, "BENCH_TOPIC_PARTITIONS": 1}
    leader = bench.start_faust(f"{app_id}-leader", "tutorial",
                               {**common, "BENCH_ROLE": "leader", "BENCH_INTERVAL": interval})
    agent = None
    try:
        leader.wait_for(FAUST_READY, 120)
        leader.wait_for(FAUST_LEADER, 60)
        agent = bench.start_faust(f"{app_id}-agent", "tutorial", {**common, "BENCH_ROLE": "agent", "BENCH_OUTPUT": output})
        agent.wait_for(FAUST_READY, 120)
        window = sample_window(output, seconds)
        moved = leadership_moved(leader, agent, FAUST_LEADER)
    finally:
        leader.stop(30)
        time.sleep(0.5)
        if agent:
            agent.stop(30)
    return tutorial_result("faust", run, output, window, moved)


def tutorial_bare(bench: Bench, run: int, seconds: float, interval: float) -> dict:
    """The floor of the fenced path: one process, a transactional producer that begins, produces
    one record and commits every tick, and a read_committed consumer thread of the same group
    settings as the host's agents. As many warm-up ticks are dropped as the other rows' warm-up
    holds; it runs that much longer, so the samples are as many."""
    topic = f"bench-tut-bare-{run}"
    output = bench.work_dir / f"{topic}.txt"
    bench.create_topic(topic, 1)
    skip = int(round(TUTORIAL_WARMUP_S / interval))
    run_tool([bench.kafka_tool, "tutorial-floor", "--broker", bench.broker, "--topic", topic, "--group", topic,
              "--transactional-id", topic, "--interval-ms", str(round(interval * 1000)),
              "--seconds", str(seconds + TUTORIAL_WARMUP_S), "--output", str(output)], timeout=seconds + 120)
    return tutorial_result("bare", run, output, (skip, None), False)


# ---------------------------------------------------------------------------------------------
# Scenario 6: leader dispatch (one on_leader tick sends many messages)

DISPATCH_PARTITIONS = 8  # Faust's default topic_partitions, as the tutorial's agent topic has
DISPATCH_INTERVAL = 1.0  # the timer's first tick is one interval after the worker is ready
# Generous: with one transaction per send (10-25 ms each here), 10,000 messages take minutes.
DISPATCH_WAIT_S = 600.0
COUNTER_READY = "count-committed: caught up"


def dispatch(bench: Bench) -> dict:
    count = int(bench.settings["dispatch_count"])
    size = int(bench.settings["message_size"])
    runs: dict[str, list[dict]] = {"faust-host": [], "faust": [], "bare": []}
    for run in range(1, bench.repeats + 1):
        runs["faust-host"].append(dispatch_faust_host(bench, run, count, size))
        runs["faust"].append(dispatch_faust(bench, run, count, size))
        runs["bare"].append(dispatch_bare(bench, run, count, size))
    return {"count": count, "size": size, "partitions": DISPATCH_PARTITIONS, "runs": runs}


def start_counter(bench: Bench, topic: str, count: int, timeout: float = DISPATCH_WAIT_S) -> Process:
    """A read_committed consumer of `topic`, caught up before anything is sent to it."""
    bench.create_topic(topic, DISPATCH_PARTITIONS)
    counter = Process(f"{topic}-counter", [
        bench.kafka_tool, "count-committed", "--broker", bench.broker, "--topic", topic,
        "--partitions", str(DISPATCH_PARTITIONS), "--expect", str(count), "--timeout", str(timeout)],
        bench.work_dir)
    counter.wait_for(COUNTER_READY, 30)
    return counter


def dispatch_result(label: str, run: int, count: int, sent: dict, counter: Process) -> dict:
    """`sent`: start_ns and returned_ns of the sender (CLOCK_MONOTONIC)."""
    _, line = counter.wait_for('"last_ns"', DISPATCH_WAIT_S + 30)
    seen = json.loads(line)
    seconds = (seen["last_ns"] - sent["start_ns"]) / 1e9
    result = {"count": count, "seconds": seconds, "rate": count / seconds,
              "sends_returned_s": (sent["returned_ns"] - sent["start_ns"]) / 1e9,
              "first_visible_s": (seen["first_ns"] - sent["start_ns"]) / 1e9}
    log(f"dispatch {label} run {run}: {count} messages committed in {seconds:.3f} s ({result['rate']:,.0f} msg/s; "
        f"sends returned after {result['sends_returned_s']:.3f} s)")
    return result


def dispatch_faust_host(bench: Bench, run: int, count: int, size: int) -> dict:
    app_id = f"bench-dispatch-fh-{run}"
    topic = f"{app_id}-out"
    report = bench.work_dir / f"{app_id}.txt"
    counter = start_counter(bench, topic, count)
    worker = bench.start_faust_host(app_id, manifest_text(app_id, broker=bench.broker, timers={
        "dispatch": {"library": bench.plugin("dispatch"), "interval": DISPATCH_INTERVAL, "on_leader": True,
                     "config": {"topic": topic, "count": count, "size": size, "output": str(report)}}}))
    try:
        worker.wait_for(FH_READY, 60)
        wait_until(report.exists, DISPATCH_WAIT_S, f"{app_id}: the dispatching tick", every=0.05)
        return dispatch_result("faust-host", run, count, read_report(report), counter)
    finally:
        worker.stop()
        counter.stop()


def dispatch_faust(bench: Bench, run: int, count: int, size: int) -> dict:
    app_id = f"bench-dispatch-faust-{run}"
    topic = f"{app_id}-out"
    report = bench.work_dir / f"{app_id}.txt"
    counter = start_counter(bench, topic, count)
    worker = bench.start_faust(app_id, "dispatch", {
        "BENCH_APP_ID": app_id, "BENCH_TOPIC": topic, "BENCH_COUNT": count, "BENCH_SIZE": size,
        "BENCH_OUTPUT": report, "BENCH_INTERVAL": DISPATCH_INTERVAL})
    try:
        worker.wait_for(FAUST_READY, 120)
        wait_until(report.exists, DISPATCH_WAIT_S, f"{app_id}: the dispatching timer call", every=0.05)
        return dispatch_result("faust", run, count, read_report(report), counter)
    finally:
        worker.stop(30)
        counter.stop()


def dispatch_bare(bench: Bench, run: int, count: int, size: int) -> dict:
    topic = f"bench-dispatch-bare-{run}"
    counter = start_counter(bench, topic, count)
    try:
        sent = run_tool([bench.kafka_tool, "produce-transaction", "--broker", bench.broker, "--topic", topic,
                         "--count", str(count), "--size", str(size), "--transactional-id", topic],
                        timeout=DISPATCH_WAIT_S)
        return dispatch_result("bare", run, count, sent, counter)
    finally:
        counter.stop()


# ---------------------------------------------------------------------------------------------
# Scenario 7: forwarding (an agent copies every message of one topic to another)

FORWARD_PARTITIONS = DISPATCH_PARTITIONS  # of the input; start_counter gives the output as many
FORWARD_BATCH = {"max_messages": 500, "max_wait": 0.05}
# A run whose output has not grown for this long has stalled: it is recorded as such, not waited out.
FORWARD_STALL_S = 60.0
FORWARD_WAIT_S = 1800.0
# faust-host's exit code for a manifest it refuses (ExitCode::kManifestInvalid): a field this
# build does not know yet.
FH_EXIT_MANIFEST_INVALID = 3
NOT_SUPPORTED = "not supported by this build"

FAUST_TAKE = {"BENCH_TAKE": FORWARD_BATCH["max_messages"], "BENCH_TAKE_WITHIN": FORWARD_BATCH["max_wait"]}
# Row -> (kind, what makes it that row): manifest agent fields for faust-host, environment for the
# Faust app, the faust-bench-kafka subcommand for bare librdkafka.
FORWARD_ROWS: dict[str, tuple[str, dict | str]] = {
    "faust-host": ("faust-host", {}),
    "faust-host batch": ("faust-host", {"batch": FORWARD_BATCH}),
    "faust-host exactly_once": ("faust-host", {"batch": FORWARD_BATCH, "processing_guarantee": "exactly_once"}),
    "faust-host exactly_once defaults": ("faust-host", {"processing_guarantee": "exactly_once"}),
    "faust": ("faust", {}),
    "faust take": ("faust", FAUST_TAKE),
    "faust take exactly_once": ("faust", {**FAUST_TAKE, "BENCH_GUARANTEE": "exactly_once"}),
    "kafka-streams": ("kafka-streams", "at_least_once"),
    "kafka-streams exactly_once_v2": ("kafka-streams", "exactly_once_v2"),
    "bare": ("bare", "copy"),
    "bare exactly_once": ("bare", "copy-transactional"),
}
# Targets: (faust-host row, the row it is held to, the share of that row's msg/s it must reach, what).
FORWARD_TARGETS = (
    ("faust-host", "kafka-streams", 1.0, "forwarding one at a time ≥ Kafka Streams' at_least_once"),
    ("faust-host", "bare", 0.5, "forwarding one at a time ≥ 50% of the bare copy loop"),
    ("faust-host", "faust-host batch", 0.5, "forwarding one at a time ≥ 50% of the same agent in batches"),
    ("faust-host exactly_once defaults", "kafka-streams exactly_once_v2", 1.0,
     "exactly_once at its defaults ≥ Kafka Streams' exactly_once_v2"),
    ("faust-host exactly_once", "kafka-streams exactly_once_v2", 1.0, "exactly_once in batches ≥ Kafka Streams' exactly_once_v2"),
)
# The cost of exactly-once: (exactly-once row, at-least-once row of the same batching, label).
FORWARD_RATIOS = (("faust-host exactly_once defaults", "faust-host", "faust-host (both at their defaults)"),
                  ("faust-host exactly_once", "faust-host batch", "faust-host (both in batches)"),
                  ("faust take exactly_once", "faust take", "Python Faust (both with take())"),
                  ("kafka-streams exactly_once_v2", "kafka-streams", "Kafka Streams"),
                  ("bare exactly_once", "bare", "bare librdkafka"))


class Refused(Exception):
    """The copier would not run this row (faust-host: a manifest field this build does not know)."""


def forward(bench: Bench) -> dict:
    messages = int(bench.settings["forward_messages"])
    faust_messages = int(bench.settings["faust_forward_messages"])
    size = int(bench.settings["message_size"])
    inputs = {"host": ("bench-forward-in", messages), "faust": ("bench-forward-in-faust", faust_messages)}
    produced = {}
    if not bench.runs("faust"):
        del inputs["faust"]
    for topic, count in inputs.values():
        bench.create_topic(topic, FORWARD_PARTITIONS)
        produced[topic] = run_tool([bench.kafka_tool, "produce", "--broker", bench.broker, "--topic", topic,
                                    "--partitions", str(FORWARD_PARTITIONS), "--count", str(count),
                                    "--size", str(size)])
        log(f"produced {count} x {size} B to {topic} at {produced[topic]['rate']:.0f} msg/s")
    rows = {name: row for name, row in FORWARD_ROWS.items() if bench.runs(row[0])}
    runs: dict[str, list[dict]] = {name: [] for name in rows}
    for run in range(1, bench.repeats + 1):
        for name, (kind, variant) in rows.items():
            topic, count = inputs["faust" if kind == "faust" else "host"]
            runs[name].append(forward_once(bench, name, kind, variant, run, topic, count))
    return {"messages": messages, "faust_messages": faust_messages, "size": size,
            "partitions": FORWARD_PARTITIONS, "batch": FORWARD_BATCH, "produced": produced, "runs": runs}


def forward_once(bench: Bench, name: str, kind: str, variant: dict | str, run: int, source: str,
                 count: int) -> dict:
    """One copy of `count` messages from `source` to a new topic: from the copier being ready until
    a read_committed counter, caught up on the new topic beforehand, has seen them all."""
    app_id = f"bench-fwd-{re.sub(r'[^a-z0-9]+', '-', name)}-{run}"
    out_topic = f"{app_id}-out"
    counter = start_counter(bench, out_topic, count, FORWARD_WAIT_S)
    copier: Process | None = None
    try:
        if kind == "faust-host":
            copier = bench.start_faust_host(app_id, manifest_text(app_id, broker=bench.broker, agents={
                "forward": {"library": bench.plugin("forward"), "topic": source, "config": {"to": out_topic},
                            **variant}}))
            ready_ns = monotonic_from_wall(worker_ready(copier))
        elif kind == "faust":
            copier = bench.start_faust(app_id, "forward", {"BENCH_APP_ID": app_id, "BENCH_TOPIC": source,
                                                           "BENCH_OUT_TOPIC": out_topic, **variant})
            ready_ns = monotonic_from_wall(copier.wait_for(FAUST_READY, 120)[0])
        elif kind == "kafka-streams":
            state_dir = bench.work_dir / f"{app_id}-state"
            copier = Process(app_id, ["java", "-cp", f"{bench.kafka_streams}/bench-kafka-streams.jar:"
                                      f"{bench.kafka_streams}/lib/*", "io.fausthost.bench.Forward", bench.broker,
                                      app_id, source, out_topic, str(variant), str(state_dir)], bench.work_dir,
                              # A JVM leaves SIGINT ignored when it started so (a driver run in the
                              # background); SIGTERM runs its shutdown hooks either way.
                              stop_signal=signal.SIGTERM)
            ready_ns = monotonic_from_wall(copier.wait_for(KAFKA_STREAMS_READY, 120)[0])
        else:
            copier = Process(app_id, [bench.kafka_tool, str(variant), "--broker", bench.broker, "--group", app_id,
                                      "--from", source, "--to", out_topic, "--partitions", str(FORWARD_PARTITIONS),
                                      "--expect", str(count), "--timeout", str(FORWARD_WAIT_S)], bench.work_dir)
        seen = wait_all_seen(counter, copier, count)
        if kind == "bare":
            copied = json.loads(copier.wait_for('"copied"', 60)[1])
            ready_ns, cpu = copied["assigned_ns"], copied["cpu_s"]
        else:
            cpu = copier.cpu_seconds()
    except Refused as refused:
        log(f"forward {name} run {run}: {NOT_SUPPORTED}: {refused}")
        return {"status": NOT_SUPPORTED, "error": str(refused)}
    except (Timeout, RuntimeError) as failure:
        log(f"forward {name} run {run}: failed: {failure}")
        return {"status": "failed", "error": str(failure)}
    finally:
        if copier:
            copier.stop(30)
        counter.stop()
    seconds = (seen["last_ns"] - ready_ns) / 1e9
    result = {"status": "ok", "count": count, "seconds": seconds, "rate": count / seconds,
              "rate_steady": (count - 1) / ((seen["last_ns"] - seen["first_ns"]) / 1e9),
              "ready_to_first_s": (seen["first_ns"] - ready_ns) / 1e9,
              "cpu_s": cpu, "cpu_us_per_msg": cpu / count * 1e6,
              # Offsets the output holds beyond its messages: transaction markers (none: plain sends).
              "markers": seen["end_offsets"] - count}
    log(f"forward {name} run {run}: {count} messages in {seconds:.2f} s ({result['rate']:,.0f} msg/s)")
    return result


def monotonic_from_wall(wall_ns: int) -> int:
    """A wall-clock stamp (Process lines) on CLOCK_MONOTONIC, the counter's clock."""
    return wall_ns - (time.time_ns() - time.monotonic_ns())


def worker_ready(worker: Process) -> int:
    """The wall clock at faust-host's ready line; Refused with the first line of its error when
    it exited refusing the manifest."""
    try:
        return worker.wait_for(FH_READY, 60)[0]
    except Timeout:
        if worker.popen.poll() != FH_EXIT_MANIFEST_INVALID:
            raise
        worker.stop()
        lines = [text for _, text in worker.lines if text.strip()]
        # "faust-host: <manifest>:<line>:<column>: <what>": the manifest is the driver's own.
        raise Refused(re.sub(r"^faust-host: \S+:\d+:\d+: ", "", lines[0]) if lines
                      else f"exit code {FH_EXIT_MANIFEST_INVALID}") from None


def wait_all_seen(counter: Process, copier: Process, count: int) -> dict:
    """The counter's result; a Timeout when its count has not grown for FORWARD_STALL_S (it says
    "seen N" every second in which the count grew), a RuntimeError when the copier failed."""
    grew_at, lines = time.monotonic(), 0
    while True:
        if hit := counter.find('"last_ns"'):
            return json.loads(hit[1])
        if len(counter.lines) != lines:
            grew_at, lines = time.monotonic(), len(counter.lines)
        if time.monotonic() - grew_at > FORWARD_STALL_S:
            progress = [text for _, text in counter.lines if "seen" in text]
            raise Timeout(f"stalled: {progress[-1].split()[-1] if progress else 0} of {count} seen, "
                          f"none more for {FORWARD_STALL_S:.0f} s")
        if copier.popen.poll() not in (None, 0):
            last = [text for _, text in copier.lines if text.strip()][-1:]
            raise RuntimeError(f"{copier.name} exited ({copier.popen.returncode}): {' '.join(last)}")
        if not counter.alive() and not counter.find('"last_ns"'):
            raise RuntimeError(f"counter exited ({counter.popen.returncode}); log {counter.log_path}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Scenario 8: crash recovery of an isolated agent (isolation: process)

CRASH_EVERY = 100
# max_crashes 1: the crashing message is skipped at once, so the next message goes to the new
# process; 2 (the default): it is handed to a new process once more and crashes it again, and the
# process after that starts only after the 100 ms backoff of a second crash in a row.
CRASH_CASES = (("skipped", 1), ("poison", 2))


def isolation(bench: Bench) -> dict:
    messages = int(bench.settings["crash_messages"])
    topic = "bench-isolation"
    bench.create_topic(topic, 1)
    produced = run_tool([*bench.tool(), "produce", "--broker", bench.broker, "--topic", topic,
                         "--partitions", "1", "--count", str(messages), "--size", str(bench.settings["message_size"])])
    log(f"produced {messages} to {topic} at {produced['rate']:.0f} msg/s")
    runs: dict[str, list[dict]] = {case: [] for case, _ in CRASH_CASES}
    for run in range(1, bench.repeats + 1):
        for case, max_crashes in CRASH_CASES:
            runs[case].append(crash_recovery(bench, run, topic, messages, case, max_crashes))
    return {"crash_every": CRASH_EVERY, "messages": messages, "runs": runs}


def crash_recovery(bench: Bench, run: int, topic: str, messages: int, case: str, max_crashes: int) -> dict:
    app_id = f"bench-iso-{case}-{run}"
    timings = bench.work_dir / f"{app_id}.timings"
    timings.unlink(missing_ok=True)
    # The bound on restarts is lifted: this plugin crashes on purpose, many times a minute.
    manifest = bench.manifest(app_id, agents={
        "crashing": {"library": bench.plugin("crashing"), "topic": topic, "isolation": "process",
                     "max_crashes": max_crashes, "on_error": "skip", "max_restarts_per_minute": 10000,
                     "config": {"crash_every": CRASH_EVERY, "last": messages - 1, "timings": str(timings)}}})
    worker = bench.start_faust_host(app_id, manifest)
    try:
        worker.wait_for(FH_READY, 60)
        wait_until(lambda: timings.exists() and "done" in timings.read_text(), 60, f"{app_id}: offset {messages - 1}")
    finally:
        worker.stop()
    # From the first crash on each crashing offset to the next first message of a process.
    recoveries, crashed_at = [], None
    for line in timings.read_text().splitlines():
        kind, *fields = line.split()
        if kind == "crash" and crashed_at is None:
            crashed_at = int(fields[1])
        elif kind == "first" and crashed_at is not None:
            recoveries.append((int(fields[1]) - crashed_at) / 1e6)
            crashed_at = None
    expected = (messages + CRASH_EVERY // 2 - 2) // CRASH_EVERY  # the crashing offsets before the last
    if len(recoveries) != expected:
        raise RuntimeError(f"{app_id}: {len(recoveries)} recoveries in {timings}, expected {expected}")
    result = {"recoveries_ms": recoveries, "median_ms": statistics.median(recoveries),
              "p90_ms": percentile(sorted(recoveries), 90), "max_ms": max(recoveries)}
    log(f"isolation {case} run {run}: crash → next handled median {result['median_ms']:.1f} ms, "
        f"max {result['max_ms']:.1f} ms over {len(recoveries)} crashes")
    return result


# ---------------------------------------------------------------------------------------------
# Environment and report


def machine_info() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "os": platform.platform()}


def versions(bench: Bench) -> dict:
    from importlib.metadata import version
    fh = subprocess.run([bench.faust_host, "--version"], capture_output=True, text=True).stdout.strip()
    rdkafka = subprocess.run([bench.kafka_tool, "version"], capture_output=True, text=True).stdout.strip()
    return {"faust-host": fh, "librdkafka": rdkafka, "kafka": os.environ.get("KAFKA_VERSION", "?"),
            "python": platform.python_version(), "faust-streaming": version("faust-streaming"),
            "aiokafka": version("aiokafka"), "compiler_flags": bench.settings.get("build", "?"),
            "kafka-streams": kafka_streams_version(bench), "java": java_version()}


def java_version() -> str:
    try:
        said = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    except OSError:
        return "–"
    found = re.search(r'version "([^"]+)"', said)
    return found.group(1) if found else "?"


def kafka_streams_version(bench: Bench) -> str:
    """The kafka-streams jar's version, from its file name in the peer's lib/."""
    jars = sorted(bench.kafka_streams.glob("lib/kafka-streams-*.jar")) if bench.kafka_streams else []
    return jars[0].name.removeprefix("kafka-streams-").removesuffix(".jar") if jars else "–"


def summarize(values: list[float]) -> dict:
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return {}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def cell(stat: dict, fmt: str) -> str:
    if not stat:
        return "–"
    if stat["n"] == 1:
        return format(stat["median"], fmt)
    return f"{format(stat['median'], fmt)} ({format(stat['min'], fmt)}–{format(stat['max'], fmt)})"


def ratio(a: dict, b: dict, fmt: str = ".1f") -> str:
    if not a or not b or b["median"] == 0:
        return "–"
    return format(a["median"] / b["median"], fmt) + "×"


def verdict(stat: dict, limit: float, higher_is_better: bool = False) -> str:
    """"met" when every run meets the target; "met by the median" when only the median does."""
    def ok(value: float) -> bool:
        return value >= limit if higher_is_better else value <= limit
    worst = stat["min"] if higher_is_better else stat["max"]
    if ok(worst):
        return "met"
    return "met by the median, not in every run" if ok(stat["median"]) else "NOT met"


def build_tables(data: dict) -> tuple[str, list[tuple[str, str, str]], dict]:
    """Markdown for the results and the targets, plus the medians the chart needs."""
    out: list[str] = []
    targets: list[tuple[str, str, str]] = []
    chart: dict = {}
    s = data["settings"]

    if "throughput" in data["scenarios"]:
        t = data["scenarios"]["throughput"]["runs"]
        stat = {k: {m: summarize([r[m] for r in runs]) for m in ("rate", "rate_steady", "rate_committed", "cpu_us_per_msg")}
                for k, runs in t.items()}
        out += ["### 1. Agent throughput (no-op agent, one worker, 8 partitions, "
                f"{s['message_size']}-byte messages)", "",
                f"faust-host and bare librdkafka consume {s['messages']:,} messages, Python Faust "
                f"{s['faust_messages']:,} (its rate is steady well before that). msg/s, median (min–max) of "
                f"{data['repeats']} runs.", "",
                "| system | ready → last handled | first → last handled | ready → all committed | CPU µs/msg |",
                "|---|---|---|---|---|"]
        for name in ("faust-host", SASL_THROUGHPUT, "faust", "bare", "faust-host (tuned)", "bare (tuned)",
                     "faust-host (batch 500)", "faust-host (isolated)", "faust-host (isolated, batch 500)"):
            if name in stat:
                st = stat[name]
                label = {"faust": "Python Faust", "bare": "bare librdkafka", SASL_THROUGHPUT: SASL_LABEL,
                         "bare (tuned)": "bare librdkafka (tuned)"}.get(name, name)
                out.append(f"| {label} | {cell(st['rate'], ',.0f')} | {cell(st['rate_steady'], ',.0f')} | "
                           f"{cell(st['rate_committed'], ',.0f')} | {cell(st['cpu_us_per_msg'], '.2f')} |")
        fh, fa, bare = stat.get("faust-host"), stat.get("faust"), stat.get("bare")
        tuned, bare_tuned, sasl = stat.get("faust-host (tuned)"), stat.get("bare (tuned)"), stat.get(SASL_THROUGHPUT)
        if fh and fa and bare:
            out += ["", f"Ratios (ready → last handled): faust-host / Faust **{ratio(fh['rate'], fa['rate'])}**, "
                    f"faust-host / bare **{ratio(fh['rate'], bare['rate'], '.2f')}**; tuned: faust-host / bare "
                    f"**{ratio(tuned['rate'], bare_tuned['rate'], '.2f')}**. "
                    f"Committed: faust-host / Faust {ratio(fh['rate_committed'], fa['rate_committed'])}, "
                    f"faust-host / bare {ratio(fh['rate_committed'], bare['rate_committed'], '.2f')}.", ""]
            vs_faust = fh["rate"]["median"] / fa["rate"]["median"]
            vs_bare = fh["rate"]["median"] / bare["rate"]["median"]
            tuned_vs_faust = tuned["rate"]["median"] / fa["rate"]["median"]
            tuned_vs_bare = tuned["rate"]["median"] / bare_tuned["rate"]["median"]
            targets.append(("throughput ≥ 20× Faust", f"{vs_faust:.1f}× (tuned: {tuned_vs_faust:.1f}×)",
                            "met" if vs_faust >= 20 else ("NOT met (met when tuned)" if tuned_vs_faust >= 20 else "NOT met")))
            targets.append(("throughput ≥ 80% of bare librdkafka", f"{vs_bare * 100:.0f}% (tuned: {tuned_vs_bare * 100:.0f}%)",
                            "met" if vs_bare >= 0.8 and tuned_vs_bare >= 0.8 else "NOT met"))
        if fh and sasl:
            out += ["", f"SASL_SSL / plaintext (ready → last handled): **{ratio(sasl['rate'], fh['rate'], '.2f')}**, "
                    f"CPU per message {ratio(sasl['cpu_us_per_msg'], fh['cpu_us_per_msg'], '.2f')}. {SASL_NOTE}", ""]
        isolated = stat.get("faust-host (isolated)")
        if fh and isolated:
            out += [f"Isolated (`isolation: process`) / in-process: message by message "
                    f"**{ratio(isolated['rate'], fh['rate'], '.2f')}**, in batches of 500 "
                    f"**{ratio(stat['faust-host (isolated, batch 500)']['rate'], stat['faust-host (batch 500)']['rate'], '.2f')}**; "
                    f"CPU per message (the worker's and its plugin runner's) "
                    f"{ratio(isolated['cpu_us_per_msg'], fh['cpu_us_per_msg'], '.2f')}.", ""]
        chart["throughput"] = {k: v["rate"]["median"] for k, v in stat.items()}

    if "latency" in data["scenarios"]:
        lat = data["scenarios"]["latency"]
        stat = {k: {m: summarize([r[m] for r in runs]) for m in ("p50_ms", "p99_ms", "max_ms", "samples")}
                for k, runs in lat["runs"].items()}
        out += [f"### 2. End-to-end latency (timer every {lat['interval_s'] * 1000:.0f} ms on one worker → agent "
                f"on another, {lat['seconds']:.0f} s, first second dropped)", "",
                "ms from the timer's send to the agent's handler; median (min–max) over runs of each run's "
                "percentile.", "",
                "| system | p50 | p99 | max | samples/run | p99 vs faust-host |", "|---|---|---|---|---|---|"]
        for name, label in (("faust-host", "faust-host"), ("faust", "Python Faust"),
                            ("bare", "bare librdkafka (producer → consumer, one process)")):
            st = stat[name]
            out.append(f"| {label} | {cell(st['p50_ms'], '.2f')} | {cell(st['p99_ms'], '.2f')} | "
                       f"{cell(st['max_ms'], '.2f')} | {cell(st['samples'], '.0f')} | "
                       f"{ratio(st['p99_ms'], stat['faust-host']['p99_ms'])} |")
        p99 = stat["faust-host"]["p99_ms"]["median"]
        target = ("latency p99 ≤ 5 ms (timer not on_leader)",
                  f"{p99:.2f} ms (worst run {stat['faust-host']['p99_ms']['max']:.2f}; bare librdkafka "
                  f"{stat['bare']['p99_ms']['median']:.2f}, worst {stat['bare']['p99_ms']['max']:.2f})",
                  verdict(stat["faust-host"]["p99_ms"], 5.0))
        targets.append(target)
        out += ["", target_line(target), ""]
        chart["latency"] = {k: (v["p50_ms"]["median"], v["p99_ms"]["median"]) for k, v in stat.items()}

    if "failover" in data["scenarios"]:
        fo = data["scenarios"]["failover"]
        out += [f"### 3. Leader failover (three workers of the tutorial app, `publish_greetings` every "
                f"{fo['interval_s']} s on the leader)", "",
                "Seconds from the signal to the old leader until another worker logs that it leads "
                "(\"elected\") and until its first \"PUBLISHING ON LEADER!\" (\"first tick\"). The first tick "
                "waits for the timer's own schedule after the election (\"schedule wait\", at most one "
                "interval); \"first tick, interval excluded\" subtracts it, which leaves the election time. "
                "SIGINT goes to the first leader; SIGKILL then to the worker that took over.", "",
                "| signal | settings | system | elected | first tick | schedule wait | first tick, interval excluded |",
                "|---|---|---|---|---|---|---|"]
        chart["failover"] = {}
        rows = [("faust-host", "faust-host", "6 s / 0.5 s (its defaults)"),
                ("faust (fair)", "Python Faust", "6 s / 0.5 s"),
                ("faust (defaults)", "Python Faust", "60 s / 3 s (its defaults)")]
        for step in ("sigint", "sigkill"):
            for key, label, timing in rows:
                runs = fo["runs"][key]
                el = summarize([r[step]["elected_s"] for r in runs])
                ft = summarize([r[step]["first_tick_s"] for r in runs])
                wait = summarize([r[step]["schedule_wait_s"] for r in runs])
                excl = summarize([r[step]["first_tick_s"] - max(0.0, r[step]["schedule_wait_s"]) for r in runs])
                out.append(f"| {step.upper()} | {timing} | {label} | {cell(el, '.3f')} | {cell(ft, '.3f')} | "
                           f"{cell(wait, '.3f')} | {cell(excl, '.3f')} |")
                chart["failover"][(step, key)] = (el["median"], ft["median"])
        out += ["", "Session timeout / heartbeat: faust-host's defaults are 6 s / 0.5 s, so its one set of runs "
                "is both the fair row and its defaults row.", ""]
        fh_runs = fo["runs"]["faust-host"]
        sigint = summarize([r["sigint"]["first_tick_s"] - max(0.0, r["sigint"]["schedule_wait_s"]) for r in fh_runs])
        sigint_raw = summarize([r["sigint"]["first_tick_s"] for r in fh_runs])
        sigkill = summarize([r["sigkill"]["first_tick_s"] - max(0.0, r["sigkill"]["schedule_wait_s"]) for r in fh_runs])
        targets.append(("SIGINT failover ≤ 1 s to the new leader's first tick (interval excluded)",
                        f"{sigint['median']:.3f} s (worst {sigint['max']:.3f}; raw first tick {sigint_raw['median']:.3f})",
                        verdict(sigint, 1.0)))
        targets.append(("SIGKILL failover ≤ session timeout + 1 s (7 s)",
                        f"{sigkill['median']:.3f} s (worst {sigkill['max']:.3f})", verdict(sigkill, 7.0)))

    if "footprint" in data["scenarios"]:
        fp = data["scenarios"]["footprint"]
        stat = {k: {m: summarize([r[m] for r in runs]) for m in
                    ("rss_mb", "rss_anon_mb", "rss_file_mb", "cpu_percent", "ready_s", "threads")}
                for k, runs in fp["runs"].items()}
        out += [f"### 4. Footprint (idle worker running the tutorial's two plugins, {fp['window_s']:.0f} s window)",
                "", "RSS = VmRSS at the end of the window (anonymous + file-backed); CPU = (utime + stime) over the "
                "window. Ready: faust-host from exec to `/readyz` answering 200; Python Faust from exec to its "
                "\"[^Worker]: Ready\" log line (its web port answers earlier, before the group is joined).", "",
                "| system | RSS MB | anon MB | file MB | CPU % | threads | exec → ready s |", "|---|---|---|---|---|---|---|"]
        for name, label in (("faust-host", "faust-host"), ("faust", "Python Faust")):
            st = stat[name]
            out.append(f"| {label} | {cell(st['rss_mb'], '.1f')} | {cell(st['rss_anon_mb'], '.1f')} | "
                       f"{cell(st['rss_file_mb'], '.1f')} | {cell(st['cpu_percent'], '.2f')} | "
                       f"{cell(st['threads'], '.0f')} | {cell(st['ready_s'], '.3f')} |")
        fh, fa = stat["faust-host"], stat["faust"]
        out += ["", f"Ratios Faust / faust-host: RSS {ratio(fa['rss_mb'], fh['rss_mb'])}, CPU "
                f"{ratio(fa['cpu_percent'], fh['cpu_percent'])}, start-up {ratio(fa['ready_s'], fh['ready_s'])}.", ""]
        targets.append(("idle RSS ≤ 20 MB", f"{fh['rss_mb']['median']:.1f} MB (anon {fh['rss_anon_mb']['median']:.1f})",
                        verdict(fh["rss_mb"], 20.0)))
        targets.append(("exec → ready ≤ 1 s", f"{fh['ready_s']['median']:.3f} s (worst {fh['ready_s']['max']:.3f})",
                        verdict(fh["ready_s"], 1.0)))
        chart["footprint"] = {k: (v["rss_mb"]["median"], v["ready_s"]["median"], v["cpu_percent"]["median"])
                              for k, v in stat.items()}

    if "tutorial" in data["scenarios"]:
        tut = data["scenarios"]["tutorial"]
        stat = {k: {m: summarize([r[m] for r in runs]) for m in ("p50_ms", "p99_ms", "max_ms", "samples")}
                for k, runs in tut["runs"].items()}
        out += [f"### 5. The tutorial's path (on_leader timer every {tut['interval_s'] * 1000:.0f} ms on the leader → "
                f"agent on another worker of the same app, {tut['seconds']:.0f} s)", "",
                "ms from the leader's send to the agent's handler; median (min–max) over runs of each run's percentile. "
                "faust-host's on_leader sends are fenced (the leader's transactional producer; the agent reads "
                "read_committed); Faust's are plain sends. Only samples that arrived in the window are kept: from "
                f"{tut['warmup_s']:.0f} s after the agent's worker was ready for {tut['seconds']:.0f} s. The floor: "
                "bare librdkafka in one process, a transaction per tick (begin, produce the one record, commit) to a "
                "read_committed consumer thread, from the clock read before `begin_transaction` to the record's "
                f"arrival; its first {tut['warmup_s']:.0f} s of ticks dropped.", "",
                "| system | p50 | p99 | max | samples/run | p50 vs floor | p99 vs floor |", "|---|---|---|---|---|---|---|"]
        floor = stat.get("bare", {})
        for name, label in (("faust-host", "faust-host"), (ISOLATED, ISOLATED_TUTORIAL), (SASL, SASL_LABEL),
                            ("faust", "Python Faust (plain sends)"),
                            ("bare", "bare librdkafka: the floor (a transaction per tick, read_committed)")):
            if name not in stat:
                continue
            st = stat[name]
            # The floor runs on the plain broker.
            vs_floor = [ratio(st[m], floor.get(m, {}), '.2f') if name not in ("bare", SASL) else "–"
                        for m in ("p50_ms", "p99_ms")]
            out.append(f"| {label} | {cell(st['p50_ms'], '.2f')} | {cell(st['p99_ms'], '.2f')} | "
                       f"{cell(st['max_ms'], '.2f')} | {cell(st['samples'], '.0f')} | {vs_floor[0]} | {vs_floor[1]} |")
        moved = [f"{name} run {i + 1}" for name, runs in tut["runs"].items() for i, r in enumerate(runs)
                 if r.get("leader_moved")]
        if moved:
            out += ["", f"Leadership left the timer's worker in: {', '.join(moved)} (those runs measured less)."]
        fh, fa, sasl = stat.get("faust-host"), stat.get("faust"), stat.get(SASL)
        isolated = stat.get(ISOLATED)
        if fh and isolated:
            out += ["", f"Isolated − in-process (`isolation: process` on the timer and the agent, a frame to each "
                    f"child per tick and per message): p50 "
                    f"**{isolated['p50_ms']['median'] - fh['p50_ms']['median']:+.2f} ms**, p99 "
                    f"**{isolated['p99_ms']['median'] - fh['p99_ms']['median']:+.2f} ms**."]
        if fh and sasl:
            out += ["", f"SASL_SSL / plaintext: p50 **{ratio(sasl['p50_ms'], fh['p50_ms'], '.2f')}**, "
                    f"p99 **{ratio(sasl['p99_ms'], fh['p99_ms'], '.2f')}**. {SASL_NOTE}"]
        tutorial_targets = []
        if fh and fa:
            out += ["", f"Ratios Faust / faust-host: p50 **{ratio(fa['p50_ms'], fh['p50_ms'], '.2f')}**, "
                    f"p99 **{ratio(fa['p99_ms'], fh['p99_ms'], '.2f')}**, max {ratio(fa['max_ms'], fh['max_ms'], '.2f')}."]
            met = (fh["p50_ms"]["median"] <= fa["p50_ms"]["median"]
                   and fh["p99_ms"]["median"] <= fa["p99_ms"]["median"])
            tutorial_targets.append((
                "tutorial path: p50 and p99 ≤ Faust's",
                f"p50 {fh['p50_ms']['median']:.2f} vs {fa['p50_ms']['median']:.2f} ms, "
                f"p99 {fh['p99_ms']['median']:.2f} vs {fa['p99_ms']['median']:.2f} ms", "met" if met else "NOT met"))
        if fh and floor:
            met = all(fh[m]["median"] <= 1.2 * floor[m]["median"] for m in ("p50_ms", "p99_ms"))
            tutorial_targets.append((
                "tutorial path: p50 and p99 within 1.2× of the bare transactional floor",
                f"p50 {fh['p50_ms']['median']:.2f} vs {floor['p50_ms']['median']:.2f} ms, "
                f"p99 {fh['p99_ms']['median']:.2f} vs {floor['p99_ms']['median']:.2f} ms", "met" if met else "NOT met"))
        targets += tutorial_targets
        out += [""] + [target_line(target) for target in tutorial_targets] + [""]
        chart["tutorial"] = {k: (v["p50_ms"]["median"], v["p99_ms"]["median"]) for k, v in stat.items()}

    if "dispatch" in data["scenarios"]:
        dis = data["scenarios"]["dispatch"]
        stat = {k: {m: summarize([r[m] for r in runs]) for m in ("seconds", "rate", "sends_returned_s", "first_visible_s")}
                for k, runs in dis["runs"].items()}
        fh, fa, bare = stat["faust-host"], stat["faust"], stat["bare"]
        out += [f"### 6. Leader dispatch (one on_leader tick sends {dis['count']:,} messages of {dis['size']} bytes "
                f"to a topic with {dis['partitions']} partitions)", "",
                "Seconds from the start of the tick (bare librdkafka: from just before `begin_transaction`) until a "
                "read_committed consumer, caught up beforehand, has seen every message; msg/s is the count over that. "
                "\"Sends returned\": when the tick's last send returned; \"first visible\": when the consumer saw the "
                "first message. Median (min–max) of the runs.", "",
                "| system | tick start → all committed s | msg/s | sends returned s | first visible s |",
                "|---|---|---|---|---|"]
        for name, label in (("faust-host", "faust-host (fenced: the leader's transactional producer)"),
                            ("faust", "Python Faust (plain sends, not fenced)"),
                            ("bare", "bare librdkafka (one transaction, committed)")):
            st = stat[name]
            out.append(f"| {label} | {cell(st['seconds'], '.3f')} | {cell(st['rate'], ',.0f')} | "
                       f"{cell(st['sends_returned_s'], '.3f')} | {cell(st['first_visible_s'], '.3f')} |")
        out += ["", f"Ratios (msg/s): faust-host / Faust **{ratio(fh['rate'], fa['rate'], '.2f')}**, "
                f"faust-host / bare **{ratio(fh['rate'], bare['rate'], '.2f')}**."]
        vs_faust = fh["rate"]["median"] / fa["rate"]["median"]
        dispatch_targets = [
            (f"{dis['count']:,} fenced messages from one tick committed < 1 s",
             f"{fh['seconds']['median']:.3f} s (worst {fh['seconds']['max']:.3f})", verdict(fh["seconds"], 1.0)),
            ("dispatch ≥ 20× Faust msg/s", f"{vs_faust:.2f}× ({fh['rate']['median']:,.0f} vs "
             f"{fa['rate']['median']:,.0f} msg/s)", "met" if vs_faust >= 20 else "NOT met")]
        targets += dispatch_targets
        out += [""] + [target_line(target) for target in dispatch_targets] + [""]
        chart["dispatch"] = {k: v["rate"]["median"] for k, v in stat.items()}

    if "forward" in data["scenarios"]:
        lines, forward_targets = forward_table(data["scenarios"]["forward"], data["repeats"])
        out += lines
        targets += forward_targets
        chart["forward"] = {k: summarize([r["rate"] for r in runs if r["status"] == "ok"]).get("median")
                            for k, runs in data["scenarios"]["forward"]["runs"].items()}

    if "isolation" in data["scenarios"]:
        lines, isolation_targets = isolation_table(data["scenarios"]["isolation"], data["repeats"])
        out += lines
        targets += isolation_targets
    return "\n".join(out), targets, chart


CRASH_LABELS = {
    "skipped": "a crashing message, skipped at once (`max_crashes: 1`, `on_error: skip`)",
    "poison": "a poison message at the default `max_crashes: 2` (crashes a second process too; the third starts "
              "after the 100 ms backoff of a second crash in a row)",
}


def isolation_table(iso: dict, repeats: int) -> tuple[list[str], list[tuple[str, str, str]]]:
    out = [f"### 8. Crash recovery (`isolation: process`: the plugin segfaults on every {iso['crash_every']}th "
           f"of {iso['messages']:,} messages of one partition)", "",
           "Milliseconds from the crash (the plugin's clock just before its null dereference) to the next message "
           "handled on that lane (the new process's clock once handled): the worker notices the closed socket, "
           "reaps the process, logs and counts the crash, applies `on_error`, spawns `faust-host plugin-runner`, "
           "which loads the library and creates the instance, and hands it the next message. Over every crash of "
           f"{repeats} run(s); per-run medians in brackets.", "",
           "| case | crashes | crash → next handled: median ms | p90 ms | max ms |", "|---|---|---|---|---|"]
    targets = []
    for case, runs in iso["runs"].items():
        pooled = [ms for r in runs for ms in r["recoveries_ms"]]
        medians = ", ".join(f"{r['median_ms']:.1f}" for r in runs)
        out.append(f"| {CRASH_LABELS.get(case, case)} | {len(pooled)} | {statistics.median(pooled):.1f} "
                   f"({medians}) | {percentile(sorted(pooled), 90):.1f} | {max(pooled):.1f} |")
        if case == "skipped":
            stat = {"median": statistics.median(pooled), "min": min(pooled), "max": max(pooled), "n": len(pooled)}
            targets.append(("crash to next handled message < 200 ms",
                            f"median {stat['median']:.1f} ms, worst {stat['max']:.1f} ms", verdict(stat, 200)))
    out += [""] + [target_line(target) for target in targets] + [""]
    return out, targets


FORWARD_LABELS = {
    "faust-host": "faust-host, at_least_once, one message at a time",
    "faust-host batch": "faust-host, at_least_once, `batch:` {batch}",
    "faust-host exactly_once": "faust-host, exactly_once, `batch:` {batch}",
    "faust-host exactly_once defaults": "faust-host, exactly_once, its defaults (what is queued, up to 500 at a time)",
    "faust": "Python Faust, `async for value in stream`",
    "faust take": "Python Faust, `stream.take({take}, within={within})`",
    "faust take exactly_once": "Python Faust, `take()`, `processing_guarantee='exactly_once'`",
    "kafka-streams": "Kafka Streams, `at_least_once`, its defaults",
    "kafka-streams exactly_once_v2": "Kafka Streams, `exactly_once_v2`, its defaults",
    "bare": "bare librdkafka, at least once (flush, then commit, every 1 s)",
    "bare exactly_once": "bare librdkafka, a transaction per ≤ {take} messages or {wait_ms} ms",
}


def forward_table(fwd: dict, repeats: int) -> tuple[list[str], list[tuple[str, str, str]]]:
    batch = fwd["batch"]
    names = {"batch": f"max_messages {batch['max_messages']}, max_wait {batch['max_wait']}",
             "take": batch["max_messages"], "within": batch["max_wait"], "wait_ms": round(batch["max_wait"] * 1000)}
    out = [f"### 7. Forwarding (an agent sends every message of a topic with {fwd['partitions']} partitions on to "
           f"another, {fwd['size']}-byte messages)", "",
           f"faust-host and bare librdkafka copy {fwd['messages']:,} messages, Python Faust {fwd['faust_messages']:,}. "
           "Each run starts a new consumer group on the pre-filled input and writes to a new output topic; a "
           "read_committed consumer, caught up on the output beforehand, notes when it has seen every message. "
           "msg/s from the copier being ready (worker ready line; bare librdkafka: partitions assigned; Kafka Streams: "
           "state RUNNING) to the last "
           f"message seen, and from the first to the last message seen; median (min–max) of {repeats} runs.", "",
           "| system | ready → all seen msg/s | first → last seen msg/s | ready → first seen s | CPU µs/msg | "
           "transaction markers |", "|---|---|---|---|---|---|"]
    stat = {}
    plain = []  # exactly-once rows whose output holds no transaction markers
    for name, runs in fwd["runs"].items():
        label = FORWARD_LABELS.get(name, name).format(**names)
        ok = [r for r in runs if r["status"] == "ok"]
        stat[name] = {m: summarize([r[m] for r in ok])
                      for m in ("rate", "rate_steady", "ready_to_first_s", "cpu_us_per_msg", "markers")}
        if not ok:
            first = runs[0] if runs else {"status": "not run", "error": ""}
            out.append(f"| {label} | {first['status']}: `{first['error'][:160]}` | – | – | – | – |")
            continue
        if len(ok) < len(runs):
            label += f" ({len(runs) - len(ok)} of {len(runs)} runs failed)"
        st = stat[name]
        if "exactly_once" in name and st["markers"]["max"] == 0:
            plain.append(name)
        out.append(f"| {label} | {cell(st['rate'], ',.0f')} | {cell(st['rate_steady'], ',.0f')} | "
                   f"{cell(st['ready_to_first_s'], '.2f')} | {cell(st['cpu_us_per_msg'], '.2f')} | "
                   f"{cell(st['markers'], ',.0f')} |")
    costs = [f"{label} **{ratio(stat.get(eo, {}).get('rate', {}), stat.get(alo, {}).get('rate', {}), '.2f')}**"
             + (" (its output was not transactional)" if eo in plain else "") for eo, alo, label in FORWARD_RATIOS]
    out += ["", "Cost of exactly-once (exactly_once msg/s ÷ at_least_once msg/s, ready → all seen, same batching): "
            + ", ".join(costs) + ". A dash: one of the two rows did not run. Transaction markers: offsets the output "
            "topic holds beyond its messages (each committed transaction writes one to every partition it wrote to); "
            "0 means the copier's sends were plain, whatever its setting."]
    out += [f"**{FORWARD_LABELS.get(name, name).format(**names)}: no transaction markers in the output: its sends "
            "were not transactional.**" for name in plain]
    targets = []
    for row, peer, share, what in FORWARD_TARGETS:
        ours, theirs = stat.get(row, {}).get("rate"), stat.get(peer, {}).get("rate")
        if ours and theirs:
            targets.append((what, f"{ours['median']:,.0f} vs {theirs['median']:,.0f} msg/s "
                            f"({ours['median'] / theirs['median']:.2f}×)",
                            verdict(ours, share * theirs["median"], higher_is_better=True)))
    out += [""] + [target_line(target) for target in targets]
    return out + [""], targets


def target_line(target: tuple[str, str, str]) -> str:
    name, value, met = target
    return f"**Target: {name}** — {value}: **{met}**.  "


def write_report(data: dict, results_dir: Path) -> str:
    body, targets, chart = build_tables(data)
    m, v, s = data["machine"], data["versions"], data["settings"]
    lines = [
        "# faust-host benchmarks", "",
        f"Run {data['finished']} with `bench/run.sh` (repeats: {data['repeats']}, total {data['duration_s'] / 60:.1f} min). "
        "Benchmarks, not CI gates: numbers from one shared machine.", "",
        f"**Machine:** {m['nproc']} CPUs, {m['cpu']}, {m['ram_gib']} GiB RAM, Linux {m['kernel']}.  ",
        f"**Versions:** {v['faust-host']}, librdkafka {v['librdkafka']}, Apache Kafka {v['kafka']} (single KRaft "
        f"node from scripts/kafka-broker.sh), Python {v['python']}, faust-streaming {v['faust-streaming']} "
        f"(aiokafka {v['aiokafka']}), Kafka Streams {v.get('kafka-streams', '–')} (Java "
        f"{v.get('java', '?')}).  ",
        f"**Build:** {v['compiler_flags']}.  ",
        "**Settings:** " + ", ".join(f"{k}={val}" for k, val in s.items() if k != "build") + ".", "",
        "## Targets", "", "| target | measured (faust-host) | |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {verdict} |" for name, value, verdict in targets]
    if (results_dir / "profile.md").exists():
        lines += ["", "Where faust-host misses a target, [profile.md](profile.md) says where the time goes and what "
                  "to change."]
    lines += ["", "## Results", "", body, "", "![chart](chart.png)", ""]
    text = "\n".join(lines)
    (results_dir / "results.md").write_text(text)
    draw_chart(chart, results_dir / "chart.png")
    return text


def draw_chart(chart: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    colors = {"faust-host": "#2b6cb0", SASL: "#63b3ed", ISOLATED: "#805ad5", "faust": "#dd6b20", "bare": "#718096",
              "kafka-streams": "#38a169"}
    system_names = {"faust-host": "faust-host", SASL: "faust-host\nSASL_SSL", ISOLATED: "faust-host\nisolated",
                    "faust": "Python Faust", "bare": "bare librdkafka"}
    fig, axes = plt.subplots(4, 2, figsize=(12, 16.5))
    fig.suptitle("faust-host vs Python Faust (faust-streaming) vs bare librdkafka (vs Kafka Streams) — medians")

    ax = axes[0][0]
    if "throughput" in chart:
        names = [n for n in ("faust-host", SASL_THROUGHPUT, "faust", "bare", "faust-host (tuned)", "bare (tuned)")
                 if n in chart["throughput"]]
        values = [chart["throughput"][n] for n in names]
        bars = ax.bar([n.replace("faust-host", "faust-\nhost").replace(" (", "\n(") for n in names], values,
                      color=[colors[SASL if n == SASL_THROUGHPUT else n.split(" ")[0]] for n in names])
        ax.set_yscale("log")
        ax.set_ylabel("messages / s (log)")
        ax.set_title("1. Agent throughput (no-op agent)")
        ax.bar_label(bars, labels=[f"{v / 1000:,.0f}k" for v in values], fontsize=8)

    def latency_bars(ax, values: dict, title: str) -> None:
        names = list(values)
        x = range(len(names))
        b1 = ax.bar([i - 0.2 for i in x], [values[n][0] for n in names], 0.4, label="p50",
                    color=[colors[n] for n in names], alpha=0.6)
        b2 = ax.bar([i + 0.2 for i in x], [values[n][1] for n in names], 0.4, label="p99",
                    color=[colors[n] for n in names])
        ax.set_xticks(list(x), [system_names[n] for n in names])
        ax.set_yscale("log")
        ax.set_ylabel("ms (log)")
        ax.set_title(title)
        ax.bar_label(b1, fmt="%.2f", fontsize=8)
        ax.bar_label(b2, fmt="%.2f", fontsize=8)

    if "latency" in chart:
        latency_bars(axes[0][1], chart["latency"], "2. End-to-end latency, timer → agent (p50 light, p99 dark)")

    ax = axes[1][0]
    if "failover" in chart:
        keys = list(chart["failover"])
        labels = [f"{step.upper()}\n{key.replace('faust-host', 'faust-host').replace('faust (', 'Faust (')}"
                  for step, key in keys]
        elected = [chart["failover"][k][0] for k in keys]
        tick = [chart["failover"][k][1] for k in keys]
        x = range(len(keys))
        cols = [colors["faust-host" if k[1] == "faust-host" else "faust"] for k in keys]
        b = ax.bar(list(x), tick, 0.6, color=cols, alpha=0.45, label="first tick")
        ax.bar(list(x), elected, 0.3, color=cols, label="elected")
        ax.set_xticks(list(x), labels, fontsize=7)
        ax.set_ylabel("s after the signal (log)")
        ax.set_yscale("log")
        ax.set_title("3. Leader failover (narrow: elected, wide: first tick)")
        ax.bar_label(b, fmt="%.2f", fontsize=7)

    ax = axes[1][1]
    if "footprint" in chart:
        names = list(chart["footprint"])
        x = range(len(names))
        rss = [chart["footprint"][n][0] for n in names]
        ready = [chart["footprint"][n][1] for n in names]
        b1 = ax.bar([i - 0.2 for i in x], rss, 0.4, color=[colors[n] for n in names])
        ax.set_ylabel("idle RSS, MB")
        ax2 = ax.twinx()
        b2 = ax2.bar([i + 0.2 for i in x], ready, 0.4, color=[colors[n] for n in names], alpha=0.45)
        ax2.set_ylabel("exec → ready, s (light)")
        ax.set_xticks(list(x), ["faust-host" if n == "faust-host" else "Python Faust" for n in names])
        ax.set_title("4. Footprint: idle RSS (dark) and start-up (light)")
        ax.bar_label(b1, fmt="%.1f MB", fontsize=8)
        ax2.bar_label(b2, fmt="%.2f s", fontsize=8)

    if "tutorial" in chart:
        latency_bars(axes[2][0], chart["tutorial"], "5. Tutorial path, on_leader timer → agent (p50 light, p99 dark)")

    ax = axes[2][1]
    if "dispatch" in chart:
        names = list(chart["dispatch"])
        values = [chart["dispatch"][n] for n in names]
        bars = ax.bar([system_names[n] for n in names], values, color=[colors[n] for n in names])
        ax.set_yscale("log")
        ax.set_ylabel("messages / s (log)")
        ax.set_title("6. Leader dispatch: one tick's messages, start → all committed")
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)

    ax = axes[3][0]
    if "forward" in chart:
        ran = {n: v for n, v in chart["forward"].items() if v}
        bars = ax.barh([re.sub(r"^faust(?!-host)", "Python Faust", n).replace("take", "take()")
                        .replace("bare", "bare librdkafka").replace("kafka-streams", "Kafka Streams") for n in ran],
                       list(ran.values()), color=[colors[n.split(" ")[0]] for n in ran])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("messages / s (log)")
        ax.set_title("7. Forwarding: ready → all seen by a read_committed consumer")
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in ran.values()], fontsize=8)

    for ax in (axes[0][1], axes[1][0], axes[2][0]):
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter(""))
    for ax in axes.flat:
        if not ax.has_data():  # a scenario not run (BENCH_ONLY)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------------------------------


SCENARIOS = {"throughput": throughput, "latency": latency, "failover": failover, "footprint": footprint,
             "tutorial": tutorial, "dispatch": dispatch, "forward": forward, "isolation": isolation}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", type=Path)
    parser.add_argument("--broker", help="host:port of the broker")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--work-dir", type=Path, help="logs and scratch files (default: a new folder in /tmp)")
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "3")))
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ",".join(SCENARIOS)),
                        help="comma-separated scenarios")
    parser.add_argument("--kafka-streams", type=Path,
                        help="the Kafka Streams peer's build (its jar and lib/); without it, no Kafka Streams rows")
    parser.add_argument("--systems", default=os.environ.get("BENCH_SYSTEMS", ",".join(SYSTEMS)),
                        help="comma-separated systems whose rows the throughput, tutorial and forward scenarios "
                             f"run; {SASL} (not by default) needs --secured-state")
    parser.add_argument("--secured-state", type=Path,
                        help="state file (broker.env) of a broker from `scripts/kafka-broker.sh start-secured`, "
                             f"with the ACLs run.sh grants, for the {SASL} rows")
    parser.add_argument("--build-flags", default=os.environ.get("BENCH_BUILD_FLAGS", "?"))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite results.md and chart.png from --results/raw.json, running nothing")
    args = parser.parse_args()
    if args.report_only:
        data = json.loads((args.results / "raw.json").read_text())
        print(write_report(data, args.results))
        return 0

    if args.build_dir is None or args.broker is None:
        parser.error("--build-dir and --broker are required (except with --report-only)")
    settings = {
        "messages": int(os.environ.get("BENCH_MESSAGES", "1000000")),
        "faust_messages": int(os.environ.get("BENCH_FAUST_MESSAGES", "200000")),
        "message_size": int(os.environ.get("BENCH_MESSAGE_SIZE", "100")),
        "latency_seconds": float(os.environ.get("BENCH_LATENCY_SECONDS", "30")),
        "latency_interval": float(os.environ.get("BENCH_LATENCY_INTERVAL", "0.01")),
        "failover_interval": float(os.environ.get("BENCH_FAILOVER_INTERVAL", "0.1")),
        "idle_seconds": float(os.environ.get("BENCH_IDLE_SECONDS", "60")),
        "tutorial_seconds": float(os.environ.get("BENCH_TUTORIAL_SECONDS", "30")),
        "tutorial_interval": float(os.environ.get("BENCH_TUTORIAL_INTERVAL", "0.2")),
        "dispatch_count": int(os.environ.get("BENCH_DISPATCH_COUNT", "10000")),
        "forward_messages": int(os.environ.get("BENCH_FORWARD_MESSAGES", "200000")),
        "faust_forward_messages": int(os.environ.get("BENCH_FAUST_FORWARD_MESSAGES", "50000")),
        "crash_messages": int(os.environ.get("BENCH_CRASH_MESSAGES", "2000")),
        "broker_jvm": " ".join(filter(None, [os.environ.get("KAFKA_HEAP_OPTS"), os.environ.get("KAFKA_JVM_OPTS")])) or "script defaults",
        "build": args.build_flags,
    }
    work_dir = args.work_dir or Path(
        subprocess.run(["mktemp", "-d", "/tmp/faust-bench.XXXXXX"], capture_output=True, text=True).stdout.strip())
    work_dir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    systems = tuple(name.strip() for name in args.systems.split(",") if name.strip())
    if unknown := [name for name in systems if name not in SYSTEMS + OPTIONAL_SYSTEMS]:
        parser.error(f"unknown system '{unknown[0]}' (known: {', '.join(SYSTEMS + OPTIONAL_SYSTEMS)})")
    if SASL in systems and args.secured_state is None:
        parser.error(f"{SASL} needs --secured-state (bench/run.sh starts the secured broker for it)")
    if args.kafka_streams is None and "kafka-streams" in systems:
        systems = tuple(name for name in systems if name != "kafka-streams")
        log("no --kafka-streams build: no Kafka Streams rows")
    if systems != SYSTEMS:
        settings["systems"] = ",".join(systems)
    bench = Bench(args.build_dir.resolve(), args.broker, work_dir, sys.executable, args.repeats, settings,
                  kafka_streams=args.kafka_streams.resolve() if args.kafka_streams else None, systems=systems)
    if SASL in systems:
        bench.secured = secured_bench(bench, args.secured_state)
        settings["secured_broker"] = bench.secured.broker
    log(f"work folder (logs): {work_dir}")

    def on_signal(signum, _frame):
        Process.kill_all()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    data = {"machine": machine_info(), "versions": versions(bench), "settings": settings,
            "repeats": args.repeats, "broker": args.broker, "scenarios": {}}
    try:
        for name in [n.strip() for n in args.only.split(",") if n.strip()]:
            if name not in SCENARIOS:
                parser.error(f"unknown scenario '{name}' (known: {', '.join(SCENARIOS)})")
            log(f"--- {name}")
            scenario_started = time.monotonic()
            data["scenarios"][name] = SCENARIOS[name](bench)
            data["scenarios"][name]["duration_s"] = time.monotonic() - scenario_started
    finally:
        Process.kill_all()
    data["duration_s"] = time.monotonic() - started
    data["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    (args.results / "raw.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(write_report(data, args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
