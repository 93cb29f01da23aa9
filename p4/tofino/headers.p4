/* SwitchML for Tofino (TNA): headers, bridged metadata, ingress metadata.
 * Front end checked only, not compiled for Tofino (tests/p4/test_tofino_front_end.py); tests/p4/test_p4_headers.py
 * checks these header definitions against switchsim/protocol/spec.py.
 */
#ifndef _SWITCHML_HEADERS_
#define _SWITCHML_HEADERS_

#include "../common/switchml_data.p4"

header ethernet_h {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

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

header switchml_h {
    bit<4>  msg_type;
    bit<1>  unused;
    bit<3>  size;
    bit<8>  job_number;
    bit<32> tsi;
    bit<16> pool_index;
}

header exponents_h {
    int<8> e0;
    int<8> e1;
}

// Ingress -> egress: TNA does not carry ingress metadata, so the reply flags travel in front of the frame.
header bridged_h {
    bit<1> reply;
    bit<1> multicast;
    bit<6> pad;
    bit<8> worker_id;
}

struct headers_t {
    bridged_h   bridged;
    ethernet_h  ethernet;
    ipv4_h      ipv4;
    udp_h       udp;
    switchml_h  switchml;
    exponents_h exponents;
    data_h      data;
}

struct ingress_metadata_t {
    bit<8>          worker_id;
    worker_bitmap_t worker_bit;
    bit<8>          num_workers;
    bit<16>         mcast_grp;
    slot_t          slot;
    bit<1>          pool_set;
    set_index_t     set_index;
    worker_bitmap_t old_bitmap;
    bit<1>          duplicate;
    bit<1>          complete;
    value_op_t      value_op;
}

struct egress_metadata_t {
    bit<8> receiver;
}

// Both sets' bitmaps of a slot in one register entry (p4app-switchML bitmap_checker.p4).
struct bitmap_pair_t {
    worker_bitmap_t set0;
    worker_bitmap_t set1;
}

#endif  // _SWITCHML_HEADERS_
