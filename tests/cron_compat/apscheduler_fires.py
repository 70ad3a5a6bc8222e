"""APScheduler's answers for tests/cron_compat.rs: reads every specification as one JSON
document on stdin and writes APScheduler's fire times for each as one JSON document on
stdout.

Input:  {"specs": [{"fields": {"hour": "2", ...}, "timezone": "Europe/Berlin",
                    "start": "2047-03-30T22:00:00Z", "count": 100,
                    "windows": [["2047-03-31T00:00:00", "2047-03-31T05:00:00"], ...]}]}
Output: {"tzdata": "2025b", "results": [{"error": null | "why APScheduler refused it",
                                         "fires": ["2047-03-31T01:30:00Z", ...],
                                         "walls": [["2047-03-31T02:30:00", ...], ...]}]}

- "fires": the first `count` fire times at or after `start`, in UTC, computed in the
  spec's zone (a zoneinfo.ZoneInfo, which APScheduler 3.10 accepts as a timezone).
- "walls": for each window of local wall-clock times (no zone), the wall-clock times in
  it that match the fields: the same fields with a UTC trigger, which has no daylight
  saving, so the fields alone decide. The test applies the documented daylight-saving
  rule to these.

Zones come from the pinned tzdata package, never from the machine's own zone files, so
that they are the IANA release chrono-tz carries (printed as "tzdata").
"""

import json
import sys
import zoneinfo
from datetime import datetime, timedelta, timezone

import tzdata
from apscheduler.triggers.cron import CronTrigger

# The tzdata package only: the machine's /usr/share/zoneinfo may be another release.
zoneinfo.reset_tzpath(to=[])

UTC = timezone.utc
ONE_MICROSECOND = timedelta(microseconds=1)
# A window has at most this many matching wall-clock times (six hours of every second
# is 21,600).
WALL_LIMIT = 30_000


def utc_text(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def fires(trigger, start, count):
    out = []
    now = start
    while len(out) < count:
        fire = trigger.get_next_fire_time(None, now)
        if fire is None:
            break
        fire = fire.astimezone(UTC)
        if fire < now:
            raise RuntimeError(f"APScheduler went back in time: {fire} after asking from {now}")
        out.append(utc_text(fire))
        # In UTC: a local time plus a microsecond could land in the other fold.
        now = fire + ONE_MICROSECOND
    return out


def wall_matches(trigger, first, last):
    out = []
    now = first
    while True:
        fire = trigger.get_next_fire_time(None, now)
        if fire is None or fire > last:
            return out
        if len(out) == WALL_LIMIT:
            raise RuntimeError(f"more than {WALL_LIMIT} matches from {first} to {last}")
        out.append(fire.strftime("%Y-%m-%dT%H:%M:%S"))
        now = fire + ONE_MICROSECOND


def answer(spec):
    fields = spec["fields"]
    try:
        zoned = CronTrigger(timezone=zoneinfo.ZoneInfo(spec["timezone"]), **fields)
    except ValueError as e:
        return {"error": str(e), "fires": [], "walls": []}
    wall = CronTrigger(timezone=UTC, **fields)
    walls = []
    for first, last in spec["windows"]:
        first = datetime.fromisoformat(first).replace(tzinfo=UTC)
        last = datetime.fromisoformat(last).replace(tzinfo=UTC)
        walls.append(wall_matches(wall, first, last))
    return {
        "error": None,
        "fires": fires(zoned, parse_utc(spec["start"]), spec["count"]),
        "walls": walls,
    }


def main():
    specs = json.load(sys.stdin)["specs"]
    results = [answer(spec) for spec in specs]
    json.dump({"tzdata": tzdata.IANA_VERSION, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
