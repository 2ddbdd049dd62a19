"""aioquic interop peer for Tern's `cargo xtask interop`.

An HTTP/0.9-over-QUIC ("hq-interop") endpoint built on aioquic's Python API,
so Tern can be tested against an independent implementation. It follows the
endpoint contract the orchestrator uses for every implementation:

Run as ``<venv>/bin/python xtask/peers/aioquic/peer.py`` (venv built from
``requirements.txt`` beside this file, e.g. ``target/aioquic-venv``), and
configured only by environment variables:

* ``ROLE``: ``server`` or ``client``.
* ``TESTCASE``: ``handshake``, ``transfer``, ``multiconnect``, ``chacha20``,
  ``retry`` (the server sends a Retry to every new client, with aioquic's own
  ``retry`` option of ``QuicServer``; aioquic's client follows a Retry by
  itself), ``resumption`` (the client fetches the first URL over a first
  connection, then the others over a second one that resumes the first's
  TLS session with its ticket) or ``zerortt`` (as ``resumption``, the second
  connection sending its requests in 0-RTT packets, before its handshake
  completes) or ``keyupdate`` (the client requests a 1-RTT key update with
  aioquic's ``request_key_update()`` as soon as the handshake completes;
  aioquic starts it once the handshake is confirmed, early in the transfer;
  the server follows by itself) or ``v2`` (both roles support QUIC v2 and
  v1, v2 preferred; the client starts on v1 with aioquic's
  ``original_version`` and offers both in its version_information, and the
  server moves the connection to v2 by compatible version negotiation,
  RFC 9368 §2.2, which aioquic does in both roles). Anything else prints a
  one-line reason to stderr and exits 127.
  ``ecn`` is among those: aioquic never sets ECT codepoints on its sockets
  nor reads them, and discards the counts of ACK_ECN frames it receives.
* ``SSLKEYLOGFILE`` (optional): the TLS key log is appended there.
* ``QLOGDIR`` (optional): one qlog file per connection is written there.
* server: ``WWW`` (directory served), ``CERTS`` (directory with ``cert.pem``,
  a PEM chain leaf first, and ``priv.key``, PKCS#8 PEM), ``PORT``.
* client: ``REQUESTS`` (space-separated ``https://host:port/path`` URLs),
  ``DOWNLOADS`` (directory the response bodies are written to, named after
  the last path segment of their URL).

Protocol: QUIC v1 (v2 as well under ``v2``), ALPN ``hq-interop``. The client sends ``GET /path\\r\\n``
on a new bidirectional stream and ends it; the server answers with the bytes
of ``WWW/path`` and FIN, or resets the stream when the file is missing or the
path tries to leave ``WWW``.

The server listens on ``[::]:PORT`` with IPV6_V6ONLY off, so IPv4 and IPv6
clients both reach it, prints ``listening on ...`` and serves until killed.
Its bidirectional stream limit is aioquic's fixed 128 (at most 1000, as the
multiplexing case requires). It issues a session ticket on every connection
and keeps it until a client uses it: a ticket resumes one connection, whose
0-RTT data aioquic's server accepts (a ticket used once cannot be replayed).
For ``chacha20`` both sides allow only TLS_CHACHA20_POLY1305_SHA256.

The client skips certificate verification (the test chain is self-signed).
``multiconnect`` uses one connection per URL, one after another; the other
cases send every request over one connection, in parallel, never opening
more streams than the server allows. It exits 0 only if every file was
downloaded completely, 1 otherwise (with the error on stderr).
"""

import asyncio
import functools
import os
import signal
import socket
import ssl
import sys
import time
from typing import NoReturn
from urllib.parse import urlparse

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    StreamDataReceived,
    StreamReset,
)
from aioquic.quic.logger import QuicFileLogger
from aioquic.quic.packet import QuicProtocolVersion
from aioquic.tls import CipherSuite, SessionTicket

