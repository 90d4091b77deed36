// The allocation benchmark suite: what one async call through cotrait costs, by dispatch and by
// frame allocator, and how that grows with captured state, call depth, threads, mixed workloads,
// system allocators and real I/O. See docs/benchmarks.md for how to read the results.
//
// Benchmark names are <family>/<dispatch>/<allocator>[/<parameter>]; bench/report.py reads them.
// Every row carries exact per-call counters: allocs/call, frees/call and bytes/call of the global
// operator new (replaced in this executable, support/alloc_counters.cpp), and frame_bytes and
// frames/call measured once per row with a counting resource.
#include "support/bench_support.hpp"

#include <cotrait/arena.hpp>
#include <cotrait/inline_resource.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_all.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using benchmark::State;
using cotrait::boxed_task;

// ---- Allocators ---------------------------------------------------------------------------------

// A frame allocator choice for code that picks it at run time (boxed_task, static_task with the
// default policy): nullptr means "no scope", i.e. the library default (recycling).
struct runtime_alloc {
    const char* name;
    std::function<std::pmr::memory_resource*()> resource;
};

std::pmr::memory_resource* arena() {
    // One per thread (not synchronized). Calls free their frames in LIFO order, so the arena
    // reuses its first block forever.
    thread_local cotrait::arena_resource arena;
    return &arena;
}

std::pmr::memory_resource* inline_buffer() {
    // A fixed 1 KiB buffer; a frame that does not fit throws (frame_overflow). Used by the
    // matrix only: nested or parked frames would not fit.
    thread_local cotrait::inline_resource<1024> storage;
    return &storage;
}

std::pmr::memory_resource* pool_resource() {
    // One pool per thread, as such a pool is not thread-safe; it lives as long as the thread.
    thread_local std::pmr::unsynchronized_pool_resource pool;
    return &pool;
}

const std::vector<runtime_alloc>& runtime_allocs() {
    static const std::vector<runtime_alloc> allocs = {
        {"new_delete", [] { return cotrait::global_new_delete_resource(); }},
        {"recycling", []() -> std::pmr::memory_resource* { return nullptr; }},
        {"arena", [] { return arena(); }},
        {"pmr_pool", [] { return pool_resource(); }},
        {"inline_resource", [] { return inline_buffer(); }},
    };
    return allocs;
}

// The allocators a family other than the matrix uses.
bool one_of(const runtime_alloc& a, std::initializer_list<std::string_view> names) {
    for (std::string_view n : names) {
        if (n == a.name) {
            return true;
        }
    }
    return false;
}

// Runs `body` with frames from `r` (nullptr: the default). Every coroutine here runs
// synchronously on this thread, so the scope never outlives a resumption elsewhere.
template <class Body>
void with_resource(std::pmr::memory_resource* r, Body body) {
    if (r == nullptr) {
        body();
    } else {
        cotrait::frame_allocator_scope scope(*r);
        body();
    }
}

// Per call, the same in every thread: kAvgThreads undoes Google Benchmark's sum over threads.
void set_frame_counters(State& st, const bench::frame_probe& p) {
    using benchmark::Counter;
    st.counters["frame_bytes"] = Counter(static_cast<double>(p.bytes), Counter::kAvgThreads);
    st.counters["frames/call"] = Counter(static_cast<double>(p.frames), Counter::kAvgThreads);
}

template <class Make>
void run_async(State& st, std::pmr::memory_resource* r, const bench::frame_probe& probe,
               Make make) {
    with_resource(r, [&] { cotrait::sync_wait(bench::drive(st, make)); });
    set_frame_counters(st, probe);
}

template <class Alloc>
void run_static(State& st, std::pmr::memory_resource* r, const bench::frame_probe& probe) {
    static bench::static_impl impl;
    with_resource(r, [&] { cotrait::sync_wait(bench::drive_static<Alloc>(st, impl)); });
    set_frame_counters(st, probe);
}

std::string name(const char* family, const char* dispatch, const char* alloc,
                 const std::string& param = {}) {
    std::string n = std::string(family) + "/" + dispatch + "/" + alloc;
    if (!param.empty()) {
        n += "/" + param;
    }
    return n;
}

// ---- Family: dispatch x allocator ----------------------------------------------------------

