"""The plugin `wasmcron.examples.python`: job classes written in Python.

componentize-py turns this module into a component of the world `job-with-http`
(wit/world.wit here: wasmcron's `job` world, wit/job.wit, plus
`wasi:http/outgoing-handler`): the class `WitWorld` implements the world's exports,
`wit_world.imports` holds its imports, one module per interface (`host`,
`wasmcron_job_types`, `outgoing_handler`, `wasi_http_types`, ...; the two interfaces
named `types` are told apart by their package). All are generated from the WIT files by
the build.
"""

import datetime
import json
import re
import statistics
import time
import urllib.parse

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, outgoing_handler, wasi_http_types
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.wasmcron_job_types import Argument, Context, JobClass, Level


class BadArgs(Exception):
    """Arguments a class cannot work with; the run fails with this message."""


class CheckFailed(Exception):
    """A check that did not pass (HttpCheck); the run fails with this message."""


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


def error_code_text(code):
    """The WIT name of a `wasi:http` error code (`HTTP-request-denied`, `DNS-error`,
    ...), with its payload when it has one."""
    words = re.sub(r"(?<!^)(?=[A-Z])", "-", type(code).__name__.removeprefix("ErrorCode_"))
    acronyms = {"http": "HTTP", "dns": "DNS", "tls": "TLS", "ip": "IP"}
    text = "-".join(acronyms.get(w, w) for w in words.lower().split("-"))
    value = getattr(code, "value", None)
    if hasattr(value, "__dataclass_fields__"):
        value = {k: v for k, v in vars(value).items() if v is not None} or None
    return text if value is None else f"{text} ({value})"


class RequestFailed(Exception):
    """A request that got no complete response: a `wasi:http` error code."""

    def __init__(self, code):
        text = error_code_text(code)
        if isinstance(code, wasi_http_types.ErrorCode_HttpRequestDenied):
            text += " (refused by the host: the execution's log says why)"
        super().__init__(text)


def http_get(url):
    """GETs `url` through `wasi:http/outgoing-handler`, blocking until the whole body
    is in; returns the status and the body. Raises RequestFailed."""
    parts = urllib.parse.urlsplit(url)
    scheme = {"http": wasi_http_types.Scheme_Http(), "https": wasi_http_types.Scheme_Https()}
    if parts.scheme not in scheme or not parts.hostname or "@" in parts.netloc:
        raise BadArgs(f"url must be an http or https URL with a host: {url!r}")
    request = wasi_http_types.OutgoingRequest(wasi_http_types.Fields())
    request.set_scheme(scheme[parts.scheme])
    request.set_authority(parts.netloc)
    query = f"?{parts.query}" if parts.query else ""
    request.set_path_with_query((parts.path or "/") + query)
    try:
        # An invalid request fails here; every other error, a denied request's too,
        # comes with the response.
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise RequestFailed(e.value) from None
    with future:
        while (outcome := future.get()) is None:
            with future.subscribe() as ready:
                ready.block()
    # Ok(Ok(response)) or Ok(Err(error code)); Err only when asked twice.
    response = outcome.value.value
    if isinstance(outcome.value, Err):
        raise RequestFailed(response)
    with response:
        status = response.status()
        chunks = []
        with response.consume() as body:
            with body.stream() as stream:
                while True:
                    try:
                        chunks.append(stream.blocking_read(64 * 1024))
                    except Err as e:
                        if isinstance(e.value, StreamError_Closed):
                            break
                        error = e.value.value
                        code = wasi_http_types.http_error_code(error)
                        if code is None:
                            code = wasi_http_types.ErrorCode_InternalError(error.to_debug_string())
                        raise RequestFailed(code) from None
    return status, b"".join(chunks)


def http_check(args):
    url = args.get("url")
    if not isinstance(url, str) or not url:
        raise BadArgs("url must be a non-empty string")
    expect_status = args.get("expect_status", 200)
    # bool is a subclass of int in Python; true is not a status.
    if (
        isinstance(expect_status, bool)
        or not isinstance(expect_status, int)
        or not 100 <= expect_status <= 599
    ):
        raise BadArgs("expect_status must be an integer from 100 to 599")
    expect_body = args.get("expect_body_contains")
    if expect_body is not None and not isinstance(expect_body, str):
        raise BadArgs("expect_body_contains must be a string")
    start = time.monotonic()
    try:
        status, body = http_get(url)
    except RequestFailed as e:
        raise CheckFailed(f"GET {url} failed: {e}") from None
    latency_ms = round((time.monotonic() - start) * 1000)
    host.log(Level.INFO, f"GET {url}: {status}, {len(body)} bytes in {latency_ms} ms")
    if status != expect_status:
        raise CheckFailed(f"expected status {expect_status}, got {status} from {url}")
    if expect_body is not None and expect_body.encode() not in body:
        text = json.dumps(expect_body, ensure_ascii=False)
        raise CheckFailed(f"the body of {url} does not contain {text}")
    return {"url": url, "status": status, "latency_ms": latency_ms, "bytes": len(body)}


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
            # The JSON Schema the server checks a job's pub_args against when the job
            # is saved (None: no check, as for the other classes here).
            arguments_schema=json.dumps(
                {
                    "type": "object",
                    "properties": {
                        "values": {
                            "type": "array",
                            "items": {"type": "number"},
                            "minItems": 1,
                            "description": "The numbers (at least one).",
                        }
                    },
                    "required": ["values"],
                    "additionalProperties": False,
                }
            ),
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
            arguments_schema=None,
        ),
    ),
    "HttpCheck": (
        http_check,
        JobClass(
            name="HttpCheck",
            notes="GETs a URL and fails unless the response has the expected status "
            "(and, optionally, contains a text); the result has the status, the latency "
            "and the body size. The job must be granted the URL's origin in its "
            "allowed_hosts option.",
            arguments=[
                Argument("url", "string", "The URL to GET (http or https)."),
                Argument(
                    "expect_status",
                    "integer",
                    "Optional status the response must have (default 200).",
                ),
                Argument(
                    "expect_body_contains",
                    "string",
                    "Optional text the response body must contain.",
                ),
            ],
            example_arguments='{"url": "http://127.0.0.1:8080/health", '
            '"expect_status": 200, "expect_body_contains": "ok"}',
            arguments_schema=None,
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
        except (BadArgs, CheckFailed) as e:
            raise Err(str(e))
        try:
            return json.dumps(result, allow_nan=False)
        except ValueError:
            raise Err("the result overflowed (a number beyond the range of a double)")
