#!/usr/bin/env python3
"""Writes the frame differential's corpus (tests/kernel_peer/frames/*.txt).

The corpus is data: each .txt file is what the test reads, and a reader may
add a scenario or a frame there by hand (see README.md here for the format;
`frame ... fixcsum` lets the runner fill the checksums). This script is how
the first corpus was written: `python3 tests/kernel_peer/frames/craft.py`
rewrites every .txt file from the lists below, byte for byte the same.

Hosts (the same on both sides of the differential):
  K   the host under test (the kernel, or neighcache's Host): 02:00:00:00:00:01,
      198.18.0.1/24, 2001:db8::1/64, fe80::ff:fe00:1
  B   a neighbour: 02:00:00:00:00:02, 198.18.0.2, 2001:db8::2, fe80::2;
      B2 = 02:00:00:00:00:12 is "B with a new MAC"
  R   a router: fe80::1 at 02:00:00:00:00:0a
"""
import os
import struct

from build import *  # noqa: F401,F403 (the builders and host constants)


# ----- the corpus ---------------------------------------------------------

class Corpus:
    def __init__(self, name, title):
        self.name, self.lines, self.count = name, ["# " + title], 0

    def scenario(self, name, *setup):
        self.lines.append("")
        self.lines.append("scenario " + name)
        self.lines.extend(setup)

    def frame(self, label, data):
        self.lines.append("frame %s %s" % (label, data.hex()))
        self.count += 1

    def write(self):
        with open(os.path.join(HERE, self.name + ".txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")
        return self.count


def mac_s(m):
    return ":".join("%02x" % b for b in m)


def neigh(addr, mac, state, router=False):
    return "neigh %s %s %s%s" % (addr, mac_s(mac), state, " router" if router else "")


def arp_corpus():
    c = Corpus("arp", "ARP (RFC 826, RFC 5227; arp_rcv, arp_process)")
    req_us = arp(1, MAC_B, B4, ZERO6, K4)
    c.scenario("arp-request-for-us")
    c.frame("broadcast", req_us)
    c.frame("again", req_us)
    c.frame("new-mac", arp(1, MAC_B2, B4, ZERO6, K4))
    c.scenario("arp-request-for-us-unicast")
    c.frame("unicast", arp(1, MAC_B, B4, ZERO6, K4, eth_dst=MAC_K))
    c.scenario("arp-request-for-us-offlink-sender")
    c.frame("from-10.9.9.9", arp(1, MAC_B, v4("10.9.9.9"), ZERO6, K4))
    c.scenario("arp-request-for-other")
    c.frame("no-entry", arp(1, MAC_B, B4, ZERO6, N4))
    for state in ["stale", "reachable", "delay", "permanent", "failed"]:
        setup = [neigh("198.18.0.2", MAC_B, state)]
        if state == "delay":
            setup = [neigh("198.18.0.2", MAC_B, "stale"), "send 198.18.0.2"]
        c.scenario("arp-request-for-other-known-%s" % state, *setup)
        c.frame("same-mac", arp(1, MAC_B, B4, ZERO6, N4))
        c.frame("new-mac-in-locktime", arp(1, MAC_B2, B4, ZERO6, N4))
    # Replies.
    c.scenario("arp-reply-unsolicited")
    c.frame("unicast", arp(2, MAC_B, B4, MAC_K, K4, eth_dst=MAC_K))
    c.frame("broadcast", arp(2, MAC_B, B4, BCAST, K4))
    c.scenario("arp-reply-resolves", "send 198.18.0.2")
    c.frame("unicast", arp(2, MAC_B, B4, MAC_K, K4, eth_dst=MAC_K))
    c.frame("second-mac-in-locktime", arp(2, MAC_B2, B4, MAC_K, K4, eth_dst=MAC_K))
    c.scenario("arp-reply-broadcast-resolves", "send 198.18.0.2")
    c.frame("broadcast", arp(2, MAC_B, B4, BCAST, K4))
    for state in ["stale", "reachable", "delay", "failed", "permanent"]:
        setup = [neigh("198.18.0.2", MAC_B, state)]
        if state == "delay":
            setup = [neigh("198.18.0.2", MAC_B, "stale"), "send 198.18.0.2"]
        c.scenario("arp-reply-known-%s" % state, *setup)
        c.frame("same-mac", arp(2, MAC_B, B4, MAC_K, K4, eth_dst=MAC_K))
        c.frame("new-mac", arp(2, MAC_B2, B4, MAC_K, K4, eth_dst=MAC_K))
    # Gratuitous ARP and arp_accept.
    garp = arp(1, MAC_B, B4, ZERO6, B4)
    garp_reply = arp(2, MAC_B, B4, MAC_B, B4)
    for accept in ["0", "1", "2"]:
        c.scenario("garp-arp-accept-%s" % accept, "sysctl arp_accept=" + accept)
        c.frame("request", garp)
        c.frame("reply", garp_reply)
        c.scenario("garp-offlink-arp-accept-%s" % accept, "sysctl arp_accept=" + accept)
        c.frame("request-10.9.9.9", arp(1, MAC_B, v4("10.9.9.9"), ZERO6, v4("10.9.9.9")))
        c.scenario("reply-arp-accept-%s" % accept, "sysctl arp_accept=" + accept)
        c.frame("unicast", arp(2, MAC_B, B4, MAC_K, K4, eth_dst=MAC_K))
    c.scenario("garp-overrides-in-locktime", neigh("198.18.0.2", MAC_B, "reachable"))
    c.frame("request-new-mac", arp(1, MAC_B2, B4, ZERO6, B4))
    c.frame("reply-new-mac", arp(2, MAC_B, B4, MAC_B, B4))
    # Past locktime (1 s): one wait for three neighbours.
    p2, p3, p4 = B4, v4("198.18.0.3"), v4("198.18.0.4")
    c.scenario("arp-after-locktime", neigh("198.18.0.2", MAC_B, "stale"),
               neigh("198.18.0.3", MAC_B, "reachable"), neigh("198.18.0.4", MAC_B, "stale"), "wait 1100")
    c.frame("request-for-other-new-mac", arp(1, MAC_B2, p2, ZERO6, N4))
    c.frame("reply-new-mac", arp(2, MAC_B2, p3, MAC_K, K4, eth_dst=MAC_K))
    c.frame("garp-new-mac", arp(1, MAC_B2, p4, ZERO6, p4))
    c.scenario("drop-gratuitous-arp", "sysctl drop_gratuitous_arp=1", neigh("198.18.0.2", MAC_B, "stale"))
    c.frame("request-new-mac", arp(1, MAC_B2, B4, ZERO6, B4))
    c.frame("reply-new-mac", arp(2, MAC_B2, B4, MAC_B2, B4))
    c.frame("request-for-us-still-answered", req_us)
    # Duplicate-address probes and announcements (RFC 5227).
    c.scenario("arp-probe")
    c.frame("for-us", arp(1, MAC_B, v4("0.0.0.0"), ZERO6, K4))
    c.frame("for-other", arp(1, MAC_B, v4("0.0.0.0"), ZERO6, N4))
    c.frame("announce-ours", arp(1, MAC_B, K4, ZERO6, K4))
    c.frame("reply-claims-ours", arp(2, MAC_B, K4, MAC_K, K4, eth_dst=MAC_K))
    # Hostile ARP.
    c.scenario("arp-malformed")
    c.frame("hln-8", arp(1, MAC_B, B4, ZERO6, K4, hln=8))
    c.frame("pln-16", arp(1, MAC_B, B4, ZERO6, K4, pln=16))
    c.frame("op-3", arp(3, MAC_B, B4, ZERO6, K4))
    c.frame("hrd-32", arp(1, MAC_B, B4, ZERO6, K4, hrd=32))
    c.frame("pro-ipv6", arp(1, MAC_B, B4, ZERO6, K4, pro=0x86DD))
    c.frame("truncated", arp(1, MAC_B, B4, ZERO6, K4)[:30])
    c.frame("other-host", arp(1, MAC_B, B4, ZERO6, K4, eth_dst=bytes([2, 0, 0, 0, 0, 0x99])))
    c.frame("tip-multicast", arp(1, MAC_B, B4, ZERO6, v4("224.0.0.1")))
    c.frame("tip-loopback", arp(1, MAC_B, B4, ZERO6, v4("127.0.0.1")))
    c.frame("sip-multicast", arp(1, MAC_B, v4("224.0.0.5"), ZERO6, K4))
    c.frame("sip-broadcast", arp(1, MAC_B, v4("255.255.255.255"), ZERO6, K4))
    c.frame("sip-loopback", arp(1, MAC_B, v4("127.0.0.1"), ZERO6, K4))
    c.frame("sip-zeronet", arp(1, MAC_B, v4("0.1.2.3"), ZERO6, K4))
    c.frame("ieee802-hrd-ok", arp(1, MAC_B, B4, ZERO6, K4, hrd=6))
    c.scenario("arp-sip-subnet-broadcast")
    c.frame("request-for-us", arp(1, MAC_B, v4("198.18.0.255"), ZERO6, K4))
    c.scenario("arp-sha-multicast")
    c.frame("request-for-us", arp(1, bytes([1, 0, 0x5E, 0, 0, 1]), B4, ZERO6, K4, eth_src=MAC_B))
    c.scenario("arp-sha-broadcast")
    c.frame("request-for-us", arp(1, BCAST, B4, ZERO6, K4, eth_src=MAC_B))
    c.scenario("arp-from-our-mac")
    c.frame("request-for-us", arp(1, MAC_K, B4, ZERO6, K4))
    # Proxy ARP (forwarding, a proxy entry, proxy_delay 0).
    c.scenario("proxy-arp", "sysctl forwarding=1", "proxy 198.18.0.50")
    c.frame("request", arp(1, MAC_B, B4, ZERO6, v4("198.18.0.50")))
    c.frame("not-proxied", arp(1, MAC_B, B4, ZERO6, v4("198.18.0.51")))
    c.scenario("proxy-arp-not-forwarding", "proxy 198.18.0.50")
    c.frame("request", arp(1, MAC_B, B4, ZERO6, v4("198.18.0.50")))
    return c.write()


def echo_corpus():
    c = Corpus("echo", "The echo responder and IP acceptance (RFC 1122 3.2.1.3, RFC 4291, RFC 4443)")
    c.scenario("echo4-from-neighbour")
    c.frame("unresolved", eth(MAC_K, MAC_B, 0x0800, echo4(B4, K4)))
    c.scenario("echo4-from-known-neighbour", neigh("198.18.0.2", MAC_B, "reachable"))
    c.frame("reachable", eth(MAC_K, MAC_B, 0x0800, echo4(B4, K4)))
    for name, src in [
        ("zero", "0.0.0.0"), ("limited-broadcast", "255.255.255.255"), ("subnet-broadcast", "198.18.0.255"),
        ("multicast", "224.0.0.1"), ("loopback", "127.0.0.1"), ("zeronet", "0.1.2.3"), ("ours", "198.18.0.1"),
        ("off-link", "10.9.9.9"),
    ]:
        c.scenario("echo4-martian-" + name)
        c.frame("from-" + src, eth(MAC_K, MAC_B, 0x0800, echo4(v4(src), K4)))
    c.scenario("echo4-destinations")
    c.frame("to-broadcast", eth(BCAST, MAC_B, 0x0800, echo4(B4, v4("198.18.0.255"))))
    c.frame("to-limited-broadcast", eth(BCAST, MAC_B, 0x0800, echo4(B4, v4("255.255.255.255"))))
    c.frame("to-all-hosts", eth(bytes([1, 0, 0x5E, 0, 0, 1]), MAC_B, 0x0800, echo4(B4, v4("224.0.0.1"))))
    c.frame("to-other-host-ip", eth(MAC_K, MAC_B, 0x0800, echo4(B4, N4)))
    c.frame("to-loopback", eth(MAC_K, MAC_B, 0x0800, echo4(B4, v4("127.0.0.1"))))
    bad = bytearray(eth(MAC_K, MAC_B, 0x0800, echo4(B4, K4)))
    bad[14 + 10] ^= 0xFF
    c.frame("bad-header-checksum", bytes(bad))
    c.frame("truncated", eth(MAC_K, MAC_B, 0x0800, echo4(B4, K4))[:30])
    # IPv4 options (ip_options_compile, ip_rcv_options), B known so that
    # an answer leaves at once.
    known_b = neigh("198.18.0.2", MAC_B, "reachable")
    echo_opts = lambda o: eth(MAC_K, MAC_B, 0x0800, echo4(B4, K4, opts=o))
    c.scenario("echo4-ip-options", known_b)
    for label, o in [
        ("noop", bytes([1, 1, 1, 0])),
        ("record-route", bytes([0x07, 7, 4, 0, 0, 0, 0, 0])),
        ("timestamp", bytes([0x44, 8, 5, 0, 0, 0, 0, 0])),
        ("router-alert", bytes([0x94, 4, 0, 0])),
        ("security", bytes([0x82, 4, 0, 0])),
        ("unknown", bytes([0x1E, 4, 0, 0])),
    ]:
        c.frame(label, echo_opts(o))
    for label, o in [
        ("loose-source-route", bytes([0x83, 7, 4]) + N4 + b"\0"),
        ("strict-source-route", bytes([0x89, 7, 4]) + N4 + b"\0"),
    ]:
        c.scenario("echo4-ip-option-" + label, known_b)
        c.frame("echo", echo_opts(o))
    # Malformed: the kernel answers each with a Parameter Problem (three at
    # most: ICMPv4 errors to one peer are rate-limited after a burst of 6).
    c.scenario("echo4-ip-option-malformed", known_b)
    c.frame("length-1", echo_opts(bytes([0x07, 1, 0, 0])))
    c.frame("cipso", echo_opts(bytes([0x86, 6, 0, 0, 0, 1, 0, 0])))
    c.frame("timestamp-overflow", echo_opts(bytes([0x44, 4, 5, 0xF0])))
    c.scenario("echo6-from-neighbour")
    c.frame("unresolved", echo6(B6, K6))
    c.scenario("echo6-from-link-local")
    c.frame("to-our-link-local", echo6(BLL, KLL))
    # An echo request with a code other than 0 (B known).
    c.scenario("echo4-code-1", neigh("198.18.0.2", MAC_B, "reachable"))
    m = struct.pack("!BBHHH", 8, 1, 0, 7, 1) + b"ping"
    c.frame("echo", eth(MAC_K, MAC_B, 0x0800, ip4(B4, K4, 1, m[:2] + struct.pack("!H", csum(m)) + m[4:])))
    c.scenario("echo6-code-1", neigh("2001:db8::2", MAC_B, "reachable"))
    c.frame("echo", nd6(B6, K6, struct.pack("!BBHHH", 128, 1, 0, 7, 1) + b"ping", hl=64))
    # The reply leaves from the address the request was sent to (B known).
    c.scenario("echo6-link-local-to-global", neigh("fe80::2", MAC_B, "reachable"))
    c.frame("answered-from-global", echo6(BLL, K6))
    c.scenario("echo6-global-to-link-local", neigh("2001:db8::2", MAC_B, "reachable"))
    c.frame("answered-from-link-local", echo6(B6, KLL))
    c.scenario("echo6-to-all-nodes")
    c.frame("from-neighbour", echo6(B6, ALL_NODES))
    for name, src in [("unspecified", "::"), ("multicast", "ff02::1"), ("loopback", "::1"),
                      ("ours", "2001:db8::1"), ("off-link", "2001:db9::5")]:
        c.scenario("echo6-martian-" + name)
        c.frame("from-" + name, echo6(v6(src), K6))
    c.scenario("echo6-destinations")
    c.frame("to-other-host-ip", echo6(B6, v6("2001:db8::99")))
    c.frame("to-loopback", echo6(B6, v6("::1")))
    c.frame("to-scope-1", echo6(B6, v6("ff01::1")))
    c.frame("to-scope-0", echo6(B6, v6("ff00::1")))
    c.frame("to-unjoined-group", echo6(B6, v6("ff02::1:ff00:99")))
    c.frame("to-site-group", echo6(B6, v6("ff05::1")))
    return c.write()


def ns_corpus():
    c = Corpus("ns", "Neighbor Solicitation (RFC 4861 7.1.1, 7.2.3, 7.2.4; ndisc_recv_ns)")
    ns_k = lambda src=B6, dst=None, opts=opt(1, MAC_B), **kw: nd6(
        src, dst or sn(K6), ns_msg(K6, opts), **kw)
    c.scenario("ns-multicast")
    c.frame("sllao", ns_k())
    c.frame("again", ns_k())
    c.frame("new-mac", ns_k(opts=opt(1, MAC_B2)))
    c.scenario("ns-multicast-no-sllao")
    c.frame("no-entry", ns_k(opts=b""))
    c.scenario("ns-multicast-no-sllao-known", neigh("2001:db8::2", MAC_B, "stale"))
    c.frame("answered", ns_k(opts=b""))
    c.scenario("ns-unicast")
    c.frame("sllao", ns_k(dst=K6))
    c.scenario("ns-unicast-no-sllao")
    c.frame("no-entry", ns_k(dst=K6, opts=b""))
    c.scenario("ns-link-local")
    c.frame("for-our-link-local", nd6(BLL, sn(KLL), ns_msg(KLL, opt(1, MAC_B))))
    c.scenario("ns-unicast-to-link-local")
    c.frame("for-our-global", nd6(BLL, KLL, ns_msg(K6, opt(1, MAC_B))))
    # PROBE (DELAY + delay_first_probe_time): one wait for two neighbours.
    c.scenario("ns-known-probe", neigh("2001:db8::2", MAC_B, "stale"), "send 2001:db8::2",
               neigh("2001:db8::3", MAC_B, "stale"), "send 2001:db8::3", "wait 1100")
    c.frame("same-mac", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B))))
    c.frame("new-mac", nd6(v6("2001:db8::3"), sn(K6), ns_msg(K6, opt(1, MAC_B2))))
    for state in ["incomplete", "reachable", "stale", "delay", "failed", "permanent"]:
        if state == "incomplete":
            setup = ["send 2001:db8::2"]
        elif state == "delay":
            setup = [neigh("2001:db8::2", MAC_B, "stale"), "send 2001:db8::2"]
        else:
            setup = [neigh("2001:db8::2", MAC_B, state)]
        for mac_name, mac in [("same-mac", MAC_B), ("new-mac", MAC_B2)]:
            c.scenario("ns-known-%s-%s" % (state, mac_name), *setup)
            c.frame("multicast", ns_k(opts=opt(1, mac)))
    c.scenario("ns-router-flag-kept", neigh("2001:db8::2", MAC_B, "stale", router=True))
    c.frame("multicast", ns_k())
    c.scenario("ns-dad")
    c.frame("for-us", nd6(bytes(16), sn(K6), ns_msg(K6)))
    c.frame("for-our-link-local", nd6(bytes(16), sn(KLL), ns_msg(KLL)))
    c.frame("for-other", nd6(bytes(16), sn(v6("2001:db8::99")), ns_msg(v6("2001:db8::99"))))
    c.frame("to-unicast", nd6(bytes(16), K6, ns_msg(K6)))
    c.frame("with-sllao", nd6(bytes(16), sn(K6), ns_msg(K6, opt(1, MAC_B))))
    c.scenario("ns-not-ours")
    c.frame("target-other", nd6(B6, sn(v6("2001:db8::99")), ns_msg(v6("2001:db8::99"), opt(1, MAC_B))))
    c.frame("target-other-to-our-group", nd6(B6, sn(K6), ns_msg(v6("2001:db8::99"), opt(1, MAC_B))))
    c.frame("to-unicast-not-ours", nd6(B6, v6("2001:db8::99"), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-unjoined-group", nd6(B6, sn(v6("2001:db8::99")), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-other-group", nd6(B6, v6("ff02::2"), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-site-all-nodes", nd6(B6, v6("ff05::1"), ns_msg(K6, opt(1, MAC_B))))
    c.frame("target-multicast", nd6(B6, sn(K6), ns_msg(v6("ff02::1"), opt(1, MAC_B))))
    c.frame("from-loopback", nd6(v6("::1"), sn(K6), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-loopback", nd6(B6, v6("::1"), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-scope-1", nd6(B6, v6("ff01::1"), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-scope-0", nd6(B6, v6("ff00::1"), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-scope-1-sn", nd6(B6, v6("ff01::1:ff00:1"), ns_msg(K6, opt(1, MAC_B))))
    c.frame("from-multicast", nd6(v6("ff02::1"), sn(K6), ns_msg(K6, opt(1, MAC_B))))
    c.frame("to-all-nodes", nd6(B6, ALL_NODES, ns_msg(K6, opt(1, MAC_B))))
    c.scenario("ns-from-our-address")
    c.frame("spoofed", nd6(K6, sn(K6), ns_msg(K6, opt(1, MAC_B))))
    c.scenario("ns-malformed")
    c.frame("hop-limit-64", ns_k(hl=64))
    c.frame("hop-limit-254", ns_k(hl=254))
    c.frame("code-1", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B), code=1)))
    c.frame("short", nd6(B6, sn(K6), ns_msg(K6)[:20]))
    bad = bytearray(ns_k())
    bad[14 + 40 + 2] ^= 0x55
    c.frame("bad-checksum", bytes(bad))
    c.frame("option-length-0", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B) + bytes([9, 0, 0, 0, 0, 0, 0, 0]))))
    c.frame("option-past-end", nd6(B6, sn(K6), ns_msg(K6, bytes([1, 2]) + MAC_B)))
    c.frame("option-truncated", nd6(B6, sn(K6), ns_msg(K6, bytes([1]))))
    c.frame("sllao-16-bytes", nd6(B6, sn(K6), ns_msg(K6, bytes([1, 2]) + MAC_B + b"\0" * 8)))
    c.frame("other-host-mac", ns_k(eth_dst=bytes([2, 0, 0, 0, 0, 0x99])))
    c.frame("payload-length-past-frame", ns_k()[:-8])
    c.scenario("ns-options-linux-ignores")
    c.frame("tllao-16-bytes", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B) + bytes([2, 2]) + MAC_B + b"\0" * 8)))
    c.scenario("ns-duplicate-sllao")
    c.frame("first-wins", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B) + opt(1, MAC_B2))))
    c.scenario("ns-duplicate-bad-second")
    c.frame("second-16-bytes", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B) + bytes([1, 2]) + MAC_B2 + b"\0" * 8)))
    c.scenario("ns-unknown-option")
    c.frame("skipped", nd6(B6, sn(K6), ns_msg(K6, bytes([200, 1, 0, 0, 0, 0, 0, 0]) + opt(1, MAC_B))))
    c.scenario("ns-trailing-ethernet-padding")
    c.frame("padded", ns_k() + b"\0" * 10)
    c.scenario("ns-sllao-multicast-mac")
    c.frame("multicast", ns_k(opts=opt(1, bytes([0x33, 0x33, 0, 0, 0, 1]))))
    c.scenario("ns-from-our-mac")
    c.frame("sllao-ours", ns_k(eth_src=MAC_K, opts=opt(1, MAC_K)))
    # Extension headers before the NS.
    hbh_ra = (0, bytes([0, 0, 5, 2, 0, 0, 1, 0]))
    c.scenario("ns-hop-by-hop")
    c.frame("router-alert", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B)), ext=[hbh_ra]))
    c.scenario("ns-destination-options")
    c.frame("padn", nd6(B6, sn(K6), ns_msg(K6, opt(1, MAC_B)), ext=[(60, bytes([0, 0, 1, 4, 0, 0, 0, 0]))]))
    c.scenario("ns-routing-header-done")
    c.frame("unicast-type-0-segments-left-0", nd6(B6, K6, ns_msg(K6, opt(1, MAC_B)), ext=[(43, bytes([0, 0, 0, 0, 0, 0, 0, 0]))]))
    # Each hostile header in a scenario of its own: the kernel answers some
    # with an ICMPv6 Parameter Problem, resolving the sender first.
    for label, ext, dst in [
        ("hbh-skip-option", [(0, bytes([0, 0, 0x1E, 2, 0, 0, 0, 0]))], None),
        ("hbh-discard-option", [(0, bytes([0, 0, 0x5E, 2, 0, 0, 0, 0]))], None),
        ("hbh-discard-icmp-option", [(0, bytes([0, 0, 0x9E, 2, 0, 0, 0, 0]))], None),
        ("hbh-discard-icmp-unless-mc-option", [(0, bytes([0, 0, 0xDE, 2, 0, 0, 0, 0]))], None),
        ("hbh-discard-icmp-option-unicast", [(0, bytes([0, 0, 0x9E, 2, 0, 0, 0, 0]))], K6),
        ("hbh-not-first", [(60, bytes([0, 0, 1, 4, 0, 0, 0, 0])), hbh_ra], None),
        ("hbh-padn-not-zero", [(0, bytes([0, 0, 1, 4, 0, 7, 0, 0]))], None),
        ("hbh-pad-8", [(0, bytes([0, 0, 0, 0, 0, 0, 0, 0])), (60, bytes([0, 0, 1, 4, 0, 0, 0, 0]))], None),
        ("hbh-past-end", [(0, bytes([0, 9, 1, 4, 0, 0, 0, 0]))], None),
        # Options Linux interprets in a hop-by-hop header: CALIPSO (dropped
        # without a CALIPSO domain), IOAM (dropped unless 4n-aligned).
        ("hbh-calipso", [(0, bytes([0, 1, 7, 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 0, 0]))], None),
        ("hbh-calipso-short", [(0, bytes([0, 0, 7, 4, 0, 0, 0, 0]))], None),
        ("hbh-ioam-misaligned", [(0, bytes([0, 0, 0x31, 4, 0, 0, 0, 0]))], None),
        ("hbh-ioam-aligned", [(0, bytes([0, 0, 1, 0, 0x31, 2, 0, 0]))], None),
        ("routing-to-multicast", [(43, bytes([0, 0, 0, 0, 0, 0, 0, 0]))], None),
        ("routing-segments-left", [(43, bytes([0, 0, 0, 1, 0, 0, 0, 0]))], K6),
        ("routing-srh", [(43, bytes([0, 0, 4, 0, 0, 0, 0, 0]))], K6),
        ("fragment-atomic", [(44, bytes([0, 0, 0, 0, 0, 0, 0, 1]))], None),
        ("fragment-first", [(44, bytes([0, 0, 0, 1, 0, 0, 0, 2]))], None),
    ]:
        c.scenario("ns-ext-" + label)
        c.frame("ns", nd6(B6, dst or sn(K6), ns_msg(K6, opt(1, MAC_B)), ext=ext))
    # Proxy ND (forwarding, proxy_ndp, a proxy entry, proxy_delay 0).
    c.scenario("proxy-nd", "sysctl forwarding=1", "sysctl proxy_ndp=1", "proxy 2001:db8::50")
    c.frame("multicast", nd6(B6, sn(v6("2001:db8::50")), ns_msg(v6("2001:db8::50"), opt(1, MAC_B))))
    c.scenario("proxy-nd-unicast", "sysctl forwarding=1", "sysctl proxy_ndp=1", "proxy 2001:db8::50")
    c.frame("unicast", nd6(B6, v6("2001:db8::50"), ns_msg(v6("2001:db8::50"), opt(1, MAC_B))))
    c.scenario("proxy-nd-dad", "sysctl forwarding=1", "sysctl proxy_ndp=1", "proxy 2001:db8::50")
    c.frame("dad", nd6(bytes(16), sn(v6("2001:db8::50")), ns_msg(v6("2001:db8::50"))))
    # ip6_forward drops a unicast packet in a frame not to our MAC before
    # its proxy check.
    p50 = v6("2001:db8::50")
    for label, eth_dst in [("broadcast", BCAST), ("multicast", mc_mac(sn(p50)))]:
        c.scenario("proxy-nd-unicast-in-l2-" + label, "sysctl forwarding=1", "sysctl proxy_ndp=1",
                   "proxy 2001:db8::50")
        c.frame("ns", nd6(B6, p50, ns_msg(p50, opt(1, MAC_B)), eth_dst=eth_dst))
    # A proxied link-local address: ND to it is handed to input too.
    c.scenario("proxy-nd-link-local", "sysctl forwarding=1", "sysctl proxy_ndp=1", "proxy fe80::50")
    c.frame("unicast", nd6(BLL, v6("fe80::50"), ns_msg(v6("fe80::50"), opt(1, MAC_B))))
    c.frame("multicast", nd6(BLL, sn(v6("fe80::50")), ns_msg(v6("fe80::50"), opt(1, MAC_B))))
    c.scenario("proxy-nd-off", "proxy 2001:db8::50")
    c.frame("multicast", nd6(B6, sn(v6("2001:db8::50")), ns_msg(v6("2001:db8::50"), opt(1, MAC_B))))
    c.scenario("ns-as-router", "sysctl forwarding=1")
    c.frame("multicast", ns_k())
    # A router's subnet-router anycast address (RFC 4291 2.6.1).
    c.scenario("ns-subnet-router-anycast", "sysctl forwarding=1")
    c.frame("multicast", nd6(B6, sn(v6("2001:db8::")), ns_msg(v6("2001:db8::"), opt(1, MAC_B))))
    return c.write()