void register_matrix() {
    benchmark::RegisterBenchmark("matrix/sync_inline/-", [](State& st) {
        const bench::alloc_counts before = bench::tls_counts;
        int x = 0;
        for (auto _ : st) {
            benchmark::DoNotOptimize(x);
            int r = bench::compute_inline(x);
            benchmark::DoNotOptimize(r);
        }
        bench::set_alloc_counters(st, before);
        set_frame_counters(st, {0, 0});
    });
    benchmark::RegisterBenchmark("matrix/sync_virtual/-", [](State& st) {
        bench::sync_iface& obj = bench::sync_impl();
        const bench::alloc_counts before = bench::tls_counts;
        int x = 0;
        for (auto _ : st) {
            benchmark::DoNotOptimize(x);
            int r = obj.compute(x);
            benchmark::DoNotOptimize(r);
        }
        bench::set_alloc_counters(st, before);
        set_frame_counters(st, {0, 0});
    });

    // boxed_task through a virtual method: the cotrait interface call.
    bench::async_iface& obj = bench::async_impl();
    auto boxed = [&obj](int x) { return obj.compute(x); };
    const bench::frame_probe boxed_probe = bench::probe_frames(boxed);
    for (const runtime_alloc& a : runtime_allocs()) {
        benchmark::RegisterBenchmark(name("matrix", "boxed_virtual", a.name).c_str(),
                                     [a, boxed, boxed_probe](State& st) {
                                         run_async(st, a.resource(), boxed_probe, boxed);
                                     });
    }

    // The interface declared with COTRAIT_INTERFACE: implemented by hand with boxed_task, and by
    // the adapter over a static implementation (static_task with the run-time policy).
    bench::macro_iface& macro = bench::boxed_macro_impl();
    auto boxed_macro = [&macro](int x) { return macro.compute(x); };
    const bench::frame_probe macro_probe = bench::probe_frames(boxed_macro);
    bench::macro_iface& adapted = bench::adapter_impl();
    auto via_adapter = [&adapted](int x) { return adapted.compute(x); };
    const bench::frame_probe adapter_probe = bench::probe_frames(via_adapter);
    for (const runtime_alloc& a : runtime_allocs()) {
        benchmark::RegisterBenchmark(name("matrix", "static_adapter", a.name).c_str(),
                                     [a, via_adapter, adapter_probe](State& st) {
                                         run_async(st, a.resource(), adapter_probe, via_adapter);
                                     });
        if (one_of(a, {"new_delete", "recycling"})) {
            benchmark::RegisterBenchmark(name("matrix", "boxed_macro", a.name).c_str(),
                                         [a, boxed_macro, macro_probe](State& st) {
                                             run_async(st, a.resource(), macro_probe, boxed_macro);
                                         });
        }
    }

    // static_task called directly: the body is visible to the compiler, the allocator is a
    // template argument where it can be (new_delete_allocator, recycling_allocator) and the
    // run-time policy otherwise (pmr pool, through a scope).
    static bench::static_impl simpl;
    auto static_nd = [](int x) { return simpl.compute<cotrait::new_delete_allocator<>>(x); };
    auto static_dyn = [](int x) { return simpl.compute<cotrait::default_frame_allocator>(x); };
    const bench::frame_probe static_probe = bench::probe_global_bytes(static_nd);
    const bench::frame_probe static_dyn_probe = bench::probe_frames(static_dyn);
    // Awaited directly in the loop (drive_static), not through `make`: see drive_static. The
    // probes still go through the lambdas (they only count bytes, outside the timing).
    benchmark::RegisterBenchmark("matrix/static_direct/new_delete", [=](State& st) {
        run_static<cotrait::new_delete_allocator<>>(st, nullptr, static_probe);
    });
    benchmark::RegisterBenchmark("matrix/static_direct/recycling", [=](State& st) {
        run_static<cotrait::recycling_allocator<>>(st, nullptr, static_probe);
    });
    for (const runtime_alloc& a : runtime_allocs()) {
        if (one_of(a, {"arena", "pmr_pool", "inline_resource"})) {
            benchmark::RegisterBenchmark(name("matrix", "static_direct", a.name).c_str(),
                                         [=](State& st) {
                                             run_static<cotrait::default_frame_allocator>(
                                                 st, a.resource(), static_dyn_probe);
                                         });
        }
    }

    // The reference task (bench/support/reference_task.hpp): the least a lazy task costs, with
    // its own thread-local free list, through a virtual method and awaited directly.
    bench::ref_iface& ref = bench::ref_impl();
    auto via_ref = [&ref](int x) { return ref.compute(x); };
    benchmark::RegisterBenchmark("matrix/ref_virtual/freelist", [via_ref](State& st) {
        // No frame counters: its frames bypass cotrait's allocators, so no resource sees them.
        with_resource(nullptr, [&] { cotrait::sync_wait(bench::drive(st, via_ref)); });
    });
    benchmark::RegisterBenchmark("matrix/ref_direct/freelist", [](State& st) {
        with_resource(nullptr, [&] { cotrait::sync_wait(bench::drive_ref(st)); });
    });

    // The bare cost of what new_delete adds per call: one global operator new + delete of the
    // boxed frame's block size, nothing else.
    const std::size_t block = boxed_probe.bytes;
    benchmark::RegisterBenchmark("matrix/bare_new_delete/new_delete", [block](State& st) {
        const bench::alloc_counts before = bench::tls_counts;
        // The block goes through a volatile pointer: the compiler may neither drop the pair
        // (new/delete elision) nor see what is freed (GCC + ASan freed a wrong address when the
        // pointer only went through benchmark::DoNotOptimize).
        void* volatile block_ptr = nullptr;
        for (auto _ : st) {
            block_ptr = ::operator new(block);
#if defined(__cpp_sized_deallocation)
            ::operator delete(block_ptr, block);
#else
            ::operator delete(block_ptr);
#endif
        }
        bench::set_alloc_counters(st, before);
        set_frame_counters(st, {1, block});
    });
}

