/* SwitchML in-network aggregation for bmv2 simple_switch (P4_16, v1model).
 *
 * The behaviour is switchsim's pipeline model (switchsim/pipeline/process.py)
 * around the frame-level switch (switchsim/frame_switch.py); the contract is
 * switchsim/conformance/vectors.json, replayed byte for byte on simple_switch by
 * switchsim/p4gen/bmv2_runner.py (in CI too). Laid out as p4app-switchML's
 * program, one control per concern:
 *
 *   bitmap_checker.p4      BitmapChecker     duplicate detection (and, hardened, stale detection)
 *   chunk_checker.p4       ChunkChecker      hardened mode only: the chunk each set holds
 *   workers_counter.p4     WorkersCounter    the down-counter: is the set complete?
 *   processor.p4           Processor         two elements' running sums (instantiated per pair
 *                                            by the generated ../common/switchml_values.p4)
 *   exponents.p4           Exponents         the block exponents' running max
 *   next_step_selector.p4  NextStepSelector  the decision: a const-entries table
 *   ingress.p4             SwitchMLIngress   worker table, L2 forwarding, the steps in order
 *   egress.p4              SwitchMLEgress    the reply rewrite, checksums
 *
 * Packet sizes: k = 64 (size 1, one data_h chunk) and k = 256 (size 3, four
 * chunks) in the same program; other sizes are dropped. A slot holds one
 * packet's worth of elements at a time: chunk c of a set lives in the
 * registers of the c-th Values instance.
 *
 * Modes (compile time):
 *   default                 faithful to the official switch (late-duplicate hazard included)
 *   -DSWITCHML_HARDENED     hardened mode (docs/hardened-mode.md): late duplicates of older
 *                           chunks are dropped before they touch any register
 *
 * Slots: SWITCHML_SLOTS, a compile-time constant (default 1024; the
 * conformance vectors use slots 0..7): p4c-bm2-ss -DSWITCHML_SLOTS=8192 ...
 * Every per-(slot, set) register has SWITCHML_SET_REGISTERS = 2 * SWITCHML_SLOTS
 * entries indexed slot * 2 + set.
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

#include "../common/switchml_constants.p4"
#include "../common/types.p4"

const bit<32> NUM_SLOTS = SWITCHML_SLOTS;

#include "headers.p4"
#include "parser.p4"
#include "bitmap_checker.p4"
#include "chunk_checker.p4"
#include "workers_counter.p4"
#include "processor.p4"
#include "../common/switchml_values.p4"
#include "exponents.p4"
#include "next_step_selector.p4"
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
