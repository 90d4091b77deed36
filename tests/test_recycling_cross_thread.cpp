// Frames that cross threads: made on one thread, destroyed on another, and still off the global
// heap in steady state. This executable replaces the global operator new/delete with counting
// versions, so every call to the global allocator is visible.
#include <cotrait/cotrait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::atomic<long> g_news{0};
std::atomic<long> g_deletes{0};

long news_now() {
    return g_news.load(std::memory_order_relaxed);
}

} // namespace

void* operator new(std::size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
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

// The pattern of a server: a virtual method whose implementation hops onto a pool.
struct Service {
    virtual ~Service() = default;
    virtual cotrait::boxed_task<int> work(int x) = 0;
    virtual cotrait::boxed_task<void> touch(std::atomic<int>& hits) = 0;
};

struct PoolService final : Service {
    explicit PoolService(cotrait::thread_pool& p) : pool(&p) {}
    cotrait::thread_pool* pool;
    cotrait::boxed_task<int> work(int x) override {
        co_await pool->schedule();
        co_return x + 1;
    }
    cotrait::boxed_task<void> touch(std::atomic<int>& hits) override {
        co_await pool->schedule();
        hits.fetch_add(1, std::memory_order_relaxed);
    }
};

struct fanout_result {
    long news = 0; // global operator new calls during the measured rounds
    long checksum = 0;
};

// One round: `fan` calls awaited together with when_all. The task vector is reused, as a server's
// loop would reuse it.
cotrait::boxed_task<long> round_ints(Service& s, std::vector<cotrait::boxed_task<int>>& tasks,
                                     int fan) {
    tasks.clear();
    for (int i = 0; i < fan; ++i) {
        tasks.push_back(s.work(i));
    }
    long sum = 0;
    for (int v : co_await cotrait::when_all(std::move(tasks))) {
        sum += v;
    }
    co_return sum;
}

cotrait::boxed_task<long> round_void(Service& s, std::vector<cotrait::boxed_task<void>>& tasks,
                                     int fan) {
    std::atomic<int> hits{0};
    tasks.clear();
    for (int i = 0; i < fan; ++i) {
        tasks.push_back(s.touch(hits));
    }
    co_await cotrait::when_all(std::move(tasks));
    co_return hits.load();
}

// Each round is started from this thread (sync_wait), so every frame is made here and destroyed on
// a pool thread: the pure cross-thread pattern. The first `warm` rounds are not measured.
template <class Task, class Round>
fanout_result from_this_thread(Round round, int fan, int warm, int rounds) {
    fanout_result r;
    std::vector<Task> tasks;
    tasks.reserve(static_cast<std::size_t>(fan));
    long before = 0;
    for (int i = 0; i < warm + rounds; ++i) {
        if (i == warm) {
            before = news_now();
        }
        r.checksum += cotrait::sync_wait(round(tasks, fan));
    }
    r.news = news_now() - before;
    return r;
}

// One coroutine runs every round, so after the first round it continues on whichever pool thread
// finished last: frames are made on every pool thread in turn and destroyed on the others.
cotrait::boxed_task<fanout_result> migrating(Service& s, int fan, int rounds) {
    fanout_result r;
    std::vector<cotrait::boxed_task<int>> tasks;
    tasks.reserve(static_cast<std::size_t>(fan));
    const long before = news_now();
    for (int i = 0; i < rounds; ++i) {
        r.checksum += co_await round_ints(s, tasks, fan);
    }
    r.news = news_now() - before;
    co_return r;
}

} // namespace

TEST_CASE("pool fan-out: frames made on the caller and freed on pool threads stay off the heap") {
    constexpr int warm = 5;
    constexpr int rounds = 200;
    for (const std::size_t threads : {std::size_t{2}, std::size_t{4}}) {
        for (const int fan : {50, 200}) {
            cotrait::thread_pool pool(threads);
            PoolService svc(pool);
            const fanout_result v = from_this_thread<cotrait::boxed_task<void>>(
                [&](auto& tasks, int n) { return round_void(svc, tasks, n); }, fan, warm, rounds);
            const fanout_result n = from_this_thread<cotrait::boxed_task<int>>(
                [&](auto& tasks, int k) { return round_ints(svc, tasks, k); }, fan, warm, rounds);
            const double calls = static_cast<double>(rounds) * fan;
            INFO("threads " << threads << ", fan-out " << fan << ": void "
                            << static_cast<double>(v.news) / calls << ", int "
                            << static_cast<double>(n.news) / calls
                            << " global allocations per call");
            CHECK(v.checksum == static_cast<long>(warm + rounds) * fan);
            CHECK(n.checksum == static_cast<long>(warm + rounds) * fan * (fan + 1) / 2);
#if COTRAIT_RECYCLING
            CHECK(static_cast<double>(v.news) / calls < 0.02);
            // The std::vector<int> of results that when_all hands back is the caller's: one
            // allocation per round, nothing per call.
            CHECK(static_cast<double>(n.news - rounds) / calls < 0.02);
#else
            CHECK(static_cast<double>(v.news) / calls >= 1.0);
#endif
        }
    }
}

