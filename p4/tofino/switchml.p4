/* SwitchML in-network aggregation for Tofino (P4_16, TNA).
 *
 * *** CHECKED BY P4C'S FRONT END ONLY, NOT COMPILED FOR TOFINO. *** The Tofino
 * backend is open source in p4lang/p4c (backends/tofino); its TNA architecture
 * headers (tna.p4, tofino1_arch.p4, ...) let p4c's front end read this program.
 * tests/p4/test_tofino_front_end.py runs p4c-bm2-ss -D__TARGET_TOFINO__=1 with
 * those headers: parsing, type checking, extern signatures (Register,
 * RegisterAction, Hash) and const-entry tables are checked, and the bmv2 backend
 * then stops with its one expected error (the main package is TNA's Switch, not
 * V1Switch); a copy with a wrong RegisterAction type must fail it. NOT checked:
 * no Tofino backend ran, so stage allocation, PHV allocation, register-ALU
 * (stateful ALU) resources and whether the 64 value registers fit into the
 * stages are unknown. Also checked: tests/p4/test_p4_headers.py parses its
 * headers and constants against switchsim/protocol/spec.py (it includes the same
 * generated files from ../common as the bmv2 program), and
 * tests/p4/test_p4_program.py checks its next_step const entries against the
 * pipeline model's decision table and that it instantiates the shared Values
 * (one Processor per element pair). Its behaviour is the bmv2 program's (p4/bmv2,
 * compiled and replayed against switchsim/conformance/vectors.json in CI) in TNA
 * vocabulary, faithful mode, k = 64 (size 1) only: the k = 256 packets of
 * p4app-switchML's folded pipeline (recirculation across four pipes) and the
 * hardened mode are not written for Tofino.
 *
 * One control per concern, as p4app-switchML: bitmap_checker.p4, workers_counter.p4,
 * processor.p4 (one Processor, instantiated per element pair by the generated
 * ../common/switchml_values.p4), exponents.p4, next_step_selector.p4, ingress.p4.
 *
 * SWITCHML_SLOTS is a compile-time constant (default 8192, as the official
 * switch: 16384 register entries = 8192 slots x 2 sets). Registers indexed
 * by slot * 2 + set, except the bitmap (one pair per slot).
 */
#include <core.p4>
#include <tna.p4>

#ifndef SWITCHML_SLOTS
#define SWITCHML_SLOTS 8192
#endif
#define SWITCHML_SET_REGISTERS (2 * SWITCHML_SLOTS)

#include "../common/switchml_constants.p4"
#include "../common/types.p4"

const bit<32> NUM_SLOTS = SWITCHML_SLOTS;

#include "headers.p4"

parser SwitchMLIngressParser(packet_in pkt,
                             out headers_t hdr,
                             out ingress_metadata_t ig_md,
                             out ingress_intrinsic_metadata_t ig_intr_md) {
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        transition parse_ethernet;
    }
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        transition select(hdr.ipv4.version, hdr.ipv4.protocol) {
            (IPV4_VERSION, IP_PROTOCOL_UDP): parse_udp;
            default: accept;
        }
    }
    state parse_udp {
        pkt.extract(hdr.udp);
        transition select(hdr.udp.dst_port) {
            UDP_PORT &&& UDP_PORT_MASK: parse_switchml;
            default: accept;
        }
    }
    state parse_switchml {
        pkt.extract(hdr.switchml);
        transition select(hdr.switchml.size) {
            SWITCHML_SIZE_64: parse_payload;
            default: accept;  // k = 256 (folded pipeline) is not written for Tofino: dropped
        }
    }
    state parse_payload {
        pkt.extract(hdr.exponents);
        pkt.extract(hdr.data);
        transition accept;
    }
}

#include "bitmap_checker.p4"
#include "workers_counter.p4"
#include "processor.p4"
#include "../common/switchml_values.p4"
#include "exponents.p4"
#include "next_step_selector.p4"
#include "ingress.p4"