def na_corpus():
    c = Corpus("na", "Neighbor Advertisement (RFC 4861 7.1.2, 7.2.5, 7.2.6; RFC 9131; ndisc_recv_na)")
    def na_b(mac=MAC_B, dst=None, r=0, s=1, o=1, opts=None, peer=B6, **kw):
        if opts is None:
            opts = opt(2, mac)
        return nd6(peer, dst or K6, na_msg(peer, r, s, o, opts), **kw)
    # PROBE (DELAY + delay_first_probe_time) x S x O x TLLAO (same, new,
    # none): one wait for nine neighbours, 2001:db8::20 and up.
    combos = [(s, o, m) for s in (0, 1) for o in (0, 1) for m in ("same", "new")] + [(1, 1, "no")]
    peers = ["2001:db8::%x" % (0x20 + i) for i in range(len(combos))]
    setup = []
    for p in peers:
        setup += [neigh(p, MAC_B, "stale"), "send " + p]
    c.scenario("na-probe", *(setup + ["wait 1100"]))
    for (s, o, m), p in zip(combos, peers):
        mac = MAC_B2 if m == "new" else MAC_B
        opts = b"" if m == "no" else None
        c.frame("s%d-o%d-%s" % (s, o, m), na_b(mac=mac, dst=K6 if s else ALL_NODES, s=s, o=o, opts=opts, peer=v6(p)))
    # Every other state x S x O x (same, new, no) TLLAO.
    states = ["none", "incomplete", "reachable", "stale", "delay", "failed", "permanent"]
    for state in states:
        if state == "none":
            setup = []
        elif state == "incomplete":
            setup = ["send 2001:db8::2"]
        elif state == "delay":
            setup = [neigh("2001:db8::2", MAC_B, "stale"), "send 2001:db8::2"]
        else:
            setup = [neigh("2001:db8::2", MAC_B, state)]
        for s in (0, 1):
            for o in (0, 1):
                for mac_name, mac in [("same", MAC_B), ("new", MAC_B2)]:
                    if state in ("none", "incomplete") and mac_name == "new":
                        continue
                    c.scenario("na-%s-s%d-o%d-%s" % (state, s, o, mac_name), *setup)
                    dst = K6 if s else ALL_NODES
                    c.frame("na", na_b(mac=mac, dst=dst, s=s, o=o))
        if state not in ("none", "failed"):
            c.scenario("na-%s-no-tllao" % state, *setup)
            c.frame("s1-o1", na_b(opts=b""))
    c.scenario("na-router-flag", neigh("2001:db8::2", MAC_B, "stale"))
    c.frame("r1", na_b(r=1, s=0, o=0, dst=ALL_NODES))
    c.frame("r0", na_b(r=0, s=0, o=0, dst=ALL_NODES))
    c.frame("r1-new-mac-o0", na_b(mac=MAC_B2, r=1, s=0, o=0, dst=ALL_NODES))
    c.scenario("na-misaddressed", neigh("2001:db8::2", MAC_B, "reachable"))
    c.frame("to-other-unicast-in-broadcast", na_b(mac=MAC_B2, dst=v6("2001:db8::99"), eth_dst=BCAST, eth_src=MAC_B2))
    c.frame("to-unjoined-group", na_b(mac=MAC_B2, dst=v6("ff02::1:ff00:99"), s=0))
    c.frame("to-loopback", na_b(mac=MAC_B2, dst=v6("::1")))
    c.frame("to-scope-1", na_b(mac=MAC_B2, dst=v6("ff01::1"), s=0))
    c.scenario("na-hostile", "send 2001:db8::2")
    c.frame("solicited-to-multicast", na_b(dst=ALL_NODES, s=1))
    c.frame("target-multicast", nd6(B6, K6, na_msg(v6("ff02::1"), 0, 1, 1, opt(2, MAC_B))))
    c.frame("hop-limit-64", na_b(hl=64))
    c.frame("code-1", nd6(B6, K6, na_msg(B6, 0, 1, 1, opt(2, MAC_B), code=1)))
    c.frame("tllao-16-bytes", na_b(opts=bytes([2, 2]) + MAC_B + b"\0" * 8))
    c.frame("option-length-0", na_b(opts=opt(2, MAC_B) + bytes([7, 0, 0, 0, 0, 0, 0, 0])))
    c.frame("tllao-multicast", na_b(opts=opt(2, bytes([0x33, 0x33, 0, 0, 0, 1]))))
    c.scenario("na-for-our-address")
    c.frame("target-ours", nd6(B6, K6, na_msg(K6, 0, 0, 1, opt(2, MAC_B))))
    c.scenario("na-sllao-ignored", "send 2001:db8::2")
    c.frame("sllao-16-bytes-and-tllao", na_b(opts=bytes([1, 2]) + MAC_B + b"\0" * 8 + opt(2, MAC_B)))
    c.scenario("na-duplicate-tllao", "send 2001:db8::2")
    c.frame("first-wins", na_b(opts=opt(2, MAC_B) + opt(2, MAC_B2)))
    c.scenario("na-hop-by-hop", "send 2001:db8::2")
    c.frame("router-alert", na_b(ext=[(0, bytes([0, 0, 5, 2, 0, 0, 1, 0]))]))
    c.scenario("drop-unsolicited-na", "sysctl drop_unsolicited_na=1", neigh("2001:db8::2", MAC_B, "stale"))
    c.frame("unsolicited", na_b(mac=MAC_B2, s=0, dst=ALL_NODES))
    c.frame("solicited", na_b(mac=MAC_B2, s=1))
    for accept in ["0", "1", "2"]:
        for fwd in ["0", "1"]:
            c.scenario("untracked-na-accept-%s-forwarding-%s" % (accept, fwd),
                       "sysctl accept_untracked_na=" + accept, "sysctl forwarding=" + fwd)
            c.frame("unsolicited", na_b(s=0, dst=ALL_NODES))
            c.frame("off-subnet-sender", nd6(v6("2001:db9::2"), ALL_NODES, na_msg(v6("2001:db8::3"), 0, 0, 1, opt(2, MAC_B))))
    c.scenario("untracked-na-no-tllao", "sysctl accept_untracked_na=1", "sysctl forwarding=1")
    c.frame("unsolicited", na_b(s=0, dst=ALL_NODES, opts=b""))
    return c.write()


