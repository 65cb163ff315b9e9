#!/usr/bin/env python3
"""The crawler example at scale: N subscriptions over a local feed server, three workers.

Starts a broker (scripts/kafka-broker.sh), scripts/feed-server.py with N feeds, three faust-host
workers running the crawler plugin, subscribes N feeds through the subscriptions topic (kcat),
and measures, after one period of warm-up and over one measured window:
  - the dispatch tick's time (crawler_dispatch_tick_seconds on the leader),
  - crawls per second per worker (crawler_fetches_total + _not_modified_total + _fetch_errors_total),
  - each worker's RSS,
then SIGKILLs the leader and measures the new leader's leader-state restore time (/leader
term.leader_state.restore_ms) and how late sources were dispatched after its term was
established (from the crawl topic, read_committed). Writes a dated Markdown report.

  bench/crawler_bench.py                         # 10,000 sources, 60 s period
  bench/crawler_bench.py --sources 2000 --period 30

Needs a build with faust-host and the crawler plugin (FAUST_BUILD_DIR or --build-dir) and kcat.
"""
import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = "crawler-bench"


def get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
        return answer.read().decode()


def metrics(port):
    """{name{labels}: value} of a worker's /metrics."""
    out = {}
    for line in get(port, "/metrics").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def metric_sum(sample, prefix):
    return sum(v for k, v in sample.items() if k == prefix or k.startswith(prefix + "{"))


def tick_bound(sample, count, since=None):
    """The smallest histogram bound of crawler_dispatch_tick_seconds that holds `count` ticks."""
    buckets = []
    for key, value in sample.items():
        found = re.match(r'crawler_dispatch_tick_seconds_bucket\{.*le="([^"]+)"', key)
        if found and found.group(1) != "+Inf":
            buckets.append((float(found.group(1)), value - (since or {}).get(key, 0)))
    return next((bound for bound, seen in sorted(buckets) if seen >= count), float("inf"))


def bound_text(seconds):
    return f"{1000 * seconds:g} ms" if seconds != float("inf") else "(one or more over 1000 ms, the top bucket)"


def leader_port(ports):
    for port in ports:
        try:
            if json.loads(get(port, "/leader", 2)).get("is_leader"):
                return port
        except OSError:
            pass
    return None


