"""A `.md` guide's YAML front matter: split from the body and checked by type.

YAML turns unquoted values into whatever they look like (`url: 2024-01-01` is a date,
`city: 2000` a number, `role: yes` a boolean). Such a value used to reach the index and
fail there, after the guide's chunks were written (issue 11), so every value is checked
here, where a failure names the file and skips it before anything is stored.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlparse

import yaml

# The keys a guide may set; each is text. Other keys are left alone (ignored).
TEXT_KEYS = ("title", "role", "city", "country", "url")


class FrontMatterError(ValueError):
    """The front matter cannot be used; `str()` is the reason, without the file name."""


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(the front matter as a mapping, the body); ({}, text) when there is none."""
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        return {}, text
    try:
        meta = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError as error:
        raise FrontMatterError(f"front matter is not valid YAML ({error.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter is not a mapping")
    return meta, text[end + 4:].lstrip("\n")


def validate_front_matter(meta: dict[str, Any]) -> dict[str, str]:
    """The known keys as stripped strings (empty or null values are left out, so the title
    decides); raises `FrontMatterError` naming the first bad key and what it holds."""
    clean: dict[str, str] = {}
    for key in TEXT_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise FrontMatterError(
                f"front matter `{key}` must be text, got {_kind(value)} ({_shown(value)}); "
                "quote it if it is meant as text"
            )
        if value.strip():
            clean[key] = value.strip()
    if "url" in clean:
        url = urlparse(clean["url"])
        if url.scheme not in ("http", "https") or not url.netloc or any(c.isspace() for c in clean["url"]):
            raise FrontMatterError(
                f"front matter `url` must be an http(s) URL, got {_shown(clean['url'])}"
            )
    return clean


def _kind(value: object) -> str:
    # bool before int: YAML's yes/true is a bool, which is also an int in Python.
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, datetime.datetime):
        return "a date and time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
