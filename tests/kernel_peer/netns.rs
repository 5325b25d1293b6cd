//! Network namespaces and veth pairs for the kernel-peer tests, driven by
//! iproute2 (`ip`), with a Drop guard that deletes them even when a test
//! panics, and a way to run code (open sockets) inside a namespace from a
//! thread (`setns`). Owns setup and teardown only.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Prefix of every namespace these tests create (`nckp-<pid>-<tag>`).
pub const PREFIX: &str = "nckp-";

/// Run `ip` with `args`; stdout on success.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Create `nckp-<pid>-<tag>`.
    pub fn create(tag: &str) -> Result<Netns, String> {
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        Ok(Netns { name })
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut v = vec!["-n", self.name.as_str()];
        v.extend_from_slice(args);
        ip(&v)
    }

    /// Write sysctls inside the namespace: `(path under /proc/sys, value)`.
    pub fn sysctl(&self, kv: &[(String, String)]) -> Result<(), String> {
        let script: String = kv
            .iter()
            .map(|(k, v)| format!("echo {v} > /proc/sys/{k} && "))
            .collect::<String>()
            + "true";
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", &script])
            .output()
            .map_err(|e| format!("cannot run `ip netns exec`: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "sysctl in {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Run `f` on a thread that has entered this namespace: sockets it
    /// opens belong to the namespace and stay usable from any thread.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: `ns` is an open namespace file descriptor; setns only
            // changes this thread's network namespace.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread inside the namespace panicked")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("kernel_peer: cleanup: {e}");
        }
    }
}

/// Delete namespaces left by earlier runs of these tests whose process is
/// gone (a SIGKILLed run cannot run its Drop guards). Others' namespaces
/// and those of live runs are left alone.
pub fn remove_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Can this process create namespaces and veth pairs? `Err` says why not.
pub fn probe() -> Result<(), String> {
    remove_stale();
    let a = Netns::create("probe-a")?;
    let b = Netns::create("probe-b")?;
    ip(&[
        "link", "add", "name", "p0", "netns", &a.name, "type", "veth", "peer", "name", "p1",
        "netns", &b.name,
    ])?;
    Ok(())
}
