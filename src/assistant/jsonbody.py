"""Reading JSON that a client sent: bounded in size, nesting depth and number length.

`json.loads` alone recurses once per nesting level (10,000 `[` raise RecursionError) and
turns a 4,301-digit integer into a ValueError; both are the client's mistake, not a server
fault, so `parse_json` checks depth before parsing and refuses long numbers while parsing,
raising `MalformedRequest` (400) for anything that is not the small JSON document an API
request is. `read_body` reads a request body up to a byte limit (`BodyTooLarge`, 413),
with or without a Content-Length. The API and `assistant ask --batch` both use these.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from .errors import BodyTooLarge, MalformedRequest

# A request is an object holding a list of turn objects: depth 3. Room to spare, no more.
MAX_DEPTH = 16
# Longer than any count or id a request holds; far below Python's 4,300-digit int limit.
MAX_NUMBER_CHARS = 40
# A JSON string (escapes included), or one bracket: what the depth scan looks at.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text`, brackets inside strings not counted.
    Exact for valid JSON; for invalid JSON it may be off, which `json.loads` then refuses."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def parse_json(data: bytes | str, subject: str = "request body") -> Any:
    """The JSON value in `data` (UTF-8 if bytes), or `MalformedRequest` saying what is
    wrong with `subject` (how the message names the input)."""
    too_deep = f"{subject}: not valid JSON here (arrays or objects nested over {MAX_DEPTH} deep)"

    def number(kind: type) -> Any:
        def parse(literal: str) -> Any:
            if len(literal) > MAX_NUMBER_CHARS:
                raise MalformedRequest(f"{subject}: not valid JSON here (a number of {len(literal):,} "
                                       f"characters; the limit is {MAX_NUMBER_CHARS})")
            return kind(literal)
        return parse

    def constant(name: str) -> Any:
        raise MalformedRequest(f"{subject}: not valid JSON ({name} is not a JSON value)")

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise MalformedRequest(f"{subject}: not valid JSON (not UTF-8 text)") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise MalformedRequest(too_deep)
    try:
        return json.loads(text, parse_int=number(int), parse_float=number(float), parse_constant=constant)
    except json.JSONDecodeError as error:
        where = f"{error.msg} at character {error.pos + 1}"
        raise MalformedRequest(f"{subject}: not valid JSON ({where})") from None
    except RecursionError:  # not reached after the depth check; kept so it can never be a 500
        raise MalformedRequest(too_deep) from None


async def read_body(content_length: str | None, chunks: AsyncIterator[bytes], max_bytes: int) -> bytes:
    """The whole body, refused as soon as it is known to be over `max_bytes`."""
    too_large = f"the request body is over {max_bytes // 1024} KiB"
    if content_length is not None:
        if not (content_length.isascii() and content_length.isdigit()):  # isdigit alone takes "²"
            raise MalformedRequest("invalid Content-Length")
        if len(content_length) > 18 or int(content_length) > max_bytes:
            raise BodyTooLarge(too_large)
    body = bytearray()
    async for chunk in chunks:  # also bounds bodies sent without Content-Length
        body.extend(chunk)
        if len(body) > max_bytes:
            raise BodyTooLarge(too_large)
    return bytes(body)
