// cotrait_probe <probe> <calls>: makes <calls> calls of one kind and prints a checksum and the
// global allocations it made (`--time <probe> <calls> <reps>` times them instead, for
// bench/peers.py). bench/callgrind.py runs it under `valgrind --tool=callgrind` at two call counts;
// the difference of the instruction counts divided by the difference of the calls is the exact cost
// of one call, free of start-up, warm-up and timer noise.
#include "probe.hpp"

#include <cotrait/new_delete.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>

#if COTRAIT_PROBE_ASIO
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string_view>

#if defined(__GNUC__) && !defined(__clang__)
// GCC (-O1 with sanitizers) inlines the replacement operator new below into its callers and then
// flags the matching free() as a mismatched deallocation; the pair is consistent by construction.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counting every global allocation tells whether a frame was elided (0 per call) or not.
namespace {
std::size_t g_allocs = 0;
} // namespace

void* operator new(std::size_t n) {
    ++g_allocs;
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t /*n*/) noexcept {
    std::free(p);
}

namespace {

// Runs the loop coroutine eagerly to its end; every call in it completes synchronously.
struct driver {
    struct promise_type {
        driver get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        [[noreturn]] void unhandled_exception() noexcept { std::terminate(); }
    };
};

// The static path: bodies the compiler sees, awaited directly (no lambda in between, which would
// keep Clang from eliding the frame).
inline bench::ref_task<int> ref_static(int x) {
    co_return x + 1;
}
inline cotrait::static_task<int> static_dyn(int x) {
    co_return x + 1;
}
inline cotrait::static_task<int, cotrait::new_delete_allocator<>> static_nd(int x) {
    co_return x + 1;
}

long g_sum = 0;

driver plain_virtual(int n) {
    probe::sync_iface& obj = probe::sync_impl();
    for (int i = 0; i < n; ++i) {
        g_sum += obj.compute(i);
    }
    co_return;
}
driver ref_virtual(int n) {
    probe::ref_iface& obj = probe::ref_impl();
    for (int i = 0; i < n; ++i) {
        g_sum += co_await obj.compute(i);
    }
}
driver boxed_virtual(int n) {
    probe::boxed_iface& obj = probe::boxed_impl();
    for (int i = 0; i < n; ++i) {
        g_sum += co_await obj.compute(i);
    }
}
driver ref_nested8(int n) {
    probe::ref_iface& obj = probe::ref_impl();
    for (int i = 0; i < n; ++i) {
        g_sum += co_await obj.call(7, i);
    }
}
driver boxed_nested8(int n) {
    probe::boxed_iface& obj = probe::boxed_impl();
    for (int i = 0; i < n; ++i) {
        g_sum += co_await obj.call(7, i);
    }
}
driver ref_direct(int n) {
    for (int i = 0; i < n; ++i) {
        g_sum += co_await ref_static(i);
    }
}
driver static_direct(int n) {
    for (int i = 0; i < n; ++i) {
        g_sum += co_await static_dyn(i);
    }
}
driver static_direct_nd(int n) {
    for (int i = 0; i < n; ++i) {
        g_sum += co_await static_nd(i);
    }
}
cotrait::static_task<long> static_loop(int n) {
    long s = 0;
    for (int i = 0; i < n; ++i) {
        s += co_await static_dyn(i);
    }
    co_return s;
}
cotrait::static_task<long> static_loop_nd(int n) {
    long s = 0;
    for (int i = 0; i < n; ++i) {
        s += co_await static_nd(i);
    }
    co_return s;
}

// What one Box::pin costs Rust's async_trait: one 24-byte block from the global allocator and back.
// The pointer goes through a volatile variable so that the pair cannot be elided.
void* volatile g_block = nullptr;
void new_delete_24(int n) {
    for (int i = 0; i < n; ++i) {
        g_block = ::operator new(24);
        ::operator delete (g_block, std::size_t{24});
    }
}

#if COTRAIT_PROBE_ASIO
asio::awaitable<void> asio_virtual(int n) {
    probe::asio_iface& obj = probe::asio_impl();
    for (int i = 0; i < n; ++i) {
        g_sum += co_await obj.compute(i);
    }
}
void run_asio(int n) {
    // The context and the spawn are the same for every n, so they cancel out of the difference.
    asio::io_context ctx;
    asio::co_spawn(ctx, asio_virtual(n), asio::detached);
    ctx.run();
}
#endif

struct probe_entry {
    const char* name;
    void (*run)(int n);
};

const probe_entry probes[] = {
    {"plain_virtual", [](int n) { plain_virtual(n); }},
    {"ref_virtual", [](int n) { ref_virtual(n); }},
    {"boxed_virtual", [](int n) { boxed_virtual(n); }},
    {"ref_nested8", [](int n) { ref_nested8(n); }},
    {"boxed_nested8", [](int n) { boxed_nested8(n); }},
    {"ref_direct", [](int n) { ref_direct(n); }},
    {"static_direct", [](int n) { static_direct(n); }},
    {"static_direct_nd", [](int n) { static_direct_nd(n); }},
    {"static_in_sync_wait", [](int n) { g_sum += cotrait::sync_wait(static_loop(n)); }},
    {"static_in_sync_wait_nd", [](int n) { g_sum += cotrait::sync_wait(static_loop_nd(n)); }},
    {"new_delete_24", new_delete_24},
#if COTRAIT_PROBE_ASIO
    {"asio_virtual", run_asio},
#endif
};

// --time: the least time per call over `reps` runs of `calls` calls (bench/peers.py compares it
// with the same measurement of the Rust peers). The minimum is the run least disturbed by the
// machine.
int time_probe(const probe_entry& p, int calls, int reps) {
    p.run(calls); // warm-up: caches, page faults, branch predictors
    double best = 1e300;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        p.run(calls);
        const std::chrono::duration<double, std::nano> dt = std::chrono::steady_clock::now() - t0;
        best = std::min(best, dt.count() / calls);
    }
    std::printf("{\"probe\": \"%s\", \"calls\": %d, \"reps\": %d, \"ns_per_call\": %.4f, "
                "\"checksum\": %ld}\n",
                p.name, calls, reps, best, g_sum);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::string_view(argv[1]) == "--list") {
        for (const probe_entry& p : probes) {
            std::printf("%s\n", p.name);
        }
        return 0;
    }
    const bool timed = argc == 5 && std::string_view(argv[1]) == "--time";
    if (argc != 3 && !timed) {
        std::fprintf(stderr, "usage: %s --list | <probe> <calls> | --time <probe> <calls> <reps>\n",
                     argv[0]);
        return 2;
    }
    if (timed) {
        const int calls = std::atoi(argv[3]);
        const int reps = std::atoi(argv[4]);
        for (const probe_entry& p : probes) {
            if (std::string_view(argv[2]) == p.name && calls > 0 && reps > 0) {
                return time_probe(p, calls, reps);
            }
        }
        std::fprintf(stderr, "%s: unknown probe '%s' or bad counts\n", argv[0], argv[2]);
        return 2;
    }
    const int n = std::atoi(argv[2]);
    for (const probe_entry& p : probes) {
        if (std::string_view(argv[1]) == p.name) {
            // One call first, so that lazily created thread-local caches are not counted.
            p.run(1);
            const std::size_t before = g_allocs;
            p.run(n);
            std::printf("probe %s calls %d allocs %zu checksum %ld\n", p.name, n, g_allocs - before,
                        g_sum);
            return 0;
        }
    }
    std::fprintf(stderr, "%s: unknown probe '%s' (--list shows them)\n", argv[0], argv[1]);
    return 2;
}
