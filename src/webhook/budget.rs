//! The memory budget for webhook bodies that are being read and are not verified yet.
//!
//! Anyone can send a 4 MB body with a made-up signature, and the signature can only be
//! checked once the last byte arrived; without a cap, a hundred such bodies held open
//! cost 400 MB. Each request reserves its bytes here before reading them and releases
//! them once the signature was checked (or the request ended); a request that does not
//! fit is refused with 503 and `Retry-After` (Meta retries).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The shared budget.
#[derive(Debug)]
pub struct Budget {
    max: u64,
    used: AtomicU64,
}

/// Bytes held by one request; returned to the budget when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Budget {
    /// Creates a budget of `max` bytes.
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: AtomicU64::new(0),
        })
    }

    /// Returns the bytes currently reserved.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Starts an empty reservation.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    fn take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.max)
            })
            .is_ok()
    }
}

impl Reservation {
    /// Grows the reservation to at least `total` bytes; false (and unchanged) when the
    /// budget cannot hold them.
    pub fn grow_to(&mut self, total: u64) -> bool {
        if total <= self.bytes {
            return true;
        }
        if !self.budget.take(total - self.bytes) {
            return false;
        }
        self.bytes = total;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_up_to_the_cap_and_releases_on_drop() {
        let b = Budget::new(100);
        let mut one = b.reservation();
        assert!(one.grow_to(60));
        let mut two = b.reservation();
        assert!(!two.grow_to(50));
        assert!(two.grow_to(40));
        assert!(!one.grow_to(61));
        assert_eq!(b.used(), 100);
        drop(one);
        assert_eq!(b.used(), 40);
        drop(two);
        assert_eq!(b.used(), 0);
    }
}
