"""Shared lexical rules of the SIP grammar (RFC 3261 §25.1).

Character classes, quoted strings, comma/semicolon splitting that respects
quotes and angle brackets, and the generic ``;name=value`` parameter list
(:class:`Params`) used by header values and URIs alike.

Every function that reads peer input raises
:class:`~hotline.core.errors.RemoteProtocolError` (``status_hint=400``) whose
message names the header (or URI) in which the problem was found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from hotline.core.errors import RemoteProtocolError

__all__ = [
    "EMPTY_PARAMS",
    "TOKEN_BYTES",
    "TOKEN_CLASS",
    "Params",
    "bad_header",
    "fast_factory",
    "is_plain",
    "is_token",
    "match_quoted",
    "parse_params",
    "plain_params",
    "quote_string",
    "split_list",
    "unquote_string",
]

#: Characters of ``token`` (RFC 3261 §25.1), as the inside of a regex class.
TOKEN_CLASS = r"A-Za-z0-9\-.!%*_+`'~"

_TOKEN_RE = re.compile(rf"[{TOKEN_CLASS}]+")
# gen-value = token / host / quoted-string; host adds ":" "[" "]" for IPv6.
_GEN_VALUE_RE = re.compile(rf"[{TOKEN_CLASS}:\[\]]+")
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.S)
# Chunks for list splitting: a quoted string, a bracketed URI, plain text, a
# separator, or a lone opening quote/bracket (which means "unterminated").
_COMMA_CHUNK_RE = re.compile(r'"(?:[^"\\]|\\.)*"|<[^>]*>|[^"<,]+|,|["<]', re.S)
_SEMI_CHUNK_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[^";]+|;|"', re.S)
# Fast path for parameter lists without quoted strings: validate, then extract.
# (No whitespace at the end of an item: two adjacent ``[ \t]*`` would backtrack exponentially.)
_PARAM_ITEM = rf"[ \t]*;[ \t]*([{TOKEN_CLASS}]+)(?:[ \t]*=[ \t]*([{TOKEN_CLASS}:\[\]]+))?"
_PARAMS_VALID_RE = re.compile(rf"(?:{_PARAM_ITEM})*[ \t]*")
_PARAM_ITEM_RE = re.compile(_PARAM_ITEM)
#: Bytes of ``token``, for :func:`is_plain`.
TOKEN_BYTES = re.sub(rb"[^" + TOKEN_CLASS.encode() + rb"]", b"", bytes(range(128)))
# A parameter list without LWS or quoted strings: token chars, host chars, ";" and "=".
_PLAIN_PARAM_BYTES = TOKEN_BYTES + b":[];="

_T = TypeVar("_T")


def fast_factory(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for a frozen slotted dataclass of parsed values.

    The generated ``__init__`` of a frozen dataclass calls
    ``object.__setattr__`` once per field; this one sets the slots through
    their descriptors, about twice as fast, which matters on the parse hot
    path.  It takes every field, ``init=False`` ones included, in declaration
    order, and does no checking: only for values the parser has validated.
    """
    setters: list[Callable[[Any, Any], None]] = [
        getattr(cls, f.name).__set__
        for f in fields(cls)  # type: ignore[arg-type]
    ]
    new = object.__new__
    s0, s1, s2, s3, s4, s5, s6, s7 = (*setters, *[_ignore] * 8)[:8]
    if len(setters) == 2:

        def make2(a: object, b: object) -> _T:
            obj = new(cls)
            s0(obj, a)
            s1(obj, b)
            return obj

        return make2
    if len(setters) == 3:

        def make3(a: object, b: object, c: object) -> _T:
            obj = new(cls)
            s0(obj, a)
            s1(obj, b)
            s2(obj, c)
            return obj

        return make3
    if len(setters) == 6:

        def make6(a: object, b: object, c: object, d: object, e: object, f: object) -> _T:
            obj = new(cls)
            s0(obj, a)
            s1(obj, b)
            s2(obj, c)
            s3(obj, d)
            s4(obj, e)
            s5(obj, f)
            return obj

        return make6
    if len(setters) == 8:

        def make8(*v: object) -> _T:
            obj = new(cls)
            s0(obj, v[0])
            s1(obj, v[1])
            s2(obj, v[2])
            s3(obj, v[3])
            s4(obj, v[4])
            s5(obj, v[5])
            s6(obj, v[6])
            s7(obj, v[7])
            return obj

        return make8
    raise TypeError(f"fast_factory: unsupported field count for {cls.__name__}")


def _ignore(obj: object, value: object) -> None:
    """Unused setter slot of :func:`fast_factory`."""


def bad_header(header: str, problem: str) -> RemoteProtocolError:
    """Build the 400 error for a malformed ``header`` (the name is in the reason)."""
    return RemoteProtocolError(f"malformed {header} header: {problem}", status_hint=400)


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 ``token``."""
    return _TOKEN_RE.fullmatch(text) is not None


def unquote_string(quoted: str) -> str:
    """Remove the quotes and quoted-pair escapes of a ``quoted-string``."""
    inner = quoted[1:-1]
    if "\\" not in inner:
        return inner
    return _QUOTED_PAIR_RE.sub(r"\1", inner)


def quote_string(text: str) -> str:
    """Write ``text`` as a ``quoted-string``, escaping ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_list(value: str, header: str, sep: str = ",") -> list[str]:
    """Split ``value`` on ``sep`` outside quoted strings (and ``<...>`` for commas).

    Pieces are returned stripped of surrounding whitespace, empty pieces
    included (callers decide whether the grammar allows them).
    """
    if '"' not in value and (sep != "," or "<" not in value):
        return [piece.strip(" \t") for piece in value.split(sep)]
    chunk_re = _COMMA_CHUNK_RE if sep == "," else _SEMI_CHUNK_RE
    pieces: list[str] = []
    current: list[str] = []
    for chunk in chunk_re.findall(value):
        if chunk == sep:
            pieces.append("".join(current).strip(" \t"))
            current = []
        elif chunk in ('"', "<"):
            what = "quoted string" if chunk == '"' else "<"
            raise bad_header(header, f"unterminated {what}")
        else:
            current.append(chunk)
    pieces.append("".join(current).strip(" \t"))
    return pieces