ALPN = "hq-interop"
SUPPORTED = (
    "handshake",
    "transfer",
    "multiconnect",
    "chacha20",
    "retry",
    "resumption",
    "zerortt",
    "keyupdate",
    "v2",
)
# Cases whose client resumes a second connection with a ticket of the first.
RESUMING = ("resumption", "zerortt")
# Application error code used to reset a stream whose request can't be served.
RESET_CODE = 0x101
# Application error code the client closes with when a download failed.
CLIENT_FAILED = 0x102
# Closes a connection whose peer has gone quiet; long enough for the lossy and
# long-RTT cases, where aioquic's own loss recovery keeps traffic flowing.
IDLE_TIMEOUT = 30.0
# Used only if aioquic ever stops exposing the peer's stream limit.
FALLBACK_STREAM_WINDOW = 100


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"aioquic peer: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


class QlogWriter(QuicFileLogger):
    """aioquic's per-connection qlog writer, safe to flush early.

    At exit we write the traces of connections still open (see flush_qlog);
    such a connection may still end afterwards, and aioquic would then try to
    write its trace a second time, which QuicFileLogger rejects.
    """

    def end_trace(self, trace) -> None:
        if trace in self._traces:
            super().end_trace(trace)


@functools.cache
def open_keylog(path: str):
    """One line-buffered handle, shared by every connection (multiconnect)."""
    return open(path, "a", buffering=1)


def make_configuration(is_client: bool, testcase: str) -> QuicConfiguration:
    """Settings both roles share: version, ALPN, timeouts, logs, ciphers."""
    config = QuicConfiguration(
        is_client=is_client,
        alpn_protocols=[ALPN],
        supported_versions=[QuicProtocolVersion.VERSION_1],
        idle_timeout=IDLE_TIMEOUT,
        # Larger windows than aioquic's 1 MiB default, so big files and long
        # RTTs aren't throttled by flow control.
        max_data=16 * 1024 * 1024,
        max_stream_data=8 * 1024 * 1024,
    )
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog:
        config.secrets_log_file = open_keylog(keylog)
    qlogdir = os.environ.get("QLOGDIR")
    if qlogdir:
        os.makedirs(qlogdir, exist_ok=True)
        config.quic_logger = QlogWriter(qlogdir)
    if testcase == "chacha20":
        config.cipher_suites = [CipherSuite.CHACHA20_POLY1305_SHA256]
    if testcase == "v2":
        # RFC 9368: listed in preference order. A client offers them in its
        # version_information; aioquic's server takes the first of the
        # client's list that it supports and that is compatible.
        config.supported_versions = [QuicProtocolVersion.VERSION_2,
                                     QuicProtocolVersion.VERSION_1]
        if is_client:
            # The runner's v2 client starts on v1 (RFC 9368 §2.2).
            config.original_version = QuicProtocolVersion.VERSION_1
    return config


def flush_qlog(config: QuicConfiguration) -> None:
    """Write out the traces of connections that haven't ended yet."""
    logger = config.quic_logger
    if logger is not None:
        for trace in list(logger._traces):
            logger.end_trace(trace)


# --------------------------------------------------------------------------
# Server


