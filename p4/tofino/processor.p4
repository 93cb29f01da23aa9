/* SwitchML for Tofino (TNA): Processor, the running sums of two elements.
 * Front end checked only, not compiled for Tofino (tests/p4/test_tofino_front_end.py).
 *
 * Written once, as p4app-switchML's processor.p4; the generated
 * ../common/switchml_values.p4 instantiates it per element pair (d00_d01 ...
 * d62_d63, 32 instances) in control Values. Each instance owns two Registers
 * (first, second), one per element, so each executes one RegisterAction per
 * pass (Tofino's rule); the official program packs the pair into one 64-bit
 * register and harvests the second half with a recirculation instead. By op
 * (../common/types.p4): VALUE_WRITE stores, VALUE_ADD adds (bit<32>: wraps),
 * VALUE_READ reads; the packet then carries the register's value.
 */
#ifndef _SWITCHML_PROCESSOR_
#define _SWITCHML_PROCESSOR_

control Processor(inout value_t value0, inout value_t value1, in set_index_t index, in value_op_t op) {
    Register<value_t, set_index_t>(SWITCHML_SET_REGISTERS) first;
    Register<value_t, set_index_t>(SWITCHML_SET_REGISTERS) second;

    RegisterAction<value_t, set_index_t, value_t>(first) first_write = {
        void apply(inout value_t stored, out value_t result) { stored = value0; result = stored; }
    };
    RegisterAction<value_t, set_index_t, value_t>(first) first_add = {
        void apply(inout value_t stored, out value_t result) { stored = stored + value0; result = stored; }
    };
    RegisterAction<value_t, set_index_t, value_t>(first) first_read = {
        void apply(inout value_t stored, out value_t result) { result = stored; }
    };
    RegisterAction<value_t, set_index_t, value_t>(second) second_write = {
        void apply(inout value_t stored, out value_t result) { stored = value1; result = stored; }
    };
    RegisterAction<value_t, set_index_t, value_t>(second) second_add = {
        void apply(inout value_t stored, out value_t result) { stored = stored + value1; result = stored; }
    };
    RegisterAction<value_t, set_index_t, value_t>(second) second_read = {
        void apply(inout value_t stored, out value_t result) { result = stored; }
    };

    action write() {
        value0 = first_write.execute(index);
        value1 = second_write.execute(index);
    }
    action add() {
        value0 = first_add.execute(index);
        value1 = second_add.execute(index);
    }
    action read() {
        value0 = first_read.execute(index);
        value1 = second_read.execute(index);
    }

    table sum {
        key = { op : exact; }
        actions = { write; add; read; }
        const entries = {
            VALUE_WRITE : write();
            VALUE_ADD   : add();
            VALUE_READ  : read();
        }
        size = 4;
    }

    apply {
        sum.apply();
    }
}

#endif  // _SWITCHML_PROCESSOR_
