"""The worker protocol, written once: its state as integer arrays, its transitions as numba functions.

Every driver uses these functions: the simulator's fast engine calls them from
its compiled loop; the SimPy engine, the in-memory loop and the emulator's
workers call them through `workers.protocol.WorkerProtocol`. Nothing here reads
a clock, sleeps or moves a packet; time is an integer in the driver's unit (the
simulator uses picoseconds, `WorkerProtocol` converts seconds to picoseconds).

State for M protocol instances (one per worker, or per worker thread):

* ``config``  int64 (M, CONFIG_FIELDS): what `workers.protocol.WorkerConfig` says,
  plus the packet count (columns ``C_*``);
* ``status``  int64 (M, STATUS_FIELDS): timeout period, backoff progress, packets
  still missing, the head/tail of the timer list and the counters (columns ``S_*``);
* ``lanes``   int64 (M, window, LANE_FIELDS): per lane (slot) the packet in flight
  (-1 when idle), its timer's expiry, and the previous/next lane in arming order.

Timers are the official client's ``TimeoutQueue``: expiries are appended in
non-decreasing order (time and period never decrease), so the lanes in arming
order are also in expiry order. A doubly linked list of lanes in arming order
(re-arming moves a lane to the tail, a result unlinks it) gives the next expiry
in O(1) and expiries in order, with no stale entries.

Wire mapping (protocol reference §3): packet p carries elements
``[p*k, (p+1)*k)``; ``tsi`` holds the packet id little-endian, as the official
client writes it — `packet_tsi` / `tsi_packet` are the one place that says so.
Pool index ``i = (p + shift) mod 2W``: set 0, slot ``start + i`` if ``i < W``,
else set 1, slot ``start + i - W``.
"""

from __future__ import annotations

import numba
import numpy as np

from switchsim.protocol.spec import byteswap32, pack_pool_index, pool_index_set, pool_index_slot

# --- config columns ---------------------------------------------------------
C_WORKER_ID = 0  #: bitmap bit, 0..n-1
C_NUM_WORKERS = 1  #: n
C_WINDOW = 2  #: W, lanes
C_START_SLOT = 3  #: first slot of the range
C_ELEMENTS_PER_PACKET = 4  #: k
C_JOB_NUMBER = 5  #: 0..255
C_SHIFT = 6  #: pool-index shift, 0..2W-1
C_TOTAL_PACKETS = 7  #: P, packets of the tensor
C_TIMEOUT = 8  #: initial timeout (driver's time unit)
C_BACKOFF_THRESHOLD = 9  #: timeouts since the last doubling that double the period
C_BACKOFF_INCREMENT = 10  #: growth of the threshold at each doubling
CONFIG_FIELDS = 11

# --- status columns ---------------------------------------------------------
S_PERIOD = 0  #: current timeout period, after backoff
S_TIMEOUTS_SINCE_DOUBLING = 1
S_THRESHOLD = 2  #: current backoff threshold
S_REMAINING = 3  #: packets whose result has not arrived
S_HEAD = 4  #: first lane in arming (= expiry) order, -1 if none
S_TAIL = 5  #: last lane in arming order, -1 if none
S_SENT = 6  #: packets sent, retransmissions included
S_RETRANSMISSIONS = 7  #: packets resent after a timeout
S_TIMEOUTS = 8  #: timer expiries
S_RESULTS = 9  #: results accepted
S_DUPLICATE_RESULTS = 10  #: results dropped as duplicates or unexpected
S_FOREIGN_RESULTS = 11  #: results of other jobs dropped
STATUS_FIELDS = 12

# --- lane columns -----------------------------------------------------------
L_PACKET = 0  #: packet in flight on the lane, -1 when idle
L_DEADLINE = 1  #: its timer's expiry
L_PREVIOUS = 2  #: previous lane in arming order, -1 at the head
L_NEXT = 3  #: next lane in arming order, -1 at the tail
LANE_FIELDS = 4

#: "no deadline": larger than any time.
NEVER = np.iinfo(np.int64).max
#: Results `on_result` rejects: another job's, or not the packet outstanding on its lane.
FOREIGN = -1
DUPLICATE = -2


