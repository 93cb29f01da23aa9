/* SwitchML for Tofino (TNA): ingress, the aggregation pipeline.
 * NOT COMPILED HERE. Same semantics as p4/bmv2/ingress.p4 (the truth table is
 * there and in switchsim/pipeline/tables.py); written with TNA Registers and
 * RegisterActions in the style of p4app-switchML (bitmap_checker.p4,
 * workers_counter.p4, exponents.p4, processor.p4).
 */
#ifndef _SWITCHML_INGRESS_
#define _SWITCHML_INGRESS_

control SwitchMLIngress(
    inout headers_t hdr,
    inout ingress_metadata_t ig_md,
    in ingress_intrinsic_metadata_t ig_intr_md,
    in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
    inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
    inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {

    Counter<bit<32>, bit<32>>(SWITCHML_SLOTS, CounterType_t.PACKETS) broadcast_count;
    Counter<bit<32>, bit<32>>(SWITCHML_SLOTS, CounterType_t.PACKETS) retransmit_count;
    Counter<bit<32>, bit<32>>(SWITCHML_SLOTS, CounterType_t.PACKETS) drop_count;
    Counter<bit<32>, bit<32>>(SWITCHML_DROP_REASONS, CounterType_t.PACKETS) drop_reason_count;

    // 1. bitmap: both sets of a slot in one register entry (index = slot), as bitmap_checker.p4.
    Register<bitmap_pair_t, bit<32>>(SWITCHML_SLOTS) bitmap;
    RegisterAction<bitmap_pair_t, bit<32>, bit<32>>(bitmap) bitmap_update_set0 = {
        void apply(inout bitmap_pair_t value, out bit<32> old) {
            old = value.set0;
            value.set0 = value.set0 | ig_md.worker_bit;
            value.set1 = value.set1 & ~ig_md.worker_bit;
        }
    };
    RegisterAction<bitmap_pair_t, bit<32>, bit<32>>(bitmap) bitmap_update_set1 = {
        void apply(inout bitmap_pair_t value, out bit<32> old) {
            old = value.set1;
            value.set1 = value.set1 | ig_md.worker_bit;
            value.set0 = value.set0 & ~ig_md.worker_bit;
        }
    };

    // 2. down-counter, as workers_counter.p4 (n == 1 is handled by the decision below).
    Register<bit<8>, set_index_t>(SWITCHML_SET_REGISTERS) worker_count;
    RegisterAction<bit<8>, set_index_t, bit<8>>(worker_count) worker_count_count = {
        void apply(inout bit<8> value, out bit<8> read_value) {
            read_value = value;
            if (value == 0) {
                value = ig_md.num_workers - 1;
            } else {
                value = value - 1;
            }
        }
    };
    RegisterAction<bit<8>, set_index_t, bit<8>>(worker_count) worker_count_read = {
        void apply(inout bit<8> value, out bit<8> read_value) {
            read_value = value;
        }
    };

    // 3. exponents: first writes, later ones take the signed max, duplicates read.
    Register<int<8>, set_index_t>(SWITCHML_SET_REGISTERS) exponent_e0;
    Register<int<8>, set_index_t>(SWITCHML_SET_REGISTERS) exponent_e1;
    RegisterAction<int<8>, set_index_t, int<8>>(exponent_e0) e0_write = {
        void apply(inout int<8> value, out int<8> result) { value = hdr.exponents.e0; result = value; }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(exponent_e0) e0_max = {
        void apply(inout int<8> value, out int<8> result) {
            if (hdr.exponents.e0 > value) { value = hdr.exponents.e0; }
            result = value;
        }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(exponent_e0) e0_read = {
        void apply(inout int<8> value, out int<8> result) { result = value; }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(exponent_e1) e1_write = {
        void apply(inout int<8> value, out int<8> result) { value = hdr.exponents.e1; result = value; }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(exponent_e1) e1_max = {
        void apply(inout int<8> value, out int<8> result) {
            if (hdr.exponents.e1 > value) { value = hdr.exponents.e1; }
            result = value;
        }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(exponent_e1) e1_read = {
        void apply(inout int<8> value, out int<8> result) { result = value; }
    };

#include "switchml_values.p4"

    action drop() {
        ig_dprsr_md.drop_ctl = 1;
    }

    action set_worker(bit<8> worker_id, bit<32> worker_bit, bit<8> num_workers, bit<16> mcast_grp) {
        ig_md.worker_id = worker_id;
        ig_md.worker_bit = worker_bit;
        ig_md.num_workers = num_workers;
        ig_md.mcast_grp = mcast_grp;
    }

    table workers {
        key = {
            hdr.ethernet.src_addr : exact;
            hdr.ipv4.src_addr     : exact;
        }
        actions = { set_worker; @defaultonly NoAction; }
        const default_action = NoAction;
        size = 1024;
    }

    action set_egress_port(PortId_t port) {
        ig_tm_md.ucast_egress_port = port;
        ig_dprsr_md.drop_ctl = 0;
    }

    table l2_forward {
        key = { hdr.ethernet.dst_addr : exact; }
        actions = { set_egress_port; @defaultonly NoAction; }
        const default_action = NoAction;
        size = 1024;
    }

    action reply_unicast() {
        ig_tm_md.ucast_egress_port = ig_intr_md.ingress_port;
        ig_dprsr_md.drop_ctl = 0;
        hdr.bridged.reply = 1;
        hdr.bridged.multicast = 0;
        hdr.bridged.worker_id = ig_md.worker_id;
    }

    action reply_multicast() {
        ig_tm_md.mcast_grp_a = ig_md.mcast_grp;
        ig_dprsr_md.drop_ctl = 0;
        hdr.bridged.reply = 1;
        hdr.bridged.multicast = 1;
        hdr.bridged.worker_id = ig_md.worker_id;
    }

    apply {
        drop();  // nothing leaves unless sent below
        hdr.bridged.setValid();  // in front of every frame to egress; reply = 0 unless set below
        hdr.bridged.reply = 0;
        hdr.bridged.multicast = 0;
        hdr.bridged.pad = 0;
        hdr.bridged.worker_id = 0;
        if (hdr.udp.isValid() && (hdr.udp.dst_port & UDP_PORT_MASK) == UDP_PORT) {
            if (hdr.ipv4.ihl != IPV4_IHL_WORDS) {
                drop_reason_count.count(DROP_IP_OPTIONS);
            } else if (ig_prsr_md.parser_err != 0) {
                drop_reason_count.count(DROP_TRUNCATED);
            } else if (!hdr.data.isValid()) {
                drop_reason_count.count(DROP_UNSUPPORTED_SIZE);
            } else if (!workers.apply().hit) {
                drop_reason_count.count(DROP_UNREGISTERED_SOURCE);
            } else {
                ig_md.slot = (bit<32>)(hdr.switchml.pool_index & POOL_SLOT_MASK);
                ig_md.pool_set = hdr.switchml.pool_index[15:15];
                if (ig_md.slot >= NUM_SLOTS) {
                    drop_reason_count.count(DROP_SLOT_OUT_OF_RANGE);
                } else {
                    ig_md.set_index = (ig_md.slot << 1) | (set_index_t)ig_md.pool_set;
                    if (ig_md.pool_set == 0) {
                        ig_md.old_bitmap = bitmap_update_set0.execute(ig_md.slot);
                    } else {
                        ig_md.old_bitmap = bitmap_update_set1.execute(ig_md.slot);
                    }
                    if ((ig_md.old_bitmap & ig_md.worker_bit) != 0) {
                        ig_md.count = worker_count_read.execute(ig_md.set_index);
                        if (ig_md.count == 0) {
                            values_read();
                            hdr.exponents.e0 = e0_read.execute(ig_md.set_index);
                            hdr.exponents.e1 = e1_read.execute(ig_md.set_index);
                            reply_unicast();
                            retransmit_count.count(ig_md.slot);
                        } else {
                            drop_count.count(ig_md.slot);
                        }
                    } else {
                        ig_md.count = worker_count_count.execute(ig_md.set_index);
                        if (ig_md.old_bitmap == 0) {
                            values_write();
                            hdr.exponents.e0 = e0_write.execute(ig_md.set_index);
                            hdr.exponents.e1 = e1_write.execute(ig_md.set_index);
                        } else {
                            values_add();
                            hdr.exponents.e0 = e0_max.execute(ig_md.set_index);
                            hdr.exponents.e1 = e1_max.execute(ig_md.set_index);
                        }
                        if (ig_md.num_workers == 1 || ig_md.count == 1) {
                            reply_multicast();
                            broadcast_count.count(ig_md.slot);
                        } else {
                            drop_count.count(ig_md.slot);
                        }
                    }
                }
            }
        } else if (!l2_forward.apply().hit) {
            drop_reason_count.count(DROP_UNKNOWN_DESTINATION);
        }
    }
}

#endif  // _SWITCHML_INGRESS_
