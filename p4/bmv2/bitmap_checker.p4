/* SwitchML for bmv2 (v1model): BitmapChecker, duplicate detection (p4app-switchML bitmap_checker.p4).
 *
 * One worker bitmap per (slot, set). For a packet from worker w (me = 1 << w) to set X:
 *     old = bitmap[X]; bitmap[X] |= me; bitmap[1-X] &= ~me;  duplicate = (old & me) != 0
 * Clearing w's bit in the other set is what lets w's next chunk there count as new.
 *
 * Hardened mode (-DSWITCHML_HARDENED, docs/hardened-mode.md): before writing, the
 * packet is classified with what ChunkChecker knows about the chunk the set holds;
 * a stale packet (a late duplicate of an older chunk) changes nothing:
 *     idle set (old == 0):  stale if the held chunk completed and the packet's is not newer
 *     busy set (old != 0):  stale if the packet's chunk is another one, or the set is
 *                           complete and the sender's bit is clear (it has moved on)
 */
#ifndef _SWITCHML_BITMAP_CHECKER_
#define _SWITCHML_BITMAP_CHECKER_

control BitmapChecker(inout metadata_t meta) {
    register<worker_bitmap_t>(SWITCHML_SET_REGISTERS) bitmap;

    apply {
        worker_bitmap_t other;
        bitmap.read(meta.old_bitmap, meta.set_index);
        meta.stale = 0;
#ifdef SWITCHML_HARDENED
        if (meta.old_bitmap == 0) {
            if (meta.held_done == 1 && meta.held_older == 0) {
                meta.stale = 1;
            }
        } else if (meta.held_same == 0) {
            meta.stale = 1;
        } else if ((meta.old_bitmap & meta.worker_bit) == 0 && meta.held_done == 1) {
            meta.stale = 1;
        }
#endif
        if (meta.stale == 0) {
            bitmap.write(meta.set_index, meta.old_bitmap | meta.worker_bit);
            bitmap.read(other, meta.other_index);
            bitmap.write(meta.other_index, other & ~meta.worker_bit);
        }
        if ((meta.old_bitmap & meta.worker_bit) != 0) {
            meta.duplicate = 1;
        } else {
            meta.duplicate = 0;
        }
    }
}

#endif  // _SWITCHML_BITMAP_CHECKER_
