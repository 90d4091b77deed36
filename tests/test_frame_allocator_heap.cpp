// Frame allocation as the global heap sees it: this executable replaces the global operator
// new/delete with counting versions, so every call to the global allocator is visible.
#include <cotrait/cotrait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::atomic<long> g_news{0};
std::atomic<long> g_deletes{0};
std::atomic<std::size_t> g_last_new_size{0};

struct heap_counts {
    long news;
    long deletes;
};
heap_counts heap_now() {
    return {g_news.load(std::memory_order_relaxed), g_deletes.load(std::memory_order_relaxed)};
}

} // namespace

void* operator new(std::size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    g_last_new_size.store(n, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    if (p != nullptr) {
        g_deletes.fetch_add(1, std::memory_order_relaxed);
    }
    std::free(p);
}
void operator delete(void* p, std::size_t /*n*/) noexcept {
    ::operator delete(p);
}

namespace {

struct Counter {
    virtual ~Counter() = default;
    virtual cotrait::boxed_task<int> next(int step) = 0;
};

struct LocalCounter final : Counter {
    int value = 0;
    cotrait::boxed_task<int> next(int step) override { co_return value += step; }
};

// Measures, inside one coroutine, the global allocations of `calls` virtual calls. The first pass
// warms up (it may fill empty caches); the second is steady state and is the one reported.
cotrait::boxed_task<heap_counts> measure_calls(Counter& c, int calls) {
    heap_counts d{};
    for (int pass = 0; pass < 2; ++pass) {
        const heap_counts before = heap_now();
        for (int i = 0; i < calls; ++i) {
            co_await c.next(1);
        }
        const heap_counts after = heap_now();
        d = heap_counts{after.news - before.news, after.deletes - before.deletes};
    }
    co_return d;
}

cotrait::boxed_task<int> chain(int depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await chain(depth - 1);
}

cotrait::boxed_task<heap_counts> measure_chains(int depth, int calls) {
    heap_counts d{};
    for (int pass = 0; pass < 2; ++pass) {
        const heap_counts before = heap_now();
        int sum = 0;
        for (int i = 0; i < calls; ++i) {
            sum += co_await chain(depth);
        }
        const heap_counts after = heap_now();
        if (sum != depth * calls) {
            co_return heap_counts{-1, -1};
        }
        d = heap_counts{after.news - before.news, after.deletes - before.deletes};
    }
    co_return d;
}

struct limits_restorer {
    cotrait::recycling_limits saved = cotrait::current_recycling_limits();
    ~limits_restorer() {
        cotrait::set_recycling_limits(saved.per_class, saved.total_bytes);
        cotrait::trim_this_thread_recycling_cache();
    }
};

} // namespace

TEST_CASE("new_delete: exactly one global operator new and one operator delete per call") {
    LocalCounter c;
    SECTION("thread default") {
        cotrait::set_this_thread_frame_resource(cotrait::global_new_delete_resource());
        const heap_counts d = cotrait::sync_wait(measure_calls(c, 100));
        cotrait::set_this_thread_frame_resource(nullptr);
        CHECK(d.news == 100);
        CHECK(d.deletes == 100);
    }
    SECTION("scope") {
        cotrait::frame_allocator_scope scope{*cotrait::global_new_delete_resource()};
        const heap_counts d = cotrait::sync_wait(measure_calls(c, 100));
        CHECK(d.news == 100);
        CHECK(d.deletes == 100);
    }
    SECTION("process default") {
        cotrait::set_default_frame_resource(cotrait::global_new_delete_resource());
        const heap_counts d = cotrait::sync_wait(measure_calls(c, 100));
        cotrait::set_default_frame_resource(nullptr);
        CHECK(d.news == 100);
        CHECK(d.deletes == 100);
    }
    CHECK(c.value > 0);
}

TEST_CASE("default recycling: no global allocation per call in steady state") {
    REQUIRE(cotrait::current_frame_resource() == cotrait::recycling_resource());
    LocalCounter c;
    const heap_counts d = cotrait::sync_wait(measure_calls(c, 1000));
#if COTRAIT_RECYCLING
    CHECK(d.news == 0);
    CHECK(d.deletes == 0);
#else
    // Recycling compiled out (the default under AddressSanitizer): every frame is a heap block.
    CHECK(d.news == 1000);
    CHECK(d.deletes == 1000);
#endif
}

TEST_CASE("default recycling: a depth-8 nested call chain allocates nothing in steady state") {
    const heap_counts d = cotrait::sync_wait(measure_chains(8, 200));
#if COTRAIT_RECYCLING
    CHECK(d.news == 0);
    CHECK(d.deletes == 0);
#else
    // Up to 9 frames per chain (the optimizer may elide some of the nested ones).
    CHECK(d.news >= 200);
    CHECK(d.news <= 9 * 200);
    CHECK(d.deletes == d.news);
#endif
}

#if COTRAIT_RECYCLING
TEST_CASE("recycling: the per-class bound is honoured") {
    limits_restorer restore;
    cotrait::trim_this_thread_recycling_cache();
    cotrait::set_recycling_limits(3, std::size_t{1} << 20);
    std::vector<cotrait::boxed_task<int>> tasks;
    tasks.reserve(10);
    const heap_counts before = heap_now();
    for (int i = 0; i < 10; ++i) {
        tasks.push_back(chain(0));
    }
    const heap_counts mid = heap_now();
    tasks.clear();
    const heap_counts after = heap_now();
    CHECK(mid.news - before.news == 10);
    CHECK(after.deletes - mid.deletes == 7); // 3 kept, 7 returned
    CHECK(cotrait::this_thread_recycling_stats().blocks == 3);
}

TEST_CASE("recycling: the total bound is honoured") {
    limits_restorer restore;
    cotrait::trim_this_thread_recycling_cache();
    std::vector<cotrait::boxed_task<int>> tasks;
    tasks.push_back(chain(0));
    tasks.clear(); // learn the block size of chain's frame
    const std::size_t block = cotrait::this_thread_recycling_stats().bytes;
    REQUIRE(block > 0);
    cotrait::trim_this_thread_recycling_cache();
    cotrait::set_recycling_limits(1000, 5 * block);
    for (int i = 0; i < 12; ++i) {
        tasks.push_back(chain(0));
    }
    const heap_counts before = heap_now();
    tasks.clear();
    const heap_counts after = heap_now();
    CHECK(after.deletes - before.deletes == 7);
    const cotrait::recycling_cache_stats s = cotrait::this_thread_recycling_stats();
    CHECK(s.blocks == 5);
    CHECK(s.bytes == 5 * block);
}

TEST_CASE("recycling resource API: blocks freed into a cache are reused, then released") {
    std::pmr::memory_resource* r = cotrait::recycling_resource();
    cotrait::trim_this_thread_recycling_cache();
    void* a = r->allocate(100);
    r->deallocate(a, 100);
    const heap_counts before = heap_now();
    void* b = r->allocate(100);
    const heap_counts mid = heap_now();
    CHECK(b == a);
    CHECK(mid.news == before.news);
    r->deallocate(b, 100);
    cotrait::trim_this_thread_recycling_cache();
    CHECK(heap_now().deletes == mid.deletes + 1);
    CHECK(cotrait::this_thread_recycling_stats().blocks == 0);
}
#endif

TEST_CASE("recycling: a thread's cache is released when the thread exits") {
    std::size_t cached_in_thread = 0;
    const heap_counts before = heap_now();
    std::thread t([&] {
        std::vector<cotrait::boxed_task<int>> tasks;
        for (int i = 0; i < 20; ++i) {
            tasks.push_back(chain(i % 4));
        }
        tasks.clear();
        cached_in_thread = cotrait::this_thread_recycling_stats().blocks;
    });
    t.join();
    const heap_counts after = heap_now();
    CHECK(cached_in_thread == (COTRAIT_RECYCLING ? 20U : 0U));
    // Everything the thread allocated (frames, and std::thread's own state) is back.
    CHECK(after.news - before.news == after.deletes - before.deletes);
}

TEST_CASE("cross-thread free: frames allocated on one thread are destroyed on others") {
    constexpr int producers = 3;
    constexpr int consumers = 3;
    constexpr int per_producer = 300;
    std::mutex m;
    // Each task with the depth it was made with, which is also its result.
    std::vector<std::pair<int, cotrait::boxed_task<int>>> queue;
    std::atomic<int> produced{0};
    std::atomic<long> sum{0};
    std::atomic<long> expected_sum{0};
    std::atomic<int> ran{0};
    std::atomic<int> dropped{0};
    const heap_counts before = heap_now();
    {
        std::vector<std::thread> threads;
        for (int p = 0; p < producers; ++p) {
            threads.emplace_back([&, p] {
                for (int i = 0; i < per_producer; ++i) {
                    const int depth = (i + p) % 5;
                    cotrait::boxed_task<int> t = chain(depth);
                    std::lock_guard<std::mutex> lock(m);
                    queue.emplace_back(depth, std::move(t));
                    produced.fetch_add(1);
                }
            });
        }
        for (int c = 0; c < consumers; ++c) {
            threads.emplace_back([&, c] {
                int taken = 0;
                while (true) {
                    cotrait::boxed_task<int> t;
                    int depth = 0;
                    {
                        std::lock_guard<std::mutex> lock(m);
                        if (!queue.empty()) {
                            depth = queue.back().first;
                            t = std::move(queue.back().second);
                            queue.pop_back();
                        } else if (produced.load() == producers * per_producer) {
                            break;
                        }
                    }
                    if (t.valid()) {
                        // Half are run here (their children are allocated here too), half are
                        // destroyed unstarted.
                        if (((taken++) + c) % 2 == 0) {
                            sum.fetch_add(cotrait::sync_wait(std::move(t)));
                            expected_sum.fetch_add(depth);
                            ran.fetch_add(1);
                        } else {
                            t = {}; // destroyed unstarted, on this thread
                            dropped.fetch_add(1);
                        }
                    } else {
                        std::this_thread::yield();
                    }
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
    }
    CHECK(queue.empty());
    std::vector<std::pair<int, cotrait::boxed_task<int>>>().swap(queue);
    const heap_counts after = heap_now();
    CHECK(produced.load() == producers * per_producer);
    CHECK(ran.load() + dropped.load() == producers * per_producer);
    CHECK(ran.load() > 0);
    CHECK(sum.load() == expected_sum.load()); // each run task returned its own depth
    // Every thread's cache was drained at exit: the heap is balanced.
    CHECK(after.news - before.news == after.deletes - before.deletes);
}

TEST_CASE("fixed allocators add no record: 16 bytes less than the run-time path; "
          "recycling_allocator keeps its record") {
    [[maybe_unused]] constexpr std::size_t record = 16;
    // The same body, once with the allocator chosen at run time (new_delete resource), once with
    // it fixed at compile time. Both go to the global operator new with their full block size.
    struct bodies {
        static cotrait::static_task<int> dynamic(int x) { co_return x + 1; }
        static cotrait::static_task<int, cotrait::new_delete_allocator<>> fixed_nd(int x) {
            co_return x + 1;
        }
        static cotrait::static_task<int, cotrait::recycling_allocator<>> fixed_rc(int x) {
            co_return x + 1;
        }
    };
    std::size_t dyn = 0;
    {
        cotrait::frame_allocator_scope scope{*cotrait::global_new_delete_resource()};
        auto t = bodies::dynamic(1);
        dyn = g_last_new_size.load();
        CHECK(cotrait::sync_wait(std::move(t)) == 2);
    }
    std::size_t nd = 0;
    {
        auto t = bodies::fixed_nd(1);
        nd = g_last_new_size.load();
        CHECK(cotrait::sync_wait(std::move(t)) == 2);
    }
    std::size_t rc = 0;
    {
        cotrait::trim_this_thread_recycling_cache(); // so that the block comes from operator new
        const heap_counts before = heap_now();
        auto t = bodies::fixed_rc(1);
        rc = g_last_new_size.load();
        CHECK(heap_now().news == before.news + 1);
        CHECK(cotrait::sync_wait(std::move(t)) == 2);
    }
    // recycling_allocator's blocks carry the same record as a run-time frame: it names the
    // allocating thread, so the block returns to that thread's cache from wherever it is freed.
    CHECK(dyn == rc);
#if COTRAIT_SIZED_DEALLOCATION
    CHECK(dyn - nd == record);
#else
    // Without sized deallocation (Clang < 19 by default) the fixed policy keeps the size in a
    // record of its own: same footprint.
    CHECK(dyn == nd);
#endif
    CHECK(nd % 16 == 0);
}
