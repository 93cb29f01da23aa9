/* SwitchML for bmv2 (v1model): WorkersCounter, the down-counter (p4app-switchML workers_counter.p4).
 *
 * One 8-bit counter per (slot, set), 0 when the set is idle or complete. A new
 * contribution reads v and writes n - 1 if v == 0, else v - 1: the one that reads
 * 1 (or any, when n == 1) is the last, and the counter is back at 0 by itself.
 * A duplicate only reads: the set is complete when the counter reads 0.
 */
#ifndef _SWITCHML_WORKERS_COUNTER_
#define _SWITCHML_WORKERS_COUNTER_

control WorkersCounter(inout metadata_t meta) {
    register<bit<8>>(SWITCHML_SET_REGISTERS) worker_count;

    apply {
        bit<8> count;
        worker_count.read(count, meta.set_index);
        meta.complete = 0;
        if (meta.duplicate == 1) {
            if (count == 0) {
                meta.complete = 1;
            }
        } else {
            if (count == 0) {
                worker_count.write(meta.set_index, meta.num_workers - 1);
            } else {
                worker_count.write(meta.set_index, count - 1);
            }
            if (meta.num_workers == 1 || count == 1) {
                meta.complete = 1;
            }
        }
    }
}

#endif  // _SWITCHML_WORKERS_COUNTER_
