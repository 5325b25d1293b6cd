//! Command-line parsing of `soak` (no dependencies). Owns the flags, their
//! defaults and `--help` only.

pub const USAGE: &str = "\
usage: soak [options]

A long run of one IPv4 neighbour table under load, through the public API:
--entries resolved neighbours, one thread looking up and sending to them
(lookup_noref + output; a miss goes through resolve_output_in), one thread
churning a pool of other neighbours (create + resolve, MAC change, remove)
at --churn-rate, and the main thread driving the timers (run_timers every
10 ms, 1 tick = 1 ms: NUD timers and the periodic GC at their real periods)
and answering the solicitations they send (but for silent neighbours).
Every second a progress line (entries, packets and churn calls per second,
RSS, p50/p99/p99.9/max of lookup+output and of the churn calls, the longest
run_timers call, the longest call of any kind in the second and since the
start); at the end a summary with the packet ledger, checked exactly.
Latencies are HDR histograms (3 significant digits).

options:
  --entries N          resolved neighbours before the run (default 1048576)
  --secs S             length of the run (default 60)
  --churn-rate R       churn operations per second (default 100000; 0 = as
                       fast as the thread can)
  --churn-keys N       size of the churned pool (default entries / 16)
  --unanswered N       one neighbour in N never answers, so its entry
                       fails and the packets queued on it go to
                       error_report (default 100; 0: all answer)
  --warmup S           seconds before the RSS reference point (default
                       min(10, secs / 4))
  --max-rss-growth P   exit 1 if the resident set after the warm-up ever
                       exceeds its value at the end of the warm-up by more
                       than P percent (default: report only)
  --svg PATH           write a plot of RSS and p99 latencies per second
  --seed N             key order and operation mix (default 1)
  -h, --help           this text

Exit status: 0; 1 if the packet ledger is not exact or --max-rss-growth is
exceeded; 2 for a bad flag.
";

/// The parsed flags.
#[derive(Clone, Debug)]
pub struct Args {
    pub entries: usize,
    pub secs: u64,
    pub churn_rate: u64,
    pub churn_keys: usize,
    pub unanswered: u64,
    pub warmup: u64,
    pub max_rss_growth: Option<f64>,
    pub svg: Option<String>,
    pub seed: u64,
}

fn value<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: cannot parse {v:?}"))
}

impl Args {
    /// Parse `args` (without the program name). `Ok(None)` for `--help`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
        let mut it = args.into_iter();
        let mut entries = 1 << 20;
        let mut secs = 60;
        let mut churn_rate = 100_000;
        let mut churn_keys = None;
        let mut unanswered = 100;
        let mut warmup = None;
        let mut max_rss_growth = None;
        let mut svg = None;
        let mut seed = 1;
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--entries" => entries = value(&flag, it.next())?,
                "--secs" => secs = value(&flag, it.next())?,
                "--churn-rate" => churn_rate = value(&flag, it.next())?,
                "--churn-keys" => churn_keys = Some(value(&flag, it.next())?),
                "--unanswered" => unanswered = value(&flag, it.next())?,
                "--warmup" => warmup = Some(value(&flag, it.next())?),
                "--max-rss-growth" => {
                    let p: f64 = value(&flag, it.next())?;
                    if p.is_nan() || p < 0.0 {
                        return Err(format!("--max-rss-growth: {p} is not a percentage"));
                    }
                    max_rss_growth = Some(p);
                }
                "--svg" => svg = Some(value(&flag, it.next())?),
                "--seed" => seed = value(&flag, it.next())?,
                "-h" | "--help" => return Ok(None),
                _ => return Err(format!("unknown flag {flag:?}")),
            }
        }
        if entries == 0 || secs == 0 {
            return Err("--entries and --secs must be at least 1".into());
        }
        let churn_keys = churn_keys.unwrap_or((entries / 16).max(16));
        if churn_keys == 0 {
            return Err("--churn-keys must be at least 1".into());
        }
        // Stable keys are 10.0.0.0/8 and up, churned ones 100.64.0.0/10:
        // both ranges must hold them.
        if entries > 1 << 24 || churn_keys > 1 << 22 {
            return Err("at most 2^24 entries and 2^22 churn keys".into());
        }
        let warmup = warmup.unwrap_or((secs / 4).min(10));
        if warmup >= secs {
            return Err("--warmup must be shorter than --secs".into());
        }
        Ok(Some(Args {
            entries,
            secs,
            churn_rate,
            churn_keys,
            unanswered,
            warmup,
            max_rss_growth,
            svg,
            seed,
        }))
    }
}
