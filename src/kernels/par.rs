//! The one parallelism policy of the kernels, and the thread team that runs decode-sized
//! work.
//!
//! Every kernel cuts its work into tasks whose boundaries do not depend on the thread
//! count (so results are bit-identical on any number of threads) and hands them to
//! [`for_each_task`], which decides how to run them:
//! - serially, when the pool has one thread, there is one task, or the work is smaller
//!   than [`PARALLEL_MIN_WORK`] (waking a thread costs more than it saves);
//! - on the **team**, when it is free: `threads - 1` long-lived workers that spin on an
//!   epoch counter between regions and park only after [`SPIN`] of idleness. A decode step
//!   of SmolLM2 runs ~150 regions in ~5 ms, ~35 µs apart: rayon's workers fall back to
//!   `sched_yield` and futex sleeps in those gaps (a fifth of a decode profile on 2
//!   threads), while a spinning worker starts a region in well under a microsecond.
//!   A worker joins a region only while its gate is open: once the caller has taken the
//!   last task it closes the gate and waits only for the workers that joined. On a
//!   machine with more runnable threads than cores a worker can be off its core for a
//!   whole scheduler slice (milliseconds); the caller then runs the region's tasks itself
//!   instead of waiting for it, and every wait longer than [`YIELD_AFTER`] gives the core
//!   away between checks;
//! - on rayon otherwise (another caller holds the team, e.g. two sessions decoding at
//!   once on different threads).
//!
//! The thread count is rayon's (`rayon::current_num_threads()`, so `ThreadPool::install`
//! and `RAYON_NUM_THREADS` govern both).

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// Below this much work (multiply-adds, or bytes for memory-bound kernels) a region runs
/// on the calling thread.
pub const PARALLEL_MIN_WORK: usize = 64 * 1024;

/// How long an idle team worker spins before it parks: longer than the gaps between the
/// regions of one forward pass and between decode steps (~1–10 ms), short enough that a
/// program that stops decoding gets its cores back at once.
pub const SPIN: Duration = Duration::from_millis(20);

/// How long a wait spins before it yields the core between checks (`sched_yield`, which
/// returns at once when nothing else is runnable): longer than a region's usual
/// imbalance, far shorter than a scheduler slice.
pub const YIELD_AFTER: Duration = Duration::from_micros(50);

/// The team's threads beyond the caller, at most.
const MAX_WORKERS: usize = 63;

/// `gate`'s layout: the region counter above `GATE_SHIFT`, the closed flag, the count of
/// workers that joined.
const GATE_SHIFT: u32 = 16;
const CLOSED: usize = 1 << 15;
const JOINED: usize = CLOSED - 1;

