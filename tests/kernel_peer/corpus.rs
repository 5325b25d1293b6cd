//! The frame differential's corpus (`tests/kernel_peer/frames/*.txt`, format
//! in `frames/README.md`): scenarios of setup steps and crafted frames, as
//! data. Owns reading and validating it; a malformed line fails with its
//! file and line number.

use neighcache::proto::eth::{self, Mac};
use std::net::IpAddr;
use std::path::Path;

/// A receive-policy sysctl a scenario may set, with its value (validated).
pub const SYSCTLS: [&str; 7] = [
    "arp_accept",
    "drop_gratuitous_arp",
    "drop_unsolicited_na",
    "accept_untracked_na",
    "forwarding",
    "proxy_ndp",
    "accept_redirects",
];

/// The neighbour states a scenario may set administratively.
pub const STATES: [&str; 5] = ["reachable", "stale", "probe", "failed", "permanent"];

/// One step of a scenario.
#[derive(Clone, Debug)]
pub enum Step {
    /// Set a receive-policy sysctl (one of [`SYSCTLS`]).
    Sysctl(&'static str, u8),
    /// Answer for this address (`ip neigh add proxy`).
    Proxy(IpAddr),
    /// `ip neigh replace ADDR lladdr MAC nud STATE [router]`.
    Neigh {
        addr: IpAddr,
        mac: Mac,
        state: &'static str,
        router: bool,
    },
    /// The host sends a UDP datagram to this address.
    Send(IpAddr),
    /// Both sides let this many milliseconds pass.
    Wait(u64),
    /// Inject this frame; compare after it.
    Frame { label: String, bytes: Vec<u8> },
}

/// A scenario: both sides start from an empty cache and default policy.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub file: String,
    pub name: String,
    pub steps: Vec<Step>,
}

impl Scenario {
    pub fn frames(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Frame { .. }))
            .count()
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn step(words: &[&str]) -> Result<Step, String> {
    let ip = |s: &str| s.parse::<IpAddr>().map_err(|e| format!("{s}: {e}"));
    Ok(match words {
        ["sysctl", kv] => {
            let (k, v) = kv.split_once('=').ok_or("sysctl NAME=VALUE")?;
            let name = SYSCTLS
                .iter()
                .find(|n| **n == k)
                .ok_or(format!("unknown sysctl {k}"))?;
            let v: u8 = v.parse().map_err(|_| format!("sysctl value {v}"))?;
            Step::Sysctl(name, v)
        }
        ["proxy", a] => Step::Proxy(ip(a)?),
        ["neigh", a, mac, state, rest @ ..] => Step::Neigh {
            addr: ip(a)?,
            mac: eth::parse_mac(mac).ok_or(format!("MAC {mac}"))?,
            state: STATES
                .iter()
                .find(|s| **s == *state)
                .ok_or(format!("state {state}"))?,
            router: match rest {
                [] => false,
                ["router"] => true,
                _ => return Err("neigh ADDR MAC STATE [router]".into()),
            },
        },
        ["send", a] => Step::Send(ip(a)?),
        ["wait", ms] => Step::Wait(ms.parse().map_err(|_| format!("wait {ms}"))?),
        ["frame", label, rest @ ..] => {
            let (fix, h) = match rest {
                [h] => (false, *h),
                ["fixcsum", h] => (true, *h),
                _ => return Err("frame LABEL [fixcsum] HEX".into()),
            };
            let mut bytes = hex(h).ok_or("frame: not hex")?;
            if fix {
                fix_checksums(&mut bytes);
            }
            Step::Frame {
                label: label.to_string(),
                bytes,
            }
        }
        _ => return Err(format!("unknown line: {}", words.join(" "))),
    })
}

/// Every scenario of every `*.txt` file in `dir`, files in name order.
pub fn load(dir: &Path) -> Vec<Scenario> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut out: Vec<Scenario> = Vec::new();
    for path in files {
        let file = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = format!("{}:{}", path.display(), n + 1);
            if let ["scenario", name] = words[..] {
                assert!(
                    out.iter().all(|s| s.name != name),
                    "{at}: scenario {name} is defined twice"
                );
                out.push(Scenario {
                    file: file.clone(),
                    name: name.to_string(),
                    steps: Vec::new(),
                });
                continue;
            }
            let s = step(&words).unwrap_or_else(|e| panic!("{at}: {e}"));
            let sc = out
                .last_mut()
                .filter(|sc| sc.file == file)
                .unwrap_or_else(|| panic!("{at}: a step before any `scenario` line"));
            if let Step::Frame { label, .. } = &s {
                let dup = sc
                    .steps
                    .iter()
                    .any(|t| matches!(t, Step::Frame { label: l, .. } if l == label));
                assert!(!dup, "{at}: frame {label} twice in {}", sc.name);
            }
            sc.steps.push(s);
        }
    }
    out
}

fn sum16(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Fill the IPv4 header checksum and the ICMP/ICMPv6 checksum of a frame
/// written by hand (`frame LABEL fixcsum HEX`). Frames too short or of
/// another kind are left as they are.
pub fn fix_checksums(f: &mut [u8]) {
    let Some(et) = f.get(12..14) else {
        return;
    };
    match [et[0], et[1]] {
        [0x08, 0x00] if f.len() >= 34 => {
            let ihl = usize::from(f[14] & 0xf) * 4;
            if f.len() < 14 + ihl {
                return;
            }
            f[24..26].fill(0);
            let c = sum16(&f[14..14 + ihl], 0);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            let at = 14 + ihl;
            if f[23] == 1 && f.len() >= at + 4 {
                f[at + 2..at + 4].fill(0);
                let c = sum16(&f[at..], 0);
                f[at + 2..at + 4].copy_from_slice(&c.to_be_bytes());
            }
        }
        [0x86, 0xdd] if f.len() >= 54 => {
            let (mut nh, mut at) = (f[20], 54);
            while matches!(nh, 0 | 43 | 60) && f.len() >= at + 8 {
                nh = f[at];
                at += (usize::from(f[at + 1]) + 1) * 8;
            }
            if nh != 58 || f.len() < at + 4 {
                return;
            }
            f[at + 2..at + 4].fill(0);
            let mut pseudo = Vec::with_capacity(40);
            pseudo.extend_from_slice(&f[22..54]);
            pseudo.extend_from_slice(&((f.len() - at) as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 58]);
            pseudo.extend_from_slice(&f[at..]);
            let c = sum16(&pseudo, 0);
            f[at + 2..at + 4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}