// ---- Family: captured state ------------------------------------------------------------------

void register_state() {
    for (std::size_t bytes : {0, 16, 64, 256, 1024, 4096}) {
        bench::async_iface& obj = bench::stateful_impl(bytes);
        auto make = [&obj](int x) { return obj.compute(x); };
        const bench::frame_probe probe = bench::probe_frames(make);
        for (const runtime_alloc& a : runtime_allocs()) {
            if (!one_of(a, {"new_delete", "recycling", "arena"})) {
                continue;
            }
            benchmark::RegisterBenchmark(
                name("state", "boxed_virtual", a.name, std::to_string(bytes)).c_str(),
                [a, make, probe](State& st) { run_async(st, a.resource(), probe, make); });
        }
    }
}

// ---- Family: call depth ----------------------------------------------------------------------

void register_depth() {
    for (int depth : {1, 2, 4, 8, 16, 64}) {
        bench::async_chain& chain = bench::chain_impl();
        auto make = [&chain, depth](int x) { return chain.call(depth, x); };
        const bench::frame_probe probe = bench::probe_frames(make);
        for (const runtime_alloc& a : runtime_allocs()) {
            if (!one_of(a, {"new_delete", "recycling", "arena"})) {
                continue;
            }
            benchmark::RegisterBenchmark(
                name("depth", "boxed_virtual", a.name, std::to_string(depth)).c_str(),
                [a, make, probe](State& st) { run_async(st, a.resource(), probe, make); });
        }
    }
}

// ---- Family: threads -------------------------------------------------------------------------

void register_threads() {
    bench::async_iface& obj = bench::async_impl();
    auto make = [&obj](int x) { return obj.compute(x); };
    const bench::frame_probe probe = bench::probe_frames(make);
    for (const runtime_alloc& a : runtime_allocs()) {
        if (!one_of(a, {"new_delete", "recycling"})) {
            continue;
        }
        // Google Benchmark reports wall time divided by the iterations of all threads; the
        // report multiplies by the thread count to get each thread's time per call.
        benchmark::RegisterBenchmark(
            name("threads", "boxed_virtual", a.name).c_str(),
            [a, make, probe](State& st) { run_async(st, a.resource(), probe, make); })
            ->Threads(1)
            ->Threads(2)
            ->UseRealTime();
    }
}

// ---- Family: fan-out onto a thread pool ------------------------------------------------------
//
// pool_fanout/boxed_virtual/<allocator>/<threads>/<fan>: one iteration = `fan` virtual calls made
// on the benchmark thread and awaited together with when_all; each implementation hops onto a
// thread_pool of <threads> workers, so its frame is made on the caller and destroyed on a worker.
// <threads> 0 is the same fan-out without the hop (everything on the caller), the reference for the
// cross-thread cost. ns/call and allocs/call count every thread.

struct fanout_iface {
    virtual ~fanout_iface() = default;
    virtual boxed_task<void> touch(std::atomic<int>& hits) = 0;
};

struct fanout_impl final : fanout_iface {
    cotrait::thread_pool* pool = nullptr;
    boxed_task<void> touch(std::atomic<int>& hits) override {
        if (pool != nullptr) {
            co_await pool->schedule();
        }
        hits.fetch_add(1, std::memory_order_relaxed);
    }
};

