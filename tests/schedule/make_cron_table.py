#!/usr/bin/env python3
"""Writes cron_table.tsv: the next three runs of cron expressions in several time zones, as an
independent implementation (Python's croniter with pytz) computes them. The C++ table test
(cron_table_test.cpp) reads the committed file; it never runs Python.

To regenerate (only when adding rows; the file is committed):

    python3 -m venv /tmp/cron-venv
    /tmp/cron-venv/bin/pip install croniter pytz
    /tmp/cron-venv/bin/python tests/schedule/make_cron_table.py > tests/schedule/cron_table.tsv

Where croniter and faust-host's documented daylight-saving rule differ, the row keeps our rule and
says so in its last column. The one known difference: croniter runs a local time that occurs twice
(clocks falling back) at both occurrences; faust-host runs it once, at the first. Such runs are
dropped from croniter's answer here (and the row marked), never silently changed.
"""

import datetime
import sys

import pytz
from croniter import croniter

UTC = pytz.utc

# The clock changes of 2026 the rows start around, as UTC instants.
TRANSITIONS = {
    "Europe/Berlin": [
        ("spring", datetime.datetime(2026, 3, 29, 1, 0)),  # 02:00 CET -> 03:00 CEST
        ("fall", datetime.datetime(2026, 10, 25, 1, 0)),  # 03:00 CEST -> 02:00 CET
    ],
    "America/New_York": [
        ("spring", datetime.datetime(2026, 3, 8, 7, 0)),  # 02:00 EST -> 03:00 EDT
        ("fall", datetime.datetime(2026, 11, 1, 6, 0)),  # 02:00 EDT -> 01:00 EST
    ],
}

DST_EXPRESSIONS = [
    "30 2 * * *",
    "30 1 * * *",
    "0 2 * * *",
    "45 2 * * *",
    "0 3 * * *",
    "0 * * * *",
    "*/15 1-3 * * *",
    "0 0 29 2 *",
    "0 12 * * 1-5",
    "0 0 1,15 * sun",
    "@hourly",
    "@daily",
]

# Offsets from the transition at which rows start.
STARTS = [datetime.timedelta(hours=-2), datetime.timedelta(minutes=-20), datetime.timedelta(days=-1)]

