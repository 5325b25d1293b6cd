//! The proxy's entries, parameters and queue (`neighcache::proto::proxy`)
//! through their public API: prefix validation, lookup precedence (exact
//! address, then the device's own entry, then the longest prefix), refused
//! changes that leave everything unchanged, and the queue's bound, random
//! delays and ledger. The protocol behaviour is in `proto_proxy.rs`.
#![cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]

use neighcache::parms::MAX_TIME;
use neighcache::proto::proxy::{Added, Prefix, Proxied, Proxy, ProxyError, ProxyParms};
use neighcache::DevId;

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

#[test]
fn prefixes_are_validated() {
    assert_eq!(p("198.18.0.5").to_string(), "198.18.0.5");
    assert_eq!(p("198.18.0.0/24").to_string(), "198.18.0.0/24");
    assert_eq!(p("2001:db8::/64").prefix_len(), 64);
    let e = |s: &str| s.parse::<Prefix>().unwrap_err();
    assert_eq!(
        e("198.18.0.0/33"),
        ProxyError::PrefixLength { len: 33, max: 32 }
    );
    assert!(matches!(e("198.18.0.1/24"), ProxyError::HostBitsSet { .. }));
    assert!(matches!(
        e("2001:db8::1/64"),
        ProxyError::HostBitsSet { .. }
    ));
    for bad in [
        "224.0.0.1",
        "127.0.0.0/8",
        "0.0.0.0",
        "255.255.255.255",
        "ff02::1",
        "::1",
        "::",
        "240.0.0.0/4",
    ] {
        assert!(matches!(e(bad), ProxyError::NotUnicast { .. }), "{bad}");
    }
    assert!(matches!(e("x"), ProxyError::Syntax(_)));
    assert!(matches!(e("1.2.3.4/x"), ProxyError::Syntax(_)));
    assert!(p("198.18.0.0/24").contains("198.18.0.77".parse().unwrap()));
    assert!(!p("198.18.0.0/24").contains("198.18.1.1".parse().unwrap()));
    assert!(!p("198.18.0.0/24").contains("2001:db8::1".parse().unwrap()));
    assert!(p("0.0.0.0/0").contains("203.0.113.9".parse().unwrap()));
}

#[test]
fn lookup_prefers_exact_then_device_then_longest() {
    let x = Proxy::with_seed(1);
    let (d1, d2) = (DevId(1), DevId(2));
    x.add_device(d1, ProxyParms::default()).unwrap();
    x.add_device(d2, ProxyParms::default()).unwrap();
    x.add(p("198.18.0.0/16"), None, false).unwrap();
    x.add(p("198.18.0.0/24"), Some(d1), false).unwrap();
    x.add(p("198.18.0.0/24"), None, true).unwrap();
    x.add(p("198.18.0.9"), None, true).unwrap();
    let look = |ip: &str, d| {
        x.lookup(ip.parse().unwrap(), d)
            .map(|e| (e.prefix.to_string(), e.dev))
    };
    assert_eq!(look("198.18.0.9", d1), Some(("198.18.0.9".into(), None)));
    assert_eq!(
        look("198.18.0.7", d1),
        Some(("198.18.0.0/24".into(), Some(d1)))
    );
    assert_eq!(look("198.18.0.7", d2), Some(("198.18.0.0/24".into(), None)));
    assert_eq!(look("198.18.5.7", d2), Some(("198.18.0.0/16".into(), None)));
    assert_eq!(look("198.19.0.7", d2), None);
    assert_eq!(look("198.18.0.9", DevId(3)), None, "unregistered device");
    assert_eq!(x.entries().len(), 4);
}

#[test]
fn refused_changes_leave_the_entries_unchanged() {
    let x = Proxy::with_seed(1);
    x.add_device(DevId(1), ProxyParms::default()).unwrap();
    x.add(p("198.18.0.9"), Some(DevId(1)), false).unwrap();
    let before = x.entries();
    assert_eq!(
        x.add(p("198.18.0.8"), Some(DevId(2)), false),
        Err(ProxyError::UnknownDevice(DevId(2)))
    );
    assert_eq!(x.delete(p("198.18.0.9"), None), Err(ProxyError::NotFound));
    assert_eq!(
        x.delete(p("198.18.0.0/24"), Some(DevId(1))),
        Err(ProxyError::NotFound)
    );
    let bad = ProxyParms {
        delay: MAX_TIME + 1,
        qlen: 1,
    };
    assert!(matches!(
        x.set_parms(DevId(1), bad),
        Err(ProxyError::Parms {
            field: "proxy_delay",
            ..
        })
    ));
    assert_eq!(
        x.add_device(DevId(1), ProxyParms::default()),
        Err(ProxyError::DeviceExists(DevId(1)))
    );
    assert_eq!(x.entries(), before);
    assert_eq!(x.parms(DevId(1)), Some(ProxyParms::default()));
    assert_eq!(
        x.add(p("198.18.0.9"), Some(DevId(1)), true),
        Ok(Added::Updated)
    );
    assert!(x.entries()[0].router);
}

#[test]
fn the_queue_is_bounded_delayed_and_accounted() {
    let x = Proxy::with_seed(7);
    let d = DevId(1);
    x.add_device(
        d,
        ProxyParms {
            delay: 800,
            qlen: 3,
        },
    )
    .unwrap();
    let mut dues = Vec::new();
    for i in 0..5u8 {
        match x.enqueue(d, &[i], 1000) {
            Proxied::Queued { due } => dues.push(due),
            other => assert_eq!((i, other), (i, Proxied::QueueFull)),
        }
    }
    assert_eq!(dues.len(), 3);
    assert!(dues.iter().all(|t| (1000..1800).contains(t)), "{dues:?}");
    assert!(
        dues.windows(2).any(|w| w[0] != w[1]),
        "random delays: {dues:?}"
    );
    let s = x.stats();
    assert_eq!((s.enqueued, s.overflow, s.queued_now), (3, 2, 3));
    assert_eq!(x.next_due(d), dues.iter().min().copied());
    let first = *dues.iter().min().unwrap();
    assert_eq!(x.take_due(d, first - 1), None);
    assert!(x.take_due(d, first).is_some());
    assert_eq!(x.remove_device(d), Ok(0));
    let s = x.stats();
    assert_eq!((s.redone, s.purged, s.queued_now), (1, 2, 0));
    assert_eq!(s.enqueued, s.redone + s.purged + s.queued_now);
    // Delay 0: due at once.
    x.add_device(d, ProxyParms { delay: 0, qlen: 1 }).unwrap();
    assert_eq!(x.enqueue(d, &[9], 50), Proxied::Queued { due: 50 });
}
