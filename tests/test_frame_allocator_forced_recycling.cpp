// The recycling caches with recycling forced on, whatever the build: under AddressSanitizer it is
// off by default, so this executable is where LeakSanitizer sees the caches' thread-exit release
// and cross-thread frees. The whole executable is this one file, so the macro is consistent.
#define COTRAIT_RECYCLING 1
#include <cotrait/cotrait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace {

cotrait::boxed_task<int> chain(int depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await chain(depth - 1);
}

} // namespace

TEST_CASE("forced recycling: caches fill, and a thread's cache is released at its exit") {
    std::size_t cached = 0;
    std::size_t cached_after_trim = 1;
    std::thread t([&] {
        std::vector<cotrait::boxed_task<int>> tasks;
        for (int i = 0; i < 30; ++i) {
            tasks.push_back(chain(i % 3));
        }
        tasks.clear();
        cached = cotrait::this_thread_recycling_stats().blocks;
        // Steady state: the blocks just cached serve the next frames.
        int sum = 0;
        for (int i = 0; i < 100; ++i) {
            sum += cotrait::sync_wait(chain(5));
        }
        cached_after_trim = sum == 500 ? 0 : 1;
        // The cache is left full: LeakSanitizer reports it if the thread exit does not free it.
    });
    t.join();
    CHECK(cached == 30);
    CHECK(cached_after_trim == 0);
    cotrait::trim_this_thread_recycling_cache();
    CHECK(cotrait::this_thread_recycling_stats().blocks == 0);
}

TEST_CASE("forced recycling: frames created on one thread, run or destroyed on others") {
    constexpr int threads = 4;
    constexpr int per_thread = 200;
    std::mutex m;
    // Each task with the depth it was made with, which is also its result.
    std::vector<std::pair<int, cotrait::boxed_task<int>>> made;
    for (int i = 0; i < threads * per_thread; ++i) {
        made.emplace_back(i % 4, chain(i % 4));
    }
    std::atomic<int> sum{0};
    std::atomic<int> expected_sum{0};
    std::atomic<int> ran{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                cotrait::boxed_task<int> task;
                int depth = 0;
                {
                    std::lock_guard<std::mutex> lock(m);
                    depth = made.back().first;
                    task = std::move(made.back().second);
                    made.pop_back();
                }
                if ((i + t) % 2 == 0) {
                    sum.fetch_add(cotrait::sync_wait(std::move(task)));
                    expected_sum.fetch_add(depth);
                    ran.fetch_add(1);
                }
                // Otherwise destroyed unstarted, here.
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    CHECK(made.empty());
    CHECK(ran.load() == threads * per_thread / 2);
    CHECK(sum.load() == expected_sum.load()); // each run task returned its own depth
}