def new_protocol_state(instances: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zeroed ``(config, status, lanes)`` arrays for ``instances`` protocols of up to ``window`` lanes."""
    return (
        np.zeros((instances, CONFIG_FIELDS), np.int64),
        np.zeros((instances, STATUS_FIELDS), np.int64),
        np.zeros((instances, window, LANE_FIELDS), np.int64),
    )


@numba.njit(cache=True, nogil=True, _nrt=False)
def packet_tsi(packet):
    """The ``tsi`` field of packet ``packet``: the packet id written little-endian, as the official client does.

    The official DPDK worker stores the packet id in host byte order (x86:
    little-endian) where the header says tsi; read as the big-endian field, that
    is the id byte-swapped. Writing the same keeps our frames interchangeable
    with the official client's (hardened mode compares the swapped-back ids).
    """
    return byteswap32(packet)


@numba.njit(cache=True, nogil=True, _nrt=False)
def tsi_packet(tsi):
    """The packet id a ``tsi`` field carries (the field byte-swapped back)."""
    return byteswap32(tsi)


def packet_tsi_array(packets: np.ndarray) -> np.ndarray:
    """`packet_tsi` of every element of ``packets`` (uint32 array), for encoding whole tensors at once."""
    return np.asarray(packets, np.uint32).byteswap()


@numba.njit(cache=True, nogil=True, _nrt=False)
def lane_of(config, w, packet):
    """The lane (0..W-1) that carries ``packet`` of instance ``w``."""
    return (packet + config[w, C_SHIFT]) % config[w, C_WINDOW]


@numba.njit(cache=True, nogil=True, _nrt=False)
def pool_index_of(config, w, packet):
    """The 16-bit ``pool_index`` of ``packet``: set bit 15, slot in the low 14 bits."""
    window = config[w, C_WINDOW]
    i = (packet + config[w, C_SHIFT]) % (2 * window)
    if i < window:
        return pack_pool_index(config[w, C_START_SLOT] + i, 0)
    return pack_pool_index(config[w, C_START_SLOT] + i - window, 1)


@numba.njit(cache=True, nogil=True, _nrt=False)
def configure(config, status, lanes, w, worker_id, num_workers, window, start_slot, elements_per_packet,
              job_number, shift, total_packets, timeout, backoff_threshold, backoff_increment):
    """(Re)initialise instance ``w`` for one all-reduce: nothing outstanding, counters zero."""
    config[w, C_WORKER_ID] = worker_id
    config[w, C_NUM_WORKERS] = num_workers
    config[w, C_WINDOW] = window
    config[w, C_START_SLOT] = start_slot
    config[w, C_ELEMENTS_PER_PACKET] = elements_per_packet
    config[w, C_JOB_NUMBER] = job_number
    config[w, C_SHIFT] = shift
    config[w, C_TOTAL_PACKETS] = total_packets
    config[w, C_TIMEOUT] = timeout
    config[w, C_BACKOFF_THRESHOLD] = backoff_threshold
    config[w, C_BACKOFF_INCREMENT] = backoff_increment
    status[w, :] = 0
    status[w, S_PERIOD] = timeout
    status[w, S_THRESHOLD] = backoff_threshold
    status[w, S_REMAINING] = total_packets
    status[w, S_HEAD] = -1
    status[w, S_TAIL] = -1
    for lane in range(window):
        lanes[w, lane, L_PACKET] = -1
        lanes[w, lane, L_DEADLINE] = NEVER
        lanes[w, lane, L_PREVIOUS] = -1
        lanes[w, lane, L_NEXT] = -1


@numba.njit(cache=True, nogil=True, _nrt=False)
def _unlink(status, lanes, w, lane):
    previous = lanes[w, lane, L_PREVIOUS]
    following = lanes[w, lane, L_NEXT]
    if previous >= 0:
        lanes[w, previous, L_NEXT] = following
    elif status[w, S_HEAD] == lane:
        status[w, S_HEAD] = following
    if following >= 0:
        lanes[w, following, L_PREVIOUS] = previous
    elif status[w, S_TAIL] == lane:
        status[w, S_TAIL] = previous
    lanes[w, lane, L_PREVIOUS] = -1
    lanes[w, lane, L_NEXT] = -1


@numba.njit(cache=True, nogil=True, _nrt=False)
def _arm(config, status, lanes, w, packet, now):
    """Put ``packet`` in flight on its lane with a timer at ``now + period`` (tail of the list)."""
    lane = lane_of(config, w, packet)
    if lanes[w, lane, L_PACKET] >= 0:
        _unlink(status, lanes, w, lane)
    lanes[w, lane, L_PACKET] = packet
    lanes[w, lane, L_DEADLINE] = now + status[w, S_PERIOD]
    tail = status[w, S_TAIL]
    lanes[w, lane, L_PREVIOUS] = tail
    lanes[w, lane, L_NEXT] = -1
    if tail >= 0:
        lanes[w, tail, L_NEXT] = lane
    else:
        status[w, S_HEAD] = lane
    status[w, S_TAIL] = lane


@numba.njit(cache=True, nogil=True, _nrt=False)
def start(config, status, lanes, w, now, out):
    """Packets to send first (0..min(W, P)-1, timers armed at ``now``) into ``out``; returns their count."""
    count = min(config[w, C_WINDOW], config[w, C_TOTAL_PACKETS])
    for packet in range(count):
        _arm(config, status, lanes, w, packet, now)
        out[packet] = packet
    status[w, S_SENT] += count
    return count


@numba.njit(cache=True, nogil=True, _nrt=False)
def on_result(config, status, lanes, w, now, job_number, tsi, pool_index):
    """Take a result; return ``(accepted packet, packet to send next)``.

    The accepted packet is `FOREIGN` (another job's result) or `DUPLICATE` (not
    the packet outstanding on its lane, or a pool index that does not match)
    when the result is dropped; the packet to send next is -1 when there is none.
    A result may carry pool_index bit 14 set (the switch clears it; either is accepted).
    """
    if job_number != config[w, C_JOB_NUMBER]:
        status[w, S_FOREIGN_RESULTS] += 1
        return FOREIGN, -1
    packet = tsi_packet(tsi)
    if packet >= config[w, C_TOTAL_PACKETS]:
        status[w, S_DUPLICATE_RESULTS] += 1
        return DUPLICATE, -1
    lane = lane_of(config, w, packet)
    expected = pool_index_of(config, w, packet)
    if lanes[w, lane, L_PACKET] != packet or pack_pool_index(pool_index_slot(pool_index),
                                                             pool_index_set(pool_index)) != expected:
        status[w, S_DUPLICATE_RESULTS] += 1
        return DUPLICATE, -1
    status[w, S_REMAINING] -= 1
    status[w, S_RESULTS] += 1
    following = packet + config[w, C_WINDOW]
    if following < config[w, C_TOTAL_PACKETS]:
        _arm(config, status, lanes, w, following, now)
        status[w, S_SENT] += 1
        return packet, following
    _unlink(status, lanes, w, lane)
    lanes[w, lane, L_PACKET] = -1
    lanes[w, lane, L_DEADLINE] = NEVER
    return packet, -1


@numba.njit(cache=True, nogil=True, _nrt=False)
def next_deadline(status, lanes, w):
    """Earliest timer expiry of instance ``w``, `NEVER` when nothing is outstanding."""
    head = status[w, S_HEAD]
    if head < 0:
        return NEVER
    return lanes[w, head, L_DEADLINE]


@numba.njit(cache=True, nogil=True, _nrt=False)
def on_timeout(config, status, lanes, w, now, out):
    """Expire the timers due at ``now`` (in expiry order), re-arm them; write the packets to resend to ``out``.

    Backoff as the official client: once the timeouts since the last doubling
    reach the threshold, the period doubles and the threshold grows by the
    increment. Returns the number of packets written. ``now`` must not decrease.
    """
    count = 0
    while True:
        head = status[w, S_HEAD]
        if head < 0 or lanes[w, head, L_DEADLINE] > now:
            break
        packet = lanes[w, head, L_PACKET]
        out[count] = packet
        count += 1
        status[w, S_TIMEOUTS] += 1
        status[w, S_TIMEOUTS_SINCE_DOUBLING] += 1
        if status[w, S_TIMEOUTS_SINCE_DOUBLING] >= status[w, S_THRESHOLD]:
            status[w, S_PERIOD] *= 2
            status[w, S_TIMEOUTS_SINCE_DOUBLING] = 0
            status[w, S_THRESHOLD] += config[w, C_BACKOFF_INCREMENT]
        _arm(config, status, lanes, w, packet, now)  # period > 0: the re-armed timer is not due again
    status[w, S_SENT] += count
    status[w, S_RETRANSMISSIONS] += count
    return count
