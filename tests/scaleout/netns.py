"""Hosts on one machine: one network namespace per host, each with a veth pair on a private bridge.

The root namespace is the database host: the bridge holds its address (``.1``), and the test's forwarder
(``forwarder.py``) listens there for PostgreSQL and Redis, which listen on 127.0.0.1 only. The bridge has
no uplink and the namespaces no default route, so every packet stays on this machine.
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence


class NetnsUnavailableError(RuntimeError):
    """This machine cannot create network namespaces (not root, no ``ip``, or the kernel refuses)."""


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise NetnsUnavailableError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _used_subnets() -> set[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    return {
        ipaddress.ip_interface(line.split()[3]).network for line in out.splitlines() if len(line.split()) > 3
    }


class HostNetwork:
    """Namespaces named ``<prefix>-<host>`` on the bridge ``<prefix>-br``; :meth:`remove` deletes them all.

    :param hosts: the host names (short: interface names are at most 15 characters).
    """

    def __init__(self, hosts: Sequence[str]) -> None:
        self.prefix = "ighs" + secrets.token_hex(2)
        self.bridge = f"{self.prefix}-br"
        taken = _used_subnets()
        self.subnet = next(
            net
            for third in range(200, 250)
            if not any((net := ipaddress.ip_network(f"10.213.{third}.0/24")).overlaps(t) for t in taken)
        )
        addresses = list(self.subnet.hosts())
        self.gateway = str(addresses[0])
        self.addresses = {host: str(addresses[i + 1]) for i, host in enumerate(hosts)}
        self._namespaces: list[str] = []
        self._links: list[str] = []

    @staticmethod
    def check() -> str | None:
        """Why namespaces cannot be made here, or None when they can."""
        if shutil.which("ip") is None:
            return "the `ip` command (iproute2) is not installed"
        import os

        if os.geteuid() != 0:
            return "creating network namespaces needs root"
        probe = "ighs-probe-" + secrets.token_hex(2)
        try:
            _ip("netns", "add", probe)
        except NetnsUnavailableError as exc:
            return f"`ip netns add` failed: {exc}"
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
        return None

    def namespace(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def create(self) -> None:
        """Create the bridge, then each host's namespace and veth pair; undo everything on failure."""
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._links.append(self.bridge)
            _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for host, address in self.addresses.items():
                ns = self.namespace(host)
                outside, inside = f"{self.prefix}-{host}"[:15], f"{self.prefix}i{host}"[:15]
                _ip("netns", "add", ns)
                self._namespaces.append(ns)
                _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                self._links.append(outside)
                _ip("link", "set", outside, "master", self.bridge)
                _ip("link", "set", outside, "up")
                _ip("link", "set", inside, "netns", ns)
                _ip("-n", ns, "link", "set", inside, "name", "eth0")
                _ip("-n", ns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise

    def wrap(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run on ``host`` (``ip netns exec`` execs it: the pid is the command's own)."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def remove(self) -> list[str]:
        """Delete every namespace and link this network made; return what could not be deleted."""
        left: list[str] = []
        for ns in reversed(self._namespaces):
            # Deleting a namespace deletes the veth end inside it, and so the pair. A process killed a
            # moment ago may still hold it ("busy"): ask again for a few seconds.
            if not _retry(["ip", "netns", "del", ns]):
                left.append(ns)
        for link in reversed(self._links):
            exists = subprocess.run(["ip", "link", "show", link], capture_output=True, check=False)
            if (
                exists.returncode == 0
                and subprocess.run(["ip", "link", "del", link], capture_output=True, check=False).returncode
            ):
                left.append(link)
        self._namespaces, self._links = [], []
        return left

    def leftovers(self) -> list[str]:
        """Namespaces and links of this network that still exist (an empty list after :meth:`remove`)."""
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
        return [
            word
            for word in (names + links).replace(":", " ").replace("@", " ").split()
            if word.startswith(self.prefix)
        ]


def _retry(command: list[str], attempts: int = 20, pause: float = 0.25) -> bool:
    """Run ``command`` until it succeeds (at most ``attempts`` times); whether it did."""
    for attempt in range(attempts):
        if subprocess.run(command, capture_output=True, check=False).returncode == 0:
            return True
        if attempt + 1 < attempts:
            time.sleep(pause)
    return False
