//! Rate limits and load shedding, all with bounded memory.
//!
//! - [`KeyedLimiter`]: token buckets per key (client address for logins, principal for
//!   requests), at most `max_keys` of them; when full, idle buckets go first, then the
//!   least recently used.
//! - [`Lanes`]: two concurrency caps. Requests whose credentials were recently verified run
//!   in the staff lane; everything else (logins, anonymous floods, forged tokens) shares the
//!   general lane. A full lane answers 503 with Retry-After at once instead of queueing, so a
//!   flood cannot crowd out staff who are already logged in.
//! - [`client_ip`]: the peer address, or the X-Forwarded-For entry a trusted proxy added.

use rollguard_store::SecretHash;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
    /// Sustained requests per second.
    pub per_second: f64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct KeyedLimiter<K> {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self { rate, max_keys: max_keys.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`. `Err(secs)`: refused, retry after `secs`.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let mut map = self.buckets.lock().expect("limiter lock");
        if !map.contains_key(key) && map.len() >= self.max_keys {
            self.evict(&mut map, now);
        }
        let burst = f64::from(self.rate.burst);
        let b = map.entry(key.clone()).or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate.per_second).min(burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            // Whole seconds until a token is back: positive, and a float-to-integer `as`
            // saturates, so an absurdly slow rate waits `u64::MAX` rather than wrapping.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let wait = ((1.0 - b.tokens) / self.rate.per_second).ceil() as u64;
            Err(wait)
        }
    }

    fn evict(&self, map: &mut HashMap<K, Bucket>, now: Instant) {
        let burst = f64::from(self.rate.burst);
        let per = self.rate.per_second;
        // Buckets that would be full again carry no information.
        map.retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per < burst);
        if map.len() >= self.max_keys {
            if let Some(oldest) = map.iter().min_by_key(|(_, b)| b.updated).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.lock().expect("limiter lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which concurrency cap a request falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Staff,
    General,
}

pub struct Lanes {
    staff: std::sync::Arc<Semaphore>,
    general: std::sync::Arc<Semaphore>,
    /// Hashes of credentials verified recently, with when they stop counting. Only picks
    /// the lane: every request is still authenticated in full.
    known: Mutex<HashMap<SecretHash, Instant>>,
    max_known: usize,
}

impl Lanes {
    pub fn new(staff: usize, general: usize, max_known: usize) -> Self {
        Self {
            staff: std::sync::Arc::new(Semaphore::new(staff)),
            general: std::sync::Arc::new(Semaphore::new(general)),
            known: Mutex::new(HashMap::new()),
            max_known,
        }
    }

    pub fn lane_for(&self, credential: Option<&SecretHash>) -> Lane {
        let Some(h) = credential else { return Lane::General };
        let now = Instant::now();
        match self.known.lock().expect("lanes lock").get(h) {
            Some(until) if *until > now => Lane::Staff,
            _ => Lane::General,
        }
    }

    pub fn remember(&self, credential: SecretHash, ttl: Duration) {
        let now = Instant::now();
        let mut known = self.known.lock().expect("lanes lock");
        if known.len() >= self.max_known {
            known.retain(|_, until| *until > now);
            if known.len() >= self.max_known {
                if let Some(k) = known.iter().min_by_key(|(_, u)| **u).map(|(k, _)| *k) {
                    known.remove(&k);
                }
            }
        }
        known.insert(credential, now + ttl);
    }

    pub fn forget(&self, credential: &SecretHash) {
        self.known.lock().expect("lanes lock").remove(credential);
    }

    /// A slot in the lane, or `None` when it is full (shed the request).
    pub fn try_enter(&self, lane: Lane) -> Option<OwnedSemaphorePermit> {
        let sem = match lane {
            Lane::Staff => &self.staff,
            Lane::General => &self.general,
        };
        sem.clone().try_acquire_owned().ok()
    }
}

/// A proxy whose X-Forwarded-For is believed: an address or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxy {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr =
            addr.trim().parse().map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: bad prefix length"))?,
            None => max,
        };
        Ok(Self { net, prefix })
    }
}

impl TrustedProxy {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), 32, self.prefix) == masked(u32::from(a).into(), 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, bits: u32, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    v >> (bits - u32::from(prefix))
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// right-most X-Forwarded-For entry that is not itself a trusted proxy.
pub fn client_ip(peer: SocketAddr, forwarded_for: Option<&str>, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    let peer_ip = peer.ip();
    if !is_trusted(peer_ip) {
        return peer_ip;
    }
    let Some(xff) = forwarded_for else { return peer_ip };
    let mut last = peer_ip;
    for part in xff.rsplit(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => last = ip,
            Ok(ip) => return ip,
            Err(_) => return last,
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills() {
        let l = KeyedLimiter::new(Rate { burst: 3, per_second: 1.0 }, 100);
        let t = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at(&"ip", t).is_ok());
        }
        assert_eq!(l.check_at(&"ip", t), Err(1));
        assert!(l.check_at(&"other", t).is_ok(), "keys are independent");
        assert!(l.check_at(&"ip", t + Duration::from_millis(1100)).is_ok());
    }

    #[test]
    fn limiter_memory_is_bounded_under_a_flood_of_keys() {
        let l = KeyedLimiter::new(Rate { burst: 1, per_second: 0.01 }, 1000);
        let t = Instant::now();
        for i in 0..50_000u32 {
            let _ = l.check_at(&i, t);
        }
        assert!(l.len() <= 1000, "{}", l.len());
        // A key that is being limited stays limited while the flood goes on: it is among
        // the most recently used.
        assert!(l.check_at(&49_999, t).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<TrustedProxy> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(client_ip(stranger, Some("198.51.100.1"), &trusted), stranger.ip());
        assert_eq!(
            client_ip(proxy, Some("198.51.100.1"), &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // A client cannot smuggle an address in front of the one the proxy appended.
        assert_eq!(
            client_ip(proxy, Some("192.0.2.66, 198.51.100.1, 10.9.9.9"), &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, None, &trusted), proxy.ip());
        assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
    }

    #[test]
    fn a_full_lane_sheds_instead_of_queueing() {
        let lanes = Lanes::new(1, 1, 10);
        let held = lanes.try_enter(Lane::General).unwrap();
        assert!(lanes.try_enter(Lane::General).is_none());
        assert!(lanes.try_enter(Lane::Staff).is_some(), "the staff lane is separate");
        drop(held);
        assert!(lanes.try_enter(Lane::General).is_some());
        let h = SecretHash([7; 32]);
        assert_eq!(lanes.lane_for(Some(&h)), Lane::General, "unknown credential");
        lanes.remember(h, Duration::from_secs(60));
        assert_eq!(lanes.lane_for(Some(&h)), Lane::Staff);
    }
}
