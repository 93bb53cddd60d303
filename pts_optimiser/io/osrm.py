"""Road times from an OSRM server's table API, with the estimate as a fallback.

The only network use at run time, and only to the server the user configures. Requests
are chunked to stay under the server's table-size limit; a server that is down, slow,
dripping or answers nonsense makes the whole matrix fall back to the estimate, with a
warning that reaches the log and the summary (a plan is made either way).

The whole table of a day has one deadline (`budget_s`, by default the policy's
`osrm_timeout_s`): a socket timeout alone does not bound a server that answers a few
bytes at a time, so every read is made against a monotonic deadline.

Credentials in the URL (`http://user:password@host`, `?token=...`) are sent as the server
expects them and never written anywhere: every message that names the server goes
through `redact`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import numpy as np
from numpy.typing import NDArray

from pts_optimiser.domain.config import TravelPolicy
from pts_optimiser.domain.travel import (
    EstimatedTravel,
    TravelMatrix,
    TravelModel,
    great_circle_m,
)

# A plan folder's copy of the policy holds no credentials: a check or re-plan of it reaches
# a server that asks for a sign-in only through the environment (domain.config).
SIGN_IN_HINT = ": the server asks for a sign-in; give its URL with the credentials in PTS_OSRM_URL"
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a 100 x 100 table is about 0.2 MB
MAX_HEADER_BYTES = 64 * 1024
SHORTEST_SECRET = 4  # shorter secrets would blank ordinary words: the patterns catch them

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#]*@")  # to the host's last @
_SECRET_QUERY = re.compile(
    r"(?i)([?&;][^=&\s#]*(?:token|key|secret|pass|pwd|auth|sig|credential|session)"
    r"[^=&\s#]*=)[^&\s#]*")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*")


class OsrmError(Exception):
    """The server could not give a usable table."""


def _secrets(url: str) -> list[str]:
    """The credentials a URL carries: user, password and query values, raw and decoded."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.username or "", parts.password or ""]
        found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:  # a URL too broken to split: the patterns below still apply
        return []
    found += [unquote(s) for s in found]
    return sorted({s for s in found if len(s) >= SHORTEST_SECRET}, key=len, reverse=True)


def redact(text: str, url: str = "") -> str:
    """`text` fit for a log, a message or a plan file: no credentials of any URL in it.

    Userinfo (`user:password@`) and secret-looking query values are masked wherever a URL
    appears; with `url`, its own credentials are also masked wherever they appear alone.
    """
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    text = _USERINFO.sub(r"\1***@", text)
    return _SECRET_QUERY.sub(r"\1***", text)


def without_credentials(url: str) -> str:
    """`url` with no user, password or secret-looking query value: fit to store in a file.

    Unlike `redact`, what is left is a working address for a server that needs no sign-in.
    """
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
             if not _SECRET_QUERY.search(f"?{name}=")]
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path,
                       urlencode(query), parts.fragment))