class HqServerProtocol(QuicConnectionProtocol):
    """One server-side connection: answers each request stream with a file."""

    def __init__(self, *args, www: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._www = os.path.realpath(www)
        self._requests: dict[int, bytearray] = {}  # request lines being read
        self._answered: set[int] = set()  # answered before the client's FIN

    def quic_event_received(self, event) -> None:
        if isinstance(event, StreamDataReceived):
            if event.stream_id in self._answered:
                if event.end_stream:
                    self._answered.discard(event.stream_id)
                return
            buf = self._requests.setdefault(event.stream_id, bytearray())
            buf += event.data
            # Answer once the request line is complete (or the stream ends).
            if b"\n" in buf or event.end_stream:
                del self._requests[event.stream_id]
                if not event.end_stream:
                    self._answered.add(event.stream_id)
                self._answer(event.stream_id, bytes(buf))
        elif isinstance(event, StreamReset):
            self._requests.pop(event.stream_id, None)
            self._answered.discard(event.stream_id)

    def _answer(self, stream_id: int, request: bytes) -> None:
        data = None
        path = self._resolve(request)
        if path is not None:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                pass
        if data is None:
            self._quic.reset_stream(stream_id, RESET_CODE)
        else:
            self._quic.send_stream_data(stream_id, data, end_stream=True)
        self.transmit()

    def _resolve(self, request: bytes) -> str | None:
        """The file a request line names, or None if it can't be served."""
        line = request.split(b"\n", 1)[0].strip()
        parts = line.split(b" ")
        if len(parts) < 2 or parts[0] != b"GET" or not parts[1].startswith(b"/"):
            return None
        target = parts[1].decode("utf-8", "replace")
        if ".." in target:
            return None
        path = os.path.realpath(os.path.join(self._www, target.lstrip("/")))
        if os.path.commonpath([self._www, path]) != self._www:
            return None
        return path if os.path.isfile(path) else None


class SessionTicketStore:
    """The tickets the server issued, by label. Each is taken when a client
    presents it, so a ticket resumes at most one connection and its 0-RTT data
    is accepted at most once (RFC 8446 §8.1)."""

    def __init__(self) -> None:
        self._tickets: dict[bytes, SessionTicket] = {}

    def add(self, ticket: SessionTicket) -> None:
        self._tickets[ticket.ticket] = ticket

    def pop(self, label: bytes) -> SessionTicket | None:
        return self._tickets.pop(label, None)


async def run_server(testcase: str) -> None:
    www = os.environ.get("WWW") or fail("WWW is not set")
    certs = os.environ.get("CERTS") or fail("CERTS is not set")
    port = int(os.environ.get("PORT") or 443)

    # No stream-limit setting is needed: aioquic always advertises
    # initial_max_streams_bidi = 128 (and raises it as streams finish), which
    # the multiplexing case's ceiling of 1000 allows.
    config = make_configuration(is_client=False, testcase=testcase)
    config.load_cert_chain(
        os.path.join(certs, "cert.pem"), os.path.join(certs, "priv.key")
    )

    # aioquic's serve() lets asyncio make the socket, which leaves IPV6_V6ONLY
    # to the host's default; make the dual-stack socket ourselves instead and
    # hand it to the same QuicServer that serve() would use.
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port, 0, 0))
    loop = asyncio.get_running_loop()
    # aioquic's server issues tickets only when it has somewhere to keep them.
    tickets = SessionTicketStore()
    _, server = await loop.create_datagram_endpoint(
        lambda: QuicServer(
            configuration=config,
            create_protocol=lambda *a, **kw: HqServerProtocol(*a, www=www, **kw),
            # A Retry for every Initial without a token; the token binds the
            # client's address and the original DCID (RFC 9000 §8.1.2).
            retry=testcase == "retry",
            session_ticket_fetcher=tickets.pop,
            session_ticket_handler=tickets.add,
        ),
        sock=sock,
    )
    print(f"listening on [::]:{port} (IPv4 and IPv6), testcase {testcase}",
          flush=True)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()  # sends CONNECTION_CLOSE on every open connection
    flush_qlog(config)


# --------------------------------------------------------------------------
# Client