def wait_for(what, check, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"crawler-bench: {what} did not happen within {timeout} s")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.environ.get("FAUST_BUILD_DIR", os.path.join(REPO, "build")))
    parser.add_argument("--sources", type=int, default=10000)
    parser.add_argument("--period", type=int, default=60, help="seconds between crawls of one source")
    parser.add_argument("--window", type=int, default=60, help="seconds measured")
    parser.add_argument("--out", default=None, help="report file (default bench/results/crawler-<date>.md)")
    args = parser.parse_args()

    work = os.path.join(args.build_dir, "crawler-bench")
    os.makedirs(work, exist_ok=True)
    faust_host = os.path.join(args.build_dir, "bin", "faust-host")
    plugin_dir = os.path.join(args.build_dir, "lib", "faust-host", "plugins")
    env = dict(os.environ, FAUST_BROKER_STATE=os.path.join(work, "kafka"), FAUST_HOST_PLUGIN_PATH=plugin_dir)
    processes = []
    broker = None
    try:
        started = subprocess.run(["bash", os.path.join(REPO, "scripts/kafka-broker.sh"), "start"], env=env,
                                 check=True, capture_output=True, text=True).stdout
        broker = re.search(r"FAUST_TEST_BROKER=(\S+)", started).group(1)

        feeds = subprocess.Popen([sys.executable, os.path.join(REPO, "scripts/feed-server.py"), "0", "--feeds",
                                  str(args.sources), "--item-interval", str(args.period * 3), "--quiet"],
                                 stdout=subprocess.PIPE, text=True)
        processes.append(feeds)
        feed_port = int(re.search(r":(\d+)/feeds/", feeds.stdout.readline()).group(1))

        manifest = os.path.join(work, "crawler-bench.yaml")
        with open(manifest, "w") as out:
            out.write(f"""app:
  id: {APP}
  broker: kafka://{broker}
  value_serializer: raw
  topic_partitions: 12
agents:
  subscriptions:
    library: crawler
    on_leader: true
  crawl:
    library: crawler
    concurrency: 8
    config:
      timeout: "5"
      allowed_addresses: "127.0.0.1"
      per_host_concurrency: "8"
timers:
  dispatch:
    library: crawler
    interval: 1.0
    on_leader: true
    config:
      max_per_tick: "1000"
""")
        ports = [16166, 16167, 16168]
        workers = {}
        for port in ports:
            log = open(os.path.join(work, f"{port}.log"), "w")
            workers[port] = subprocess.Popen([faust_host, "--manifest", manifest, "--web-port", str(port), "-l", "warn"],
                                             stdout=log, stderr=subprocess.STDOUT, env=env)
            processes.append(workers[port])
            time.sleep(0.5)  # in order: the first worker to join leads, and keeps leading
        wait_for("a leader", lambda: leader_port(ports), 60)

        lines = "".join(json.dumps({"add": f"http://127.0.0.1:{feed_port}/feeds/{n}.xml", "period": args.period}) + "\n"
                        for n in range(1, args.sources + 1))
        subscribe_start = time.time()
        subprocess.run(["kcat", "-P", "-b", broker, "-t", f"{APP}-subscriptions"], input=lines, text=True, check=True)
        def leader_with_all():
            # The first term may move while the workers join: ask whoever leads now.
            port = leader_port(ports)
            return port if port and metric_sum(metrics(port), "crawler_subscriptions") >= args.sources else None
        leader = wait_for("all subscriptions on the leader", leader_with_all, 1200)
        subscribed_s = time.time() - subscribe_start

        time.sleep(args.period)  # every source crawled once: the window sees steady state
        before = {port: metrics(port) for port in ports}
        time.sleep(args.window)
        after = {port: metrics(port) for port in ports}
        crawls = {}
        for port in ports:
            done = sum(metric_sum(after[port], name) - metric_sum(before[port], name)
                       for name in ("crawler_fetches_total", "crawler_not_modified_total", "crawler_fetch_errors_total"))
            crawls[port] = done / args.window
        errors = sum(metric_sum(after[p], "crawler_fetch_errors_total") for p in ports)
        not_modified = sum(metric_sum(after[p], "crawler_not_modified_total") for p in ports)
        fetched = sum(metric_sum(after[p], "crawler_fetches_total") for p in ports)
        ticks = metric_sum(after[leader], "crawler_dispatch_tick_seconds_count") - \
            metric_sum(before[leader], "crawler_dispatch_tick_seconds_count")
        tick_sum = metric_sum(after[leader], "crawler_dispatch_tick_seconds_sum") - \
            metric_sum(before[leader], "crawler_dispatch_tick_seconds_sum")
        tick_max_bound = tick_bound(after[leader], ticks, before[leader])
        rss = {port: rss_mib(workers[port].pid) for port in ports}

        # Failover: SIGKILL the leader; the next one restores the leader state and dispatches.
        killed_at = time.time()
        workers[leader].send_signal(signal.SIGKILL)
        workers[leader].wait()
        rest = [p for p in ports if p != leader]
        new_leader = wait_for("a new leader", lambda: leader_port(rest), 120)
        took_over_s = time.time() - killed_at
        term = json.loads(get(new_leader, "/leader"))["term"]
        restore_ms = term["leader_state"]["restore_ms"]
        state_entries = term["leader_state"]["entries"]
        established = datetime.datetime.fromisoformat(term["established_at"].replace("Z", "+00:00")).timestamp()
        time.sleep(args.period + 5)
        dispatches = subprocess.run(
            ["kcat", "-C", "-b", broker, "-t", f"{APP}-crawl", "-o", f"s@{int((established - 2) * 1000)}", "-e", "-q",
             "-X", "isolation.level=read_committed", "-f", "%s\n"], capture_output=True, text=True, check=True).stdout
        late = []
        for line in dispatches.splitlines():
            message = json.loads(line)
            if message.get("since_ms") is None:
                continue
            due = message["since_ms"] + args.period * 1000  # at or after the grid's due time
            late.append(message["dispatched_ms"] - max(due, established * 1000))
        late.sort()
        new_ticks = metrics(new_leader)
        first_tick_bound = tick_bound(new_ticks, metric_sum(new_ticks, "crawler_dispatch_tick_seconds_count"))
        rss_after = {port: rss_mib(workers[port].pid) for port in rest}

        today = datetime.date.today().isoformat()
        out = args.out or os.path.join(REPO, "bench", "results", f"crawler-{today}.md")
        with open(out, "w") as report:
            report.write(f"""# Crawler at scale, {today}

`bench/crawler_bench.py --sources {args.sources} --period {args.period} --window {args.window}`: {args.sources}
subscriptions over `scripts/feed-server.py` (one Python process, 127.0.0.1; each feed gains an item
every {args.period * 3} s, so most crawls are conditional GETs answered 304), three faust-host workers
(crawl `concurrency: 8`, `per_host_concurrency: 8`, dispatch every 1 s with `max_per_tick: 1000`), one
Kafka broker, all on one machine of 2 cores shared with other work (figures are noisy).

| what | figure |
|---|---|
| subscribing {args.sources} sources (kcat to the subscriptions topic, until the leader's gauge shows them; one leader transaction per command) | {subscribed_s:.1f} s ({args.sources / subscribed_s:.0f} adds/s) |
| dispatch ticks in the {args.window} s window | {ticks:.0f}, mean {1000 * tick_sum / max(ticks, 1):.2f} ms, all at most {bound_text(tick_max_bound)} |
| crawls per second, per worker (demand: {args.sources / args.period:.0f}/s in all) | {", ".join(f"{crawls[p]:.1f}" for p in ports)} |
| crawls so far: 200 / 304 / failed | {fetched:.0f} / {not_modified:.0f} / {errors:.0f} |
| RSS per worker | {", ".join(f"{rss[p]:.0f} MiB" for p in ports)} |
| SIGKILL of the leader to a new leader's `/leader` is_leader (session timeout) | {took_over_s:.1f} s |
| new leader's leader-state restore ({state_entries} entries) | {restore_ms} ms |
| new leader's ticks since its term began (its first reads every subscription) | all at most {bound_text(first_tick_bound)} |
| dispatches after the failover: lateness past max(due, term established), max / p99 / median | {late[-1] if late else 0} / {late[int(len(late) * 0.99)] if late else 0} / {late[len(late) // 2] if late else 0} ms ({len(late)} dispatches) |
| RSS per surviving worker after the failover | {", ".join(f"{rss_after[p]:.0f} MiB" for p in rest)} |

Lateness is measured against `since_ms + period`, which is at or after the grid's due time, so
it can only understate how late a dispatch was by the previous dispatch's own lateness.
""")
        print(open(out).read())
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if broker:
            subprocess.run(["bash", os.path.join(REPO, "scripts/kafka-broker.sh"), "stop"], env=env,
                           capture_output=True)


if __name__ == "__main__":
    main()
