/* SwitchML in-network aggregation for bmv2 simple_switch (P4_16, v1model).
 *
 * The behaviour is switchsim's pipeline model (switchsim/pipeline/process.py,
 * faithful mode) around the frame-level switch (switchsim/frame_switch.py); the
 * contract is switchsim/conformance/vectors.json, replayed by
 * switchsim/p4gen/bmv2_runner.py. Wire constants, the payload header and the
 * per-element value registers are generated from switchsim/protocol/spec.py
 * (switchml_constants.p4, switchml_data.p4, switchml_values.p4).
 *
 * Elements per packet: 64 (size enum 1); other sizes are dropped.
 *
 * Slots: SWITCHML_SLOTS, a compile-time constant (default 1024; the
 * conformance vectors use slots 0..7). Override with
 *     p4c-bm2-ss -DSWITCHML_SLOTS=8192 ...
 * Register layout: every per-(slot, set) register (bitmap, worker_count,
 * exponent_e0/e1, and one value_dNN array per element position) has
 * SWITCHML_SET_REGISTERS = 2 * SWITCHML_SLOTS entries, indexed slot * 2 + set.
 * One array per element keeps a set's 64 values at one index in 64 arrays, so
 * register_read SwitchMLIngress.value_d05 <slot*2+set> shows element 5.
 *
 * Tables (filled by switchsim/p4gen/controller.py):
 *   SwitchMLIngress.workers       (src MAC, src IP) -> set_worker(rank, 1 << rank, n, mcast group)
 *   SwitchMLIngress.l2_forward    dst MAC -> set_egress_port(port)
 *   SwitchMLEgress.receivers      rank -> set_receiver(MAC, IP)
 *   SwitchMLEgress.switch_address default set_switch_address(MAC, IP)
 * plus one multicast group per job with one node per worker (rid = rank).
 */
#include <core.p4>
#include <v1model.p4>

#ifndef SWITCHML_SLOTS
#define SWITCHML_SLOTS 1024
#endif
#define SWITCHML_SET_REGISTERS (2 * SWITCHML_SLOTS)

#include "switchml_constants.p4"

const bit<32> NUM_SLOTS = SWITCHML_SLOTS;

#include "headers.p4"
#include "parser.p4"
#include "ingress.p4"
#include "egress.p4"
#include "deparser.p4"

V1Switch(
    SwitchMLParser(),
    SwitchMLVerifyChecksum(),
    SwitchMLIngress(),
    SwitchMLEgress(),
    SwitchMLComputeChecksum(),
    SwitchMLDeparser()
) main;