class HqClientProtocol(QuicConnectionProtocol):
    """One client-side connection fetching a queue of (path, file) requests."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._queue: list[tuple[str, str]] = []
        self._open: dict[int, tuple[str, object]] = {}  # stream -> (path, file)
        self._done: asyncio.Future | None = None
        self.handshake: HandshakeCompleted | None = None

    def fetch(self, requests: list[tuple[str, str]]) -> asyncio.Future:
        """Start fetching; the future resolves once every file has been saved."""
        self._queue = list(reversed(requests))
        self._done = asyncio.get_running_loop().create_future()
        self._open_streams()
        self._check_done()
        return self._done

    def _stream_window(self) -> int:
        """How many more request streams the server lets us open now.

        aioquic raises no event for MAX_STREAMS; it keeps the peer's limit in
        a private field (and would queue streams past it as blocked rather than
        fail). Reading it lets us hold requests back ourselves.
        """
        limit = getattr(self._quic, "_remote_max_streams_bidi", None)
        if limit is None:
            return FALLBACK_STREAM_WINDOW - len(self._open)
        return limit - self._quic.get_next_available_stream_id() // 4

    def _open_streams(self) -> None:
        opened = False
        while self._queue and self._stream_window() > 0:
            path, dest = self._queue.pop()
            stream_id = self._quic.get_next_available_stream_id()
            self._open[stream_id] = (path, open(dest, "wb"))
            self._quic.send_stream_data(
                stream_id, f"GET {path}\r\n".encode(), end_stream=True
            )
            opened = True
        if opened:
            self.transmit()

    def datagram_received(self, data, addr) -> None:
        super().datagram_received(data, addr)
        # A MAX_STREAMS frame may have raised the limit without any event.
        if self._done is not None and not self._done.done():
            self._open_streams()

    def quic_event_received(self, event) -> None:
        if isinstance(event, HandshakeCompleted):
            self.handshake = event
        elif isinstance(event, StreamDataReceived) and event.stream_id in self._open:
            path, f = self._open[event.stream_id]
            f.write(event.data)
            if event.end_stream:
                f.close()
                del self._open[event.stream_id]
                self._check_done()
        elif isinstance(event, StreamReset) and event.stream_id in self._open:
            path, _ = self._open[event.stream_id]
            self._fail(f"server reset the stream for {path} "
                       f"(error code {event.error_code})")
        elif isinstance(event, ConnectionTerminated):
            self._fail(f"connection terminated: error {event.error_code:#x} "
                       f"{event.reason_phrase!r}")

    def _check_done(self) -> None:
        if self._done and not self._done.done() and not self._queue and not self._open:
            self._done.set_result(None)

    def _fail(self, message: str) -> None:
        if self._done is not None and not self._done.done():
            pending = len(self._queue) + len(self._open)
            # Leave no partial files behind for the orchestrator to compare.
            for _, f in self._open.values():
                f.close()
                os.unlink(f.name)
            self._open.clear()
            self._done.set_exception(
                ConnectionError(f"{message}; {pending} download(s) unfinished")
            )


def parse_requests(downloads: str) -> list[tuple[str, int, str, str]]:
    """(host, port, path, destination file) for every URL in REQUESTS."""
    urls = os.environ.get("REQUESTS", "").split()
    if not urls:
        fail("REQUESTS is empty")
    out = []
    for url in urls:
        u = urlparse(url)
        if u.hostname is None:
            fail(f"bad URL {url!r}")
        path = u.path or "/"
        name = path.rstrip("/").rsplit("/", 1)[-1] or "index.html"
        out.append((u.hostname, u.port or 443, path, os.path.join(downloads, name)))
    return out


def is_ip_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False


async def fetch_over_one_connection(
    testcase: str,
    host: str,
    port: int,
    requests: list[tuple[str, str]],
    tickets: list[SessionTicket] | None = None,
    zero_rtt: bool = False,
) -> None:
    """Fetches `requests` over one connection. The last ticket of `tickets`, if
    any, is offered to resume a session, and the tickets the server sends are
    added to `tickets`. With `zero_rtt`, the requests go out before the
    handshake completes: in 0-RTT packets, when the ticket allows it."""
    config = make_configuration(is_client=True, testcase=testcase)
    config.verify_mode = ssl.CERT_NONE
    config.server_name = "localhost" if is_ip_literal(host) else host
    if tickets:
        config.session_ticket = tickets[-1]
    handler = tickets.append if tickets is not None else None
    try:
        async with connect(host, port, configuration=config,
                           create_protocol=HqClientProtocol,
                           session_ticket_handler=handler,
                           wait_connected=not zero_rtt) as protocol:
            if testcase == "keyupdate":
                # aioquic holds the update until the handshake is confirmed
                # (RFC 9001 §6.1): the requests leave with the first keys,
                # the responses mostly come with the second.
                protocol._quic.request_key_update()
                print("key update: requested, for when the handshake is confirmed",
                      file=sys.stderr, flush=True)
            try:
                # Not `wait_connected()` after a start without waiting: aioquic
                # 1.7.2 marks the protocol connected only for a waiter present
                # at handshake completion, so a later wait never returns. The
                # responses come in 1-RTT packets, after the handshake.
                await protocol.fetch(requests)
            except Exception as exc:
                # Tell the server this was a failure, not a normal close.
                protocol.close(error_code=CLIENT_FAILED, reason_phrase=str(exc))
                raise
            if testcase == "v2":
                version = protocol._quic._version
                print(f"negotiated QUIC version: {version:#010x}, started on v1",
                      file=sys.stderr, flush=True)
            done = protocol.handshake
            if done is not None:
                print(f"handshake with {host}:{port}: resumed {done.session_resumed}, "
                      f"0-RTT accepted {done.early_data_accepted}",
                      file=sys.stderr, flush=True)
            # Leaving the block closes with NO_ERROR and waits until closed.
    except ConnectionError as exc:
        # aioquic raises a bare ConnectionError when the handshake never ends.
        raise ConnectionError(
            f"{host}:{port}: {str(exc) or 'connection closed before the handshake completed'}"
        ) from None
    finally:
        flush_qlog(config)


async def run_client(testcase: str) -> None:
    downloads = os.environ.get("DOWNLOADS") or fail("DOWNLOADS is not set")
    os.makedirs(downloads, exist_ok=True)
    requests = parse_requests(downloads)
    started = time.monotonic()
    if testcase == "multiconnect":
        for host, port, path, dest in requests:
            await fetch_over_one_connection(testcase, host, port, [(path, dest)])
    else:
        host, port = requests[0][0], requests[0][1]
        if any((h, p) != (host, port) for h, p, _, _ in requests):
            fail("all URLs must name the same server unless TESTCASE=multiconnect")
        paths = [(path, dest) for _, _, path, dest in requests]
        if testcase in RESUMING:
            # The first URL brings a ticket; the others resume with it.
            tickets: list[SessionTicket] = []
            await fetch_over_one_connection(testcase, host, port, paths[:1], tickets)
            if not tickets:
                raise ConnectionError("the server sent no session ticket")
            await fetch_over_one_connection(
                testcase, host, port, paths[1:], tickets,
                zero_rtt=testcase == "zerortt",
            )
        else:
            await fetch_over_one_connection(testcase, host, port, paths)
    print(f"downloaded {len(requests)} file(s) in "
          f"{time.monotonic() - started:.2f} s", file=sys.stderr, flush=True)


def main() -> None:
    role = os.environ.get("ROLE", "")
    testcase = os.environ.get("TESTCASE", "")
    if testcase not in SUPPORTED:
        reason = ("aioquic does not send or read ECN marks" if testcase == "ecn"
                  else "not supported by the aioquic peer")
        fail(f"test case {testcase!r} unsupported: {reason}", 127)
    if role == "server":
        asyncio.run(run_server(testcase))
    elif role == "client":
        try:
            asyncio.run(run_client(testcase))
        except Exception as exc:  # every failure must end in exit code 1
            fail(f"{type(exc).__name__}: {exc}")
    else:
        fail(f"ROLE must be 'server' or 'client', not {role!r}")


if __name__ == "__main__":
    main()
