/* SwitchML for bmv2 simple_switch (v1model): headers and metadata.
 *
 * Field names and widths are those of switchsim/protocol/spec.py, in the same
 * order; tests/p4/test_p4_headers.py parses this file and fails on any drift.
 * data_h (one chunk of 64 payload elements) is generated: ../common/switchml_data.p4.
 */
#ifndef _SWITCHML_HEADERS_
#define _SWITCHML_HEADERS_

#include "../common/switchml_data.p4"

header ethernet_h {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

// No options: SwitchML packets with ihl != 5 are dropped (as the model's parser).
header ipv4_h {
    bit<4>  version;
    bit<4>  ihl;
    bit<8>  diffserv;
    bit<16> total_len;
    bit<16> identification;
    bit<3>  flags;
    bit<13> frag_offset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdr_checksum;
    bit<32> src_addr;
    bit<32> dst_addr;
}

header udp_h {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

// pool_index: bit 15 = set, bits 13..0 = slot, bit 14 unused.
header switchml_h {
    bit<4>  msg_type;
    bit<1>  unused;
    bit<3>  size;
    bit<8>  job_number;
    bit<32> tsi;
    bit<16> pool_index;
}

// Block exponents: the worker's in a request, the max over the set's contributions in a reply.
header exponents_h {
    int<8> e0;
    int<8> e1;
}

struct headers_t {
    ethernet_h  ethernet;
    ipv4_h      ipv4;
    udp_h       udp;
    switchml_h  switchml;
    exponents_h exponents;
    data_h[SWITCHML_MAX_CHUNKS] data;  // k = 64: data[0]; k = 256: data[0..3]
}

// Per-packet state. bmv2 copies it into every multicast replica, so egress reads it too.
struct metadata_t {
    bit<8>          worker_id;    // sender's rank = bitmap bit index (worker table)
    worker_bitmap_t worker_bit;   // 1 << worker_id
    bit<8>          num_workers;  // n of the sender's job
    bit<16>         mcast_grp;    // the job's multicast group (one node per worker, rid = rank)
    slot_t          slot;         // pool_index bits 13..0
    bit<1>          pool_set;     // pool_index bit 15
    set_index_t     set_index;    // register index of (slot, set): slot * 2 + set
    set_index_t     other_index;  // register index of (slot, 1 - set)
    worker_bitmap_t old_bitmap;   // bitmap[slot][set] before this packet
    bit<1>          duplicate;    // the sender's bit was already set
    bit<1>          complete;     // new: this was the last contribution; duplicate: the set is complete
    bit<1>          stale;        // hardened mode: a late duplicate of an older chunk
    bit<1>          held_same;    // hardened mode: the packet's chunk is the one the set holds
    bit<1>          held_older;   // hardened mode: ... is older than the packet's chunk
    bit<1>          held_done;    // hardened mode: the chunk the set holds has completed
    value_op_t      value_op;     // what Values and Exponents do with the set
    bit<1>          reply;        // leaves as a SwitchML reply (egress rewrite)
    bit<1>          multicast;    // reply to the whole job (receiver = egress_rid), else to the sender
    bit<8>          receiver;     // egress: rank of the worker this copy goes to
}

#endif  // _SWITCHML_HEADERS_
