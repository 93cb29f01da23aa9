/* SwitchML for bmv2 (v1model): ChunkChecker, the chunk each set holds (hardened mode only).
 *
 * Compiled in with -DSWITCHML_HARDENED (docs/hardened-mode.md). Per (slot, set):
 * the job_number and packet id of the chunk the set holds, and whether it has
 * completed. Applied twice per packet:
 *
 *   check (before BitmapChecker):  is the packet's chunk the held one (held_same),
 *                                  older than the packet's (held_older), and has it completed (held_done)?
 *   record (after the decision):   a first contribution makes the packet's chunk the held
 *                                  one, not completed; a completing one marks it completed.
 *
 * The packet id: the official DPDK client writes it into tsi in host byte order
 * (little-endian on x86), so the big-endian field holds it byte-swapped:
 *     packet_id = tsi[7:0] ++ tsi[15:8] ++ tsi[23:16] ++ tsi[31:24]
 * "Newer" is serial-number order: job numbers compare modulo 2^8 (newer when 1..127
 * ahead), packet ids modulo 2^32 (newer when 1..2^31-1 ahead), so both may wrap.
 */
#ifndef _SWITCHML_CHUNK_CHECKER_
#define _SWITCHML_CHUNK_CHECKER_

typedef bit<1> chunk_step_t;
const chunk_step_t CHUNK_CHECK = 0;
const chunk_step_t CHUNK_RECORD = 1;

// Its own fields, not the whole metadata struct: applied twice, a struct argument is
// copied, and p4c 1.2.4.8's bmv2 backend then names fields bmv2 cannot find.
control ChunkChecker(in bit<8> job_number,
                     in bit<32> tsi,
                     in set_index_t index,
                     in chunk_step_t step,
                     in bit<1> first,          // record: the set was idle (bitmap 0) before this packet
                     in bit<1> completes,      // record: this new contribution completed the set
                     inout bit<1> held_same,   // check: the packet's chunk is the held one
                     inout bit<1> held_older,  // check: the held chunk is older than the packet's
                     inout bit<1> held_done) { // check: the held chunk has completed
    register<bit<8>>(SWITCHML_SET_REGISTERS) held_job;
    register<bit<32>>(SWITCHML_SET_REGISTERS) held_packet;
    register<bit<1>>(SWITCHML_SET_REGISTERS) done;

    apply {
        bit<32> packet_id = tsi[7:0] ++ tsi[15:8] ++ tsi[23:16] ++ tsi[31:24];
        if (step == CHUNK_CHECK) {
            bit<8> job;
            bit<32> packet;
            held_job.read(job, index);
            held_packet.read(packet, index);
            done.read(held_done, index);
            bit<8> job_ahead = job_number - job;
            bit<32> packet_ahead = packet_id - packet;
            held_same = 0;
            held_older = 0;
            if (job_ahead != 0) {
                if (job_ahead[7:7] == 0) {
                    held_older = 1;
                }
            } else if (packet_ahead == 0) {
                held_same = 1;
            } else if (packet_ahead[31:31] == 0) {
                held_older = 1;
            }
        } else {
            if (first == 1) {
                held_job.write(index, job_number);
                held_packet.write(index, packet_id);
                done.write(index, 0);
            }
            if (completes == 1) {
                done.write(index, 1);
            }
        }
    }
}

#endif  // _SWITCHML_CHUNK_CHECKER_
