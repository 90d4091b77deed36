// Shared pieces of the cotrait benchmarks: exact global-allocation counters (the benchmark
// executables replace the global operator new/delete), frame probes over cotrait::counting, the
// interfaces whose implementations live in impls.cpp, and a driver coroutine that runs
// Google Benchmark's loop.
//
// Why the implementations sit in another translation unit: a virtual call whose target the
// compiler can see may be devirtualized and inlined, which would turn "sync virtual" into "sync
// inline" and flatter every ratio. impls.cpp is compiled separately, without LTO, and the objects
// are handed out through factories returning base references, so each call through an interface
// is a real indirect call (GCC's speculative devirtualization is off for the bench targets too).
#pragma once

#include <cotrait/cotrait.hpp>
#include <cotrait/counting.hpp>
#include <cotrait/interface.hpp>

#include "reference_task.hpp"

#include <benchmark/benchmark.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory_resource>
#include <utility>

namespace bench {

// ---- Global allocation counters --------------------------------------------------------------

/// Per-thread counts of calls to the replaced global operator new/delete (alloc_counters.cpp).
struct alloc_counts {
    std::uint64_t allocs;
    std::uint64_t frees;
    std::uint64_t bytes;
    // Live bytes and their peak, only maintained while live tracking is on (it costs a
    // malloc_usable_size per call): used by the memory family, single-threaded.
    std::int64_t live;
    std::int64_t peak;
};
extern constinit thread_local alloc_counts tls_counts;
/// Turns on or off a process-wide count of global allocations (all threads), read with
/// process_allocations(); off by default so that single-threaded rows pay no shared increment.
void count_process_allocations(bool on) noexcept;
std::uint64_t process_allocations() noexcept;
/// Turns live-byte tracking on or off (process-wide; set it while a single thread allocates).
void track_live_bytes(bool on) noexcept;

/// Which malloc serves this process ("glibc", or the LD_PRELOADed "mimalloc", "jemalloc",
/// "tcmalloc"), found by looking up each allocator's own entry points.
const char* malloc_in_use() noexcept;

/// Adds allocs/call, frees/call and bytes/call counters for the global allocations made by the
/// calling thread between `before` and now, averaged over the benchmark's iterations.
void set_alloc_counters(benchmark::State& st, const alloc_counts& before);

// ---- Counting what frames ask for
// ----------------------------------------------------------------

/// Forwards to an upstream resource and counts allocations and bytes exactly (the library's own,
/// not thread-safe counting resource).
using counting_resource = cotrait::counting_resource<>;

// ---- Interfaces (implementations in impls.cpp) -----------------------------------------------

/// The floor: a plain virtual call.
struct sync_iface {
    virtual ~sync_iface();
    virtual int compute(int x) = 0;
};

/// The async interface: what an `#[async_trait]` trait object is in Rust.
struct async_iface {
    virtual ~async_iface();
    virtual cotrait::boxed_task<int> compute(int x) = 0;
};

/// The reference task (reference_task.hpp) through a virtual method: the floor for boxed_task.
struct ref_iface {
    virtual ~ref_iface();
    virtual ref_task<int> compute(int x) = 0;
};

/// Nested async calls: `call(depth, x)` awaits `call(depth - 1, x)` through the interface.
struct async_chain {
    virtual ~async_chain();
    virtual cotrait::boxed_task<int> call(int depth, int x) = 0;
};

/// The same interface declared with the library's macro. Two implementations: `boxed_macro_impl`
/// derives from it and overrides `compute` with a boxed_task coroutine (what hand-written code
/// does, through the generated interface), `adapter_impl` is `cotrait::adapter` wrapping the
/// static implementation `static_calc` (one implementation, both dispatch paths).
COTRAIT_INTERFACE(macro_iface, (compute, (int), ((int)x)));

/// A static implementation of macro_iface whose frame allocator is chosen at run time.
struct static_calc {
    cotrait::static_task<int> compute(int x) { co_return x + 1; }
};

macro_iface& boxed_macro_impl();
macro_iface& adapter_impl();

sync_iface& sync_impl();
async_iface& async_impl();
ref_iface& ref_impl();
async_chain& chain_impl();
/// An implementation whose `compute` holds `state_bytes` bytes across a suspension point
/// (0, 16, 64, 256, 1024, 4096 and a few mixed-size ones for the memory family).
async_iface& stateful_impl(std::size_t state_bytes);

// ---- An I/O-bound call -------------------------------------------------------------------------

/// The smallest real event loop: one eventfd watched by epoll. A coroutine that awaits
/// `roundtrip()` writes to the eventfd and suspends; `run()` waits in epoll_wait, reads the
/// eventfd and resumes it. So every awaited round trip costs three system calls and a real wake-up
/// through the kernel, like a completion from a socket would.
class event_loop {
public:
    event_loop();
    ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    struct roundtrip_awaiter {
        event_loop* loop;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h);
        void await_resume() const noexcept {}
    };
    roundtrip_awaiter roundtrip() noexcept { return {this}; }

    /// The same round trip without coroutines: write, epoll_wait, read.
    void roundtrip_sync();