boxed_task<void> fanout_round(fanout_iface& s, std::vector<boxed_task<void>>& tasks, int fan,
                              std::atomic<int>& hits) {
    tasks.clear();
    for (int i = 0; i < fan; ++i) {
        tasks.push_back(s.touch(hits));
    }
    co_await cotrait::when_all(std::move(tasks));
}

void register_pool_fanout() {
    for (const runtime_alloc& a : runtime_allocs()) {
        if (!one_of(a, {"new_delete", "recycling"})) {
            continue;
        }
        for (const int threads : {0, 2, 4}) {
            for (const int fan : {50, 200}) {
                const std::string param = std::to_string(threads) + "/" + std::to_string(fan);
                benchmark::RegisterBenchmark(
                    name("pool_fanout", "boxed_virtual", a.name, param).c_str(),
                    [a, threads, fan](State& st) {
                        std::optional<cotrait::thread_pool> pool;
                        fanout_impl impl;
                        if (threads > 0) {
                            pool.emplace(static_cast<std::size_t>(threads));
                            impl.pool = &*pool;
                        }
                        fanout_iface* s = &impl;
                        benchmark::DoNotOptimize(s);
                        std::atomic<int> hits{0};
                        std::vector<boxed_task<void>> tasks;
                        tasks.reserve(static_cast<std::size_t>(fan));
                        std::pmr::memory_resource* r = a.resource();
                        // Warm-up: every thread's cache reaches its working set.
                        for (int i = 0; i < 20; ++i) {
                            with_resource(
                                r, [&] { cotrait::sync_wait(fanout_round(*s, tasks, fan, hits)); });
                        }
                        bench::count_process_allocations(true);
                        const std::uint64_t before = bench::process_allocations();
                        for (auto _ : st) {
                            with_resource(
                                r, [&] { cotrait::sync_wait(fanout_round(*s, tasks, fan, hits)); });
                        }
                        const std::uint64_t after = bench::process_allocations();
                        bench::count_process_allocations(false);
                        using benchmark::Counter;
                        const double calls = static_cast<double>(fan);
                        st.counters["allocs/call"] = Counter(
                            static_cast<double>(after - before) / calls, Counter::kAvgIterations);
                        st.counters["calls/iteration"] = calls;
                        st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()) * fan);
                    })
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
            }
        }
    }
}

// ---- Family: I/O-bound calls -----------------------------------------------------------------

void register_io() {
    benchmark::RegisterBenchmark("io/sync_virtual/-", [](State& st) {
        bench::event_loop loop;
        bench::sync_io_iface& obj = bench::sync_io_impl();
        const bench::alloc_counts before = bench::tls_counts;
        int x = 0;
        for (auto _ : st) {
            benchmark::DoNotOptimize(x);
            int r = obj.call(loop, x);
            benchmark::DoNotOptimize(r);
        }
        bench::set_alloc_counters(st, before);
        set_frame_counters(st, {0, 0});
    });
    for (const runtime_alloc& a : runtime_allocs()) {
        if (!one_of(a, {"new_delete", "recycling"})) {
            continue;
        }
        benchmark::RegisterBenchmark(name("io", "boxed_virtual", a.name).c_str(), [a](State& st) {
            bench::event_loop loop;
            bench::async_io_iface& obj = bench::async_io_impl();
            auto make = [&obj, &loop](int x) { return obj.call(loop, x); };
            with_resource(a.resource(), [&] {
                // The root and the driver run on this thread, resumed by loop.run().
                bench::root_task root = bench::start_root(bench::drive(st, make));
                loop.run();
                if (!root.done()) {
                    std::fputs("bench: io driver did not finish\n", stderr);
                    std::abort();
                }
            });
            // The frame of one call, from a counting resource: created (lazily, so only its own
            // frame exists) and destroyed without running, since running needs the loop.
            bench::counting_resource counter(cotrait::global_new_delete_resource());
            {
                cotrait::frame_allocator_scope scope(counter);
                boxed_task<int> t = obj.call(loop, 1);
            }
            set_frame_counters(st, {counter.allocations(), counter.stats().bytes_allocated});
        });
    }
}

// ---- Family: fragmentation / memory ----------------------------------------------------------

long read_status_kib(const char* key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    const std::string k = std::string(key) + ":";
    while (std::getline(f, line)) {
        if (line.rfind(k, 0) == 0) {
            return std::strtol(line.c_str() + k.size(), nullptr, 10);
        }
    }
    return -1;
}