def router_corpus():
    c = Corpus("router", "Router Solicitation, Advertisement, Redirect (RFC 4861 6.1, 6.2.6, 6.3.4, 8.1, 8.3)")
    ra = lambda opts=opt(1, MAC_R), src=RLL, **kw: nd6(src, ALL_NODES, ra_msg(opts), eth_src=MAC_R, **kw)
    c.scenario("ra-new-router")
    c.frame("sllao", ra())
    c.frame("again", ra())
    c.frame("new-mac", ra(opt(1, MAC_B2)))
    c.frame("no-sllao", ra(b""))
    c.scenario("ra-no-sllao")
    c.frame("unknown-router", ra(b""))
    for state in ["incomplete", "reachable", "stale", "delay", "failed", "permanent"]:
        if state == "incomplete":
            setup = ["send fe80::1"]
        elif state == "delay":
            setup = [neigh("fe80::1", MAC_R, "stale"), "send fe80::1"]
        else:
            setup = [neigh("fe80::1", MAC_R, state)]
        for mac_name, mac in [("same-mac", MAC_R), ("new-mac", MAC_B2)]:
            c.scenario("ra-known-%s-%s" % (state, mac_name), *setup)
            c.frame("sllao", ra(opt(1, mac)))
    c.scenario("ra-hostile")
    c.frame("global-source", ra(src=B6))
    c.frame("hop-limit-64", ra(hl=64))
    c.frame("code-1", nd6(RLL, ALL_NODES, ra_msg(opt(1, MAC_R), code=1), eth_src=MAC_R))
    c.frame("short", nd6(RLL, ALL_NODES, ra_msg()[:12], eth_src=MAC_R))
    c.frame("sllao-16-bytes", ra(bytes([1, 2]) + MAC_R + b"\0" * 8))
    c.frame("option-length-0", ra(opt(1, MAC_R) + bytes([3, 0, 0, 0, 0, 0, 0, 0])))
    c.frame("from-multicast", ra(src=v6("ff02::1")))
    c.scenario("ra-to-unicast")
    c.frame("sllao", nd6(RLL, KLL, ra_msg(opt(1, MAC_R)), eth_src=MAC_R))
    c.scenario("ra-as-router", "sysctl forwarding=1")
    c.frame("sllao", ra())
    c.scenario("ra-from-our-link-local")
    c.frame("spoofed", ra(src=KLL))
    # Router Solicitations: only a router caches the host.
    rs = lambda src=B6, opts=opt(1, MAC_B), dst=v6("ff02::2"): nd6(src, dst, rs_msg(opts))
    c.scenario("rs-to-host")
    c.frame("to-all-routers", rs())
    c.frame("unicast", rs(dst=K6))
    c.scenario("rs-to-router", "sysctl forwarding=1")
    c.frame("sllao", rs())
    c.frame("from-unspecified", rs(src=bytes(16), opts=b""))
    c.frame("no-sllao-new", rs(src=v6("2001:db8::3"), opts=b""))
    c.scenario("rs-clears-router-flag", "sysctl forwarding=1", neigh("2001:db8::2", MAC_B, "stale", router=True))
    c.frame("sllao", rs())
    # Redirects: R is our router (its RA first; the kernel also has a route
    # to 2001:db8:5::/64 through it).
    learn = "frame router-ra " + ra().hex()
    hop, dest = BLL, v6("2001:db8:5::1")
    red = lambda target=hop, d=dest, opts=opt(2, MAC_B), src=RLL, **kw: nd6(
        src, K6, redirect_msg(target, d, opts), eth_src=MAC_R, **kw)
    c.scenario("redirect-better-hop")
    c.lines.append(learn); c.count += 1
    c.frame("to-link-local-hop", red())
    c.frame("again-new-mac", red(opts=opt(2, MAC_B2)))
    c.scenario("redirect-on-link")
    c.lines.append(learn); c.count += 1
    c.frame("target-is-destination", red(target=v6("2001:db8:5::7"), d=v6("2001:db8:5::7")))
    c.scenario("redirect-no-tllao")
    c.lines.append(learn); c.count += 1
    c.frame("unknown-target", red(opts=b""))
    c.scenario("redirect-known-target-no-tllao", neigh("fe80::2", MAC_B, "reachable"))
    c.lines.append(learn); c.count += 1
    c.frame("router-flag", red(opts=b""))
    c.scenario("redirect-hostile")
    c.lines.append(learn); c.count += 1
    c.frame("global-source", red(src=v6("2001:db8::7")))
    c.frame("not-our-router", red(src=v6("fe80::7")))
    c.frame("destination-multicast", red(d=v6("ff02::9")))
    c.frame("target-global", red(target=v6("2001:db8::9")))
    c.frame("hop-limit-64", red(hl=64))
    c.frame("tllao-16-bytes", red(opts=bytes([2, 2]) + MAC_B + b"\0" * 8))
    c.frame("short", nd6(RLL, K6, redirect_msg(hop, dest)[:30], eth_src=MAC_R))
    c.scenario("redirect-as-router", "sysctl forwarding=1")
    c.lines.append(learn); c.count += 1
    c.frame("ignored", red())
    c.scenario("redirect-accept-redirects-off", "sysctl accept_redirects=0")
    c.lines.append(learn); c.count += 1
    c.frame("ignored", red())
    c.scenario("redirect-unrouted-destination")
    c.lines.append(learn); c.count += 1
    c.frame("dest-2001:db8:77::1", red(d=v6("2001:db8:77::1")))
    return c.write()


if __name__ == "__main__":
    total = arp_corpus() + echo_corpus() + ns_corpus() + na_corpus() + router_corpus()
    print("%d frames" % total)
