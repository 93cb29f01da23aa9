/* SwitchML for Tofino (TNA): NextStepSelector, the decision.
 * Front end checked only, not compiled for Tofino (tests/p4/test_tofino_front_end.py).
 *
 * The same const-entries table as p4/bmv2/next_step_selector.p4 (rows =
 * switchsim/pipeline/tables.DECISION_TABLE, checked by tests/p4/test_p4_program.py),
 * with TNA's drop_ctl / ucast_egress_port / mcast_grp_a; the reply flags travel
 * to egress in the bridged header.
 */
#ifndef _SWITCHML_NEXT_STEP_SELECTOR_
#define _SWITCHML_NEXT_STEP_SELECTOR_

control NextStepSelector(inout headers_t hdr,
                         inout ingress_metadata_t ig_md,
                         in ingress_intrinsic_metadata_t ig_intr_md,
                         inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                         inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Counter<bit<32>, bit<32>>(SWITCHML_SLOTS, CounterType_t.PACKETS) broadcast_count;
    Counter<bit<32>, bit<32>>(SWITCHML_SLOTS, CounterType_t.PACKETS) retransmit_count;
    Counter<bit<32>, bit<32>>(SWITCHML_SLOTS, CounterType_t.PACKETS) drop_count;

    action consume() {
        drop_count.count((bit<32>)ig_md.slot);
    }

    action broadcast() {
        ig_tm_md.mcast_grp_a = ig_md.mcast_grp;
        ig_dprsr_md.drop_ctl = 0;
        hdr.bridged.reply = 1;
        hdr.bridged.multicast = 1;
        hdr.bridged.worker_id = ig_md.worker_id;
        broadcast_count.count((bit<32>)ig_md.slot);
    }

    action retransmit() {
        ig_tm_md.ucast_egress_port = ig_intr_md.ingress_port;
        ig_dprsr_md.drop_ctl = 0;
        hdr.bridged.reply = 1;
        hdr.bridged.multicast = 0;
        hdr.bridged.worker_id = ig_md.worker_id;
        retransmit_count.count((bit<32>)ig_md.slot);
    }

    action drop() {
        drop_count.count((bit<32>)ig_md.slot);
    }

    table next_step {
        key = {
            ig_md.duplicate : exact;
            ig_md.complete  : exact;
        }
        actions = {
            consume;
            broadcast;
            retransmit;
            drop;
        }
        const entries = {
            (0, 0) : consume();
            (0, 1) : broadcast();
            (1, 1) : retransmit();
            (1, 0) : drop();
        }
        const default_action = drop();
        size = 4;
    }

    apply {
        next_step.apply();
    }
}

#endif  // _SWITCHML_NEXT_STEP_SELECTOR_
