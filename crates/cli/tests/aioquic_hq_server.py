"""A minimal HTTP/0.9-over-QUIC (ALPN hq-interop) server on aioquic, for
testing `tern get` against another implementation.

Usage: python aioquic_hq_server.py --root DIR --cert-out PEM [--port N]
Prints `listening on HOST:PORT` once ready; serves until killed.
"""

import argparse
import asyncio
import datetime
import os
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOT_FOUND = 0x10


def self_signed(cert_path, key_path):
    """Writes a self-signed certificate for localhost and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))


class HqServer(QuicConnectionProtocol):
    """Answers `GET /path\\r\\n` on each bidirectional stream with the file."""

    root = "."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = {}
        self.answered = set()

    def quic_event_received(self, event):
        if not isinstance(event, StreamDataReceived):
            return
        # The request's FIN may come in a frame of its own after the line
        # was answered: nothing more to do for that stream.
        if event.stream_id in self.answered:
            return
        request = self.requests.get(event.stream_id, b"") + event.data
        self.requests[event.stream_id] = request
        if b"\n" not in request and not event.end_stream:
            return
        del self.requests[event.stream_id]
        self.answered.add(event.stream_id)
        line = request.split(b"\n")[0].strip().decode("utf-8", "replace")
        path = line[4:] if line.startswith("GET /") else ""
        full = os.path.realpath(os.path.join(self.root, path.lstrip("/")))
        if not path or not full.startswith(self.root + os.sep) or not os.path.isfile(full):
            self._quic.reset_stream(event.stream_id, NOT_FOUND)
        else:
            with open(full, "rb") as f:
                self._quic.send_stream_data(event.stream_id, f.read(), end_stream=True)
        self.transmit()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--cert-out", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    HqServer.root = os.path.realpath(args.root)
    key_path = args.cert_out + ".key"
    self_signed(args.cert_out, key_path)
    config = QuicConfiguration(is_client=False, alpn_protocols=["hq-interop"])
    config.load_cert_chain(args.cert_out, key_path)
    server = await serve("127.0.0.1", args.port, configuration=config, create_protocol=HqServer)
    port = server._transport.get_extra_info("sockname")[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
