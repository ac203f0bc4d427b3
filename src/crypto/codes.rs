//! Access codes: generated from the OS random source, hashed with argon2id (at least
//! m=19456 KiB, t=2, p=1, unique salt), computed off the async threads so a flood of attempts
//! cannot exhaust memory or stall other requests:
//! - a fixed set of `concurrency` argon2 threads (so at most that many 19 MiB blocks, and no
//!   other thread's allocator ever holds one);
//! - those threads run under the `SCHED_IDLE` policy: code checks use the CPU the
//!   rest of the service and PostgreSQL leave, any other thread that wakes up preempts them at
//!   once, and a burst of them slows downloads by little (they still get a small share of a busy
//!   CPU, so a check is never starved outright);
//! - a verification waits at most [`VERIFY_PATIENCE`] in a bounded queue; past that it is
//!   [`Busy`] (the caller answers "try again shortly") instead of piling up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// The parameters every new hash uses (OWASP's minimum for argon2id).
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// Characters of generated codes: letters and digits without look-alikes (0/O, 1/l/I).
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
/// Length of generated codes.
pub const GENERATED_LEN: usize = 6;

/// A new random access code.
pub fn generate() -> String {
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % ALPHABET.len());
    let mut out = String::with_capacity(GENERATED_LEN);
    while out.len() < GENERATED_LEN {
        for b in super::random_bytes::<16>() {
            if (b as usize) < limit && out.len() < GENERATED_LEN {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

fn params() -> Params {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 parameters")
}

thread_local! {
    /// An argon2 thread's working memory (19 MiB), allocated once and reused, so the process
    /// holds `concurrency` such blocks and never a heap fragmented by them.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 of `code` and `salt` into `out`, in this thread's reusable memory.
fn compute(argon2: &Argon2<'_>, params: &Params, code: &[u8], salt: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    MEMORY.with_borrow_mut(|memory| {
        memory.resize(params.block_count(), Block::new());
        argon2
            .hash_password_into_with_memory(code, salt, out, &mut memory[..])
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
}

/// A new PHC hash of `code` with today's parameters and a fresh 16-byte salt.
fn hash_now(code: &[u8]) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = super::random_bytes();
    let salt = Salt::new(&salt_bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(
        &Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
        &params,
        code,
        &salt,
        &mut out,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(hash.to_string())
}

/// Whether `code` matches a stored hash (with the stored hash's own parameters); the outputs
/// are compared in constant time.
fn matches(code: &[u8], stored: &PasswordHash) -> anyhow::Result<bool> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        anyhow::bail!("the stored hash has no salt or output");
    };
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .unwrap_or_default();
    let params = Params::try_from(stored).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = vec![0u8; expected.len()];
    compute(
        &Argon2::new(algorithm, version, params.clone()),
        &params,
        code,
        salt,
        &mut out,
    )?;
    Ok(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))? == *expected)
}

/// The result of checking a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Right code; `rehash` holds a stronger hash when the stored one is weaker than today's.
    Yes {
        rehash: Option<String>,
    },
    No,
}

/// How long a verification may wait for an argon2 thread before it is [`Busy`].
pub const VERIFY_PATIENCE: Duration = Duration::from_secs(2);
/// Queued computations per argon2 thread, beyond which verifications are [`Busy`] at once.
const QUEUE_PER_THREAD: usize = 8;

/// Every argon2 thread is taken and the queue is full (or the wait ran out): nothing was
/// checked; the caller should say "try again shortly".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("access code checks are busy; try again shortly")]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send>;

/// Runs argon2 on its own threads, `concurrency` of them.
#[derive(Debug, Clone)]
pub struct CodeHasher {
    jobs: tokio::sync::mpsc::Sender<Job>,
    /// How many hashes or verifications ran (tests check throttling happens before argon2).
    runs: Arc<std::sync::atomic::AtomicU64>,
    /// Computations running now, and the most that ever ran at once.
    running: Arc<std::sync::atomic::AtomicU64>,
    most: Arc<std::sync::atomic::AtomicU64>,
}

impl CodeHasher {
    /// A hasher with `concurrency` argon2 threads (they end when the last clone is dropped).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = tokio::sync::mpsc::channel::<Job>(QUEUE_PER_THREAD * concurrency);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..concurrency {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = queue.lock().map_or(None, |mut q| q.blocking_recv());
                        match job {
                            Some(job) => job(),
                            None => return,
                        }
                    }
                })
                .expect("cannot start an argon2 thread");
        }
        Self {
            jobs,
            runs: Arc::default(),
            running: Arc::default(),
            most: Arc::default(),
        }
    }

    /// The most argon2 computations that ever ran at once.
    pub fn most_at_once(&self) -> u64 {
        self.most.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many argon2 computations have run.
    pub fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hashes a code into a PHC string with a fresh salt.
    pub async fn hash(&self, code: &str) -> anyhow::Result<String> {
        let code = code.as_bytes().to_vec();
        self.on_argon2_thread(None, move || hash_now(&code)).await
    }

    /// Checks a code against a stored PHC string (exactly as typed: no trimming). When the
    /// argon2 threads are swamped the error is [`Busy`] and nothing was checked.
    pub async fn verify(&self, code: &str, phc: &str) -> anyhow::Result<Verified> {
        let code = code.as_bytes().to_vec();
        let phc = phc.to_owned();
        self.on_argon2_thread(Some(VERIFY_PATIENCE), move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
            if !matches(&code, &parsed)? {
                return Ok(Verified::No);
            }
            let rehash = if is_weaker_than_current(&parsed) {
                Some(hash_now(&code)?)
            } else {
                None
            };
            Ok(Verified::Yes { rehash })
        })
        .await
    }

    /// Runs `work` on an argon2 thread. With `patience`, a full queue or a longer wait is
    /// [`Busy`]; without, it waits its turn.
    async fn on_argon2_thread<T: Send + 'static>(
        &self,
        patience: Option<Duration>,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        use std::sync::atomic::Ordering::Relaxed;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (runs, running, most) = (self.runs.clone(), self.running.clone(), self.most.clone());
        let queued = Instant::now();
        let job: Job = Box::new(move || {
            if patience.is_some_and(|p| queued.elapsed() > p) {
                let _ = reply.send(Err(anyhow::Error::new(Busy)));
                return;
            }
            runs.fetch_add(1, Relaxed);
            let now = running.fetch_add(1, Relaxed) + 1;
            most.fetch_max(now, Relaxed);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("argon2 computation panicked")));
            running.fetch_sub(1, Relaxed);
            let _ = reply.send(result);
        });
        match patience {
            Some(_) => self.jobs.try_send(job).map_err(|e| match e {
                tokio::sync::mpsc::error::TrySendError::Full(_) => anyhow::Error::new(Busy),
                tokio::sync::mpsc::error::TrySendError::Closed(_) => anyhow::anyhow!("the argon2 threads are gone"),
            })?,
            None => self
                .jobs
                .send(job)
                .await
                .map_err(|_| anyhow::anyhow!("the argon2 threads are gone"))?,
        }
        answer
            .await
            .map_err(|_| anyhow::anyhow!("an argon2 thread dropped its work"))?
    }
}

