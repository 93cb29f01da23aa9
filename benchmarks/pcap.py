"""Benchmark: writing and reading pcap files, switchsim.emu.pcap against scapy's PcapWriter / rdpcap.

The emulator switch and the simulator's capture write up to hundreds of thousands of frames per run, in
batches of equal-length frames (`PcapWriter.write_rows`). This measures both ways on the same frames
(308-byte SwitchML frames, k = 64 int32) and prints frames/s; the files are compared byte for byte.
Run with ``python benchmarks/pcap.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000, help="frames to write and read (default 200,000)")
    parser.add_argument("--batch", type=int, default=64, help="frames per write_rows call (default 64)")
    args = parser.parse_args()

    from scapy.utils import PcapWriter as ScapyWriter
    from scapy.utils import rdpcap

    from switchsim.emu.pcap import PcapWriter, read_pcap

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(args.frames, 308), dtype=np.uint8)
    stamps = 1.0 + np.arange(args.frames) // args.batch * 1e-6
    folder = Path(tempfile.mkdtemp())
    figures = {}

    started = time.perf_counter()
    with PcapWriter(folder / "own.pcap") as pcap:
        for start in range(0, args.frames, args.batch):
            pcap.write_rows(frames[start:start + args.batch], float(stamps[start]))
    figures["write: switchsim PcapWriter.write_rows"] = time.perf_counter() - started

    started = time.perf_counter()
    with PcapWriter(folder / "own-each.pcap") as pcap:
        for row, stamp in zip(frames, stamps, strict=True):
            pcap.write(row, float(stamp))
    figures["write: switchsim PcapWriter.write (one frame a call)"] = time.perf_counter() - started

    started = time.perf_counter()
    writer = ScapyWriter(str(folder / "scapy.pcap"), linktype=1, sync=False)
    writer.write_header(None)
    for row, stamp in zip(frames, stamps, strict=True):
        writer.write_packet(row.tobytes(), sec=int(stamp), usec=round((stamp - int(stamp)) * 1e6))
    writer.close()
    figures["write: scapy PcapWriter.write_packet (bytes)"] = time.perf_counter() - started

    started = time.perf_counter()
    ours = read_pcap(folder / "own.pcap")
    figures["read: switchsim read_pcap"] = time.perf_counter() - started

    started = time.perf_counter()
    theirs = rdpcap(str(folder / "scapy.pcap"))
    figures["read: scapy rdpcap (dissects every frame)"] = time.perf_counter() - started

    assert len(ours) == len(theirs) == args.frames
    assert [bytes(p) for p in theirs[:100]] == [f for _, f in ours[:100]]
    same = (folder / "own.pcap").read_bytes()[24:] == (folder / "scapy.pcap").read_bytes()[24:]
    print(f"{args.frames:,} frames of 308 bytes; record bytes identical to scapy's: {same}")
    for name, seconds in figures.items():
        print(f"  {name:55} {seconds:7.3f} s  {args.frames / seconds:12,.0f} frames/s")


if __name__ == "__main__":
    main()
