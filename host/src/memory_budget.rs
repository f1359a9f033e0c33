//! The host's memory budget: the linear memory that work instances (generation, mixing,
//! uploads) may hold at once, so that many large requests wait their turn or get 503 instead
//! of pushing the process past the machine's memory.
//!
//! A request is admitted against an estimate of what its component will hold: the larger of
//! its recent peaks, learned as requests finish (and from the growth that failed, so a first
//! wave of large requests teaches the next). As an instance grows past what it reserved it
//! takes more from the budget, waiting up to the queue timeout when none is free; then it
//! fails with 503 and `Retry-After`, and what it held goes back at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget accounting is in whole MiB.
const MIB: usize = 1 << 20;
/// Until a component's first request has finished, each of its requests reserves this share
/// of the budget, so a first wave of large requests runs a few at a time and teaches the
/// estimate instead of all starting small and waiting on each other to grow.
const FIRST_ESTIMATE_SHARE: u32 = 4;
/// ... and at most this: a 3-minute mix's working set, with room.
const FIRST_ESTIMATE_MAX_MIB: u32 = 512;
/// How often a waiting request looks again for its share.
const ADMISSION_POLL: Duration = Duration::from_millis(20);
/// Growth is taken from the budget in steps of at least this, to keep the semaphore quiet.
const GROWTH_STEP_MIB: u32 = 16;

/// The budget, shared by every request.
#[derive(Debug)]
pub struct MemoryBudget {
    total_mib: u32,
    free: Arc<Semaphore>,
    wait: Duration,
    /// Each component's estimate, MiB.
    estimates: Mutex<HashMap<String, u32>>,
}

/// Why a request could not have the memory it needs.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the host's memory budget ({total_mib} MiB, --memory-budget-mib) is in use by other \
     requests; this one needs about {needed_mib} MiB. Retry shortly"
)]
pub struct BudgetExhausted {
    /// The budget.
    pub total_mib: u32,
    /// What this request needed.
    pub needed_mib: u32,
}

impl MemoryBudget {
    /// A budget of `total_mib`; a request waits up to `wait` for its share.
    pub fn new(total_mib: u32, wait: Duration) -> Arc<Self> {
        Arc::new(Self {
            total_mib: total_mib.max(1),
            free: Arc::new(Semaphore::new(total_mib.max(1) as usize)),
            wait,
            estimates: Mutex::new(HashMap::new()),
        })
    }

    /// The budget, MiB.
    pub fn total_mib(&self) -> u32 {
        self.total_mib
    }

    /// What `component` is expected to hold, MiB.
    pub fn estimate_mib(&self, component: &str) -> u32 {
        let estimates = self.estimates.lock().unwrap_or_else(|e| e.into_inner());
        estimates
            .get(component)
            .copied()
            .unwrap_or((self.total_mib / FIRST_ESTIMATE_SHARE).min(FIRST_ESTIMATE_MAX_MIB))
            .clamp(1, self.total_mib)
    }

    /// Reserves `component`'s estimate, waiting up to the queue timeout. The estimate is read
    /// afresh on every try: one learned while this request waits applies at once.
    pub async fn admit(self: &Arc<Self>, component: &str) -> Result<Lease, BudgetExhausted> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let (permit, want) = loop {
            let want = self.estimate_mib(component);
            if let Ok(p) = self.free.clone().try_acquire_many_owned(want) {
                break (p, want);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BudgetExhausted {
                    total_mib: self.total_mib,
                    needed_mib: want,
                });
            }
            tokio::time::sleep(ADMISSION_POLL).await;
        };
        Ok(Lease {
            budget: self.clone(),
            component: component.to_string(),
            held: Some(permit),
            held_mib: want,
            used_bytes: 0,
            peak_bytes: 0,
        })
    }

    /// Learns from a finished instance's peak: the first peak is the estimate, a higher one
    /// is taken at once, a lower one pulls the estimate down by a quarter of the gap, so one
    /// small request does not let a crowd of large ones in.
    fn learn(&self, component: &str, peak_mib: u32) {
        let mut estimates = self.estimates.lock().unwrap_or_else(|e| e.into_inner());
        let new = match estimates.get(component).copied() {
            Some(old) if peak_mib < old => old - (old - peak_mib) / 4,
            _ => peak_mib,
        };
        estimates.insert(component.to_string(), new.max(1));
    }
}

/// One instance's share of the budget.
#[derive(Debug)]
pub struct Lease {
    budget: Arc<MemoryBudget>,
    component: String,
    held: Option<OwnedSemaphorePermit>,
    held_mib: u32,
    used_bytes: usize,
    peak_bytes: usize,
}

