"""The addresses a job's hosts get when nobody configures them, defined once for every engine.

The conformance vectors, the bmv2 controller and runner, the emulator's pcap
and bmv2 workers and the simulator's capture all number the hosts the same way:
worker w is MAC ``02:00:00:00:00:(w+1)`` and IPv4 ``10.0.0.(w+1)``; the switch
is ``02:00:00:00:ff:ff`` / ``10.0.0.254``. (Locally administered MACs, a
private IPv4 network.)

Example:
    >>> worker_mac(0), worker_ip(0), worker_mac(31), worker_ip(31)
    ('02:00:00:00:00:01', '10.0.0.1', '02:00:00:00:00:20', '10.0.0.32')
"""

from __future__ import annotations

#: The switch's MAC address, the source of every reply.
SWITCH_MAC = "02:00:00:00:ff:ff"
#: The switch's IPv4 address, the source of every reply.
SWITCH_IP = "10.0.0.254"
#: Highest worker number with a default address (10.0.0.253; .254 is the switch).
MAX_NUMBERED_WORKER = 252


def _check(worker_id: int) -> None:
    if not 0 <= worker_id <= MAX_NUMBERED_WORKER:
        raise ValueError(f"worker_id must be in 0..{MAX_NUMBERED_WORKER} for a default address, got {worker_id}")


def worker_mac(worker_id: int) -> str:
    """Worker ``worker_id``'s MAC address: ``02:00:00:00:00:(worker_id + 1)`` in hex."""
    _check(worker_id)
    return f"02:00:00:00:00:{worker_id + 1:02x}"


def worker_ip(worker_id: int) -> str:
    """Worker ``worker_id``'s IPv4 address: ``10.0.0.(worker_id + 1)``."""
    _check(worker_id)
    return f"10.0.0.{worker_id + 1}"
