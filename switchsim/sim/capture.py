"""pcap capture of simulated SwitchML traffic on one host's links.

A `SimCapture` holds the packets on a worker's uplink and downlink channels
(the engines record them as they leave, at their simulated departure time), and on `close` encodes them as
real Ethernet/IPv4/UDP frames with `switchsim.protocol.codec` and writes a
libpcap file (`switchsim.emu.pcap.PcapWriter`) that scapy and tshark dissect
with the project's layer. Addresses follow the conformance vectors: worker h is
``02:00:00:00:00:(h+1)`` / ``10.0.0.(h+1)``, the switch ``SwitchAddress()``.
At most ``limit`` packets are kept (a note says how many were left out).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from switchsim.emu.pcap import PcapWriter
from switchsim.frame_switch import SwitchAddress
from switchsim.protocol import codec, spec
from switchsim.protocol.addresses import worker_ip, worker_mac


class SimCapture:
    """Records the SwitchML packets crossing one host's links; `close` writes the pcap."""

    def __init__(self, path: str | Path, host: int, elements_per_packet: int, limit: int = 200_000,
                 element_bits: int = spec.ELEMENT_BITS) -> None:
        if not 0 <= host < 253:
            raise ValueError(f"capture host must be in 0..252 (it gets IPv4 10.0.0.(host+1)), got {host}")
        self.path = Path(path)
        self.host = host
        self.k = elements_per_packet
        self.element_bits = element_bits
        self.limit = limit
        self.records: list[tuple] = []
        self.left_out = 0

    def add(self, departure_s: float, is_result: bool, job_number: int, tsi: int, pool_index: int,
            exponents: np.ndarray, values: np.ndarray) -> None:
        """Remember one packet leaving at ``departure_s`` (seconds)."""
        if len(self.records) >= self.limit:
            self.left_out += 1
            return
        self.records.append((departure_s, is_result, job_number, tsi, pool_index, np.array(exponents),
                             np.array(values)))

    def close(self) -> int:
        """Write the pcap (frames in time order); returns the number of frames written."""
        self.records.sort(key=lambda r: r[0])
        count = len(self.records)
        with PcapWriter(self.path) as pcap:
            if not count:
                return 0
            times, results, jobs, tsis, pools, exponents, values = zip(*self.records, strict=True)
            results = np.array(results)
            messages = codec.Messages.build(pool_index=np.array(pools), values=np.stack(values),
                                            tsi=np.array(tsis), job_number=np.array(jobs),
                                            exponents=np.stack(exponents), element_bits=self.element_bits)
            host_mac = codec.mac_to_int(worker_mac(self.host))
            host_ip = codec.ip_to_int(worker_ip(self.host))
            switch = SwitchAddress()
            switch_mac, switch_ip = codec.mac_to_int(switch.mac), codec.ip_to_int(switch.ip)
            frames = codec.Frames(
                eth_dst=np.where(results, host_mac, switch_mac).astype(np.uint64),
                eth_src=np.where(results, switch_mac, host_mac).astype(np.uint64),
                ip_src=np.where(results, switch_ip, host_ip).astype(np.uint32),
                ip_dst=np.where(results, host_ip, switch_ip).astype(np.uint32),
                src_port=np.where(results, spec.UDP_PORT, spec.WORKER_UDP_PORT_BASE).astype(np.uint16),
                dst_port=np.where(results, spec.WORKER_UDP_PORT_BASE, spec.UDP_PORT).astype(np.uint16),
                messages=messages,
            )
            data = codec.encode_frames(frames)
            for time_s, row in zip(times, data, strict=True):
                pcap.write(row, time_s)
        return count
