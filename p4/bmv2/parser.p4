/* SwitchML for bmv2 (v1model): parser and checksum verification.
 *
 * Ethernet -> IPv4 (version 4, protocol UDP) -> UDP -> for dst_port in the
 * SwitchML range (dst_port & UDP_PORT_MASK == UDP_PORT): switchml_h, and for
 * size SWITCHML_SIZE_64 the exponents and one data_h chunk, for SWITCHML_SIZE_256
 * the exponents and four chunks. IPv4 options are not
 * skipped (UDP is read right after 20 bytes, like the model); ingress drops
 * SwitchML packets whose ihl is not 5.
 *
 * A frame too short for a header ends in the reject state with
 * standard_metadata.parser_error set; v1model still runs ingress, which drops
 * it if it was SwitchML ("truncated") and L2-forwards it otherwise.
 */
#ifndef _SWITCHML_PARSER_
#define _SWITCHML_PARSER_

parser SwitchMLParser(packet_in packet,
                      out headers_t hdr,
                      inout metadata_t meta,
                      inout standard_metadata_t std) {
    state start {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        transition select(hdr.ipv4.version, hdr.ipv4.protocol) {
            (IPV4_VERSION, IP_PROTOCOL_UDP): parse_udp;
            default: accept;
        }
    }

    state parse_udp {
        packet.extract(hdr.udp);
        transition select(hdr.udp.dst_port) {
            UDP_PORT &&& UDP_PORT_MASK: parse_switchml;
            default: accept;
        }
    }

    state parse_switchml {
        packet.extract(hdr.switchml);
        transition select(hdr.switchml.size) {
            SWITCHML_SIZE_64: parse_payload_64;
            SWITCHML_SIZE_256: parse_payload_256;
            default: accept;  // ingress drops it: unsupported_size
        }
    }

    state parse_payload_64 {
        packet.extract(hdr.exponents);
        packet.extract(hdr.data.next);
        transition accept;
    }

    state parse_payload_256 {
        packet.extract(hdr.exponents);
        packet.extract(hdr.data.next);
        packet.extract(hdr.data.next);
        packet.extract(hdr.data.next);
        packet.extract(hdr.data.next);
        transition accept;
    }
}

// Requests' checksums are not verified (the model does not either).
control SwitchMLVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

#endif  // _SWITCHML_PARSER_
