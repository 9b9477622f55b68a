#!/usr/bin/env python3
"""CI helper: an HTTPS front for the emulator, so the action's own container can reach it.

    python3 .github/ci/tls_front.py --listen 172.17.0.1:8443 --cert cert.pem --key key.pem \
        --upstream 127.0.0.1:8080

Why: on a GitHub-hosted runner a Docker action runs in its own network namespace (a
sibling container on the docker0 bridge; `--network host` cannot be asked for), so the
runner's 127.0.0.1 is not its 127.0.0.1. It reaches the runner at the bridge address
instead, and the action sends the token over plain http to loopback hosts only. This
terminates TLS on the bridge address with a throwaway certificate (trusted in the step
through REQUESTS_CA_BUNDLE) and pipes the bytes to the emulator on the runner's loopback.
Standard library only; one thread per direction per connection.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import ssl
import sys
import threading


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):  # shutdown wakes the other direction's blocked recv
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _serve(client: socket.socket, context: ssl.SSLContext, upstream: tuple[str, int]) -> None:
    try:
        client.settimeout(30)
        tls = context.wrap_socket(client, server_side=True)
        tls.settimeout(None)
        backend = socket.create_connection(upstream, timeout=10)
        backend.settimeout(None)
    except OSError as error:
        print(f"tls_front: {error}", file=sys.stderr, flush=True)
        client.close()
        return
    threading.Thread(target=_pipe, args=(backend, tls), daemon=True).start()
    _pipe(tls, backend)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept TLS on")
    parser.add_argument("--upstream", default="127.0.0.1:8080", help="HOST:PORT of the plain-http emulator")
    parser.add_argument("--cert", required=True, help="PEM certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    args = parser.parse_args(argv)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    upstream = _address(args.upstream)
    listener = socket.create_server(_address(args.listen), reuse_port=False)
    print(f"tls_front: https://{args.listen} -> http://{args.upstream}", file=sys.stderr, flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve, args=(client, context, upstream), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
