//! `neighd`: a user-space neighbour daemon on a raw `AF_PACKET` socket
//! (Linux, root). It owns one IPv4 and/or one IPv6 address on an Ethernet
//! interface: answers ARP requests, Neighbor Solicitations and pings for
//! them; originates traffic (UDP or ICMP echo) to `--send` destinations
//! through the neighbour cache (queued while resolving, sent with the
//! cached header); prints every neighbour transition like
//! `ip monitor neigh`, and the table like `ip neigh show` on SIGUSR1 and at
//! exit. `--flood SECS` measures how many frames per second it sustains to
//! resolved peers.
//!
//! With `--proxy ADDR[/LEN]` it also answers ARP requests and Neighbor
//! Solicitations for those addresses with its own MAC (proxy ARP/ND, the
//! kernel's `ip neigh add proxy` with `forwarding` and `proxy_ndp`),
//! broadcast/multicast ones after a random delay below `--proxy-delay`.
//!
//! The interface's own kernel stack must not own the same addresses (use an
//! interface without them, or a network namespace).
//!
//! ```sh
//! ip netns add a; ip netns add b
//! ip link add va netns a type veth peer name vb netns b
//! ip -n a link set va up; ip -n b link set vb up
//! ip -n b addr add 198.18.0.2/24 dev vb; ip -n b addr add 2001:db8::2/64 dev vb nodad
//! ip netns exec a sysctl -qw net.ipv6.conf.va.disable_ipv6=1
//! ip netns exec a cargo run --release --example neighd -- va \
//!     --ipv4 198.18.0.1/24 --ipv6 2001:db8::1/64 --send 198.18.0.2 --send 2001:db8::2
//! ip netns exec b ping -c1 198.18.0.1   # the kernel resolves us
//! # proxying 198.18.0.64/26 and 2001:db8::50 for hosts behind us:
//! ip netns exec a cargo run --release --example neighd -- va \
//!     --ipv4 198.18.0.1/24 --ipv6 2001:db8::1/64 \
//!     --proxy 198.18.0.64/26 --proxy 2001:db8::50 --proxy-delay 0
//! ```

#[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
mod args;
#[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
mod daemon;

#[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
fn main() {
    std::process::exit(daemon::main());
}

#[cfg(not(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle")))))]
fn main() {
    eprintln!("neighd needs Linux and a build without the loom/shuttle features");
    std::process::exit(2);
}
