/* SwitchML for bmv2 (v1model): Processor, the running sums of two elements (p4app-switchML processor.p4).
 *
 * Written once; the generated ../common/switchml_values.p4 instantiates it per
 * element pair (d00_d01 ... d62_d63) in control Values, and the ingress has one
 * Values per chunk of a packet. Each instance keeps the pair's sums in two
 * registers (first, second) at index slot * 2 + set. value_t addition wraps
 * around, as the model's int32 two's-complement sum. By op (common/types.p4):
 *   VALUE_WRITE  store the packet's values (the packet keeps them)
 *   VALUE_ADD    add the packet's values; the packet carries the sums
 *   VALUE_READ   the packet carries the stored sums
 */
#ifndef _SWITCHML_PROCESSOR_
#define _SWITCHML_PROCESSOR_

control Processor(inout value_t value0, inout value_t value1, in set_index_t index, in value_op_t op) {
    register<value_t>(SWITCHML_SET_REGISTERS) first;
    register<value_t>(SWITCHML_SET_REGISTERS) second;

    action write() {
        first.write(index, value0);
        second.write(index, value1);
    }

    action add() {
        value_t stored0;
        value_t stored1;
        first.read(stored0, index);
        second.read(stored1, index);
        value0 = value0 + stored0;
        value1 = value1 + stored1;
        first.write(index, value0);
        second.write(index, value1);
    }

    action read() {
        first.read(value0, index);
        second.read(value1, index);
    }

    // One lookup per packet and pair, as processor.p4's `sum` table (bmv2 runs a
    // table faster than the conditionals an if/else on op compiles to).
    table sum {
        key = {
            op : exact;
        }
        actions = {
            write;
            add;
            read;
        }
        const entries = {
            VALUE_WRITE : write();
            VALUE_ADD   : add();
            VALUE_READ  : read();
        }
        const default_action = read();
    }

    apply {
        sum.apply();
    }
}

#endif  // _SWITCHML_PROCESSOR_
