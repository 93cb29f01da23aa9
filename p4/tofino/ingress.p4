/* SwitchML for Tofino (TNA): ingress, the aggregation pipeline.
 * Front end checked only, not compiled for Tofino (tests/p4/test_tofino_front_end.py).
 *
 * The same steps as p4/bmv2/ingress.p4 (faithful mode, k = 64), one control
 * per concern as p4app-switchML: BitmapChecker, WorkersCounter, Values (the
 * generated ../common/switchml_values.p4: 32 Processors, one per element
 * pair), Exponents, NextStepSelector.
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

    Counter<bit<32>, bit<32>>(SWITCHML_DROP_REASONS, CounterType_t.PACKETS) drop_reason_count;

    BitmapChecker() bitmap_checker;
    WorkersCounter() workers_counter;
    Values() values;
    Exponents() exponents;
    NextStepSelector() next_step_selector;

    action set_worker(bit<8> worker_id, worker_bitmap_t worker_bit, bit<8> num_workers, bit<16> mcast_grp) {
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

    apply {
        ig_dprsr_md.drop_ctl = 1;  // nothing leaves unless sent below
        hdr.bridged.setValid();    // in front of every frame to egress; reply = 0 unless set
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
                pool_index_t pool_index = hdr.switchml.pool_index;
                ig_md.slot = (slot_t)(pool_index & POOL_SLOT_MASK);
                ig_md.pool_set = pool_index[SWITCHML_POOL_SET_BIT:SWITCHML_POOL_SET_BIT];
                if ((bit<32>)ig_md.slot >= NUM_SLOTS) {
                    drop_reason_count.count(DROP_SLOT_OUT_OF_RANGE);
                } else {
                    ig_md.set_index = ((set_index_t)ig_md.slot << 1) | (set_index_t)ig_md.pool_set;
                    bitmap_checker.apply(ig_md);
                    workers_counter.apply(ig_md);
                    if (ig_md.duplicate == 1) {
                        ig_md.value_op = VALUE_READ;
                    } else if (ig_md.old_bitmap == 0) {
                        ig_md.value_op = VALUE_WRITE;
                    } else {
                        ig_md.value_op = VALUE_ADD;
                    }
                    values.apply(hdr.data, ig_md.set_index, ig_md.value_op);
                    exponents.apply(hdr.exponents, ig_md.set_index, ig_md.value_op);
                    next_step_selector.apply(hdr, ig_md, ig_intr_md, ig_dprsr_md, ig_tm_md);
                }
            }
        } else if (!l2_forward.apply().hit) {
            drop_reason_count.count(DROP_UNKNOWN_DESTINATION);
        }
    }
}

#endif  // _SWITCHML_INGRESS_