control SwitchMLIngressDeparser(packet_out pkt,
                                inout headers_t hdr,
                                in ingress_metadata_t ig_md,
                                in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply {
        pkt.emit(hdr);
    }
}

parser SwitchMLEgressParser(packet_in pkt,
                            out headers_t hdr,
                            out egress_metadata_t eg_md,
                            out egress_intrinsic_metadata_t eg_intr_md) {
    state start {
        pkt.extract(eg_intr_md);
        pkt.extract(hdr.bridged);  // ingress bridges it in front of every frame
        transition select(hdr.bridged.reply) {
            1: parse_reply;
            default: accept;  // forwarded traffic: untouched
        }
    }
    state parse_reply {
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.ipv4);
        pkt.extract(hdr.udp);
        pkt.extract(hdr.switchml);
        pkt.extract(hdr.exponents);
        pkt.extract(hdr.data);
        transition accept;
    }
}

// Reply rewrite: the same fields as p4/bmv2/egress.p4 (see there).
control SwitchMLEgress(inout headers_t hdr,
                       inout egress_metadata_t eg_md,
                       in egress_intrinsic_metadata_t eg_intr_md,
                       in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                       inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                       inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {

    action set_switch_address(bit<48> mac, bit<32> ip) {
        hdr.ethernet.src_addr = mac;
        hdr.ipv4.src_addr = ip;
    }
    table switch_address {
        actions = { set_switch_address; }
        default_action = set_switch_address(0, 0);
    }

    action set_receiver(bit<48> mac, bit<32> ip) {
        hdr.ethernet.dst_addr = mac;
        hdr.ipv4.dst_addr = ip;
    }
    action unknown_receiver() {
        eg_dprsr_md.drop_ctl = 1;
    }
    table receivers {
        key = { eg_md.receiver : exact; }
        actions = { set_receiver; @defaultonly unknown_receiver; }
        const default_action = unknown_receiver;
        size = 1024;
    }

    action rewrite_reply() {
        bit<16> request_src_port = hdr.udp.src_port;
        hdr.udp.src_port = hdr.udp.dst_port;
        hdr.udp.dst_port = request_src_port;
        hdr.udp.length = UDP_LENGTH_64;
        hdr.udp.checksum = 0;
        hdr.ipv4.version = IPV4_VERSION;
        hdr.ipv4.ihl = IPV4_IHL_WORDS;
        hdr.ipv4.diffserv = 0;
        hdr.ipv4.total_len = IPV4_TOTAL_LEN_64;
        hdr.ipv4.identification = 0;
        hdr.ipv4.flags = 0;
        hdr.ipv4.frag_offset = 0;
        hdr.ipv4.ttl = REPLY_TTL;
        hdr.switchml.msg_type = MSG_TYPE_DATA;
        hdr.switchml.unused = 0;
        hdr.switchml.pool_index = hdr.switchml.pool_index & (POOL_SET_MASK | POOL_SLOT_MASK);
    }

    apply {
        if (hdr.bridged.reply == 1) {
            if (hdr.bridged.multicast == 1) {
                eg_md.receiver = (bit<8>)eg_intr_md.egress_rid;
            } else {
                eg_md.receiver = hdr.bridged.worker_id;
            }
            rewrite_reply();
            switch_address.apply();
            receivers.apply();
        }
        hdr.bridged.setInvalid();
    }
}

control SwitchMLEgressDeparser(packet_out pkt,
                               inout headers_t hdr,
                               in egress_metadata_t eg_md,
                               in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    Checksum() ipv4_checksum;
    apply {
        if (hdr.ipv4.isValid()) {
            hdr.ipv4.hdr_checksum = ipv4_checksum.update({
                hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len,
                hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset,
                hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
        }
        pkt.emit(hdr);
    }
}

Pipeline(SwitchMLIngressParser(),
         SwitchMLIngress(),
         SwitchMLIngressDeparser(),
         SwitchMLEgressParser(),
         SwitchMLEgress(),
         SwitchMLEgressDeparser()) pipe;

Switch(pipe) main;
