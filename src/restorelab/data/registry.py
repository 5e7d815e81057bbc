"""The data sets ``restorelab-data download`` knows: their archives, checksums and layout.

The built-in table is ``registry.yaml`` next to this file (it travels in the wheel); a user's
own file with the same shape can replace it (``--registry FILE``), which is also how the tests
point the downloader at archives they build. Each entry::

    name:
      description: one line
      page: where the data set is published (its licence, its paper)
      note: what to do by hand, for sets without a direct link (optional)
      archives:
        - url: https://...   # null: no direct link; the user puts ``file`` in downloads/
          file: NAME.zip     # default: the last part of the url
          size: 123          # bytes, or null when not published
          sha256: ...        # or md5, or neither (then the computed sha256 is recorded)
          extract:           # which members go where, relative to the data root
            - {match: '^DIV2K_train_HR/([^/]+\\.png)$', to: 'DIV2K/DIV2K_train_HR/\\1'}

A checksum is written down only where it is published (see the comments in ``registry.yaml``);
an unknown one stays ``null`` rather than being made up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from restorelab.errors import ConfigError

#: The registry that ships with restorelab.
BUILTIN_REGISTRY = Path(__file__).with_name("registry.yaml")
#: Checksum kinds the downloader verifies, and the length of their hex digests.
DIGESTS = {"sha256": 64, "md5": 32}


@dataclass(frozen=True)
class ExtractRule:
    """Archive members whose name fully matches ``match`` are written to ``to`` (``re.sub``)."""

    match: re.Pattern[str]
    to: str

    def destination(self, member: str) -> str | None:
        """The data-root-relative path of ``member``, or None when the rule does not apply."""
        found = self.match.fullmatch(member)
        return found.expand(self.to) if found else None


@dataclass(frozen=True)
class Archive:
    """One file to download (or, with ``url`` None, to be put in ``downloads/`` by hand)."""

    file: str
    url: str | None
    size: int | None
    digests: dict[str, str]
    extract: tuple[ExtractRule, ...]

    def destination(self, member: str) -> str | None:
        """Where ``member`` goes under the data root (the first rule that matches), or None."""
        for rule in self.extract:
            target = rule.destination(member)
            if target is not None:
                return target
        return None


@dataclass(frozen=True)
class Entry:
    """A data set: its archives and what a user has to know about it."""

    name: str
    description: str
    page: str
    note: str
    archives: tuple[Archive, ...] = field(default_factory=tuple)


def _archive(raw: Any, where: str) -> Archive:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with url/file, got {raw!r}")
    url = raw.get("url")
    file = raw.get("file") or (Path(unquote(urlparse(url).path)).name if url else None)
    if not file or "/" in file or file.startswith("."):
        raise ConfigError(f"{where}: needs a plain file name (file: or a url ending in one)")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ConfigError(f"{where}.size: expected a byte count, got {size!r}")
    digests = {}
    for kind, length in DIGESTS.items():
        value = raw.get(kind)
        if value is None:
            continue
        value = str(value).lower()
        if not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
            raise ConfigError(f"{where}.{kind}: not a {length}-digit hex digest: {value!r}")
        digests[kind] = value
    rules = []
    for i, rule in enumerate(raw.get("extract") or []):
        if not isinstance(rule, dict) or "match" not in rule or "to" not in rule:
            raise ConfigError(f"{where}.extract[{i}]: expected {{match: REGEX, to: PATH}}")
        try:
            rules.append(ExtractRule(re.compile(str(rule["match"])), str(rule["to"])))
        except re.error as e:
            raise ConfigError(f"{where}.extract[{i}].match: bad regular expression: {e}") from e
    if not rules:
        raise ConfigError(f"{where}: no extract rules (which members go where?)")
    return Archive(file, url, size, digests, tuple(rules))


def parse_registry(raw: Any, source: str) -> dict[str, Entry]:
    """Entries from a registry mapping (as loaded from YAML); errors name ``source`` and key."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"registry {source}: expected a mapping of data set names")
    entries = {}
    for name, body in raw.items():
        where = f"registry {source}: {name}"
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: expected a mapping, got {body!r}")
        archives = tuple(
            _archive(a, f"{where}.archives[{i}]") for i, a in enumerate(body.get("archives") or [])
        )
        note = str(body.get("note") or "")
        if not archives and not note:
            raise ConfigError(f"{where}: neither archives nor a note saying how to get it")
        entries[str(name)] = Entry(
            name=str(name),
            description=str(body.get("description") or ""),
            page=str(body.get("page") or ""),
            note=note,
            archives=archives,
        )
    return entries


def load_registry(path: str | Path | None = None) -> dict[str, Entry]:
    """The registry in ``path`` (YAML or JSON), or the built-in one."""
    file = Path(path) if path is not None else BUILTIN_REGISTRY
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"registry file not found: {file}") from None
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"registry {file}: cannot be read{where}: {first}") from None
    return parse_registry(raw, str(file))
