//! cotrait_rust_peers --time <row> <calls> <reps> | --list
//!
//! The Rust side of cotrait's peers table (bench/peers.py): the same loop as cotrait_probe --time,
//! one call awaited per iteration inside one outer future, polled once by a no-op waker (every call
//! completes synchronously), least time per call over `reps` runs. Written for rustc 1.63
//! (Debian 12): no `std::hint::black_box` and no native `async fn` in traits, so the static row
//! awaits an inherent `async fn`, which is what native async fn in traits compiles to when the
//! implementation is known, and opacity comes from objects chosen at run time.
use async_trait::async_trait;
use std::future::Future;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Instant;

trait Plain {
    fn compute(&self, x: i32) -> i32;
}

#[async_trait]
trait Compute: Send + Sync {
    async fn compute(&self, x: i32) -> i32;
    async fn call(&self, depth: i32, x: i32) -> i32;
}

struct Add(i32);
struct Sub(i32);

impl Plain for Add {
    fn compute(&self, x: i32) -> i32 {
        x.wrapping_add(self.0)
    }
}
impl Plain for Sub {
    fn compute(&self, x: i32) -> i32 {
        x.wrapping_sub(self.0)
    }
}

#[async_trait]
impl Compute for Add {
    async fn compute(&self, x: i32) -> i32 {
        x.wrapping_add(self.0)
    }
    async fn call(&self, depth: i32, x: i32) -> i32 {
        if depth == 0 {
            return x.wrapping_add(self.0);
        }
        self.call(depth - 1, x).await
    }
}
#[async_trait]
impl Compute for Sub {
    async fn compute(&self, x: i32) -> i32 {
        x.wrapping_sub(self.0)
    }
    async fn call(&self, depth: i32, x: i32) -> i32 {
        if depth == 0 {
            return x.wrapping_sub(self.0);
        }
        self.call(depth - 1, x).await
    }
}

impl Add {
    /// The static path: the implementation is known, so the future is a value inside the caller's
    /// state machine (no Box, no dynamic poll).
    async fn compute_static(&self, x: i32) -> i32 {
        x.wrapping_add(self.0)
    }
}

fn noop_raw_waker() -> RawWaker {
    fn clone(_: *const ()) -> RawWaker {
        noop_raw_waker()
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    RawWaker::new(std::ptr::null(), &VTABLE)
}

/// Polls once: every future here completes without suspending; anything else is a bug.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = unsafe { Waker::from_raw(noop_raw_waker()) };
    let mut cx = Context::from_waker(&waker);
    let mut f = Box::pin(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a peer call suspended"),
    }
}

struct Objects {
    plain: Box<dyn Plain>,
    dynamic: Box<dyn Compute>,
    known: Add,
    free_box: fn(Box<[u64; 3]>) -> u64,
}

fn free_box_a(b: Box<[u64; 3]>) -> u64 {
    b[0]
}
fn free_box_b(b: Box<[u64; 3]>) -> u64 {
    b[1]
}

fn run(row: &str, o: &Objects, n: i32) -> Option<i64> {
    let mut sum: i64 = 0;
    match row {
        "plain_dyn" => {
            for i in 0..n {
                sum += o.plain.compute(i) as i64;
            }
        }
        "async_trait_dyn" => block_on(async {
            for i in 0..n {
                sum += o.dynamic.compute(i).await as i64;
            }
        }),
        "async_trait_nested8" => block_on(async {
            for i in 0..n {
                sum += o.dynamic.call(7, i).await as i64;
            }
        }),
        "native_static" => block_on(async {
            for i in 0..n {
                sum += o.known.compute_static(i).await as i64;
            }
        }),
        "box24" => {
            for i in 0..n {
                sum += (o.free_box)(Box::new([i as u64; 3])) as i64;
            }
        }
        _ => return None,
    }
    Some(sum)
}

const ROWS: [&str; 5] = ["plain_dyn", "async_trait_dyn", "async_trait_nested8", "native_static", "box24"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 2 && args[1] == "--list" {
        for r in ROWS {
            println!("{}", r);
        }
        return;
    }
    if args.len() != 5 || args[1] != "--time" {
        eprintln!("usage: {} --list | --time <row> <calls> <reps>", args[0]);
        std::process::exit(2);
    }
    let calls: i32 = args[3].parse().unwrap_or(0);
    let reps: i32 = args[4].parse().unwrap_or(0);
    // The concrete types depend on the command line, so no call can be devirtualized.
    let step = (args.len() as i32) - 4; // 1, unknown to the optimizer
    let odd = args[0].len() % 2 == 1;
    let o = Objects {
        plain: if odd { Box::new(Add(step)) } else { Box::new(Sub(-step)) },
        dynamic: if odd { Box::new(Add(step)) } else { Box::new(Sub(-step)) },
        known: Add(step),
        free_box: if odd { free_box_a } else { free_box_b },
    };
    if calls <= 0 || reps <= 0 || run(&args[2], &o, 1).is_none() {
        eprintln!("{}: unknown row '{}' or bad counts", args[0], args[2]);
        std::process::exit(2);
    }
    let mut checksum = run(&args[2], &o, calls).unwrap(); // warm-up
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t0 = Instant::now();
        checksum = checksum.wrapping_add(run(&args[2], &o, calls).unwrap());
        let ns = t0.elapsed().as_nanos() as f64 / calls as f64;
        if ns < best {
            best = ns;
        }
    }
    println!(
        "{{\"probe\": \"{}\", \"calls\": {}, \"reps\": {}, \"ns_per_call\": {:.4}, \"checksum\": {}}}",
        args[2], calls, reps, best, checksum
    );
}
