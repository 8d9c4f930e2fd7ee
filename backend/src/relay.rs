//! The page ↔ Python-worker relay for pages that are not cross-origin isolated (plain http from
//! the LAN: no SharedArrayBuffer, no Atomics.wait): a worker blocked in `input()` or
//! `time.sleep` waits in a synchronous request that this module answers when its page posts an
//! input line, end of input or Stop. Every channel, line and wait is bounded; nothing here waits
//! on a page.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Channels alive at once on the server (a page makes one per Python worker it starts).
pub const MAX_CHANNELS: usize = 4096;
/// Channels of one client address; past it, that address's least recently used one goes, so
/// one machine never takes another's place.
pub const PER_ADDRESS: usize = 32;
/// Lines a page may post ahead of its worker reading them.
pub const MAX_QUEUED: usize = 8;
/// The largest input line, in bytes (as much as the isolated page's shared buffer holds).
pub const MAX_LINE: usize = 65536;
/// The longest a worker's request is held before it is answered `timeout` (the worker asks again).
pub const MAX_HOLD: Duration = Duration::from_secs(20);
/// A channel nobody used for this long is forgotten.
const IDLE: Duration = Duration::from_secs(600);

/// What the page posts.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Post {
    /// A line the student typed, for `input()` of run `run`.
    Line { run: u32, data: String },
    /// End of input (Ctrl+D): `input()` raises EOFError.
    Eof { run: u32 },
    /// Stop was pressed: the run's blocked `input()` or `sleep` raises KeyboardInterrupt.
    Interrupt { run: u32 },
}

/// What the worker waits for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Want {
    /// A line, end of input, or Stop.
    Input,
    /// Only Stop; the time running out is the normal answer.
    Sleep,
}

/// The answer to a worker's wait.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Answer {
    Line { data: String },
    Eof,
    Interrupt,
    /// Nothing came within the hold: sleep is over, or input should be asked again.
    Timeout,
    /// A newer wait on the same channel took this one's place.
    Superseded,
}

#[derive(Debug, PartialEq)]
pub enum PostError {
    BadChannel,
    TooLong,
    QueueFull,
    TooManyChannels,
}

impl PostError {
    /// What the page reads, in `lang`.
    pub fn said(&self, lang: shared::lang::Lang) -> &'static str {
        match self {
            PostError::BadChannel => lang.pick("中继通道是 32 个十六进制字符", "a relay channel is 32 hexadecimal characters"),
            PostError::TooLong => lang.pick("一行输入最多 64 KiB", "an input line is at most 64 KiB"),
            PostError::QueueFull => lang.pick("等待 Python 读取的输入行太多", "too many input lines are waiting for Python to read them"),
            PostError::TooManyChannels => {
                lang.pick("班级服务器同时为太多页面中继：请一分钟后再试", "the class server relays for too many pages at once: try again in a minute")
            }
        }
    }
}

struct Channel {
    run: u32,
    lines: VecDeque<Answer>,
    /// Stop was pressed for `run`; the flag lives until that run's next wait takes it.
    interrupt: bool,
    waiter: Option<(Want, oneshot::Sender<Answer>)>,
    used: Instant,
    owner: IpAddr,
}

impl Channel {
    fn new(owner: IpAddr) -> Channel {
        Channel { run: 0, lines: VecDeque::new(), interrupt: false, waiter: None, used: Instant::now(), owner }
    }

    /// Moves to run `run`: what was posted for an earlier run is dropped.
    fn follow(&mut self, run: u32) {
        if self.run != run {
            self.run = run;
            self.lines.clear();
            self.interrupt = false;
        }
    }

    /// What a wait for `want` can take now, if anything.
    fn take(&mut self, want: Want) -> Option<Answer> {
        if self.interrupt {
            self.interrupt = false;
            self.lines.clear();
            return Some(Answer::Interrupt);
        }
        match want {
            Want::Input => self.lines.pop_front(),
            Want::Sleep => None,
        }
    }
}

/// Every page's relay channel, by the channel id the page chose (128 random bits).
#[derive(Default)]
pub struct Relay {
    channels: Mutex<HashMap<String, Channel>>,
}