# (expression, zone, start in UTC): names, steps, lists, macros, zones without DST or with odd offsets.
OTHER_ROWS = [
    ("0 9 * * mon-fri", "Europe/Berlin", datetime.datetime(2026, 11, 27, 12, 0)),
    ("0 9 * * MON-FRI", "America/New_York", datetime.datetime(2026, 12, 31, 20, 0)),
    ("*/5 * * * *", "UTC", datetime.datetime(2026, 1, 1, 0, 3)),
    ("1-10/2 * * * *", "UTC", datetime.datetime(2026, 1, 1, 0, 3)),
    ("5/20 * * * *", "UTC", datetime.datetime(2026, 1, 1, 0, 0)),
    ("0 0 * jan,jul *", "UTC", datetime.datetime(2026, 1, 31, 12, 0)),
    ("0 0 13 * fri", "UTC", datetime.datetime(2026, 2, 1, 0, 0)),
    ("0 0 * * 7", "UTC", datetime.datetime(2026, 2, 1, 0, 0)),
    ("0 0 * * 0", "UTC", datetime.datetime(2026, 2, 1, 0, 0)),
    ("0 0 * * fri-sun", "UTC", datetime.datetime(2026, 2, 1, 0, 0)),
    ("0 0 * * 5-7", "UTC", datetime.datetime(2026, 2, 1, 0, 0)),
    ("5 4 * * SUN", "UTC", datetime.datetime(2026, 6, 1, 0, 0)),
    ("23 0-20/2 * * *", "UTC", datetime.datetime(2026, 6, 1, 19, 0)),
    ("0 0,12 1 */2 *", "UTC", datetime.datetime(2026, 2, 10, 0, 0)),
    ("0 0 31 * *", "UTC", datetime.datetime(2026, 1, 31, 0, 0)),
    ("59 23 31 12 *", "UTC", datetime.datetime(2026, 6, 1, 0, 0)),
    ("0 0 29 2 *", "UTC", datetime.datetime(2026, 1, 1, 0, 0)),
    ("0 0 29 2 mon", "UTC", datetime.datetime(2026, 1, 1, 0, 0)),
    ("0 0 1 * */2", "UTC", datetime.datetime(2026, 1, 1, 0, 0)),
    ("0 0 */10 feb-mar *", "UTC", datetime.datetime(2026, 1, 1, 0, 0)),
    ("@yearly", "Europe/Berlin", datetime.datetime(2026, 6, 1, 0, 0)),
    ("@annually", "UTC", datetime.datetime(2026, 6, 1, 0, 0)),
    ("@monthly", "America/New_York", datetime.datetime(2026, 6, 1, 0, 0)),
    ("@weekly", "UTC", datetime.datetime(2026, 6, 1, 0, 0)),
    ("@midnight", "Asia/Kolkata", datetime.datetime(2026, 6, 1, 0, 0)),
    ("30 9 * * *", "Asia/Kathmandu", datetime.datetime(2026, 6, 1, 0, 0)),
    ("0 0 1 1 *", "Pacific/Kiritimati", datetime.datetime(2026, 12, 30, 0, 0)),
    ("0 12 * * *", "Pacific/Pago_Pago", datetime.datetime(2026, 6, 1, 0, 0)),
    # Lord Howe moves its clocks by half an hour: 02:00 -> 02:30 on 2026-10-04, back on 2027-04-04.
    ("15 2 * * *", "Australia/Lord_Howe", datetime.datetime(2026, 10, 2, 12, 0)),
    ("*/10 2 * * *", "Australia/Lord_Howe", datetime.datetime(2026, 10, 3, 15, 0)),
    ("45 1 * * *", "Australia/Lord_Howe", datetime.datetime(2027, 4, 2, 12, 0)),
]


def is_second_occurrence(run, zone):
    """A run at the later of two instants that share its local time."""
    naive = run.replace(tzinfo=None)
    try:
        zone.localize(naive, is_dst=None)
        return False
    except pytz.exceptions.AmbiguousTimeError:
        first = min(zone.localize(naive, is_dst=flag).astimezone(UTC) for flag in (True, False))
        return run.astimezone(UTC) != first


def row(expression, zone_name, start_utc):
    zone = pytz.timezone(zone_name)
    iterator = croniter(expression, UTC.localize(start_utc).astimezone(zone))
    runs, dropped = [], []
    while len(runs) < 3:
        run = iterator.get_next(datetime.datetime)
        if is_second_occurrence(run, zone):
            dropped.append(run)
        else:
            runs.append(run)
    note = ""
    if dropped:
        note = "deliberate: croniter also runs at " + ", ".join(
            f"{utc(run)} ({run.strftime('%H:%M %z')} again)" for run in dropped
        ) + "; faust-host runs a repeated local time once, at its first occurrence"
    return [expression, zone_name, utc(start_utc)] + [utc(run) for run in runs] + [note]


def utc(instant):
    if instant.tzinfo is None:
        instant = UTC.localize(instant)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    out = sys.stdout
    out.write("# Generated by make_cron_table.py (croniter + pytz); see its header to regenerate.\n")
    out.write("# expression\tzone\tstart (UTC)\tnext run 1\tnext run 2\tnext run 3\tnote\n")
    for zone_name, transitions in TRANSITIONS.items():
        for _, instant in transitions:
            for expression in DST_EXPRESSIONS:
                for offset in STARTS:
                    out.write("\t".join(row(expression, zone_name, instant + offset)) + "\n")
    for expression, zone_name, start in OTHER_ROWS:
        out.write("\t".join(row(expression, zone_name, start)) + "\n")


if __name__ == "__main__":
    main()
