/* SwitchML for bmv2 (v1model): ingress, the aggregation pipeline.
 *
 * The semantics are switchsim/pipeline/process.py (faithful mode), which the
 * conformance vectors pin down byte for byte. For a SwitchML packet from
 * worker w (me = 1 << w) to slot i, set X, with registers indexed by
 * set_index = i * 2 + X:
 *
 *   1. old = bitmap[i][X]; bitmap[i][X] |= me; bitmap[i][1-X] &= ~me.
 *   2. New contribution (old & me == 0): count = worker_count[i][X];
 *      worker_count[i][X] = (count == 0) ? n - 1 : count - 1;
 *      it is the last one when n == 1 or count == 1.
 *   3. Values and exponents: overwrite when old == 0, else add (bit<32>
 *      wrap-around) and take the signed max; the header carries the result.
 *   4. Decision (switchsim/pipeline/tables.py DECISION_TABLE):
 *
 *        duplicate | complete (count) | action
 *        ----------+------------------+-----------------------------------------
 *        no        | not last         | consume: drop, drop_count[i]++
 *        no        | last             | multicast to the job, broadcast_count[i]++
 *        yes       | count == 0       | unicast the stored set out the ingress port,
 *                  |                  | retransmit_count[i]++
 *        yes       | count != 0       | drop, drop_count[i]++
 *
 * Other traffic is L2-forwarded by destination MAC (l2_forward). Drops before
 * the pipeline are counted by reason in drop_reason_count (indices DROP_* in
 * switchml_constants.p4).
 */
#ifndef _SWITCHML_INGRESS_
#define _SWITCHML_INGRESS_