fn valid(channel: &str) -> bool {
    channel.len() == 32 && channel.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Relay {
    /// Runs `f` on `channel`, made for `from` if new (within the per-address and total bounds).
    fn with<T>(&self, from: IpAddr, channel: &str, f: impl FnOnce(&mut Channel) -> T) -> Result<T, PostError> {
        if !valid(channel) {
            return Err(PostError::BadChannel);
        }
        let mut map = self.channels.lock().expect("relay lock poisoned");
        if !map.contains_key(channel) {
            let mine: Vec<(&String, Instant)> = map.iter().filter(|(_, c)| c.owner == from).map(|(k, c)| (k, c.used)).collect();
            if mine.len() >= PER_ADDRESS {
                let oldest = mine.iter().min_by_key(|(_, used)| *used).map(|(k, _)| (*k).clone());
                if let Some(mut gone) = oldest.and_then(|k| map.remove(&k)) {
                    if let Some((_, tx)) = gone.waiter.take() {
                        let _ = tx.send(Answer::Superseded);
                    }
                }
            }
            if map.len() >= MAX_CHANNELS {
                let now = Instant::now();
                map.retain(|_, c| c.waiter.is_some() || now - c.used < IDLE);
            }
            if map.len() >= MAX_CHANNELS {
                return Err(PostError::TooManyChannels);
            }
        }
        let ch = map.entry(channel.to_string()).or_insert_with(|| Channel::new(from));
        ch.used = Instant::now();
        Ok(f(ch))
    }

    /// The page's post: answers a waiting worker at once, or keeps it (bounded) for the next wait.
    pub fn post(&self, from: IpAddr, channel: &str, post: Post) -> Result<(), PostError> {
        let (run, answer) = match post {
            Post::Line { run, data } => {
                if data.len() > MAX_LINE {
                    return Err(PostError::TooLong);
                }
                (run, Answer::Line { data })
            }
            Post::Eof { run } => (run, Answer::Eof),
            Post::Interrupt { run } => (run, Answer::Interrupt),
        };
        self.with(from, channel, |ch| {
            ch.follow(run);
            if answer == Answer::Interrupt {
                ch.interrupt = true;
            } else if ch.lines.len() >= MAX_QUEUED {
                return Err(PostError::QueueFull);
            } else {
                ch.lines.push_back(answer);
            }
            if let Some((want, tx)) = ch.waiter.take() {
                match ch.take(want) {
                    Some(a) => {
                        let _ = tx.send(a);
                    }
                    None => ch.waiter = Some((want, tx)),
                }
            }
            Ok(())
        })?
    }

    /// The worker's wait for run `run`: answered by a post, or `Timeout` after `hold`
    /// (at most `MAX_HOLD`). A second wait on the channel supersedes the first.
    pub async fn wait(&self, from: IpAddr, channel: &str, run: u32, want: Want, hold: Duration) -> Result<Answer, PostError> {
        let rx = self.with(from, channel, |ch| {
            ch.follow(run);
            if let Some(a) = ch.take(want) {
                return Err(a);
            }
            let (tx, rx) = oneshot::channel();
            if let Some((_, old)) = ch.waiter.replace((want, tx)) {
                let _ = old.send(Answer::Superseded);
            }
            Ok(rx)
        })?;
        let rx = match rx {
            Ok(rx) => rx,
            Err(ready) => return Ok(ready),
        };
        match tokio::time::timeout(hold.min(MAX_HOLD), rx).await {
            Ok(Ok(answer)) => Ok(answer),
            // The time ran out (or the channel was replaced): clear our place if still ours.
            _ => {
                // (A channel evicted meanwhile is not made again.)
                if let Some(ch) = self.channels.lock().expect("relay lock poisoned").get_mut(channel) {
                    if ch.waiter.as_ref().is_some_and(|(_, tx)| tx.is_closed()) {
                        ch.waiter = None;
                    }
                }
                Ok(Answer::Timeout)
            }
        }
    }

    /// Channels alive now (for tests and the teacher's view of the server).
    pub fn len(&self) -> usize {
        self.channels.lock().expect("relay lock poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CH: &str = "0123456789abcdef0123456789abcdef";
    const ME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));

    #[tokio::test]
    async fn a_posted_line_answers_the_waiting_input() {
        let relay = std::sync::Arc::new(Relay::default());
        let r = relay.clone();
        let waiting = tokio::spawn(async move { r.wait(ME, CH, 1, Want::Input, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        relay.post(ME, CH, Post::Line { run: 1, data: "42".into() }).unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), Answer::Line { data: "42".into() });
    }

    #[tokio::test]
    async fn a_line_posted_first_is_kept_for_the_next_wait_of_that_run_only() {
        let relay = Relay::default();
        relay.post(ME, CH, Post::Line { run: 1, data: "a".into() }).unwrap();
        relay.post(ME, CH, Post::Eof { run: 1 }).unwrap();
        let hold = Duration::from_millis(10);
        assert_eq!(relay.wait(ME, CH, 1, Want::Input, hold).await.unwrap(), Answer::Line { data: "a".into() });
        assert_eq!(relay.wait(ME, CH, 1, Want::Input, hold).await.unwrap(), Answer::Eof);
        relay.post(ME, CH, Post::Line { run: 1, data: "stale".into() }).unwrap();
        assert_eq!(relay.wait(ME, CH, 2, Want::Input, hold).await.unwrap(), Answer::Timeout, "run 2 never sees run 1's line");
    }

    #[tokio::test]
    async fn stop_wakes_a_sleep_but_a_line_does_not() {
        let relay = std::sync::Arc::new(Relay::default());
        let r = relay.clone();
        let sleeping = tokio::spawn(async move { r.wait(ME, CH, 3, Want::Sleep, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        relay.post(ME, CH, Post::Line { run: 3, data: "x".into() }).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeping.is_finished(), "a line must not end a sleep");
        relay.post(ME, CH, Post::Interrupt { run: 3 }).unwrap();
        assert_eq!(sleeping.await.unwrap().unwrap(), Answer::Interrupt);
        assert_eq!(
            relay.wait(ME, CH, 3, Want::Input, Duration::from_millis(10)).await.unwrap(),
            Answer::Timeout,
            "the interrupt dropped the lines typed before it and was taken once"
        );
    }

    #[tokio::test]
    async fn a_sleep_ends_when_its_time_is_up() {
        let relay = Relay::default();
        let t = Instant::now();
        assert_eq!(relay.wait(ME, CH, 1, Want::Sleep, Duration::from_millis(80)).await.unwrap(), Answer::Timeout);
        assert!(t.elapsed() >= Duration::from_millis(80));
    }

    #[tokio::test]
    async fn a_second_wait_supersedes_the_first() {
        let relay = std::sync::Arc::new(Relay::default());
        let r = relay.clone();
        let first = tokio::spawn(async move { r.wait(ME, CH, 1, Want::Input, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = relay.clone();
        let second = tokio::spawn(async move { r.wait(ME, CH, 1, Want::Input, Duration::from_secs(5)).await });
        assert_eq!(first.await.unwrap().unwrap(), Answer::Superseded);
        relay.post(ME, CH, Post::Eof { run: 1 }).unwrap();
        assert_eq!(second.await.unwrap().unwrap(), Answer::Eof);
    }

    #[test]
    fn bad_channels_long_lines_and_floods_are_refused() {
        let relay = Relay::default();
        assert_eq!(relay.post(ME, "../etc", Post::Eof { run: 1 }), Err(PostError::BadChannel));
        let long = "x".repeat(MAX_LINE + 1);
        assert_eq!(relay.post(ME, CH, Post::Line { run: 1, data: long }), Err(PostError::TooLong));
        for _ in 0..MAX_QUEUED {
            relay.post(ME, CH, Post::Line { run: 1, data: "y".into() }).unwrap();
        }
        assert_eq!(relay.post(ME, CH, Post::Line { run: 1, data: "z".into() }), Err(PostError::QueueFull));
    }

    #[tokio::test]
    async fn one_address_flooding_channels_only_evicts_its_own() {
        let relay = std::sync::Arc::new(Relay::default());
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 8));
        let r = relay.clone();
        let theirs = tokio::spawn(async move { r.wait(other, CH, 1, Want::Input, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        for i in 0..10 * PER_ADDRESS {
            relay.post(ME, &format!("{:032x}", i + 1), Post::Eof { run: 1 }).unwrap();
        }
        assert_eq!(relay.len(), PER_ADDRESS + 1, "the flooder keeps its newest channels only");
        relay.post(other, CH, Post::Line { run: 1, data: "still here".into() }).unwrap();
        assert_eq!(theirs.await.unwrap().unwrap(), Answer::Line { data: "still here".into() });
    }

    #[test]
    fn the_number_of_channels_is_bounded() {
        let relay = Relay::default();
        for i in 0..MAX_CHANNELS {
            let from = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + (i / PER_ADDRESS) as u32));
            relay.post(from, &format!("{i:032x}"), Post::Eof { run: 1 }).unwrap();
        }
        let stranger = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        let next = format!("{:032x}", MAX_CHANNELS);
        assert_eq!(relay.post(stranger, &next, Post::Eof { run: 1 }), Err(PostError::TooManyChannels));
        assert_eq!(relay.len(), MAX_CHANNELS);
    }
}