impl Lease {
    /// Accounts a memory growing by `delta` bytes: `Ok` once the budget covers it (waiting
    /// up to the queue timeout), else the error that becomes the 503.
    pub async fn grow(&mut self, delta: usize) -> Result<(), BudgetExhausted> {
        let used = self.used_bytes.saturating_add(delta);
        self.peak_bytes = self.peak_bytes.max(used);
        let need_mib = mib_ceil(used);
        if need_mib > self.held_mib {
            let more = (need_mib - self.held_mib).max(GROWTH_STEP_MIB);
            let more = more.min(self.budget.total_mib.saturating_sub(self.held_mib));
            let extra = match self.budget.free.clone().try_acquire_many_owned(more) {
                Ok(p) => Some(p),
                Err(_) => tokio::time::timeout(
                    self.budget.wait,
                    self.budget.free.clone().acquire_many_owned(more),
                )
                .await
                .ok()
                .and_then(Result::ok),
            };
            let Some(extra) = extra.filter(|_| more > 0 && self.held_mib + more >= need_mib) else {
                return Err(BudgetExhausted {
                    total_mib: self.budget.total_mib,
                    needed_mib: need_mib,
                });
            };
            match &mut self.held {
                Some(held) => held.merge(extra),
                None => self.held = Some(extra),
            }
            self.held_mib += more;
        }
        self.used_bytes = used;
        Ok(())
    }
}

impl Lease {
    /// Gives back what was reserved but not used: an instance waiting on another component
    /// (a song job calling its stages) should not hold memory its stages need.
    pub fn shrink_to_used(&mut self) {
        let target = mib_ceil(self.used_bytes).max(1);
        if self.held_mib > target
            && let Some(held) = &mut self.held
        {
            drop(held.split((self.held_mib - target) as usize));
            self.held_mib = target;
        }
    }
}

/// A lease shared by the instance's memory limiter and its outbound calls.
pub type SharedLease = std::sync::Arc<tokio::sync::Mutex<Lease>>;

/// Gives back an instance's unused reservation as it starts waiting on something outside
/// itself (inference, another component). Skipped while the limiter holds the lease: the
/// instance is growing then, not waiting.
pub fn give_back_unused(lease: Option<&SharedLease>) {
    if let Some(mut lease) = lease.and_then(|l| l.try_lock().ok()) {
        lease.shrink_to_used();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        tracing::debug!(
            component = %self.component,
            peak_mib = mib_ceil(self.peak_bytes),
            held_mib = self.held_mib,
            free_mib = self.budget.free.available_permits(),
            "memory lease ends"
        );
        self.budget
            .learn(&self.component, mib_ceil(self.peak_bytes).max(1));
    }
}

fn mib_ceil(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(MIB)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admission_reserves_the_estimate_and_growth_takes_more() {
        let budget = MemoryBudget::new(400, Duration::from_millis(50));
        // Unknown yet: a quarter of the budget.
        let mut a = budget.admit("mixer").await.expect("first fits");
        assert_eq!(budget.free.available_permits(), 400 - 100);
        a.grow(90 * MIB).await.expect("within the reservation");
        assert_eq!(budget.free.available_permits(), 400 - 100);
        a.grow(70 * MIB).await.expect("more is free");
        assert_eq!(budget.free.available_permits(), 400 - 160);
        // A second request fits its estimate; growth past what is free fails after the wait.
        let mut b = budget.admit("mixer").await.expect("100 of 240 free");
        let e = b.grow(300 * MIB).await.expect_err("over the budget");
        assert_eq!(e.needed_mib, 300);
        drop(a);
        drop(b);
        assert_eq!(budget.free.available_permits(), 400);
        // The peaks taught the estimate: 160 MiB held, then 300 MiB asked for.
        assert_eq!(budget.estimate_mib("mixer"), 300);
    }

    #[tokio::test]
    async fn a_full_budget_makes_admission_wait_then_refuse() {
        let budget = MemoryBudget::new(128, Duration::from_millis(50));
        budget.learn("vocals", 100);
        let a = budget.admit("vocals").await.expect("fits");
        let refused = budget.admit("vocals").await.expect_err("full");
        assert!(
            refused.to_string().contains("--memory-budget-mib"),
            "{refused}"
        );
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(2), async {
                    loop {
                        if let Ok(l) = budget.admit("vocals").await {
                            return l;
                        }
                    }
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        assert!(waiting.await.expect("task").is_ok(), "admitted once freed");
    }

    #[tokio::test]
    async fn a_lease_gives_back_what_it_has_not_used() {
        let budget = MemoryBudget::new(400, Duration::from_millis(50));
        let mut a = budget.admit("songs").await.expect("fits");
        a.grow(3 * MIB).await.expect("small");
        assert_eq!(budget.free.available_permits(), 300);
        a.shrink_to_used();
        assert_eq!(budget.free.available_permits(), 397);
        a.grow(20 * MIB).await.expect("grows again");
        assert_eq!(budget.free.available_permits(), 400 - 23);
    }

    #[test]
    fn small_peaks_lower_the_estimate_slowly() {
        let budget = MemoryBudget::new(4096, Duration::ZERO);
        budget.learn("mixer", 800);
        assert_eq!(budget.estimate_mib("mixer"), 800);
        budget.learn("mixer", 8);
        assert_eq!(budget.estimate_mib("mixer"), 602);
    }
}
