// Replaces the global operator new/delete of the benchmark executable so that every global
// allocation is counted exactly, per thread. They forward to malloc/free, so an allocator
// preloaded with LD_PRELOAD (mimalloc, jemalloc, tcmalloc) serves them: the executable's own
// definitions win over the preloaded library's operator new, and their malloc is the preloaded one.
#include "bench_support.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include <dlfcn.h>
#include <malloc.h>

namespace bench {

constinit thread_local alloc_counts tls_counts{};

namespace {
// Read on every allocation: a plain global is cheaper than an atomic and it is only flipped while
// a single thread runs.
bool g_track_live = false;
// Families whose calls allocate on several threads (pool_fanout) count process-wide too; the
// relaxed flag keeps the single-threaded rows free of a shared atomic increment.
std::atomic<bool> g_count_process{false};
std::atomic<std::uint64_t> g_process_allocs{0};

void count_new(void* p, std::size_t n) noexcept {
    alloc_counts& c = tls_counts;
    if (g_count_process.load(std::memory_order_relaxed)) {
        g_process_allocs.fetch_add(1, std::memory_order_relaxed);
    }
    ++c.allocs;
    c.bytes += n;
    if (g_track_live) {
        c.live += static_cast<std::int64_t>(::malloc_usable_size(p));
        if (c.live > c.peak) {
            c.peak = c.live;
        }
    }
}

void* counted_new(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    count_new(p, n);
    return p;
}

// std::pmr's global_new_delete_resource (the upstream of the pmr pools) allocates through these.
void* counted_aligned_new(std::size_t n, std::align_val_t al) {
    const auto a = static_cast<std::size_t>(al);
    const std::size_t rounded = (n + a - 1) / a * a; // aligned_alloc wants a multiple
    void* p = std::aligned_alloc(a, rounded == 0 ? a : rounded);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    count_new(p, n);
    return p;
}

void counted_delete(void* p) noexcept {
    if (p == nullptr) {
        return;
    }
    alloc_counts& c = tls_counts;
    ++c.frees;
    if (g_track_live) {
        c.live -= static_cast<std::int64_t>(::malloc_usable_size(p));
    }
    std::free(p);
}
} // namespace

const char* malloc_in_use() noexcept {
    if (::dlsym(RTLD_DEFAULT, "mi_malloc") != nullptr) {
        return "mimalloc";
    }
    if (::dlsym(RTLD_DEFAULT, "mallctl") != nullptr) {
        return "jemalloc";
    }
    if (::dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr) {
        return "tcmalloc";
    }
    return "glibc";
}

void count_process_allocations(bool on) noexcept {
    g_count_process.store(on, std::memory_order_relaxed);
}

std::uint64_t process_allocations() noexcept {
    return g_process_allocs.load(std::memory_order_relaxed);
}

void track_live_bytes(bool on) noexcept {
    g_track_live = on;
    tls_counts.live = 0;
    tls_counts.peak = 0;
}

void set_alloc_counters(benchmark::State& st, const alloc_counts& before) {
    // A copy: inserting the counters below allocates (map nodes) and must not count.
    const alloc_counts now = tls_counts;
    using benchmark::Counter;
    st.counters["allocs/call"] =
        Counter(static_cast<double>(now.allocs - before.allocs), Counter::kAvgIterations);
    st.counters["frees/call"] =
        Counter(static_cast<double>(now.frees - before.frees), Counter::kAvgIterations);
    st.counters["bytes/call"] =
        Counter(static_cast<double>(now.bytes - before.bytes), Counter::kAvgIterations);
}

} // namespace bench

void* operator new(std::size_t n) {
    return bench::counted_new(n);
}
void* operator new[](std::size_t n) {
    return bench::counted_new(n);
}
void* operator new(std::size_t n, const std::nothrow_t& /*tag*/) noexcept {
    try {
        return bench::counted_new(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t& /*tag*/) noexcept {
    try {
        return bench::counted_new(n);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept {
    bench::counted_delete(p);
}
void operator delete[](void* p) noexcept {
    bench::counted_delete(p);
}
void operator delete(void* p, std::size_t /*n*/) noexcept {
    bench::counted_delete(p);
}
void operator delete[](void* p, std::size_t /*n*/) noexcept {
    bench::counted_delete(p);
}
void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept {
    bench::counted_delete(p);
}
void operator delete[](void* p, const std::nothrow_t& /*tag*/) noexcept {
    bench::counted_delete(p);
}
void* operator new(std::size_t n, std::align_val_t al) {
    return bench::counted_aligned_new(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al) {
    return bench::counted_aligned_new(n, al);
}
void operator delete(void* p, std::align_val_t /*al*/) noexcept {
    bench::counted_delete(p);
}
void operator delete[](void* p, std::align_val_t /*al*/) noexcept {
    bench::counted_delete(p);
}
void operator delete(void* p, std::size_t /*n*/, std::align_val_t /*al*/) noexcept {
    bench::counted_delete(p);
}
void operator delete[](void* p, std::size_t /*n*/, std::align_val_t /*al*/) noexcept {
    bench::counted_delete(p);
}