// CPU time of the calling thread, like the other families' times: time that other processes take
// from a shared machine does not count.
double thread_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Resets the peak-RSS high-water mark (Linux >= 4.0); false if the kernel refused.
bool reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
    f.flush();
    return static_cast<bool>(f);
}

std::uint64_t calls_for_memory_family() {
    if (const char* env = std::getenv("COTRAIT_BENCH_MEMORY_CALLS")) {
        return std::strtoull(env, nullptr, 10);
    }
    return 10'000'000;
}

// Mixed frame sizes, and one call in eight kept alive (created, not yet awaited) in a table of
// 1024 slots until a later call evicts it: frames of five sizes are freed out of order.
cotrait::static_task<std::uint64_t, cotrait::recycling_allocator<>>
fragmenting_workload(std::uint64_t calls, std::vector<boxed_task<int>>& kept) {
    static constexpr std::size_t sizes[] = {0, 160, 512, 2000, 64};
    bench::async_iface* impls[5];
    for (std::size_t i = 0; i < 5; ++i) {
        impls[i] = &bench::stateful_impl(sizes[i]);
    }
    std::uint64_t rng = 0x9E3779B97F4A7C15ULL;
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < calls; ++i) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        boxed_task<int> t = impls[rng % 5]->compute(static_cast<int>(i));
        if ((rng >> 8) % 8 == 0) {
            boxed_task<int>& slot = kept[(rng >> 16) % kept.size()];
            if (slot.valid()) {
                sum += static_cast<std::uint64_t>(co_await slot);
            }
            slot = std::move(t);
        } else {
            sum += static_cast<std::uint64_t>(co_await t);
        }
    }
    for (boxed_task<int>& slot : kept) {
        if (slot.valid()) {
            sum += static_cast<std::uint64_t>(co_await slot);
        }
        slot = {};
    }
    co_return sum;
}

void register_memory() {
    for (const runtime_alloc& a : runtime_allocs()) {
        // Parked frames keep an arena from ever starting over and would not fit in an
        // inline_resource: neither is meant for this workload.
        if (!one_of(a, {"new_delete", "recycling", "pmr_pool"})) {
            continue;
        }
        benchmark::RegisterBenchmark(name("memory", "boxed_virtual", a.name).c_str(), [a](State&
                                                                                              st) {
            const std::uint64_t calls = calls_for_memory_family();
            std::vector<boxed_task<int>> kept(1024);
            std::pmr::memory_resource* r = a.resource();
            const bool reset = reset_peak_rss();
            const long rss_before = read_status_kib("VmRSS");
            bench::track_live_bytes(true);
            const bench::alloc_counts before = bench::tls_counts;
            const double t0 = thread_cpu_ns();
            for (auto _ : st) {
                with_resource(r, [&] {
                    benchmark::DoNotOptimize(cotrait::sync_wait(fragmenting_workload(calls, kept)));
                });
            }
            const double t1 = thread_cpu_ns();
            const bench::alloc_counts after = bench::tls_counts;
            bench::track_live_bytes(false);
            const long hwm = read_status_kib("VmHWM");
            const double n = static_cast<double>(calls);
            st.counters["calls"] = n;
            st.counters["ns/call"] = (t1 - t0) / n;
            st.counters["allocs/call"] = static_cast<double>(after.allocs - before.allocs) / n;
            st.counters["frees/call"] = static_cast<double>(after.frees - before.frees) / n;
            st.counters["bytes/call"] = static_cast<double>(after.bytes - before.bytes) / n;
            st.counters["peak_heap_live_bytes"] = static_cast<double>(after.peak);
            st.counters["peak_rss_kib"] = static_cast<double>(hwm);
            st.counters["peak_rss_growth_kib"] = static_cast<double>(reset ? hwm - rss_before : -1);
            // What the allocator keeps from the global heap after the run (caches, pools).
            st.counters["retained_heap_bytes"] = static_cast<double>(after.live);
        })->Iterations(1);
    }
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    register_matrix();
    register_state();
    register_depth();
    register_threads();
    register_io();
    register_pool_fanout();
    register_memory();
    benchmark::AddCustomContext("cotrait_compiler",
#if defined(__clang__)
                                "clang " __clang_version__
#else
                                "gcc " __VERSION__
#endif
    );
    benchmark::AddCustomContext("cotrait_malloc", bench::malloc_in_use());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
