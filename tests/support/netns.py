"""Separate network hosts on one machine: a namespace per worker, joined by a bridge.

What ``host_network(["worker-1", ...])`` builds, for one test run (process id ``P``):

- in the root namespace, a bridge ``efsPb`` holding ``<subnet>.1/24`` (the master binds
  it; PostgreSQL, Redis and the controller stay on loopback);
- per host ``i``, a namespace ``echofs-P-<name>`` with loopback up and a veth end
  ``efsPn<i>`` holding ``<subnet>.<10+i>/24``; the other end ``efsPh<i>`` stays in the
  root namespace, attached to the bridge. ``cut(name)`` sets that root end down: the
  host is still running, but unreachable, as after a pulled cable.

Addresses come only from the RFC 2544 benchmarking range 198.18.0.0/15, one /24 per run
chosen (under a lock file) among those no address or route of this machine uses, so
parallel runs do not collide; nothing is routed off the machine (no gateway, no
forwarding). Every namespace, veth and the bridge is removed on exit, on every path;
``clean_stale()`` removes what runs whose process is gone (SIGKILL, power loss) left.
Needs root and iproute2, and a kernel that lets this process make namespaces, bridges
and veths: otherwise :class:`NetnsUnavailable` says why. Any other failure of ``ip`` is
a :class:`NetnsError` (a defect to fix, never a reason to skip).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BENCHMARK_RANGE", "Host", "HostNetwork", "NetnsError", "NetnsUnavailable",
           "clean_stale", "host_network", "leftovers", "permitted"]

BENCHMARK_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
_NAMESPACE_PREFIX = "echofs-"
_LINK_PREFIX = "efs"  # interface names have at most 15 characters: efs + pid + b|h|n + i
_NAMESPACE_RE = re.compile(rf"^{_NAMESPACE_PREFIX}(\d+)-")
_LINK_RE = re.compile(rf"^{_LINK_PREFIX}(\d+)[bhn]\d*$")
_LOCK_FILE = Path(tempfile.gettempdir()) / "echofs-netns.lock"
_IP_TIMEOUT_S = 10.0
# What ``ip`` prints when the kernel refuses (EPERM, EACCES, a missing module).
_REFUSED = ("Operation not permitted", "Permission denied", "Operation not supported",
            "Unknown device type")
_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "throw", "unreachable",
                "prohibit", "blackhole", "nat", "anycast"}


class NetnsUnavailable(Exception):
    """This machine or user may not make network namespaces (the message says why)."""


class NetnsError(Exception):
    """An ``ip`` command failed for another reason than a refusal."""


@dataclass(frozen=True)
class Host:
    """One separate host: a namespace and its address."""

    name: str
    namespace: str
    address: str
    root_veth: str  # the bridge-side end; down = the host's link is cut

    def exec_prefix(self) -> list[str]:
        """Run a command inside this host (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespace]


@dataclass
class HostNetwork:
    tag: str
    subnet: ipaddress.IPv4Network
    bridge: str
    gateway: str  # the root namespace's address on the bridge
    hosts: dict[str, Host] = field(default_factory=dict)

    def cut(self, name: str) -> None:
        """Take ``name``'s link down on the bridge side."""
        _ip("link", "set", self.hosts[name].root_veth, "down")

    def restore(self, name: str) -> None:
        _ip("link", "set", self.hosts[name].root_veth, "up")