TEST_CASE("pool fan-out from a coroutine that migrates between pool threads") {
    constexpr int fan = 100;
    constexpr int rounds = 200;
    for (const std::size_t threads : {std::size_t{2}, std::size_t{4}}) {
        cotrait::thread_pool pool(threads);
        PoolService svc(pool);
        const fanout_result r = cotrait::sync_wait(migrating(svc, fan, rounds));
        CHECK(r.checksum == static_cast<long>(rounds) * fan * (fan + 1) / 2);
        INFO("threads " << threads << ": " << r.news << " global allocations in " << rounds
                        << " rounds of " << fan);
#if COTRAIT_RECYCLING
        // Each thread that hosts the loop takes its working set (a task frame and a driver frame
        // per call, and the when_all storage) from the heap once; after that, nothing per call.
        // The result vectors are one per round.
        const long working_set = 2L * fan + 2;
        CHECK(r.news <= static_cast<long>(threads + 1) * working_set + rounds);
#endif
    }
}

TEST_CASE("same-thread fan-out of 200 live frames of one size stays off the heap by default") {
    struct Local final : Service {
        cotrait::boxed_task<int> work(int x) override { co_return x + 1; }
        cotrait::boxed_task<void> touch(std::atomic<int>& hits) override {
            hits.fetch_add(1, std::memory_order_relaxed);
            co_return;
        }
    } svc;
    const fanout_result v = from_this_thread<cotrait::boxed_task<void>>(
        [&](auto& tasks, int n) { return round_void(svc, tasks, n); }, 200, 3, 50);
    CHECK(v.checksum == 53L * 200);
#if COTRAIT_RECYCLING
    CHECK(v.news == 0);
#endif
}

namespace {

// Hands tasks from one thread to another through a one-slot mailbox.
struct mailbox {
    std::mutex m;
    std::condition_variable cv;
    std::vector<cotrait::boxed_task<int>> items;
    bool done = false;

    void put(cotrait::boxed_task<int> t) {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return items.size() < 64; });
        items.push_back(std::move(t));
        cv.notify_all();
    }
    bool take(std::vector<cotrait::boxed_task<int>>& out) {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return !items.empty() || done; });
        if (items.empty()) {
            return false;
        }
        out.swap(items);
        cv.notify_all();
        return true;
    }
    void close() {
        std::lock_guard lock(m);
        done = true;
        cv.notify_all();
    }
};

cotrait::boxed_task<int> plus_one(int x) {
    co_return x + 1;
}

// Resident set size in KiB from /proc/self/status, or 0 where there is none.
long rss_kib() {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) {
        return 0;
    }
    char line[256];
    long kib = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    std::fclose(f);
    return kib;
}

} // namespace

TEST_CASE("ping-pong: frames made on A and destroyed on B, and the reverse, reach a steady state",
          "[slow]") {
    // A creates, B destroys; then the roles swap: 10^6 frames in all. Each direction runs long
    // enough for the blocks that B frees to go back to A's inbox and be collected there.
    constexpr int per_direction = 500000;
    for (int direction = 0; direction < 2; ++direction) {
        mailbox box;
        std::atomic<long> news_first_half{0};
        std::atomic<long> news_second_half{0};
        std::atomic<long> rss_first_half{0};
        std::atomic<long> rss_second_half{0};
        std::atomic<long> sum{0};
        auto producer = [&] {
            for (int i = 0; i < per_direction; ++i) {
                if (i == per_direction / 2) {
                    news_first_half.store(news_now());
                    rss_first_half.store(rss_kib());
                }
                box.put(plus_one(i));
            }
            news_second_half.store(news_now());
            rss_second_half.store(rss_kib());
            box.close();
        };
        auto consumer = [&] {
            std::vector<cotrait::boxed_task<int>> batch;
            long local = 0;
            while (box.take(batch)) {
                for (auto& t : batch) {
                    local += cotrait::sync_wait(std::move(t));
                }
                batch.clear(); // the frames are destroyed here, on the consumer's thread
            }
            sum.store(local);
        };
        std::thread a(direction == 0 ? std::function<void()>(producer)
                                     : std::function<void()>(consumer));
        std::thread b(direction == 0 ? std::function<void()>(consumer)
                                     : std::function<void()>(producer));
        a.join();
        b.join();
        const long expected = static_cast<long>(per_direction) * (per_direction + 1) / 2;
        CHECK(sum.load() == expected);
#if COTRAIT_RECYCLING
        // Second half of the run: the producer's frames all come back to it. The mailbox's own
        // vector may grow once or twice; nothing per call.
        CHECK(news_second_half.load() - news_first_half.load() < 16);
        // And the memory stays where it was (the mailbox holds at most 64 frames).
        if (rss_first_half.load() > 0) {
            CHECK(rss_second_half.load() - rss_first_half.load() < 1024);
        }
#endif
    }
}