/// Runs `task(i)` for every `i` in `0..n`, each exactly once, in parallel when `work` (the
/// region's multiply-adds or bytes) makes it worth it. Returns when all have run.
pub fn for_each_task(n: usize, work: usize, task: impl Fn(usize) + Sync) {
    let threads = rayon::current_num_threads();
    if n <= 1 || threads == 1 || work < PARALLEL_MIN_WORK {
        (0..n).for_each(task);
        return;
    }
    let team = team();
    let helpers = (threads - 1).min(n - 1).min(MAX_WORKERS);
    if team
        .busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        // Frees the team however `run` ends (a task may panic).
        struct Release(&'static AtomicBool);
        impl Drop for Release {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _release = Release(&team.busy);
        team.run(helpers, n, &task);
    } else {
        let task = &task;
        (0..n).into_par_iter().for_each(task);
    }
}

/// The share of the threads' time that `n` equal tasks keep busy, spread over them as
/// evenly as whole tasks allow: 3 tasks on 2 threads take two rounds, 0.75.
pub fn busy_share(n: usize) -> f32 {
    let threads = rayon::current_num_threads();
    if n == 0 {
        return 1.0;
    }
    n as f32 / (n.div_ceil(threads) * threads) as f32
}

/// Runs `task(i, chunk_i)` over the `chunk`-long pieces of `buf` (the last may be
/// shorter), as `for_each_task` runs tasks: the pieces are disjoint, so each task owns
/// its own.
pub fn for_each_chunk_mut<T: Send>(
    buf: &mut [T],
    chunk: usize,
    work: usize,
    task: impl Fn(usize, &mut [T]) + Sync,
) {
    assert!(chunk > 0, "for_each_chunk_mut: empty chunks");
    let (len, base) = (buf.len(), SendPtr(buf.as_mut_ptr()));
    for_each_task(len.div_ceil(chunk), work, |i| {
        let start = i * chunk;
        let end = (start + chunk).min(len);
        // SAFETY: `start..end` lies inside `buf`, which is borrowed mutably for this
        // call, and each index `i` runs exactly once, so no two tasks share an element.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
        task(i, piece)
    });
}

/// A pointer to a buffer whose disjoint parts tasks on several threads write.
struct SendPtr<T>(*mut T);
// SAFETY: only used to hand disjoint parts of one buffer to tasks (`for_each_chunk_mut`).
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

/// One region's job, written by the caller that holds the team before it publishes the
/// epoch, read by the participating workers after they see it.
struct Job {
    /// The tasks' function, borrowed from the caller's stack for the region's length.
    task: *const (dyn Fn(usize) + Sync),
    n: usize,
}

struct Team {
    /// Held by the caller that runs a region on the team.
    busy: AtomicBool,
    /// `(region counter << 8) | participants`: workers `0 .. participants` run the region.
    epoch: AtomicUsize,
    /// Next task index to take.
    next: AtomicUsize,
    /// `(region counter << GATE_SHIFT) | CLOSED? | joined`: the workers that joined the
    /// current region; none joins once the caller has closed it.
    gate: AtomicUsize,
    /// Joined workers that have finished the current region.
    done: AtomicUsize,
    /// A task panicked on a worker.
    panicked: AtomicBool,
    job: UnsafeCell<Job>,
    /// Worker `i`'s thread, once spawned (the first `spawned` are).
    threads: [OnceLock<Thread>; MAX_WORKERS],
    /// Worker `i` is parked, or about to park.
    parked: [AtomicBool; MAX_WORKERS],
    spawned: AtomicUsize,
    /// Held while spawning workers.
    spawning: Mutex<()>,
}

// SAFETY: `job` is written only by the caller holding `busy`, before it publishes the epoch
// (Release), and read only by workers that joined that region (through `gate`, which the
// caller reset before the epoch) and only before they increment `done`; the caller closes
// the gate, then waits until `done` equals the workers that joined before it returns or
// writes `job` again. The task it points to is `Sync`.
unsafe impl Sync for Team {}
// SAFETY: as above; the raw task pointer is only dereferenced under those rules.
unsafe impl Send for Team {}

fn team() -> &'static Team {
    static TEAM: OnceLock<Team> = OnceLock::new();
    TEAM.get_or_init(|| Team {
        busy: AtomicBool::new(false),
        epoch: AtomicUsize::new(0),
        next: AtomicUsize::new(0),
        gate: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        job: UnsafeCell::new(Job {
            task: &|_| {},
            n: 0,
        }),
        threads: std::array::from_fn(|_| OnceLock::new()),
        parked: std::array::from_fn(|_| AtomicBool::new(false)),
        spawned: AtomicUsize::new(0),
        spawning: Mutex::new(()),
    })
}