def _ip(*args: str) -> str:
    """Run ``ip ARGS``; a refusal raises NetnsUnavailable, another failure NetnsError,
    each with the command and what it printed."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False,
                          timeout=_IP_TIMEOUT_S)
    if done.returncode != 0:
        error = done.stderr.strip() or "no message"
        message = f"`ip {' '.join(args)}` failed (exit {done.returncode}): {error}"
        if any(refusal in error for refusal in _REFUSED):
            raise NetnsUnavailable(message)
        raise NetnsError(message)
    return done.stdout


def _ip_ok(*args: str) -> bool:
    """Run ``ip ARGS`` for its effect only (a removal that may find nothing to remove)."""
    return subprocess.run(["ip", *args], capture_output=True, check=False,
                          timeout=_IP_TIMEOUT_S).returncode == 0


def permitted() -> str | None:
    """Why namespaces cannot be made here (before trying), or None."""
    if os.geteuid() != 0:
        return f"`ip netns` needs root; running as uid {os.geteuid()}"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) on PATH"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _our_namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").splitlines()
            if line.startswith(_NAMESPACE_PREFIX)]


def _our_links() -> list[str]:
    """Root-namespace links whose name matches ours (``name@peer`` -> ``name``)."""
    names = []
    for line in _ip("-o", "link", "show").splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            name = parts[1].strip().split("@", 1)[0]
            if _LINK_RE.match(name):
                names.append(name)
    return names


def _owner(name: str, pattern: re.Pattern[str]) -> int | None:
    match = pattern.match(name)
    return int(match.group(1)) if match else None


def clean_stale() -> list[str]:
    """Remove namespaces and links left by runs whose process is gone; return their names.

    Deleting a root-side veth deletes its peer too, even inside a namespace some
    orphaned process still holds open.
    """
    removed = []
    for namespace in _our_namespaces():
        pid = _owner(namespace, _NAMESPACE_RE)
        if pid is not None and not _pid_alive(pid) and _ip_ok("netns", "del", namespace):
            removed.append(namespace)
    for link in _our_links():  # a veth's peer goes with it: then its own del finds nothing
        pid = _owner(link, _LINK_RE)
        if pid is not None and not _pid_alive(pid) and _ip_ok("link", "del", link):
            removed.append(link)
    return removed


def leftovers(pid: int) -> list[str]:
    """Namespaces and root links of run ``pid`` that still exist (after teardown: none)."""
    found = [n for n in _our_namespaces() if _owner(n, _NAMESPACE_RE) == pid]
    return found + [link for link in _our_links() if _owner(link, _LINK_RE) == pid]


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    used = []
    for line in _ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        if "inet" in fields:
            used.append(ipaddress.ip_interface(fields[fields.index("inet") + 1]).network)
    for line in _ip("-4", "route", "show", "table", "all").splitlines():
        words = [w for w in line.split() if w not in _ROUTE_TYPES]
        with contextlib.suppress(ValueError, IndexError):  # "default via ..." and the like
            used.append(ipaddress.ip_network(words[0], strict=False))
    return [n for n in used if isinstance(n, ipaddress.IPv4Network)]


def _free_subnet(pid: int) -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 that nothing on this machine uses, starting at ``pid``'s."""
    subnets = list(BENCHMARK_RANGE.subnets(new_prefix=24))
    used = _networks_in_use()
    for k in range(len(subnets)):
        candidate = subnets[(pid + k) % len(subnets)]
        if not any(candidate.overlaps(n) for n in used):
            return candidate
    raise NetnsUnavailable(f"every /24 of {BENCHMARK_RANGE} is in use on this machine")


@contextlib.contextmanager
def host_network(names: list[str], pid: int | None = None) -> Iterator[HostNetwork]:
    """Build one namespace per name behind a bridge; remove all of it on exit.

    Each piece's removal is registered the moment it exists, so a failure half-way
    (or in the test) still removes everything made so far. Raises NetnsUnavailable
    when this machine cannot do it, before anything is left behind.
    """
    reason = permitted()
    if reason is not None:
        raise NetnsUnavailable(reason)
    pid = os.getpid() if pid is None else pid
    tag = f"{_LINK_PREFIX}{pid}"
    clean_stale()
    with contextlib.ExitStack() as undo:
        bridge = f"{tag}b"
        with _LOCK_FILE.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # choose and claim a subnet atomically
            subnet = _free_subnet(pid)
            gateway = str(subnet[1])
            _ip("link", "add", bridge, "type", "bridge")
            undo.callback(_ip_ok, "link", "del", bridge)
            _ip("addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", bridge)
        _ip("link", "set", bridge, "up")
        network = HostNetwork(tag, subnet, bridge, gateway)
        for i, name in enumerate(names, start=1):
            host = Host(name, f"{_NAMESPACE_PREFIX}{pid}-{name}", str(subnet[10 + i]),
                        f"{tag}h{i}")
            inner = f"{tag}n{i}"
            _ip("netns", "add", host.namespace)
            undo.callback(_ip_ok, "netns", "del", host.namespace)
            _ip("link", "add", host.root_veth, "type", "veth", "peer", "name", inner)
            undo.callback(_ip_ok, "link", "del", host.root_veth)
            _ip("link", "set", inner, "netns", host.namespace)
            _ip("link", "set", host.root_veth, "master", bridge)
            _ip("link", "set", host.root_veth, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/{subnet.prefixlen}",
                "dev", inner)
            _ip("-n", host.namespace, "link", "set", inner, "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            network.hosts[name] = host
        yield network