/// Lowers the calling thread's CPU priority to the `SCHED_IDLE` policy (per thread on Linux).
fn lower_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    // SCHED_IDLE takes no priority value of its own (it must be 0: the crate's `Min`).
    let result = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if let Err(e) = result {
        tracing::warn!(error = ?e, "cannot lower the argon2 threads' priority");
    }
}

fn is_weaker_than_current(hash: &PasswordHash) -> bool {
    let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
    hash.algorithm.as_str() != "argon2id"
        || param("m") < MEMORY_KIB
        || param("t") < ITERATIONS
        || param("p") < PARALLELISM
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn generated_codes_are_valid_access_codes() {
        for _ in 0..1000 {
            let code = generate();
            assert_eq!(code.len(), GENERATED_LEN);
            assert!(shareledger_domain::share::validate_access_code(&code).is_ok());
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_minimum_parameters_and_unique_salts() {
        let h = CodeHasher::new(2);
        let a = h.hash("s3cret").await.unwrap();
        let b = h.hash("s3cret").await.unwrap();
        assert_ne!(a, b, "a fresh salt every time");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_eq!(h.verify("s3cret", &a).await.unwrap(), Verified::Yes { rehash: None });
        assert_eq!(h.verify("s3cret ", &a).await.unwrap(), Verified::No, "no trimming");
        assert_eq!(h.verify("S3cret", &a).await.unwrap(), Verified::No);
        // The argon2 crate's own verifier agrees (our reusable-memory path makes standard hashes).
        let parsed = PasswordHash::new(&a).unwrap();
        assert!(Argon2::default().verify_password(b"s3cret", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"S3cret", &parsed).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_verifications_is_shed_as_busy_instead_of_queued_without_end() {
        let h = CodeHasher::new(1);
        let phc = h.hash("s3cret").await.unwrap();
        let before = h.runs();
        let attempts = futures_util::future::join_all((0..40).map(|_| h.verify("s3cret", &phc))).await;
        let busy = attempts
            .iter()
            .filter(|a| a.as_ref().is_err_and(|e| e.is::<Busy>()))
            .count();
        let checked = attempts
            .iter()
            .filter(|a| matches!(a, Ok(Verified::Yes { rehash: None })))
            .count();
        assert_eq!(busy + checked, 40, "every attempt is checked or busy, nothing else");
        assert!(
            checked <= 1 + QUEUE_PER_THREAD,
            "only one thread and its queue: {checked}"
        );
        assert!(busy >= 40 - 1 - QUEUE_PER_THREAD, "the rest is shed at once: {busy}");
        assert_eq!(h.runs() - before, checked as u64, "no argon2 for a busy answer");
        assert_eq!(h.most_at_once(), 1);
        // Hashing for an owner is never shed: it waits its turn.
        let hashes = futures_util::future::join_all((0..12).map(|_| h.hash("another"))).await;
        assert!(hashes.iter().all(|r| r.is_ok()));
    }

    #[tokio::test]
    async fn argon2_runs_on_its_own_threads_at_a_lower_priority() {
        let h = CodeHasher::new(1);
        h.hash("s3cret").await.unwrap();
        let mut policies = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
            if let Some((head, tail)) = stat.rsplit_once(')')
                && head.contains("(argon2-")
            {
                // Fields after the name start at the state (field 3); the scheduling policy is
                // field 41, and SCHED_IDLE is 5.
                policies.push(tail.split_whitespace().nth(38).unwrap().parse::<i32>().unwrap());
            }
        }
        assert!(!policies.is_empty(), "no argon2 thread found");
        assert!(policies.iter().all(|p| *p == 5), "not SCHED_IDLE: {policies:?}");
    }

    #[tokio::test]
    async fn a_weaker_stored_hash_is_upgraded_on_the_next_successful_verify() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8, 1, 1, None).unwrap())
            .hash_password(b"s3cret")
            .unwrap()
            .to_string();
        let h = CodeHasher::new(1);
        match h.verify("s3cret", &weak).await.unwrap() {
            Verified::Yes { rehash: Some(new) } => assert!(new.contains("m=19456,t=2,p=1")),
            other => panic!("expected an upgrade, got {other:?}"),
        }
        assert_eq!(h.verify("wrong", &weak).await.unwrap(), Verified::No);
    }
}
