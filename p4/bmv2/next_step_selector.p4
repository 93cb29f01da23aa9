/* SwitchML for bmv2 (v1model): NextStepSelector, the decision (p4app-switchML next_step_selector.p4).
 *
 * The next_step table is switchsim/pipeline/tables.DECISION_TABLE, row for row
 * (tests/p4/test_p4_program.py checks it):
 *
 *   duplicate | complete | action
 *   ----------+----------+------------------------------------------------------------
 *       0     |    0     | consume: absorbed, nothing sent, drop_count[slot]++
 *       0     |    1     | broadcast: the set to the whole job, broadcast_count[slot]++
 *       1     |    1     | retransmit: the stored set back out the ingress port,
 *             |          |   retransmit_count[slot]++
 *       1     |    0     | drop: a duplicate to an incomplete set, drop_count[slot]++
 *
 * A stale packet (hardened mode only) is dropped without the table: stale_count[slot]++.
 * Nothing leaves unless an action sends it (ingress starts with mark_to_drop).
 */
#ifndef _SWITCHML_NEXT_STEP_SELECTOR_
#define _SWITCHML_NEXT_STEP_SELECTOR_

control NextStepSelector(inout metadata_t meta, inout standard_metadata_t std) {
    counter(SWITCHML_SLOTS, CounterType.packets) broadcast_count;   // completed sets multicast
    counter(SWITCHML_SLOTS, CounterType.packets) retransmit_count;  // stored results unicast
    counter(SWITCHML_SLOTS, CounterType.packets) drop_count;        // consumed + dropped duplicates
    counter(SWITCHML_SLOTS, CounterType.packets) stale_count;       // hardened mode: stale packets

    action consume() {
        drop_count.count((bit<32>)meta.slot);
    }

    action broadcast() {
        std.mcast_grp = meta.mcast_grp;
        meta.reply = 1;
        meta.multicast = 1;
        broadcast_count.count((bit<32>)meta.slot);
    }

    action retransmit() {
        std.egress_spec = std.ingress_port;
        meta.reply = 1;
        meta.multicast = 0;
        retransmit_count.count((bit<32>)meta.slot);
    }

    action drop() {
        drop_count.count((bit<32>)meta.slot);
    }

    action drop_stale() {
        stale_count.count((bit<32>)meta.slot);
    }

    table next_step {
        key = {
            meta.duplicate : exact;
            meta.complete  : exact;
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
    }

    apply {
        if (meta.stale == 1) {
            drop_stale();
        } else {
            next_step.apply();
        }
    }
}

#endif  // _SWITCHML_NEXT_STEP_SELECTOR_
