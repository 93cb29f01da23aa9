/* SwitchML: types both programs share (hand-written; the wire's typedefs are in the
 * generated switchml_constants.p4).
 */
#ifndef _SWITCHML_TYPES_
#define _SWITCHML_TYPES_

// Register index of one (slot, set): slot * 2 + set. bit<32>: the v1model register index width.
typedef bit<32> set_index_t;

// What a Processor (and Exponents) does to a set's stored contents, chosen once per packet
// from the bitmap (p4app-switchML processor.p4's `sum` table):
//   first contribution (bitmap was 0)    -> VALUE_WRITE: store the packet's values
//   later new contribution               -> VALUE_ADD:   add (values wrap, exponents take the max)
//   duplicate                            -> VALUE_READ:  the packet carries the stored set out
typedef bit<2> value_op_t;
const value_op_t VALUE_WRITE = 0;
const value_op_t VALUE_ADD = 1;
const value_op_t VALUE_READ = 2;

#endif  // _SWITCHML_TYPES_
