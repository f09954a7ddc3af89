"""The ordered header container of a SIP message (RFC 3261 §7.3).

:class:`Headers` keeps every header line in order with the name as the peer
spelled it (``v``, ``VIA``, ``Via``) and the value as received (folding undone,
surrounding whitespace removed), so unknown headers survive verbatim.  Lookup
is case-insensitive and understands compact forms (§7.3.3 and the compact
forms registered by later RFCs).  :meth:`Headers.values` splits the
comma-separated list headers (§7.3.1) without breaking quoted strings or
``<...>`` URIs.

Values are ``str``: the parser decodes bytes as UTF-8 with ``surrogateescape``,
so any byte survives a parse/serialise round trip unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from hotline.core.errors import LocalProtocolError
from hotline.sip.msg_grammar import bad_header, is_token, split_list

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "Headers",
    "canonical_name",
    "header_key",
]

#: Compact form -> full name: RFC 3261 §7.3.3, RFC 3265/6665 (o, u), RFC 3515 (r),
#: RFC 3892 (b), RFC 4028 (x), RFC 8224 (y), RFC 3841 (a, j, d), RFC 4474 (n).
COMPACT_FORMS: Mapping[str, str] = MappingProxyType(
    {
        "a": "Accept-Contact",
        "b": "Referred-By",
        "c": "Content-Type",
        "d": "Request-Disposition",
        "e": "Content-Encoding",
        "f": "From",
        "i": "Call-ID",
        "j": "Reject-Contact",
        "k": "Supported",
        "l": "Content-Length",
        "m": "Contact",
        "n": "Identity-Info",
        "o": "Event",
        "r": "Refer-To",
        "s": "Subject",
        "t": "To",
        "u": "Allow-Events",
        "v": "Via",
        "x": "Session-Expires",
        "y": "Identity",
    }
)

_COMPACT_KEYS = {short: full.lower() for short, full in COMPACT_FORMS.items()}

_CANONICAL_SPELLING = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(),
        "Call-ID", "CSeq", "Max-Forwards", "Record-Route", "Route", "Expires",
        "Min-Expires", "Authorization", "WWW-Authenticate", "Proxy-Authenticate",
        "Proxy-Authorization", "Authentication-Info", "Require", "Proxy-Require",
        "Unsupported", "Allow", "Accept", "Accept-Encoding", "Accept-Language",
        "Timestamp", "User-Agent", "Server", "Warning", "Retry-After", "Date",
        "Organization", "Priority", "Reply-To", "In-Reply-To", "Alert-Info",
        "Call-Info", "Error-Info", "Content-Disposition", "Content-Language",
        "MIME-Version", "RSeq", "RAck", "Path", "Service-Route", "Reason",
        "P-Asserted-Identity", "P-Preferred-Identity", "Privacy", "Min-SE",
        "Subscription-State", "Replaces", "Diversion", "History-Info",
    )
}  # fmt: skip

#: Keys (lower-case full names) of headers whose values form a comma list (§7.3.1).
LIST_HEADERS = frozenset(
    {
        "accept", "accept-contact", "accept-encoding", "accept-language",
        "alert-info", "allow", "allow-events", "call-info", "contact",
        "content-encoding", "content-language", "diversion", "error-info",
        "history-info", "in-reply-to", "p-asserted-identity", "p-associated-uri",
        "p-preferred-identity", "path", "proxy-require", "reason", "record-route",
        "reject-contact", "request-disposition", "require", "route",
        "security-client", "security-server", "security-verify", "service-route",
        "supported", "unsupported", "via", "warning",
    }
)  # fmt: skip


def header_key(name: str) -> str:
    """The lookup key of a header name: lower-case, compact forms expanded."""
    lname = name.lower()
    return _COMPACT_KEYS.get(lname, lname)


def canonical_name(name: str) -> str:
    """The usual spelling of a header name (``v`` -> ``Via``, ``cseq`` -> ``CSeq``)."""
    key = header_key(name)
    return _CANONICAL_SPELLING.get(key, name)


def _check(name: str, value: str) -> str:
    if not is_token(name):
        raise LocalProtocolError(f"invalid SIP header name {name!r}")
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"CR or LF in the value of header {name!r}")
    return value.strip(" \t")


class Headers:
    """Ordered, case-insensitive multi-map of SIP header lines.

    Each line keeps the peer's spelling of its name and its value.  Typed
    accessors on messages memoise their parse results here; any change to
    the headers drops those memos.
    """

    __slots__ = ("_keys", "_memo", "_names", "_values")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._keys: list[str] = []
        self._names: list[str] = []
        self._values: list[str] = []
        self._memo: dict[str, object] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def from_parsed(cls, keys: list[str], names: list[str], values: list[str]) -> Headers:
        """Adopt lists built by the parser (names already validated, keys from :func:`header_key`)."""
        headers = cls()
        headers._keys, headers._names, headers._values = keys, names, values
        return headers

    # -- reading -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return zip(self._names, self._values, strict=True)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._keys

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._names == other._names and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def columns(self) -> tuple[list[str], list[str], list[str]]:
        """Keys, names and values as parallel lists (read only: do not change them)."""
        return self._keys, self._names, self._values

    def entries(self) -> Iterator[tuple[str, str, str]]:
        """``(key, name, value)`` of every line, in order."""
        return zip(self._keys, self._names, self._values, strict=True)

    def keys(self) -> list[str]:
        """The lookup key of every line, in order."""
        return list(self._keys)

    def count(self, name: str) -> int:
        """How many lines carry header ``name`` (not how many list values)."""
        return self._keys.count(header_key(name))

    def get(self, name: str) -> str | None:
        """Value of the first line of header ``name``, or ``None``."""
        key = header_key(name)
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            return None

    def get_all(self, name: str) -> list[str]:
        """Values of every line of header ``name``, in order (no comma splitting)."""
        return self.get_all_by_key(header_key(name))

    def get_all_by_key(self, key: str) -> list[str]:
        """Like :meth:`get_all` for a key already made by :func:`header_key`."""
        keys = self._keys
        if keys.count(key) == 1:
            return [self._values[keys.index(key)]]
        return [value for k, value in zip(keys, self._values, strict=True) if k == key]

    def single(self, key: str, label: str) -> str | None:
        """The one line of header ``key`` (a :func:`header_key`), ``None`` if absent.

        Raises ``RemoteProtocolError`` (400) naming ``label`` if it appears
        on more than one line (Call-ID, CSeq, From, To... §20).
        """
        keys = self._keys
        count = keys.count(key)
        if count == 1:
            return self._values[keys.index(key)]
        if count:
            raise bad_header(label, "appears more than once")
        return None

    def values(self, name: str) -> list[str]:
        """Every value of header ``name``, list headers split at commas (§7.3.1).

        An empty line contributes nothing (``Supported:``); an empty element
        inside a list (``a,,b``) raises ``RemoteProtocolError`` (400).
        """
        key = header_key(name)
        lines = self.get_all_by_key(key)
        if key not in LIST_HEADERS:
            return lines
        result: list[str] = []
        label = canonical_name(name)
        for line in lines:
            if not line:
                continue
            pieces = split_list(line, label)
            if "" in pieces:
                raise bad_header(label, "empty element in list")
            result.extend(pieces)
        return result

    def memo(self, key: str) -> object | None:
        """A parse result memoised by a typed accessor, or ``None``."""
        return self._memo.get(key)

    def remember(self, key: str, value: object) -> None:
        """Memoise a typed accessor's parse result until the next change."""
        self._memo[key] = value

    # -- changing ------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a line ``name: value``."""
        value = _check(name, value)
        self._memo.clear()
        self._keys.append(header_key(name))
        self._names.append(name)
        self._values.append(value)

    def prepend(self, name: str, value: str) -> None:
        """Insert a line before the first line of the same header (or at the top)."""
        value = _check(name, value)
        key = header_key(name)
        index = self._keys.index(key) if key in self._keys else 0
        self._memo.clear()
        self._keys.insert(index, key)
        self._names.insert(index, name)
        self._values.insert(index, value)

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line at the first one's place."""
        value = _check(name, value)
        key = header_key(name)
        if key not in self._keys:
            self.add(name, value)
            return
        index = self._keys.index(key)
        self.remove(name)
        self._keys.insert(index, key)
        self._names.insert(index, name)
        self._values.insert(index, value)

    def remove(self, name: str) -> int:
        """Remove every line of header ``name``; returns how many were removed."""
        key = header_key(name)
        keep = [i for i, k in enumerate(self._keys) if k != key]
        removed = len(self._keys) - len(keep)
        if removed:
            self._memo.clear()
            self._keys = [self._keys[i] for i in keep]
            self._names = [self._names[i] for i in keep]
            self._values = [self._values[i] for i in keep]
        return removed

    def replace_first_value(self, name: str, value: str) -> None:
        """Replace the first list value of ``name`` (e.g. the top Via), keeping the rest."""
        value = _check(name, value)
        key = header_key(name)
        if key not in self._keys:
            raise LocalProtocolError(f"no {name} header to replace")
        index = self._keys.index(key)
        rest = split_list(self._values[index], canonical_name(name))[1:]
        self._memo.clear()
        self._values[index] = ", ".join([value, *rest])

    def pop_first_value(self, name: str) -> str | None:
        """Remove and return the first list value of ``name`` (a proxy's top Via)."""
        key = header_key(name)
        if key not in self._keys:
            return None
        index = self._keys.index(key)
        first, *rest = split_list(self._values[index], canonical_name(name))
        self._memo.clear()
        if rest:
            self._values[index] = ", ".join(rest)
        else:
            del self._keys[index], self._names[index], self._values[index]
        return first

    def copy(self) -> Headers:
        """An independent copy (memos are not copied)."""
        return Headers.from_parsed(list(self._keys), list(self._names), list(self._values))
