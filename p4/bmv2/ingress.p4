/* SwitchML for bmv2 (v1model): ingress, the aggregation pipeline.
 *
 * The semantics are switchsim/pipeline/process.py, which the conformance vectors
 * pin down byte for byte. A SwitchML packet from a registered worker to slot i,
 * set X goes through, in order (one control each, see switchml.p4):
 *
 *   [ChunkChecker check]  hardened mode: what the set holds
 *   BitmapChecker         duplicate? (hardened: stale?) and the bitmap update
 *   WorkersCounter        complete?
 *   Values x chunks       the elements: write, add or read (op chosen from the bitmap)
 *   Exponents             the exponents likewise (max instead of add)
 *   NextStepSelector      consume, broadcast, retransmit or drop (const entries)
 *   [ChunkChecker record] hardened mode: remember the chunk, mark it complete
 *
 * A stale packet (hardened mode) skips everything between the bitmap check and
 * the decision. Other traffic is L2-forwarded by destination MAC (l2_forward).
 * Drops before the pipeline are counted by reason in drop_reason_count
 * (indices DROP_* in ../common/switchml_constants.p4).
 */
#ifndef _SWITCHML_INGRESS_
#define _SWITCHML_INGRESS_

control SwitchMLIngress(inout headers_t hdr,
                        inout metadata_t meta,
                        inout standard_metadata_t std) {

    counter(SWITCHML_DROP_REASONS, CounterType.packets) drop_reason_count;  // by DROP_* index

#ifdef SWITCHML_HARDENED
    ChunkChecker() chunk_checker;
#endif
    BitmapChecker() bitmap_checker;
    WorkersCounter() workers_counter;
    Values() chunk0;  // elements 0..63 of a packet
    Values() chunk1;  // 64..127 (k = 256 only)
    Values() chunk2;  // 128..191
    Values() chunk3;  // 192..255
    Exponents() exponents;
    NextStepSelector() next_step_selector;

    // --- worker table: (src MAC, src IP) -> rank, bitmap bit, n, multicast group --------------
    action set_worker(bit<8> worker_id, worker_bitmap_t worker_bit, bit<8> num_workers, bit<16> mcast_grp) {
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

    // --- the aggregation --------------------------------------------------------------------
    apply {
        mark_to_drop(std);  // nothing leaves unless sent below
        meta.reply = 0;
        meta.multicast = 0;
        if (hdr.udp.isValid() && (hdr.udp.dst_port & UDP_PORT_MASK) == UDP_PORT) {
            if (hdr.ipv4.ihl != IPV4_IHL_WORDS) {
                drop_reason_count.count(DROP_IP_OPTIONS);
            } else if (std.parser_error != error.NoError) {
                drop_reason_count.count(DROP_TRUNCATED);
            } else if (!hdr.exponents.isValid()) {
                drop_reason_count.count(DROP_UNSUPPORTED_SIZE);
            } else if (workers.apply().hit) {
                pool_index_t pool_index = hdr.switchml.pool_index;
                meta.slot = (slot_t)(pool_index & POOL_SLOT_MASK);
                meta.pool_set = pool_index[SWITCHML_POOL_SET_BIT:SWITCHML_POOL_SET_BIT];
                if ((bit<32>)meta.slot >= NUM_SLOTS) {
                    drop_reason_count.count(DROP_SLOT_OUT_OF_RANGE);
                } else {
                    meta.set_index = ((set_index_t)meta.slot << 1) | (set_index_t)meta.pool_set;
                    meta.other_index = ((set_index_t)meta.slot << 1) | (set_index_t)(~meta.pool_set);
#ifdef SWITCHML_HARDENED
                    chunk_checker.apply(hdr.switchml.job_number, hdr.switchml.tsi, meta.set_index, CHUNK_CHECK, 0, 0,
                                        meta.held_same, meta.held_older, meta.held_done);
#endif
                    bitmap_checker.apply(meta);
                    if (meta.stale == 0) {
                        workers_counter.apply(meta);
                        if (meta.duplicate == 1) {
                            meta.value_op = VALUE_READ;
                        } else if (meta.old_bitmap == 0) {
                            meta.value_op = VALUE_WRITE;
                        } else {
                            meta.value_op = VALUE_ADD;
                        }
                        chunk0.apply(hdr.data[0], meta.set_index, meta.value_op);
                        if (hdr.data[1].isValid()) {
                            chunk1.apply(hdr.data[1], meta.set_index, meta.value_op);
                            chunk2.apply(hdr.data[2], meta.set_index, meta.value_op);
                            chunk3.apply(hdr.data[3], meta.set_index, meta.value_op);
                        }
                        exponents.apply(hdr.exponents, meta.set_index, meta.value_op);
                    }
                    next_step_selector.apply(meta, std);
#ifdef SWITCHML_HARDENED
                    if (meta.stale == 0) {
                        bit<1> first = 0;
                        bit<1> completes = 0;
                        if (meta.old_bitmap == 0) {
                            first = 1;
                        }
                        if (meta.duplicate == 0 && meta.complete == 1) {
                            completes = 1;
                        }
                        chunk_checker.apply(hdr.switchml.job_number, hdr.switchml.tsi, meta.set_index, CHUNK_RECORD,
                                            first, completes, meta.held_same, meta.held_older, meta.held_done);
                    }
#endif
                }
            }
        } else {
            l2_forward.apply();
        }
    }
}

#endif  // _SWITCHML_INGRESS_