class Params(tuple[tuple[str, str | None], ...]):
    """An ordered ``;name[=value]`` list (an immutable tuple of ``(name, value)``).

    Names compare case-insensitively in lookups.  For header parameters the
    values are kept as written (a quoted-string keeps its quotes, so that
    ``str()`` gives them back) and :meth:`get` returns them unquoted; URI
    parameters store unescaped values.  A parameter without ``=`` (``;lr``,
    ``;rport``) has the value ``None``.
    """

    __slots__ = ()

    @property
    def items(self) -> tuple[tuple[str, str | None], ...]:
        """The ``(name, value)`` pairs as a plain tuple."""
        return tuple(self)

    def has(self, name: str) -> bool:
        """True when parameter ``name`` is present (with or without a value)."""
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self)

    def raw(self, name: str) -> str | None:
        """The value as written (quotes kept); ``None`` if absent or valueless."""
        lname = name.lower()
        for key, value in self:
            if key.lower() == lname:
                return value
        return None

    def get(self, name: str) -> str | None:
        """The (unquoted) value; ``""`` for a valueless parameter, ``None`` if absent."""
        lname = name.lower()
        for key, value in self:
            if key.lower() == lname:
                if value is None:
                    return ""
                if value.startswith('"'):
                    return unquote_string(value)
                return value
        return None

    def with_param(self, name: str, value: str | None) -> Params:
        """Copy with ``name`` set to ``value`` (replaced in place, or appended)."""
        lname = name.lower()
        items = list(self)
        for index, (key, _) in enumerate(items):
            if key.lower() == lname:
                items[index] = (key, value)
                return Params(items)
        items.append((name, value))
        return Params(items)

    def without(self, name: str) -> Params:
        """Copy with every parameter called ``name`` removed."""
        lname = name.lower()
        return Params(item for item in self if item[0].lower() != lname)

    def __str__(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self)

    def __repr__(self) -> str:
        return f"Params({tuple(self)!r})"


#: The empty parameter list (a shared immutable default).
EMPTY_PARAMS = Params()


def is_plain(text: str, allowed: bytes) -> bool:
    """True when ``text`` is ASCII made only of the bytes ``allowed`` deletes (one C pass)."""
    return text.isascii() and not text.encode("ascii").translate(None, allowed)


def plain_params(text: str, *, checked: bool = False) -> Params | None:
    """Fast path of :func:`parse_params`: ``;name[=value]...`` without LWS or quotes.

    ``None`` when ``text`` is not that simple (the general parser decides).
    ``checked`` says the caller already made sure of the character set.
    """
    if text[:1] != ";" or not (checked or is_plain(text, _PLAIN_PARAM_BYTES)):
        return None
    items: list[tuple[str, str | None]] = []
    token = _TOKEN_RE.fullmatch
    for piece in text[1:].split(";"):
        name, eq, value = piece.partition("=")
        if token(name) is None or (eq and (not value or "=" in value)):
            return None
        items.append((name, value if eq else None))
    return Params(items)


def parse_params(text: str, header: str) -> Params:
    """Parse ``*( SEMI generic-param )`` (RFC 3261 §25.1), LWS allowed around ``;``/``=``.

    ``text`` must be empty or start with ``;``.
    """
    if not text:
        return EMPTY_PARAMS
    plain = plain_params(text)
    if plain is not None:
        return plain
    if '"' not in text and _PARAMS_VALID_RE.fullmatch(text) is not None:
        return Params([(n, v or None) for n, v in _PARAM_ITEM_RE.findall(text)])
    text = text.strip(" \t")
    if not text:
        return EMPTY_PARAMS
    if text[0] != ";":
        raise bad_header(header, f"unexpected text {text[:40]!r}")
    pieces = split_list(text[1:], header, ";")
    items: list[tuple[str, str | None]] = []
    for piece in pieces:
        name, eq, value = piece.partition("=")
        name = name.rstrip(" \t")
        if _TOKEN_RE.fullmatch(name) is None:
            raise bad_header(header, f"bad parameter name {name!r}")
        if not eq:
            items.append((name, None))
            continue
        value = value.lstrip(" \t")
        if value.startswith('"'):
            if _QUOTED_RE.fullmatch(value) is None:
                raise bad_header(header, f"bad quoted value of {name!r}")
        elif _GEN_VALUE_RE.fullmatch(value) is None:
            raise bad_header(header, f"bad value of parameter {name!r}")
        items.append((name, value))
    return Params(items)


def match_quoted(text: str) -> int:
    """Length of the quoted-string at the start of ``text``, or -1 if unterminated."""
    match = _QUOTED_RE.match(text)
    return -1 if match is None else match.end()