control SwitchMLIngress(inout headers_t hdr,
                        inout metadata_t meta,
                        inout standard_metadata_t std) {

    // --- statistics: counter_read SwitchMLIngress.<name> <index> ------------------------------
    counter(SWITCHML_SLOTS, CounterType.packets) broadcast_count;   // per slot: completed sets multicast
    counter(SWITCHML_SLOTS, CounterType.packets) retransmit_count;  // per slot: stored results unicast
    counter(SWITCHML_SLOTS, CounterType.packets) drop_count;        // per slot: consumed + dropped duplicates
    counter(SWITCHML_DROP_REASONS, CounterType.packets) drop_reason_count;  // by DROP_* index

    // --- registers: SWITCHML_SET_REGISTERS entries each, index = slot * 2 + set ----------------
    register<bit<32>>(SWITCHML_SET_REGISTERS) bitmap;        // one bit per worker
    register<bit<8>>(SWITCHML_SET_REGISTERS) worker_count;   // down-counter, 0 when idle or complete
    register<bit<8>>(SWITCHML_SET_REGISTERS) exponent_e0;    // int<8> bits: max of e0
    register<bit<8>>(SWITCHML_SET_REGISTERS) exponent_e1;    // int<8> bits: max of e1
#include "switchml_values.p4"

    // --- worker table: (src MAC, src IP) -> rank, bitmap bit, n, multicast group --------------
    action set_worker(bit<8> worker_id, bit<32> worker_bit, bit<8> num_workers, bit<16> mcast_grp) {
        meta.worker_id = worker_id;
        meta.worker_bit = worker_bit;
        meta.num_workers = num_workers;
        meta.mcast_grp = mcast_grp;
    }

    action unknown_worker() {
        drop_reason_count.count(DROP_UNREGISTERED_SOURCE);
    }

    table workers {
        key = {
            hdr.ethernet.src_addr : exact;
            hdr.ipv4.src_addr     : exact;
        }
        actions = {
            set_worker;
            @defaultonly unknown_worker;
        }
        default_action = unknown_worker();
        size = 1024;
    }

    // --- L2 forwarding of everything that is not SwitchML ---------------------------------
    action set_egress_port(bit<9> port) {
        std.egress_spec = port;
    }

    action unknown_destination() {
        drop_reason_count.count(DROP_UNKNOWN_DESTINATION);
    }

    table l2_forward {
        key = {
            hdr.ethernet.dst_addr : exact;
        }
        actions = {
            set_egress_port;
            @defaultonly unknown_destination;
        }
        default_action = unknown_destination();
        size = 1024;
    }

    // --- pipeline steps ---------------------------------------------------------------------
    action update_bitmap() {
        bit<32> other;
        bitmap.read(meta.old_bitmap, meta.set_index);
        bitmap.write(meta.set_index, meta.old_bitmap | meta.worker_bit);
        bitmap.read(other, meta.other_index);
        bitmap.write(meta.other_index, other & ~meta.worker_bit);
    }

    action exponents_write() {
        exponent_e0.write(meta.set_index, (bit<8>)hdr.exponents.e0);
        exponent_e1.write(meta.set_index, (bit<8>)hdr.exponents.e1);
    }

    action exponents_read() {
        exponent_e0.read(meta.e0, meta.set_index);
        exponent_e1.read(meta.e1, meta.set_index);
        hdr.exponents.e0 = (int<8>)meta.e0;
        hdr.exponents.e1 = (int<8>)meta.e1;
    }

    action reply_unicast() {
        std.egress_spec = std.ingress_port;
        meta.reply = 1;
        meta.multicast = 0;
    }

    action reply_multicast() {
        std.mcast_grp = meta.mcast_grp;
        meta.reply = 1;
        meta.multicast = 1;
    }

    apply {
        mark_to_drop(std);  // nothing leaves unless sent below
        meta.reply = 0;
        meta.multicast = 0;
        if (hdr.udp.isValid() && (hdr.udp.dst_port & UDP_PORT_MASK) == UDP_PORT) {
            if (hdr.ipv4.ihl != IPV4_IHL_WORDS) {
                drop_reason_count.count(DROP_IP_OPTIONS);
            } else if (std.parser_error != error.NoError) {
                drop_reason_count.count(DROP_TRUNCATED);
            } else if (!hdr.data.isValid()) {
                drop_reason_count.count(DROP_UNSUPPORTED_SIZE);
            } else if (workers.apply().hit) {
                meta.slot = (bit<32>)(hdr.switchml.pool_index & POOL_SLOT_MASK);
                meta.pool_set = hdr.switchml.pool_index[15:15];  // POOL_SET_BIT (a bit slice: bmv2 shifts by at most 8 bits)
                if (meta.slot >= NUM_SLOTS) {
                    drop_reason_count.count(DROP_SLOT_OUT_OF_RANGE);
                } else {
                    meta.set_index = (meta.slot << 1) | (bit<32>)meta.pool_set;
                    meta.other_index = (meta.slot << 1) | (bit<32>)(~meta.pool_set);
                    update_bitmap();                                    // 1. bitmap
                    worker_count.read(meta.count, meta.set_index);
                    if ((meta.old_bitmap & meta.worker_bit) != 0) {
                        // Duplicate: only reads.
                        if (meta.count == 0) {
                            values_read();
                            exponents_read();
                            reply_unicast();
                            retransmit_count.count(meta.slot);
                        } else {
                            drop_count.count(meta.slot);
                        }
                    } else {
                        // 2. down-counter (returns to 0 by itself on the last contribution)
                        if (meta.count == 0) {
                            worker_count.write(meta.set_index, meta.num_workers - 1);
                        } else {
                            worker_count.write(meta.set_index, meta.count - 1);
                        }
                        // 3. values and exponents
                        if (meta.old_bitmap == 0) {
                            values_write();
                            exponents_write();
                        } else {
                            values_add();
                            exponent_e0.read(meta.e0, meta.set_index);
                            exponent_e1.read(meta.e1, meta.set_index);
                            if ((int<8>)meta.e0 > hdr.exponents.e0) {
                                hdr.exponents.e0 = (int<8>)meta.e0;
                            }
                            if ((int<8>)meta.e1 > hdr.exponents.e1) {
                                hdr.exponents.e1 = (int<8>)meta.e1;
                            }
                            exponents_write();
                        }
                        // 4. decision
                        if (meta.num_workers == 1 || meta.count == 1) {
                            reply_multicast();
                            broadcast_count.count(meta.slot);
                        } else {
                            drop_count.count(meta.slot);
                        }
                    }
                }
            }
        } else {
            l2_forward.apply();
        }
    }
}

#endif  // _SWITCHML_INGRESS_
