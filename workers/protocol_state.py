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

Timers are the official client's ``TimeoutQueue``: a doubly linked list of
lanes in expiry order (ties in arming order) gives the next expiry in O(1) and
expiries in order, with no stale entries. Under the official policy the period
never decreases, so every timer is appended at the tail, exactly as the
official queue does; the other policies may shorten the period, and a new
timer is then inserted before the later ones (a walk back from the tail).

Loss recovery (``C_RECOVERY``, one of `RECOVERY_POLICIES`):

* ``official`` (faithful default): the official client's backoff. Once the
  timeouts since the last doubling reach a threshold, the period doubles and
  the threshold grows; the period never comes back down, so under steady loss
  a long all-reduce slows to a crawl.
* ``reset``: the same backoff, but every W accepted results (one window's
  worth of progress) restore the initial period and threshold.
* ``rto``: the period is a retransmission timeout estimated from measured
  round trips, as TCP does (RFC 6298: SRTT, RTTVAR, RTO = SRTT + 4 RTTVAR,
  floored at ``C_RTO_MIN``; Karn's rule: a retransmitted packet gives no
  sample). A timeout doubles it, up to `RTO_CEILING_FACTOR` x the initial
  timeout; the next valid sample recomputes it. Before the first sample the
  period is the initial timeout.

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
C_RECOVERY = 11  #: loss-recovery policy, a ``RECOVERY_*`` value
C_RTO_MIN = 12  #: ``rto`` policy: floor of the estimated timeout
CONFIG_FIELDS = 13

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
S_SMOOTHED_RTT = 12  #: ``rto`` policy: SRTT
S_RTT_VARIATION = 13  #: ``rto`` policy: RTTVAR
S_RTT_SAMPLES = 14  #: ``rto`` policy: round trips measured
S_RESULTS_SINCE_RESET = 15  #: ``reset`` policy: results accepted since the period was last restored
STATUS_FIELDS = 16

# --- lane columns -----------------------------------------------------------
L_PACKET = 0  #: packet in flight on the lane, -1 when idle
L_DEADLINE = 1  #: its timer's expiry
L_PREVIOUS = 2  #: previous lane in expiry order, -1 at the head
L_NEXT = 3  #: next lane in expiry order, -1 at the tail
L_SENT_AT = 4  #: when the packet in flight was last sent
L_RESENT = 5  #: 1 if that send was a retransmission (Karn's rule: no round-trip sample)
LANE_FIELDS = 6

#: "no deadline": larger than any time.
NEVER = np.iinfo(np.int64).max
#: Results `on_result` rejects: another job's, or not the packet outstanding on its lane.
FOREIGN = -1
DUPLICATE = -2

# --- loss-recovery policies (C_RECOVERY) -----------------------------------------
RECOVERY_OFFICIAL = 0
RECOVERY_RESET = 1
RECOVERY_RTO = 2
#: Policy names, indexed by their ``RECOVERY_*`` value (the scenario's ``switchml.recovery``).
RECOVERY_POLICIES = ("official", "reset", "rto")
#: The ``rto`` policy's backoff stops at this many times the initial timeout.
RTO_CEILING_FACTOR = 64


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
              job_number, shift, total_packets, timeout, backoff_threshold, backoff_increment, recovery, rto_min):
    """(Re)initialise instance ``w`` for one all-reduce: nothing outstanding, counters zero.

    ``recovery`` is a ``RECOVERY_*`` policy; ``rto_min`` the ``rto`` policy's floor (driver's time unit).
    """
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
    config[w, C_RECOVERY] = recovery
    config[w, C_RTO_MIN] = rto_min
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
        lanes[w, lane, L_SENT_AT] = 0
        lanes[w, lane, L_RESENT] = 0


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
def _arm(config, status, lanes, w, packet, now, resent):
    """Put ``packet`` in flight on its lane with a timer at ``now + period``, in expiry order.

    The lane goes after every lane whose timer expires no later (ties keep
    arming order); with a period that never decreases that is the tail.
    """
    lane = lane_of(config, w, packet)
    if lanes[w, lane, L_PACKET] >= 0:
        _unlink(status, lanes, w, lane)
    deadline = now + status[w, S_PERIOD]
    lanes[w, lane, L_PACKET] = packet
    lanes[w, lane, L_DEADLINE] = deadline
    lanes[w, lane, L_SENT_AT] = now
    lanes[w, lane, L_RESENT] = resent
    after = status[w, S_TAIL]
    while after >= 0 and lanes[w, after, L_DEADLINE] > deadline:
        after = lanes[w, after, L_PREVIOUS]
    following = status[w, S_HEAD] if after < 0 else lanes[w, after, L_NEXT]
    lanes[w, lane, L_PREVIOUS] = after
    lanes[w, lane, L_NEXT] = following
    if after >= 0:
        lanes[w, after, L_NEXT] = lane
    else:
        status[w, S_HEAD] = lane
    if following >= 0:
        lanes[w, following, L_PREVIOUS] = lane
    else:
        status[w, S_TAIL] = lane