    /// Resumes waiting coroutines until none waits.
    void run();

private:
    void signal();
    void wait_and_drain();
    int efd_ = -1;
    int epfd_ = -1;
    std::coroutine_handle<> waiting_{};
};

struct sync_io_iface {
    virtual ~sync_io_iface();
    virtual int call(event_loop& loop, int x) = 0;
};
struct async_io_iface {
    virtual ~async_io_iface();
    virtual cotrait::boxed_task<int> call(event_loop& loop, int x) = 0;
};
sync_io_iface& sync_io_impl();
async_io_iface& async_io_impl();

/// An eagerly started, detached root coroutine for code that is driven by an event loop rather
/// than by sync_wait (which would block the only thread).
class root_task {
public:
    struct promise_type {
        root_task get_return_object() noexcept {
            return root_task(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_always final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }
    };
    root_task(root_task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    root_task(const root_task&) = delete;
    root_task& operator=(const root_task&) = delete;
    root_task& operator=(root_task&&) = delete;
    ~root_task() {
        if (h_) {
            h_.destroy();
        }
    }
    [[nodiscard]] bool done() const noexcept { return h_.done(); }

private:
    explicit root_task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

/// Awaits `t` from a root_task.
template <class Task>
root_task start_root(Task t) {
    co_await std::move(t);
}

/// An inline, non-virtual function: the compiler sees everything.
inline int compute_inline(int x) noexcept {
    return x + 1;
}

/// The static (non-virtual) path: the same body as async_impl()'s, visible to the compiler,
/// with the frame allocator a template argument.
struct static_impl {
    template <class Alloc>
    cotrait::static_task<int, Alloc> compute(int x) {
        co_return x + 1;
    }
};

// ---- Driving the benchmark loop from a coroutine ---------------------------------------------

/// Runs `for (auto _ : st) co_await make(x)`, after one warm-up call so that one-time costs (a
/// thread's first frame) do not land in the per-call counts, and sets the allocation counters.
template <class Make>
cotrait::static_task<void, cotrait::recycling_allocator<>> drive(benchmark::State& st, Make make) {
    int x = 0;
    benchmark::DoNotOptimize(co_await make(x));
    const alloc_counts before = tls_counts;
    for (auto _ : st) {
        benchmark::DoNotOptimize(x);
        int r = co_await make(x);
        benchmark::DoNotOptimize(r);
    }
    set_alloc_counters(st, before);
}

/// Like drive, but awaits `impl.compute<Alloc>(x)` itself: Clang never elides the frame of a
/// task made through a callable held as a coroutine parameter (drive's `make`), and can elide one
/// awaited directly, which is how applications await a static call.
template <class Alloc>
cotrait::static_task<void, cotrait::recycling_allocator<>> drive_static(benchmark::State& st,
                                                                        static_impl& impl) {
    int x = 0;
    benchmark::DoNotOptimize(co_await impl.compute<Alloc>(x));
    const alloc_counts before = tls_counts;
    for (auto _ : st) {
        benchmark::DoNotOptimize(x);
        int r = co_await impl.compute<Alloc>(x);
        benchmark::DoNotOptimize(r);
    }
    set_alloc_counters(st, before);
}

/// The reference task awaited directly (its body visible): the floor for static_task.
inline ref_task<int> ref_compute(int x) {
    co_return x + 1;
}

/// Like drive_static, for the reference task.
inline cotrait::static_task<void, cotrait::recycling_allocator<>> drive_ref(benchmark::State& st) {
    int x = 0;
    benchmark::DoNotOptimize(co_await ref_compute(x));
    const alloc_counts before = tls_counts;
    for (auto _ : st) {
        benchmark::DoNotOptimize(x);
        int r = co_await ref_compute(x);
        benchmark::DoNotOptimize(r);
    }
    set_alloc_counters(st, before);
}

/// What the frames of one call cost when they come through a memory resource.
struct frame_probe {
    std::uint64_t frames; // frames created by one call
    std::uint64_t bytes;  // bytes requested: coroutine frames + the 16-byte allocation records
};

/// Runs one call of `make` with every frame it creates (nested ones too) taken from a counting
/// resource over new/delete. Only frames that choose their allocator at run time are seen; for
/// static_task<T, A> with a fixed A use probe_global_bytes.
template <class Make>
frame_probe probe_frames(Make make) {
    counting_resource counter(cotrait::global_new_delete_resource());
    {
        // Everything runs synchronously on this thread, so the scope never spans a resumption
        // elsewhere.
        cotrait::frame_allocator_scope scope(counter);
        benchmark::DoNotOptimize(cotrait::sync_wait(make(1)));
    }
    return {counter.allocations(), counter.stats().bytes_allocated};
}

/// Global operator-new bytes of one call of `make` (after a warm-up call, so that sync_wait's
/// own frame comes from the recycling cache).
template <class Make>
frame_probe probe_global_bytes(Make make) {
    benchmark::DoNotOptimize(cotrait::sync_wait(make(1)));
    const alloc_counts before = tls_counts;
    benchmark::DoNotOptimize(cotrait::sync_wait(make(1)));
    return {tls_counts.allocs - before.allocs, tls_counts.bytes - before.bytes};
}

} // namespace bench
