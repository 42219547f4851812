"""Run the `steer` command with every outbound network call recorded: ``python -m tests.support.offline_steer ARGS…``.

An audit hook sees every socket connect and name lookup of the process (asyncio,
httpx and uvicorn included); each one to a host other than loopback is appended
to the file named by ``STEER_OUTBOUND_LOG``.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from steer.cli import main

LOG = os.environ["STEER_OUTBOUND_LOG"]


def _local(host: object) -> bool:
    if host in (None, "", "localhost", b"localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified  # 0.0.0.0: a bind, not a call out


def _record(event: str, args: tuple) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple) and not _local(args[1][0]):
        target = f"connect {args[1][0]}:{args[1][1]}"
    elif event == "socket.getaddrinfo" and not _local(args[0]):
        target = f"lookup {args[0]}"
    else:
        return
    with open(LOG, "a") as f:
        f.write(target + "\n")


if __name__ == "__main__":
    open(LOG, "w").close()
    sys.addaudithook(_record)
    main(sys.argv[1:])
