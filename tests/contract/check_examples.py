"""Checks that every example in an OpenAPI 3.1 document matches the schema beside it:
media-type examples (`example` and each of `examples`) against the media type's schema,
parameter examples against the parameter's schema, and schema-level `examples` against
their schema. Formats (`date-time`) are checked too. Prints one line per mismatch and
exits 1 if there is any; run by tests/contract.rs with the shared venv's Python.

Usage: check_examples.py <openapi.json>
"""

import json
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = "urn:wasmcron:openapi"


def pointer(path):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def walk(node, path):
    """Yields (example, schema pointer, where) for every example under `node`."""
    if isinstance(node, dict):
        has_schema = isinstance(node.get("schema"), dict)
        if has_schema and "example" in node:
            yield node["example"], path + ["schema"], path + ["example"]
        if has_schema and isinstance(node.get("examples"), dict):
            for name, example in node["examples"].items():
                if isinstance(example, dict) and "value" in example:
                    yield example["value"], path + ["schema"], path + ["examples", name]
        if "type" in node and isinstance(node.get("examples"), list):
            for i, example in enumerate(node["examples"]):
                yield example, path, path + ["examples", i]
        for key, value in node.items():
            yield from walk(value, path + [key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, path + [i])


def main():
    with open(sys.argv[1]) as f:
        document = json.load(f)
    registry = Registry().with_resource(
        ROOT, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    checked = 0
    failures = []
    for example, schema_path, where in walk(document, []):
        validator = Draft202012Validator(
            {"$ref": ROOT + "#" + pointer(schema_path)},
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        checked += 1
        for error in validator.iter_errors(example):
            failures.append(f"{pointer(where)}: {error.message} (at {pointer(error.absolute_path)})")
    for failure in failures:
        print(failure)
    print(f"{checked} examples checked, {len(failures)} mismatches")
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    main()
