"""The sandbox Graph API as the benchmarks run it: the package's server with Nagle's algorithm off.

``SandboxGraphApi`` writes the status line and headers, then the body, in two ``send()`` calls. With
Nagle's algorithm on, the second small write waits for the client's delayed ACK: about 40 ms per call on
Linux loopback, which would hide every client-side cost the send benchmark means to compare (Meta's
servers have no such stall). Run: ``python -m benchmarks.sandbox_server --port 0 --token T``.
"""

from __future__ import annotations

import sys

from airflow_provider_instagram_hil.sandbox import graph_api
from airflow_provider_instagram_hil.sandbox.graph_handler import GraphRequestHandler


def main() -> int:
    GraphRequestHandler.disable_nagle_algorithm = True
    return graph_api.main()


if __name__ == "__main__":
    sys.exit(main())