TEST_CASE("a thread that exits while its frames live on elsewhere: nothing leaks or dangles") {
    // The producer thread makes frames and exits; the frames are destroyed afterwards on this
    // thread, with the producer's inbox orphaned. Then a new thread adopts that inbox.
    for (int round = 0; round < 3; ++round) {
        cotrait::trim_this_thread_recycling_cache(); // count only what this round allocates
        const long before_news = news_now();
        const long before_deletes = g_deletes.load();
        std::vector<cotrait::boxed_task<int>> orphans;
        std::thread producer([&] {
            for (int i = 0; i < 100; ++i) {
                orphans.push_back(plus_one(i));
            }
        });
        producer.join();
        long sum = 0;
        for (auto& t : orphans) {
            sum += cotrait::sync_wait(std::move(t));
        }
        CHECK(sum == 100 * 101 / 2);
        std::vector<cotrait::boxed_task<int>>().swap(orphans); // destroyed on this thread
        // A thread that starts now adopts the orphaned inbox and works normally.
        long adopted_sum = 0;
        std::thread adopter([&] {
            for (int i = 0; i < 100; ++i) {
                adopted_sum += cotrait::sync_wait(plus_one(i));
            }
        });
        adopter.join();
        CHECK(adopted_sum == 100 * 101 / 2);
        cotrait::trim_this_thread_recycling_cache();
        // Every block is back in the global heap: this thread's cache was trimmed, and the exited
        // threads drained theirs.
        CHECK(news_now() - before_news == g_deletes.load() - before_deletes);
    }
}

TEST_CASE("a worker that only frees hoards nothing: blocks go back to their owner") {
    cotrait::thread_pool pool(1);
    // Frames made here, destroyed on the worker: they must end up in this thread's inbox (then
    // its cache), not in the worker's cache.
    std::vector<cotrait::boxed_task<int>> tasks;
    for (int i = 0; i < 300; ++i) {
        tasks.push_back(plus_one(i));
    }
    cotrait::recycling_cache_stats worker{};
    auto destroy_there = [&]() -> cotrait::boxed_task<void> {
        co_await pool.schedule();
        tasks.clear();
        worker = cotrait::this_thread_recycling_stats();
    };
    cotrait::sync_wait(destroy_there());
#if COTRAIT_RECYCLING
    CHECK(worker.blocks <= 1); // at most the driver frame of the lambda itself
    CHECK(worker.remote_frees >= 300);
    const cotrait::recycling_cache_stats here = cotrait::this_thread_recycling_stats();
    CHECK(here.inbox_bytes >= 300 * 32);
    // Making 300 frames again takes them from the inbox, not from the heap.
    const long before = news_now();
    for (int i = 0; i < 300; ++i) {
        tasks.push_back(plus_one(i));
    }
    CHECK(news_now() == before);
    CHECK(cotrait::this_thread_recycling_stats().refills >= 1);
#endif
    tasks.clear();
}

TEST_CASE("recycling_stats adds up every thread's counters") {
    const cotrait::recycling_cache_stats before = cotrait::recycling_stats();
    std::thread t([] {
        cotrait::trim_this_thread_recycling_cache();
        std::vector<cotrait::boxed_task<int>> v;
        for (int i = 0; i < 10; ++i) {
            v.push_back(plus_one(i));
        }
    });
    t.join();
    const cotrait::recycling_cache_stats after = cotrait::recycling_stats();
#if COTRAIT_RECYCLING
    // The new thread's cache starts empty (an adopted inbox is emptied on adoption), so its 10
    // frames came from the heap, and went back to its own lists.
    CHECK(after.global_allocations - before.global_allocations == 10);
    CHECK(after.spills == before.spills);
    CHECK(after.remote_frees == before.remote_frees);
#else
    CHECK(after.global_allocations == before.global_allocations);
#endif
}
