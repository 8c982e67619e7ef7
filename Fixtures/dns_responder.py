#!/usr/bin/env python3
"""A DNS responder for tests: answers every A query with 10.0.0.1 after a fixed
delay (AAAA and other types: no answer; names starting with "nx": NXDOMAIN).

    dns_responder.py ADDRESS PORT DELAY_MS

Prints "ready" once bound, then one line per query ("query NAME TYPE").
Standard library only: it parses just the question section it needs.
"""
import socket
import struct
import sys
import threading


def question(packet):
    """(name, qtype, end offset of the question) of a query packet."""
    labels, offset = [], 12
    while packet[offset] != 0:
        length = packet[offset]
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    qtype, _qclass = struct.unpack("!HH", packet[offset + 1:offset + 5])
    return ".".join(labels), qtype, offset + 5


def answer(packet):
    name, qtype, end = question(packet)
    query_id = packet[:2]
    nxdomain = name.split(".")[0].startswith("nx")
    flags = 0x8183 if nxdomain else 0x8180  # response, recursion desired+available, NXDOMAIN / NOERROR
    records = b""
    if qtype == 1 and not nxdomain:
        # Name: pointer to the question's name at offset 12; type A, class IN, TTL 60, 4 bytes.
        records = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([10, 0, 0, 1])
    header = query_id + struct.pack("!HHHHH", flags, 1, 1 if records else 0, 0, 0)
    return name, qtype, header + packet[12:end] + records


def main():
    address, port, delay_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    print("ready", flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        try:
            name, qtype, reply = answer(packet)
        except (IndexError, struct.error):
            continue
        print(f"query {name} {qtype}", flush=True)
        threading.Timer(delay_ms / 1000, sock.sendto, (reply, peer)).start()


if __name__ == "__main__":
    main()