impl Team {
    /// Runs one region with `helpers` workers and the calling thread (which holds `busy`).
    fn run(&'static self, helpers: usize, n: usize, task: &(dyn Fn(usize) + Sync)) {
        self.spawn_up_to(helpers);
        let helpers = helpers.min(self.spawned.load(Ordering::Acquire));
        // SAFETY: we hold `busy` and the previous region's workers are done (its gate is
        // closed and `done` reached its joined count), so nobody reads `job` now. The pointer is
        // only used until this region's participants finish, before `run` returns.
        unsafe {
            let task: *const (dyn Fn(usize) + Sync + '_) = task;
            *self.job.get() = Job {
                task: std::mem::transmute::<
                    *const (dyn Fn(usize) + Sync + '_),
                    *const (dyn Fn(usize) + Sync + 'static),
                >(task),
                n,
            };
        }
        self.next.store(0, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        let region = (self.epoch.load(Ordering::Relaxed) >> 8) + 1;
        self.gate.store(region << GATE_SHIFT, Ordering::Relaxed);
        self.epoch.store((region << 8) | helpers, Ordering::SeqCst);
        for (thread, parked) in self.threads.iter().zip(&self.parked).take(helpers) {
            if parked.load(Ordering::SeqCst) {
                thread.get().expect("spawned").unpark();
            }
        }
        let mine = catch_unwind(AssertUnwindSafe(|| self.take_tasks(task, n)));
        // Every task is taken: a worker that has not joined yet has nothing to do.
        let joined = self.gate.fetch_or(CLOSED, Ordering::AcqRel) & JOINED;
        let since = Instant::now();
        let mut spins = 0u32;
        while self.done.load(Ordering::Acquire) != joined {
            pause(&mut spins, since);
        }
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if self.panicked.swap(false, Ordering::Relaxed) {
            panic!("a kernel task panicked on a team worker");
        }
    }

    fn take_tasks(&self, task: &(dyn Fn(usize) + Sync), n: usize) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return;
            }
            task(i);
        }
    }

    /// Starts workers until there are `want` (or the OS refuses more threads).
    fn spawn_up_to(&'static self, want: usize) {
        if self.spawned.load(Ordering::Acquire) >= want {
            return;
        }
        let _lock = self.spawning.lock().unwrap_or_else(|e| e.into_inner());
        let mut id = self.spawned.load(Ordering::Acquire);
        while id < want {
            // The epoch as of now, before the region that needs this worker is published:
            // read inside the thread, it could already be that region's and be skipped.
            let seen = self.epoch.load(Ordering::Acquire);
            let spawned = std::thread::Builder::new()
                .name(format!("ingot-team-{id}"))
                .spawn(move || self.work(id, seen));
            match spawned {
                Ok(h) => {
                    let _ = self.threads[id].set(h.thread().clone());
                    id += 1;
                }
                Err(_) => break,
            }
        }
        self.spawned.store(id, Ordering::Release);
    }

    /// A worker's life: wait for a region it takes part in, take tasks, report, repeat.
    fn work(&self, id: usize, mut seen: usize) {
        loop {
            let e = self.wait_for_new_epoch(seen, &self.parked[id]);
            seen = e;
            if id >= e & 0xff || !self.join(e >> 8) {
                continue;
            }
            // SAFETY: we are a participant of the region just published, so `job` is
            // written and stays valid until we increment `done` (see `Team`'s Sync).
            let (task, n) = unsafe {
                let job = &*self.job.get();
                (&*job.task, job.n)
            };
            if catch_unwind(AssertUnwindSafe(|| self.take_tasks(task, n))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// Joins region `region` if its gate is still open.
    fn join(&self, region: usize) -> bool {
        let open = region << GATE_SHIFT;
        let mut g = self.gate.load(Ordering::Acquire);
        while g & !JOINED == open {
            match self
                .gate
                .compare_exchange_weak(g, g + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => g = now,
            }
        }
        false
    }

    /// Spins until the epoch differs from `seen`, parking after `SPIN` without one.
    fn wait_for_new_epoch(&self, seen: usize, parked: &AtomicBool) -> usize {
        let mut since = Instant::now();
        let mut spins = 0u32;
        loop {
            let e = self.epoch.load(Ordering::Acquire);
            if e != seen {
                return e;
            }
            pause(&mut spins, since);
            if spins.is_multiple_of(4096) && since.elapsed() > SPIN {
                // Announce the park, then look once more: the publisher stores the epoch
                // before it reads the flag, so one of us sees the other.
                parked.store(true, Ordering::SeqCst);
                if self.epoch.load(Ordering::SeqCst) == seen {
                    std::thread::park();
                }
                parked.store(false, Ordering::SeqCst);
                since = Instant::now();
            }
        }
    }
}

/// One step of a wait that began at `since`: a spin-loop hint, and past [`YIELD_AFTER`]
/// a `sched_yield` every 16 steps, so that a thread of ours waiting for another gives
/// its core to whoever the scheduler has waiting for it (perhaps the thread we wait for).
fn pause(spins: &mut u32, since: Instant) {
    std::hint::spin_loop();
    *spins = spins.wrapping_add(1);
    if spins.is_multiple_of(16) && since.elapsed() > YIELD_AFTER {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A rayon pool of `threads`, whose `install` sets the thread count the team uses.
    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn every_task_runs_once_on_any_thread_count() {
        for threads in [1, 2, 3, 5] {
            let pool = pool(threads);
            pool.install(|| {
                for n in [0, 1, 2, 7, 64, 1000] {
                    let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                    for _ in 0..50 {
                        for_each_task(n, usize::MAX, |i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 50));
                }
            });
        }
    }

    #[test]
    fn a_late_worker_skips_a_closed_region() {
        // After SPIN idle the worker parks; the caller wakes it and usually takes both
        // tiny tasks before it runs, closes the gate and goes on to the next region
        // while the worker arrives: it must neither run a task twice nor read the next
        // region's job as the old one's.
        let pool = pool(2);
        pool.install(|| {
            for _ in 0..8 {
                std::thread::sleep(SPIN + Duration::from_millis(5));
                for n in [2usize, 3, 2, 64] {
                    let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                    for_each_task(n, usize::MAX, |i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                }
            }
        });
    }

    #[test]
    fn chunks_are_disjoint_and_cover_the_buffer() {
        let pool = pool(2);
        pool.install(|| {
            let mut v = vec![0usize; 1003];
            for_each_chunk_mut(&mut v, 64, usize::MAX, |i, c| {
                assert!(c.len() == 64 || (i == 15 && c.len() == 43));
                c.iter_mut().enumerate().for_each(|(j, x)| *x += i * 64 + j);
            });
            assert!(v.iter().enumerate().all(|(i, &x)| x == i));
        });
    }

    #[test]
    fn callers_on_several_threads_share_the_team_or_fall_back() {
        // Four threads issue regions at once: one holds the team, the others use rayon;
        // every task still runs exactly once.
        std::thread::scope(|s| {
            for t in 0..4u64 {
                s.spawn(move || {
                    let sum = AtomicU64::new(0);
                    for _ in 0..200 {
                        for_each_task(97, usize::MAX, |i| {
                            sum.fetch_add(i as u64 + t, Ordering::Relaxed);
                        });
                    }
                    assert_eq!(sum.load(Ordering::Relaxed), 200 * (96 * 97 / 2 + 97 * t));
                });
            }
        });
    }

    #[test]
    fn a_panicking_task_reaches_the_caller() {
        let pool = pool(2);
        pool.install(|| {
            for _ in 0..20 {
                let r = catch_unwind(|| {
                    for_each_task(8, usize::MAX, |i| assert!(i != 5, "task 5"));
                });
                assert!(r.is_err());
            }
            // The team still works afterwards.
            let sum = AtomicU64::new(0);
            for_each_task(10, usize::MAX, |i| {
                sum.fetch_add(i as u64, Ordering::Relaxed);
            });
            assert_eq!(sum.load(Ordering::Relaxed), 45);
        });
    }
}