@numba.njit(cache=True, nogil=True, _nrt=False)
def _rto_ceiling(config, w):
    return config[w, C_TIMEOUT] * RTO_CEILING_FACTOR


@numba.njit(cache=True, nogil=True, _nrt=False)
def _learn_from_result(config, status, lanes, w, lane, now):
    """What the recovery policy learns from an accepted result on ``lane`` (before the lane is reused)."""
    policy = config[w, C_RECOVERY]
    if policy == RECOVERY_RESET:
        status[w, S_RESULTS_SINCE_RESET] += 1
        if status[w, S_RESULTS_SINCE_RESET] >= config[w, C_WINDOW]:
            status[w, S_RESULTS_SINCE_RESET] = 0
            status[w, S_PERIOD] = config[w, C_TIMEOUT]
            status[w, S_TIMEOUTS_SINCE_DOUBLING] = 0
            status[w, S_THRESHOLD] = config[w, C_BACKOFF_THRESHOLD]
    elif policy == RECOVERY_RTO and lanes[w, lane, L_RESENT] == 0:
        sample = now - lanes[w, lane, L_SENT_AT]
        if status[w, S_RTT_SAMPLES] == 0:
            smoothed = sample
            variation = sample // 2
        else:
            previous = status[w, S_SMOOTHED_RTT]
            variation = (3 * status[w, S_RTT_VARIATION] + abs(previous - sample)) // 4
            smoothed = (7 * previous + sample) // 8
        status[w, S_SMOOTHED_RTT] = smoothed
        status[w, S_RTT_VARIATION] = variation
        status[w, S_RTT_SAMPLES] += 1
        status[w, S_PERIOD] = min(max(smoothed + 4 * variation, config[w, C_RTO_MIN]), _rto_ceiling(config, w))


@numba.njit(cache=True, nogil=True, _nrt=False)
def _back_off(config, status, w):
    """A timer expired: the policy's backoff."""
    if config[w, C_RECOVERY] == RECOVERY_RTO:
        status[w, S_PERIOD] = min(2 * status[w, S_PERIOD], _rto_ceiling(config, w))
        return
    status[w, S_TIMEOUTS_SINCE_DOUBLING] += 1
    if status[w, S_TIMEOUTS_SINCE_DOUBLING] >= status[w, S_THRESHOLD]:
        status[w, S_PERIOD] *= 2
        status[w, S_TIMEOUTS_SINCE_DOUBLING] = 0
        status[w, S_THRESHOLD] += config[w, C_BACKOFF_INCREMENT]


@numba.njit(cache=True, nogil=True, _nrt=False)
def start(config, status, lanes, w, now, out):
    """Packets to send first (0..min(W, P)-1, timers armed at ``now``) into ``out``; returns their count."""
    count = min(config[w, C_WINDOW], config[w, C_TOTAL_PACKETS])
    for packet in range(count):
        _arm(config, status, lanes, w, packet, now, 0)
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
    _learn_from_result(config, status, lanes, w, lane, now)
    following = packet + config[w, C_WINDOW]
    if following < config[w, C_TOTAL_PACKETS]:
        _arm(config, status, lanes, w, following, now, 0)
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

    Each expiry backs off as the recovery policy says (the official client:
    once the timeouts since the last doubling reach the threshold, the period
    doubles and the threshold grows by the increment). Returns the number of
    packets written. ``now`` must not decrease.
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
        _back_off(config, status, w)
        _arm(config, status, lanes, w, packet, now, 1)  # period > 0: the re-armed timer is not due again
    status[w, S_SENT] += count
    status[w, S_RETRANSMISSIONS] += count
    return count
