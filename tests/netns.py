"""Linux network namespaces joined by veth pairs, for tests that run kassa over a real network.

A ``Network`` owns what it creates: named namespaces (``ip netns add``), and the bridges and
veth pairs inside them, which are created directly in their namespaces, so no interface of
ours ever exists in the root namespace and deleting the namespaces deletes every link.
Processes run in a namespace through ``ip netns exec``; the test's own HTTP calls run in a
thread that has entered the namespace (``setns(2)`` moves only the calling thread), so a
test reaches a process on that namespace's own addresses and nothing listens in the root
namespace. Needs root; ``unavailable()`` says why not, by trying.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``ip ARGS`` (``tc`` when the first argument is ``"tc"``); stderr in the error."""
    argv = list(args) if args[0] == "tc" else ["ip", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None: tried, not guessed."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is not installed; scripts/bootstrap.sh installs it"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"kassa-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


def _enter(name: str) -> None:
    with open(f"/run/netns/{name}") as handle:
        if _libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")


class Netns:
    """One named namespace: commands in it, and this test's calls from inside it."""

    def __init__(self, name: str):
        self.name = name
        self._threads: ThreadPoolExecutor | None = None

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` as a command that runs in this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        """Run ``argv`` in this namespace to the end (output captured, not checked)."""
        return subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=120)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        if args[0] == "tc":
            return ip("tc", "-n", self.name, *args[1:], check=check)
        return ip("-n", self.name, *args, check=check)

    def submit(self, fn: Callable[..., T], *args, **kwargs) -> Future:
        """Run ``fn`` in a thread inside this namespace (its sockets are the namespace's)."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix=self.name,
                                               initializer=_enter, initargs=(self.name,))
        return self._threads.submit(fn, *args, **kwargs)

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        return self.submit(fn, *args, **kwargs).result()

    def counters(self, dev: str) -> tuple[int, int]:
        """Bytes received and sent on ``dev`` so far."""
        stats = json.loads(self.ip("-j", "-s", "link", "show", "dev", dev).stdout)[0]["stats64"]
        return stats["rx"]["bytes"], stats["tx"]["bytes"]

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)


class Network:
    """Namespaces named ``kassa-<pid>-<token>-<role>``, so parallel runs never collide."""

    def __init__(self):
        self.prefix = f"kassa-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.spaces: list[Netns] = []

    def namespace(self, role: str) -> Netns:
        space = Netns(f"{self.prefix}-{role}")
        ip("netns", "add", space.name)
        self.spaces.append(space)
        space.ip("link", "set", "lo", "up")
        return space

    def link(self, a: Netns, a_dev: str, b: Netns, b_dev: str) -> None:
        """A veth pair from ``a_dev`` in ``a`` to ``b_dev`` in ``b`` (names up to 15 chars)."""
        ip("link", "add", a_dev, "netns", a.name, "type", "veth",
           "peer", "name", b_dev, "netns", b.name)

    def destroy(self) -> None:
        """Delete every namespace (and so every link in it); never raises."""
        for space in reversed(self.spaces):
            space.close()
            with contextlib.suppress(Exception):
                ip("netns", "del", space.name, check=False)
        self.spaces.clear()


def qdisc_available(space: Netns, *qdisc: str) -> str | None:
    """Why ``tc qdisc add ... QDISC`` fails in ``space`` (tried on its loopback), or None.
    Tries ``modprobe sch_<kind>`` once when the kernel does not know the kind."""
    def attempt() -> subprocess.CompletedProcess:
        return space.ip("tc", "qdisc", "replace", "dev", "lo", "root", *qdisc, check=False)

    tried = attempt()
    if tried.returncode != 0 and shutil.which("modprobe"):
        subprocess.run(["modprobe", f"sch_{qdisc[0]}"], capture_output=True, timeout=30)
        tried = attempt()
    if tried.returncode != 0:
        return f"tc qdisc {qdisc[0]}: {tried.stderr.strip()} (kernel module sch_{qdisc[0]})"
    space.ip("tc", "qdisc", "del", "dev", "lo", "root", check=False)
    return None
