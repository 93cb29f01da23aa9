/* SwitchML for Tofino (TNA): BitmapChecker, duplicate detection.
 * Front end checked only, not compiled for Tofino (tests/p4/test_tofino_front_end.py).
 *
 * As p4app-switchML's bitmap_checker.p4: both sets' bitmaps of a slot in one
 * register entry, so one RegisterAction updates both:
 *     old = bitmap[X]; bitmap[X] |= me; bitmap[1-X] &= ~me;  duplicate = (old & me) != 0
 * Same semantics as p4/bmv2/bitmap_checker.p4 (faithful mode).
 */
#ifndef _SWITCHML_BITMAP_CHECKER_
#define _SWITCHML_BITMAP_CHECKER_

control BitmapChecker(inout ingress_metadata_t ig_md) {
    Register<bitmap_pair_t, bit<32>>(SWITCHML_SLOTS) bitmap;

    RegisterAction<bitmap_pair_t, bit<32>, worker_bitmap_t>(bitmap) update_set0 = {
        void apply(inout bitmap_pair_t value, out worker_bitmap_t old) {
            old = value.set0;
            value.set0 = value.set0 | ig_md.worker_bit;
            value.set1 = value.set1 & ~ig_md.worker_bit;
        }
    };
    RegisterAction<bitmap_pair_t, bit<32>, worker_bitmap_t>(bitmap) update_set1 = {
        void apply(inout bitmap_pair_t value, out worker_bitmap_t old) {
            old = value.set1;
            value.set1 = value.set1 | ig_md.worker_bit;
            value.set0 = value.set0 & ~ig_md.worker_bit;
        }
    };

    apply {
        if (ig_md.pool_set == 0) {
            ig_md.old_bitmap = update_set0.execute((bit<32>)ig_md.slot);
        } else {
            ig_md.old_bitmap = update_set1.execute((bit<32>)ig_md.slot);
        }
        if ((ig_md.old_bitmap & ig_md.worker_bit) != 0) {
            ig_md.duplicate = 1;
        } else {
            ig_md.duplicate = 0;
        }
    }
}

#endif  // _SWITCHML_BITMAP_CHECKER_
