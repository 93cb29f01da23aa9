/* SwitchML for Tofino (TNA): Exponents, the block exponents' running max.
 * Front end checked only, not compiled for Tofino (tests/p4/test_tofino_front_end.py).
 *
 * As p4app-switchML's exponents.p4 (which keeps one 16-bit exponent; here two
 * int<8>, as switchsim/protocol/spec.py). By op: VALUE_WRITE stores, VALUE_ADD
 * keeps the signed max, VALUE_READ reads; the packet carries what is stored.
 */
#ifndef _SWITCHML_EXPONENTS_
#define _SWITCHML_EXPONENTS_

control Exponents(inout exponents_h exponents, in set_index_t index, in value_op_t op) {
    Register<int<8>, set_index_t>(SWITCHML_SET_REGISTERS) e0;
    Register<int<8>, set_index_t>(SWITCHML_SET_REGISTERS) e1;

    RegisterAction<int<8>, set_index_t, int<8>>(e0) e0_write = {
        void apply(inout int<8> value, out int<8> result) { value = exponents.e0; result = value; }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(e0) e0_max = {
        void apply(inout int<8> value, out int<8> result) {
            if (exponents.e0 > value) { value = exponents.e0; }
            result = value;
        }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(e0) e0_read = {
        void apply(inout int<8> value, out int<8> result) { result = value; }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(e1) e1_write = {
        void apply(inout int<8> value, out int<8> result) { value = exponents.e1; result = value; }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(e1) e1_max = {
        void apply(inout int<8> value, out int<8> result) {
            if (exponents.e1 > value) { value = exponents.e1; }
            result = value;
        }
    };
    RegisterAction<int<8>, set_index_t, int<8>>(e1) e1_read = {
        void apply(inout int<8> value, out int<8> result) { result = value; }
    };

    apply {
        if (op == VALUE_WRITE) {
            exponents.e0 = e0_write.execute(index);
            exponents.e1 = e1_write.execute(index);
        } else if (op == VALUE_ADD) {
            exponents.e0 = e0_max.execute(index);
            exponents.e1 = e1_max.execute(index);
        } else {
            exponents.e0 = e0_read.execute(index);
            exponents.e1 = e1_read.execute(index);
        }
    }
}

#endif  // _SWITCHML_EXPONENTS_
