"""The plugin `wasmcron.examples.python`: job classes written in Python.

componentize-py turns this module into a component of the world `job` (wit/job.wit):
the class `WitWorld` implements the world's exports, `wit_world.imports.host` holds
its imports. Both modules are generated from the WIT file by the build.
"""

import datetime
import json
import statistics

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import Argument, Context, JobClass, Level


class BadArgs(Exception):
    """Arguments a class cannot work with; the run fails with this message."""


def _reject_constant(name):
    raise BadArgs(f"{name} is not a JSON number")


def parse_args(args):
    """The JSON object in `args` (NaN and Infinity refused: they are not JSON)."""
    try:
        value = json.loads(args, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise BadArgs(f"args are not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise BadArgs("args must be a JSON object")
    return value


def statistics_of(args):
    values = args.get("values")
    if not isinstance(values, list) or not values:
        raise BadArgs("values must be a non-empty array of numbers")
    for i, v in enumerate(values):
        # bool is a subclass of int in Python; true is not a number here.
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadArgs(f"values[{i}] is not a number: {json.dumps(v)}")
    numbers = [float(v) for v in values]
    host.log(Level.INFO, f"statistics of {len(numbers)} values")
    return {
        "count": len(numbers),
        "mean": statistics.fmean(numbers),
        "median": float(statistics.median(numbers)),
        # The sample standard deviation needs two values.
        "stdev": statistics.stdev(numbers) if len(numbers) > 1 else None,
        "min": min(numbers),
        "max": max(numbers),
    }


def parse_date(args, key):
    text = args.get(key)
    if not isinstance(text, str):
        raise BadArgs(f"{key} must be a date string YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise BadArgs(f"{key} is not a date YYYY-MM-DD: {text!r}") from None


def business_days(args):
    start = parse_date(args, "start")
    end = parse_date(args, "end")
    if end < start:
        raise BadArgs(f"end {end} is before start {start}")
    holidays = args.get("holidays", [])
    if not isinstance(holidays, list):
        raise BadArgs("holidays must be an array of date strings")
    closed = {parse_date({"holiday": h}, "holiday") for h in holidays}
    counts = {"business_days": 0, "weekend_days": 0, "holidays": 0}
    day = start
    while day <= end:
        if day.weekday() >= 5:
            counts["weekend_days"] += 1
        elif day in closed:
            counts["holidays"] += 1
        else:
            counts["business_days"] += 1
        day += datetime.timedelta(days=1)
    host.log(
        Level.INFO,
        f"{counts['business_days']} business days from {start} to {end}",
    )
    return {"start": start.isoformat(), "end": end.isoformat(), **counts}


CLASSES = {
    "Statistics": (
        statistics_of,
        JobClass(
            name="Statistics",
            notes="Count, mean, median, sample standard deviation (null for one "
            "value), minimum and maximum of a list of numbers, with Python's "
            "statistics module.",
            arguments=[
                Argument("values", "array of numbers", "The numbers (at least one)."),
            ],
            example_arguments='{"values": [2, 4, 4, 4, 5, 5, 7, 9]}',
        ),
    ),
    "BusinessDays": (
        business_days,
        JobClass(
            name="BusinessDays",
            notes="Counts the business days (Monday to Friday, less holidays), "
            "weekend days and holidays from start to end, both included.",
            arguments=[
                Argument("start", "string", "The first day, YYYY-MM-DD."),
                Argument("end", "string", "The last day, YYYY-MM-DD (not before start)."),
                Argument(
                    "holidays",
                    "array of strings",
                    "Optional days off, YYYY-MM-DD; those on weekends count as weekend days.",
                ),
            ],
            example_arguments='{"start": "2026-12-21", "end": "2027-01-01", '
            '"holidays": ["2026-12-25", "2027-01-01"]}',
        ),
    ),
}


class WitWorld(wit_world.WitWorld):
    def describe(self):
        return [job_class for _, job_class in CLASSES.values()]

    def run(self, ctx: Context, class_: str, args: str) -> str:
        entry = CLASSES.get(class_)
        if entry is None:
            raise Err(f"unknown class {class_!r}; this plugin has {', '.join(CLASSES)}")
        try:
            result = entry[0](parse_args(args))
        except BadArgs as e:
            raise Err(str(e))
        try:
            return json.dumps(result, allow_nan=False)
        except ValueError:
            raise Err("the result overflowed (a number beyond the range of a double)")
