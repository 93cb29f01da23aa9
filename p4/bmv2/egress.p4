/* SwitchML for bmv2 (v1model): egress rewrite of replies, and the IPv4 checksum.
 *
 * Every reply copy (a multicast replica, or the unicast to a retransmitting
 * worker) is rewritten as p4app-switchML's udp_sender.p4 and the model's
 * switchsim/frame_switch.py do:
 *
 *   Ethernet: src = the switch's MAC (switch_address), dst = the receiver's (receivers)
 *   IPv4:     src = the switch's IP, dst = the receiver's; version 4, ihl 5, diffserv 0,
 *             total_len IPV4_TOTAL_LEN_64 or _256 (by the packet's size), identification 0, flags 0, frag_offset 0,
 *             TTL REPLY_TTL, protocol UDP, checksum recomputed (SwitchMLComputeChecksum)
 *   UDP:      ports swapped from the triggering request, length UDP_LENGTH_64 or _256, checksum 0
 *   switchml: msg_type MSG_TYPE_DATA, unused 0, size / job_number / tsi echoed,
 *             pool_index with bit 14 cleared (set bit 15 + slot)
 *
 * The receiver is the replica's egress_rid for a multicast (the controller
 * creates one multicast node per worker with rid = rank) and the sender's
 * rank for a unicast. The copy is truncated to FRAME_BYTES_64 or _256, so bytes that
 * trailed the request's payload are not echoed. Forwarded traffic is untouched.
 */
#ifndef _SWITCHML_EGRESS_
#define _SWITCHML_EGRESS_

control SwitchMLEgress(inout headers_t hdr,
                       inout metadata_t meta,
                       inout standard_metadata_t std) {

    action set_switch_address(bit<48> mac, bit<32> ip) {
        hdr.ethernet.src_addr = mac;
        hdr.ipv4.src_addr = ip;
    }

    // Keyless: the controller sets the default action to the switch's own addresses.
    table switch_address {
        actions = {
            set_switch_address;
        }
        default_action = set_switch_address(0, 0);
    }

    action set_receiver(bit<48> mac, bit<32> ip) {
        hdr.ethernet.dst_addr = mac;
        hdr.ipv4.dst_addr = ip;
    }

    action unknown_receiver() {
        mark_to_drop(std);
    }

    // rank -> the worker's MAC and IP
    table receivers {
        key = {
            meta.receiver : exact;
        }
        actions = {
            set_receiver;
            @defaultonly unknown_receiver;
        }
        default_action = unknown_receiver();
        size = 1024;
    }

    action rewrite_reply() {
        bit<16> request_src_port = hdr.udp.src_port;
        hdr.udp.src_port = hdr.udp.dst_port;
        hdr.udp.dst_port = request_src_port;
        hdr.udp.checksum = 0;
        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
        hdr.ipv4.version = IPV4_VERSION;
        hdr.ipv4.ihl = IPV4_IHL_WORDS;
        hdr.ipv4.diffserv = 0;
        hdr.ipv4.identification = 0;
        hdr.ipv4.flags = 0;
        hdr.ipv4.frag_offset = 0;
        hdr.ipv4.ttl = REPLY_TTL;
        hdr.ipv4.protocol = IP_PROTOCOL_UDP;
        hdr.switchml.msg_type = MSG_TYPE_DATA;
        hdr.switchml.unused = 0;
        hdr.switchml.pool_index = hdr.switchml.pool_index & (POOL_SET_MASK | POOL_SLOT_MASK);
    }

    apply {
        if (meta.reply == 1) {
            if (meta.multicast == 1) {
                meta.receiver = (bit<8>)std.egress_rid;
            } else {
                meta.receiver = meta.worker_id;
            }
            rewrite_reply();
            switch_address.apply();
            receivers.apply();
            if (hdr.data[1].isValid()) {
                hdr.udp.length = UDP_LENGTH_256;
                hdr.ipv4.total_len = IPV4_TOTAL_LEN_256;
                truncate(FRAME_BYTES_256);
            } else {
                hdr.udp.length = UDP_LENGTH_64;
                hdr.ipv4.total_len = IPV4_TOTAL_LEN_64;
                truncate(FRAME_BYTES_64);
            }
        }
    }
}

control SwitchMLComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply {
        update_checksum(
            hdr.ipv4.isValid() && meta.reply == 1,
            { hdr.ipv4.version,
              hdr.ipv4.ihl,
              hdr.ipv4.diffserv,
              hdr.ipv4.total_len,
              hdr.ipv4.identification,
              hdr.ipv4.flags,
              hdr.ipv4.frag_offset,
              hdr.ipv4.ttl,
              hdr.ipv4.protocol,
              hdr.ipv4.src_addr,
              hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum,
            HashAlgorithm.csum16);
    }
}

#endif  // _SWITCHML_EGRESS_
