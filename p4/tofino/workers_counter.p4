/* SwitchML for Tofino (TNA): WorkersCounter, the down-counter.
 * Front end checked only, not compiled for Tofino (tests/p4/test_tofino_front_end.py).
 *
 * As p4app-switchML's workers_counter.p4; same semantics as
 * p4/bmv2/workers_counter.p4: a new contribution reads v and writes n - 1 if
 * v == 0, else v - 1 (the one reading 1, or any when n == 1, completes the set);
 * a duplicate only reads (complete when v == 0).
 */
#ifndef _SWITCHML_WORKERS_COUNTER_
#define _SWITCHML_WORKERS_COUNTER_

control WorkersCounter(inout ingress_metadata_t ig_md) {
    Register<bit<8>, set_index_t>(SWITCHML_SET_REGISTERS) worker_count;

    RegisterAction<bit<8>, set_index_t, bit<8>>(worker_count) count_down = {
        void apply(inout bit<8> value, out bit<8> read_value) {
            read_value = value;
            if (value == 0) {
                value = ig_md.num_workers - 1;
            } else {
                value = value - 1;
            }
        }
    };
    RegisterAction<bit<8>, set_index_t, bit<8>>(worker_count) read = {
        void apply(inout bit<8> value, out bit<8> read_value) {
            read_value = value;
        }
    };

    apply {
        bit<8> count;
        ig_md.complete = 0;
        if (ig_md.duplicate == 1) {
            count = read.execute(ig_md.set_index);
            if (count == 0) {
                ig_md.complete = 1;
            }
        } else {
            count = count_down.execute(ig_md.set_index);
            if (ig_md.num_workers == 1 || count == 1) {
                ig_md.complete = 1;
            }
        }
    }
}

#endif  // _SWITCHML_WORKERS_COUNTER_
