"""Schemathesis hooks of tests/contract.rs (loaded through SCHEMATHESIS_HOOKS).

A plugin upload's body is `application/wasm`, raw bytes, a media type schemathesis has
no serializer for: it is sent as the bytes generated for its `format: binary` schema.
"""

import schemathesis


@schemathesis.serializer("application/wasm")
def wasm(_context, value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    data = getattr(value, "data", None)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return str(value).encode()
