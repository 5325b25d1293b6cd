"""The frame builders and host constants of the frame differential's corpus
generator (`craft.py`): Ethernet, ARP, IPv4 (with options), IPv6 (with
extension headers), ICMP/ICMPv6 with their checksums, ND messages and
options, and the `Corpus` writer. Hosts as in craft.py's docstring.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

MAC_K = bytes([2, 0, 0, 0, 0, 1])
MAC_B = bytes([2, 0, 0, 0, 0, 2])
MAC_B2 = bytes([2, 0, 0, 0, 0, 0x12])
MAC_R = bytes([2, 0, 0, 0, 0, 0x0A])
BCAST = b"\xff" * 6
ZERO6 = b"\x00" * 6


def v4(s):
    return bytes(int(x) for x in s.split("."))


def v6(s):
    import ipaddress

    return ipaddress.IPv6Address(s).packed


K4, B4, N4 = v4("198.18.0.1"), v4("198.18.0.2"), v4("198.18.0.9")
K6, B6 = v6("2001:db8::1"), v6("2001:db8::2")
KLL = v6("fe80::ff:fe00:1")
BLL, RLL = v6("fe80::2"), v6("fe80::1")
ALL_NODES = v6("ff02::1")


def sn(a):
    """Solicited-node group."""
    return v6("ff02::1:ff00:0")[:13] + a[13:]


def mc_mac(a):
    return b"\x33\x33" + a[12:]


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def arp(op, sha, sip, tha, tip, eth_dst=BCAST, eth_src=None, hrd=1, pro=0x0800, hln=6, pln=4):
    body = struct.pack("!HHBBH", hrd, pro, hln, pln, op) + sha + sip + tha + tip
    return eth(eth_dst, eth_src or sha, 0x0806, body)


def ip4(src, dst, proto, payload, ttl=64, frag=0, opts=b""):
    """IPv4 packet; `opts` (a multiple of 4 bytes) follow the fixed header."""
    ihl = 5 + len(opts) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), 0, frag, ttl, proto, 0,
                      src, dst) + opts
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def echo4(src, dst, ident=7, seq=1, data=b"ping", opts=b""):
    m = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return ip4(src, dst, 1, m, opts=opts)


def icmp6(src, dst, msg):
    """Fill an ICMPv6 message's checksum (bytes 2-3)."""
    msg = msg[:2] + b"\0\0" + msg[4:]
    pseudo = src + dst + struct.pack("!I", len(msg)) + b"\0\0\0\x3a"
    return msg[:2] + struct.pack("!H", csum(pseudo + msg)) + msg[4:]


def ip6(src, dst, payload, nh=58, hl=255, ext=()):
    """IPv6 packet; `ext` is a list of (type, bytes) extension headers."""
    body = b""
    first = nh
    for i, (kind, b) in enumerate(ext):
        if i == 0:
            first = kind
        nxt = ext[i + 1][0] if i + 1 < len(ext) else nh
        body += bytes([nxt]) + b[1:]
    body += payload
    return struct.pack("!IHBB", 0x60000000, len(body), first, hl) + src + dst + body


def nd6(src, dst, msg, hl=255, ext=(), eth_dst=None, eth_src=MAC_B, fix=True):
    if fix:
        msg = icmp6(src, dst, msg)
    if eth_dst is None:
        eth_dst = mc_mac(dst) if dst[0] == 0xFF else MAC_K
    return eth(eth_dst, eth_src, 0x86DD, ip6(src, dst, msg, hl=hl, ext=ext))


def opt(kind, mac):
    return bytes([kind, 1]) + mac


def ns_msg(target, opts=b"", code=0):
    return bytes([135, code, 0, 0, 0, 0, 0, 0]) + target + opts


def na_msg(target, r=0, s=0, o=0, opts=b"", code=0):
    flags = (r << 7) | (s << 6) | (o << 5)
    return bytes([136, code, 0, 0, flags, 0, 0, 0]) + target + opts


def rs_msg(opts=b""):
    return bytes([133, 0, 0, 0, 0, 0, 0, 0]) + opts


def ra_msg(opts=b"", code=0, lifetime=0):
    return bytes([134, code, 0, 0, 64, 0]) + struct.pack("!H", lifetime) + b"\0" * 8 + opts


def redirect_msg(target, dest, opts=b""):
    return bytes([137, 0, 0, 0, 0, 0, 0, 0]) + target + dest + opts


def echo6(src, dst, ident=7, seq=1, data=b"ping", **kw):
    m = struct.pack("!BBHHH", 128, 0, 0, ident, seq) + data
    return nd6(src, dst, m, hl=64, **kw)
