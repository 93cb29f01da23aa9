/* SwitchML for bmv2 (v1model): Exponents, the block exponents' running max (p4app-switchML exponents.p4).
 *
 * Two int<8> exponents per (slot, set), stored as their bits. By op (common/types.p4):
 * VALUE_WRITE stores the packet's, VALUE_ADD keeps the signed max, VALUE_READ reads;
 * the packet then carries what is stored.
 */
#ifndef _SWITCHML_EXPONENTS_
#define _SWITCHML_EXPONENTS_

control Exponents(inout exponents_h exponents, in set_index_t index, in value_op_t op) {
    register<bit<8>>(SWITCHML_SET_REGISTERS) e0;
    register<bit<8>>(SWITCHML_SET_REGISTERS) e1;

    apply {
        bit<8> stored0;
        bit<8> stored1;
        if (op != VALUE_WRITE) {
            e0.read(stored0, index);
            e1.read(stored1, index);
            if (op == VALUE_READ || (int<8>)stored0 > exponents.e0) {
                exponents.e0 = (int<8>)stored0;
            }
            if (op == VALUE_READ || (int<8>)stored1 > exponents.e1) {
                exponents.e1 = (int<8>)stored1;
            }
        }
        if (op != VALUE_READ) {
            e0.write(index, (bit<8>)exponents.e0);
            e1.write(index, (bit<8>)exponents.e1);
        }
    }
}

#endif  // _SWITCHML_EXPONENTS_
