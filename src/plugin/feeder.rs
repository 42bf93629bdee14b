//! The audio thread's side of the SPSC ring: downmixes each block and queues it for the analysis
//! worker. Nothing here allocates, locks, logs or makes a system call, except the offline-render
//! wait (see [`Feeder::push`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rtrb::Producer;

use super::shared::Shared;

/// Audio-thread side of the ring: downmixes each block and queues it for the worker.
pub struct Feeder {
    producer: Producer<f32>,
    shared: Arc<Shared>,
    /// Host is bouncing offline: the worker analyses every block before process() returns, so
    /// the automation lands where a real-time run would put it, minus the compute time.
    offline: Option<std::thread::Thread>,
    /// Samples queued since activation.
    pushed: u64,
}

impl Feeder {
    /// `offline`: the worker's thread when the host renders offline (see [`Feeder::push`]).
    pub fn new(
        producer: Producer<f32>,
        shared: Arc<Shared>,
        offline: Option<std::thread::Thread>,
    ) -> Feeder {
        Feeder {
            producer,
            shared,
            offline,
            pushed: 0,
        }
    }

    /// Queues the mean of `planes` (non-finite samples become 0). If the ring is full the block is
    /// dropped and counted. Real time: nothing else, never waits. Offline (bounce): wakes the worker
    /// and waits (up to 2 s) until it has analysed and published this block.
    #[inline]
    pub fn push<S: AsRef<[f32]>>(&mut self, planes: &[S]) {
        let frames = planes.iter().map(|p| p.as_ref().len()).min().unwrap_or(0);
        if frames == 0 {
            return;
        }
        let Ok(mut chunk) = self.producer.write_chunk_uninit(frames) else {
            self.shared
                .samples_lost
                .fetch_add(frames as u64, Ordering::Relaxed);
            return;
        };
        let scale = 1.0 / planes.len() as f32;
        let (a, b) = chunk.as_mut_slices();
        for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
            let mut sum = 0.0f32;
            for p in planes {
                // i < frames <= every plane's length. Non-finite samples count as 0 (the contract).
                let x = p.as_ref()[i];
                if x.is_finite() {
                    sum += x;
                }
            }
            slot.write(sum * scale);
        }
        // SAFETY: every slot of both slices was written above.
        unsafe { chunk.commit_all() };
        self.pushed += frames as u64;
        if self.offline.is_some() {
            self.wait_for_worker();
        }
    }

    #[cold]
    fn wait_for_worker(&mut self) {
        // Offline rendering only: the host is not real time, waiting is what a bounce wants.
        let Some(worker) = &self.offline else {
            return;
        };
        worker.unpark();
        let start = std::time::Instant::now();
        while self.shared.analysed_samples.load(Ordering::Acquire) < self.pushed
            && self.shared.running.load(Ordering::Acquire)
            && start.elapsed() < std::time::Duration::from_secs(2)
        {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeder_downmixes_and_counts_overflow() {
        let sh = Arc::new(Shared::default());
        let (p, mut c) = rtrb::RingBuffer::new(4);
        let mut f = Feeder::new(p, sh.clone(), None);
        f.push(&[[1.0f32, f32::NAN, 0.5], [0.0, 0.0, 0.5]]);
        assert_eq!(c.pop(), Ok(0.5));
        assert_eq!(c.pop(), Ok(0.0));
        assert_eq!(c.pop(), Ok(0.5));
        f.push(&[[0.0f32; 8]]);
        assert_eq!(sh.samples_lost.load(Ordering::Relaxed), 8);
    }
}