@dataclass(frozen=True)
class _Endpoint:
    """Where and how to ask: the URL split once, its credentials kept out of the path."""

    https: bool
    host: str
    port: int
    host_header: str
    path: str
    query: str
    authorization: str

    @classmethod
    def of(cls, url: str) -> _Endpoint:
        try:
            parts: SplitResult = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise OsrmError(f"not a usable URL ({redact(str(exc), url)})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OsrmError("not an http(s) URL")
        https = parts.scheme == "https"
        authorization = ""
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(https, parts.hostname, port or (443 if https else 80),
                   parts.netloc.rpartition("@")[2], parts.path.rstrip("/"), parts.query,
                   authorization)


@dataclass(frozen=True)
class OsrmTravel:
    """Travel from OSRM's `table` service (durations and distances)."""

    url: str
    timeout_s: float  # the default budget of a whole table, every request together
    max_table: int
    fallback: EstimatedTravel

    def matrix(self, lats: NDArray[np.float64], lons: NDArray[np.float64],
               budget_s: float | None = None) -> TravelMatrix:
        """Road metres and minutes (rounded up); the estimate if the server fails.

        `budget_s` bounds the whole table, every request together (default: the policy's
        `osrm_timeout_s`); a caller with a time limit passes a share of it.
        """
        budget = self.timeout_s if budget_s is None else max(0.0, budget_s)
        try:
            seconds, metres = self._table(lats, lons, time.monotonic() + budget, budget)
        except OsrmError as exc:
            estimate = self.fallback.matrix(lats, lons)
            return TravelMatrix(estimate.distance_m, estimate.duration_min,
                                f"OSRM at {redact(self.url, self.url)} failed "
                                f"({redact(str(exc), self.url)}); travel estimated from "
                                "coordinates instead")
        estimate = self.fallback.matrix(lats, lons)
        # A pair the server cannot route (null) keeps the estimate; so does one no road
        # could give (`_impossible`). A table of mostly such pairs is the server's fault:
        # all zeros from a server loaded with another region's map planned 30 journeys on
        # 0.0 km until the thirty-fifth stop.
        missing = np.isnan(seconds) | np.isnan(metres)
        wrong = _impossible(seconds, metres, great_circle_m(lats, lons))
        if wrong.sum() > max(1, IMPOSSIBLE_SHARE * wrong.size):
            return TravelMatrix(estimate.distance_m, estimate.duration_min,
                                f"OSRM at {redact(self.url, self.url)} gave {int(wrong.sum())} "
                                "road(s) shorter or faster than the straight line allows (a "
                                "map of another region?); travel estimated from coordinates "
                                "instead")
        missing |= wrong
        minutes = np.where(missing, estimate.duration_min, np.ceil(seconds / 60 - 1e-9))
        distance = np.where(missing, estimate.distance_m, np.rint(metres))
        warning = (f"OSRM could not route {int(missing.sum())} pair(s); estimated instead"
                   if missing.any() else "")
        return TravelMatrix(distance.astype(np.int64), minutes.astype(np.int64), warning)

    def _table(self, lats: NDArray[np.float64], lons: NDArray[np.float64], deadline: float,
               budget_s: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        endpoint = _Endpoint.of(self.url)
        n = len(lats)
        seconds = np.full((n, n), np.nan)
        metres = np.full((n, n), np.nan)
        block = max(1, self.max_table // 2)  # sources and destinations share one request
        for first in range(0, n, block):
            sources = list(range(first, min(n, first + block)))
            for second in range(0, n, block):
                targets = list(range(second, min(n, second + block)))
                places = sources + [t for t in targets if t not in sources]
                position = {place: k for k, place in enumerate(places)}
                answer = self._get(endpoint, places, lats, lons, [position[s] for s in sources],
                                   [position[t] for t in targets], deadline, budget_s)
                seconds[np.ix_(sources, targets)] = answer[0]
                metres[np.ix_(sources, targets)] = answer[1]
        return seconds, metres

    def _get(self, endpoint: _Endpoint, places: list[int], lats: NDArray[np.float64],
             lons: NDArray[np.float64], sources: list[int], targets: list[int],
             deadline: float, budget_s: float
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        coordinates = ";".join(f"{lons[p]:.6f},{lats[p]:.6f}" for p in places)
        target = (f"{endpoint.path}/table/v1/driving/{coordinates}"
                  f"?sources={';'.join(map(str, sources))}"
                  f"&destinations={';'.join(map(str, targets))}&annotations=duration,distance")
        if endpoint.query:
            target += "&" + endpoint.query
        try:
            raw = _http_get(endpoint, target, deadline)
            body: Any = json.loads(raw.decode("utf-8"))
        except TimeoutError:
            raise OsrmError(f"no complete answer within {round(budget_s, 1):g} s") from None
        except (OSError, ValueError, RecursionError) as exc:  # refused, reset, TLS, bad JSON
            why = str(exc) if type(exc) is OSError else f"{type(exc).__name__}: {exc}"
            raise OsrmError(why[:200]) from None
        if not isinstance(body, dict) or body.get("code") != "Ok":
            code = body.get("code") if isinstance(body, dict) else "no JSON object"
            raise OsrmError(f"server answered {str(code)[:60]}")
        try:
            durations = _grid(body["durations"], len(sources), len(targets))
            distances = _grid(body["distances"], len(sources), len(targets))
        except (KeyError, TypeError, ValueError) as exc:
            raise OsrmError(f"unexpected table ({exc})") from None
        return durations, distances


def _left(deadline: float) -> float:
    """Seconds to the deadline; TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _resolve(host: str, port: int, deadline: float) -> list[Any]:
    """The host's addresses, looked up within the deadline (getaddrinfo has no timeout)."""
    found: list[Any] = []
    failed: list[BaseException] = []

    def look_up() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            failed.append(exc)

    worker = threading.Thread(target=look_up, daemon=True)
    worker.start()
    worker.join(_left(deadline))
    if worker.is_alive():
        raise TimeoutError
    if failed:
        raise failed[0]
    return found


def _connect(endpoint: _Endpoint, deadline: float) -> socket.socket:
    last: OSError = OSError("no address")
    for family, kind, proto, _, address in _resolve(endpoint.host, endpoint.port, deadline):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_left(deadline))
            sock.connect(address)
        except OSError as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise
            last = exc
            continue
        if not endpoint.https:
            return sock
        tls = ssl.create_default_context().wrap_socket(
            sock, server_hostname=endpoint.host, do_handshake_on_connect=False)
        try:
            _handshake(tls, deadline)
        except BaseException:
            tls.close()
            raise
        return tls
    raise last


def _handshake(tls: ssl.SSLSocket, deadline: float) -> None:
    """The TLS handshake, bounded by the deadline as a whole (not per read)."""
    import select

    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            ready = select.select([tls], [], [], _left(deadline))[0]
        except ssl.SSLWantWriteError:
            ready = select.select([], [tls], [], _left(deadline))[1]
        if not ready:
            raise TimeoutError
    tls.setblocking(True)


def _http_get(endpoint: _Endpoint, target: str, deadline: float) -> bytes:
    """The body of a 200 answer to GET `target`, read whole before the deadline.

    Raises TimeoutError when the deadline passes, OSError for anything the server did
    wrong (closed early, not HTTP, an error status, a cut-short body).
    """
    headers = [f"GET {target} HTTP/1.1", f"Host: {endpoint.host_header}",
               "Accept: application/json", "User-Agent: pts-optimiser", "Connection: close"]
    if endpoint.authorization:
        headers.append(f"Authorization: {endpoint.authorization}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode("ascii")
    with _connect(endpoint, deadline) as sock:
        sock.settimeout(_left(deadline))
        sock.sendall(request)
        data = bytearray()
        head: tuple[int, int | None, bool] | None = None  # (body start, length, chunked)
        while True:
            sock.settimeout(_left(deadline))
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_ANSWER_BYTES:
                raise OSError("answer too large")
            if head is None:
                prefix = bytes(data[:7])
                if prefix != b"HTTP/1."[:len(prefix)]:  # garbage is told at its first bytes
                    raise OSError("not an HTTP answer")
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    if len(data) > MAX_HEADER_BYTES:
                        raise OSError("not an HTTP answer")
                    continue
                head = _head(bytes(data[:end]), end + 4)
            start, length, chunked = head
            if length is not None and len(data) - start >= length:
                break
            if chunked and data.endswith(b"0\r\n\r\n"):
                break
    if head is None:
        raise OSError("connection closed before an HTTP answer" if not data
                      else "not an HTTP answer")
    start, length, chunked = head
    body = bytes(data[start:])
    if chunked:
        return _dechunk(body)
    if length is not None and len(body) < length:
        raise OSError(f"answer cut short: {len(body)} of {length} bytes")
    return body[:length] if length is not None else body


def _head(head: bytes, start: int) -> tuple[int, int | None, bool]:
    """(body start, Content-Length, chunked) of a 200 answer's head; OSError otherwise."""
    lines = head.split(b"\r\n")
    status = _STATUS_LINE.fullmatch(lines[0])
    if status is None:
        raise OSError("not an HTTP answer")
    code = int(status.group(1))
    if code != 200:
        raise OSError(f"HTTP {code}" + (SIGN_IN_HINT if code in (401, 403) else ""))
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    chunked = "chunked" in fields.get("transfer-encoding", "").lower()
    length = fields.get("content-length")
    if chunked or length is None:
        return start, None, chunked
    if not length.isdigit():
        raise OSError("bad Content-Length")
    return start, int(length), False


def _dechunk(body: bytes) -> bytes:
    """A chunked transfer-encoded body, decoded; OSError when it is cut short or bad."""
    out = bytearray()
    position = 0
    while True:
        end = body.find(b"\r\n", position)
        if end < 0:
            raise OSError("answer cut short")
        try:
            size = int(body[position:end].split(b";")[0], 16)
        except ValueError:
            raise OSError("bad chunked answer") from None
        if size == 0:
            return bytes(out)
        first = end + 2
        if len(body) < first + size + 2:
            raise OSError("answer cut short")
        out += body[first:first + size]
        position = first + size + 2


# A road between two places this far apart (straight line) is checked for sense: no
# shorter than ROAD_LEAST_SHARE of the straight line (a point snapped to a road nearby
# may shorten it a little), and driven no faster than ROAD_FASTEST_KMH on average.
SANE_FROM_M = 2000.0
ROAD_LEAST_SHARE = 0.7
ROAD_FASTEST_KMH = 150.0
IMPOSSIBLE_SHARE = 0.05  # more pairs than this, and the whole table is not believed
MOST_S_OR_M = 1e7  # 116 days, or 10,000 km: no day's leg


def _impossible(seconds: NDArray[np.float64], metres: NDArray[np.float64],
                straight_m: NDArray[np.float64]) -> NDArray[np.bool_]:
    """The pairs whose road is shorter, or faster, than the straight line allows."""
    far = straight_m >= SANE_FROM_M
    with np.errstate(invalid="ignore"):
        short = metres < ROAD_LEAST_SHARE * straight_m
        fast = seconds < straight_m / (ROAD_FASTEST_KMH / 3.6)
    return np.asarray(far & (short | fast) & ~np.isnan(seconds) & ~np.isnan(metres))


def _grid(rows: object, n_rows: int, n_cols: int) -> NDArray[np.float64]:
    """A table of numbers or nulls (unroutable) as floats with NaN."""
    if not isinstance(rows, list) or len(rows) != n_rows:
        raise ValueError("wrong number of rows")
    grid = np.full((n_rows, n_cols), np.nan)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != n_cols:
            raise ValueError("wrong number of columns")
        for j, value in enumerate(row):
            if value is not None:
                # JSON's true, or "100", is not a number of seconds (float() takes both).
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError("not a travel time or distance")
                number = float(value)
                if not math.isfinite(number) or not 0 <= number <= MOST_S_OR_M:
                    raise ValueError("not a travel time or distance")
                grid[i, j] = number
    return grid


def travel_model(policy: TravelPolicy, budget_s: float | None = None) -> TravelModel:
    """The travel model the policy asks for: the estimate, or OSRM with it as fallback.

    `budget_s` bounds the seconds a whole OSRM table may take, every request together
    (default: the policy's `osrm_timeout_s`, or less when given): a planner with a time
    limit passes a share of it.
    """
    estimate = EstimatedTravel(policy.road_factor, policy.speed_kmh)
    if policy.provider == "osrm":
        budget = policy.osrm_timeout_s if budget_s is None else min(policy.osrm_timeout_s,
                                                                      max(0.0, budget_s))
        return OsrmTravel(policy.osrm_url, budget, policy.osrm_max_table, estimate)
    return estimate
