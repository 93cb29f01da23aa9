/* SwitchML for bmv2 (v1model): deparser. Invalid headers are not emitted;
 * the unparsed rest of a forwarded frame follows the valid ones unchanged. */
#ifndef _SWITCHML_DEPARSER_
#define _SWITCHML_DEPARSER_

control SwitchMLDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.ethernet);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.udp);
        packet.emit(hdr.switchml);
        packet.emit(hdr.exponents);
        packet.emit(hdr.data);
    }
}

#endif  // _SWITCHML_DEPARSER_
