// thread_pool: scheduling onto pool threads, cancellation of queued work, and shutdown.
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

namespace {

// Counts live instances, to prove that every frame (and its parameters) is destroyed.
struct tracked {
    static inline std::atomic<int> alive{0};
    static inline std::atomic<int> constructed{0};
    tracked() noexcept {
        ++alive;
        ++constructed;
    }
    tracked(const tracked& /*other*/) noexcept {
        ++alive;
        ++constructed;
    }
    tracked(tracked&& /*other*/) noexcept {
        ++alive;
        ++constructed;
    }
    tracked& operator=(const tracked&) = default;
    tracked& operator=(tracked&&) = default;
    ~tracked() { --alive; }
};

// A one-shot latch for blocking a pool thread from a test.
class gate {
public:
    void open() {
        std::lock_guard<std::mutex> lock(m_);
        open_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [this] { return open_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
};

// Blocks each arriving thread until `expected` threads are inside at the same time. The wait is
// bounded only so that a pool that runs fewer threads concurrently fails with a message instead of
// hanging; it is not used for ordering.
class rendezvous {
public:
    explicit rendezvous(int expected) : expected_(expected) {}
    // False if the others did not arrive within the bound.
    bool arrive_and_wait() {
        std::unique_lock<std::mutex> lock(m_);
        ++arrived_;
        cv_.notify_all();
        return cv_.wait_for(lock, std::chrono::seconds(5),
                            [this] { return arrived_ >= expected_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    int arrived_ = 0;
    int expected_;
};

cotrait::boxed_task<std::thread::id> hop(cotrait::thread_pool& pool) {
    co_await pool.schedule();
    co_return std::this_thread::get_id();
}

// Occupies a pool thread until `g` opens; `entered` reports that it is running there.
cotrait::boxed_task<> block_thread(cotrait::thread_pool& pool, gate& g, gate& entered) {
    co_await pool.schedule();
    entered.open();
    g.wait();
}

} // namespace

TEST_CASE("schedule moves the coroutine onto a pool thread") {
    cotrait::thread_pool pool(2);
    REQUIRE(pool.thread_count() == 2);
    const std::thread::id id = cotrait::sync_wait(hop(pool));
    CHECK(id != std::this_thread::get_id());
    CHECK_FALSE(pool.running_in_this_thread());
}

TEST_CASE("many coroutines spread over the pool threads and all complete") {
    cotrait::thread_pool pool(3);
    std::atomic<int> done{0};
    std::atomic<int> off_pool{0}; // counted, not CHECKed: Catch assertions are not thread-safe
    std::mutex m;
    std::set<std::thread::id> seen;
    cotrait::async_scope scope;
    for (int i = 0; i < 200; ++i) {
        scope.spawn([](cotrait::thread_pool& p, std::atomic<int>& d, std::atomic<int>& off,
                       std::mutex& mu, std::set<std::thread::id>& s) -> cotrait::boxed_task<> {
            co_await p.schedule();
            if (!p.running_in_this_thread()) {
                ++off;
            }
            {
                std::lock_guard<std::mutex> lock(mu);
                s.insert(std::this_thread::get_id());
            }
            co_await p.schedule(); // hop again: the queue is FIFO, so threads interleave
            ++d;
        }(pool, done, off_pool, m, seen));
    }
    cotrait::sync_wait(scope.join());
    CHECK(done == 200);
    CHECK(off_pool == 0);
    CHECK(seen.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("every pool thread runs work at the same time") {
    // Each coroutine blocks its thread until all of them are running: this completes only if the
    // pool wakes a thread for every queued coroutine (a missed wake-up leaves one queued until the
    // rendezvous gives up). when_all queues them back to back, while the threads are idle.
    for (int threads = 2; threads <= 4; ++threads) {
        cotrait::thread_pool pool(static_cast<std::size_t>(threads));
        for (int round = 0; round < 50; ++round) {
            rendezvous all(threads);
            std::mutex m;
            std::set<std::thread::id> seen;
            std::vector<cotrait::boxed_task<bool>> tasks;
            for (int i = 0; i < threads; ++i) {
                tasks.push_back([](cotrait::thread_pool& p, rendezvous& r, std::mutex& mu,
                                   std::set<std::thread::id>& s) -> cotrait::boxed_task<bool> {
                    co_await p.schedule();
                    {
                        std::lock_guard<std::mutex> lock(mu);
                        s.insert(std::this_thread::get_id());
                    }
                    co_return r.arrive_and_wait();
                }(pool, all, m, seen));
            }
            const std::vector<bool> met = cotrait::sync_wait(cotrait::when_all(std::move(tasks)));
            INFO(threads << " threads, round " << round);
            REQUIRE(std::count(met.begin(), met.end(), true) == threads);
            REQUIRE(seen.size() == static_cast<std::size_t>(threads));
        }
    }
}

TEST_CASE("static_task and nested tasks keep running on the pool") {
    cotrait::thread_pool pool(2);
    auto inner = [](cotrait::thread_pool& p) -> cotrait::static_task<int> {
        co_await p.schedule();
        co_return p.running_in_this_thread() ? 1 : 0;
    };
    auto outer = [&]() -> cotrait::boxed_task<int> {
        int sum = 0;
        for (int i = 0; i < 100; ++i) {
            sum += co_await inner(pool);
        }
        co_return sum;
    };
    CHECK(cotrait::sync_wait(outer()) == 100);
}

TEST_CASE("shutdown resumes still-queued coroutines with operation_cancelled; nothing leaks") {
    tracked::alive = 0;
    tracked::constructed = 0;
    std::atomic<int> cancelled{0};
    std::atomic<int> ran{0};
    {
        cotrait::async_scope scope;
        {
            cotrait::thread_pool pool(1);
            gate release;
            gate entered;
            scope.spawn(block_thread(pool, release, entered));
            entered.wait(); // the only thread is busy: what follows stays queued
            for (int i = 0; i < 10; ++i) {
                scope.spawn([](cotrait::thread_pool& p, tracked /*param*/, std::atomic<int>& c,
                               std::atomic<int>& r) -> cotrait::boxed_task<> {
                    tracked local;
                    try {
                        co_await p.schedule();
                        ++r;
                    } catch (const cotrait::operation_cancelled&) {
                        ++c;
                    }
                }(pool, tracked{}, cancelled, ran));
            }
            CHECK(pool.queued() == 10);
            CHECK(tracked::alive == 20); // a parameter and a local per suspended frame
            // The busy thread is released only once shutdown has taken the queue over.
            std::thread opener([&] {
                while (pool.queued() != 0) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                release.open();
            });
            pool.shutdown(); // joins the busy thread once the gate opens
            opener.join();
            // Scheduling onto a stopped pool fails at once instead of hanging.
            CHECK_THROWS_AS(cotrait::sync_wait(hop(pool)), cotrait::operation_cancelled);
        }
        cotrait::sync_wait(scope.join());
        CHECK(scope.running() == 0);
    }
    CHECK(cancelled == 10);
    CHECK(ran == 0);
    CHECK(tracked::constructed >= 20);
    CHECK(tracked::alive == 0);
}

TEST_CASE("a pool destroyed with queued work cancels it; the owner frees every frame") {
    tracked::alive = 0;
    cotrait::async_scope scope;
    std::thread opener;
    gate release;
    {
        cotrait::thread_pool pool(1);
        gate entered;
        scope.spawn(block_thread(pool, release, entered));
        entered.wait();
        for (int i = 0; i < 5; ++i) {
            // No try/catch: the exception reaches the scope, which keeps the first one.
            scope.spawn([](cotrait::thread_pool& p, tracked /*param*/) -> cotrait::boxed_task<> {
                co_await p.schedule();
            }(pool, tracked{}));
        }
        CHECK(tracked::alive == 5);
        opener = std::thread([&] {
            while (pool.queued() != 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            release.open();
        });
    } // ~thread_pool: shutdown
    opener.join();
    CHECK(tracked::alive == 0);
    CHECK(scope.running() == 0);
    // The first cancellation is rethrown by join; the other four were counted and dropped.
    CHECK_THROWS_AS(cotrait::sync_wait(scope.join()), cotrait::operation_cancelled);
    CHECK(scope.dropped_exceptions() == 4);
    // Rethrown once: the scope is clean again.
    CHECK_NOTHROW(cotrait::sync_wait(scope.join()));
}

TEST_CASE("schedule(token) with stop already requested throws without suspending") {
    cotrait::thread_pool pool(1);
    std::stop_source src;
    src.request_stop();
    auto t = [](cotrait::thread_pool& p, std::stop_token tok) -> cotrait::boxed_task<bool> {
        try {
            co_await p.schedule(std::move(tok));
        } catch (const cotrait::operation_cancelled&) {
            co_return p.running_in_this_thread();
        }
        co_return true;
    };
    CHECK_FALSE(cotrait::sync_wait(t(pool, src.get_token())));
}

TEST_CASE("schedule(token): stop requested while queued cancels promptly, on a pool thread") {
    cotrait::thread_pool pool(1);
    gate release;
    gate entered;
    cotrait::async_scope scope;
    scope.spawn(block_thread(pool, release, entered));
    entered.wait();
    std::stop_source src;
    std::atomic<int> outcome{0}; // 1 ran, 2 cancelled on the pool, 3 cancelled elsewhere
    scope.spawn([](cotrait::thread_pool& p, std::stop_token tok,
                   std::atomic<int>& out) -> cotrait::boxed_task<> {
        try {
            co_await p.schedule(std::move(tok));
            out = 1;
        } catch (const cotrait::operation_cancelled&) {
            out = p.running_in_this_thread() ? 2 : 3;
        }
    }(pool, src.get_token(), outcome));
    // A plain queued coroutine behind it, to show the cancelled one jumps ahead.
    std::atomic<int> order{0};
    std::atomic<int> plain_seen_outcome{-1};
    scope.spawn([](cotrait::thread_pool& p, std::atomic<int>& out,
                   std::atomic<int>& seen) -> cotrait::boxed_task<> {
        co_await p.schedule();
        seen = out.load();
    }(pool, outcome, plain_seen_outcome));
    (void)order;
    CHECK(pool.queued() == 2);
    src.request_stop();
    release.open();
    cotrait::sync_wait(scope.join());
    CHECK(outcome == 2);
    CHECK(plain_seen_outcome == 2);
}

TEST_CASE("schedule(token): a stop that comes after the coroutine was picked up is ignored") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    auto t = [](cotrait::thread_pool& p, std::stop_token tok,
                std::stop_source s) -> cotrait::boxed_task<int> {
        co_await p.schedule(tok);
        s.request_stop(); // too late for that schedule: it already ran
        try {
            co_await p.schedule(tok);
        } catch (const cotrait::operation_cancelled&) {
            co_return 2;
        }
        co_return 1;
    };
    CHECK(cotrait::sync_wait(t(pool, src.get_token(), src)) == 2);
}

TEST_CASE("shutdown from a pool thread is refused") {
    cotrait::thread_pool pool(1);
    auto t = [](cotrait::thread_pool& p) -> cotrait::boxed_task<bool> {
        co_await p.schedule();
        try {
            p.shutdown();
        } catch (const std::logic_error&) {
            co_return true;
        }
        co_return false;
    };
    CHECK(cotrait::sync_wait(t(pool)));
}

TEST_CASE("a stop racing with the pool picking the coroutine up is safe") {
    // Run under TSan: the canceller and the worker contend for the same queue entry.
    cotrait::thread_pool pool(2);
    std::atomic<int> ran{0};
    std::atomic<int> cancelled{0};
    for (int round = 0; round < 200; ++round) {
        std::stop_source src;
        cotrait::async_scope scope;
        for (int i = 0; i < 4; ++i) {
            scope.spawn([](cotrait::thread_pool& p, std::stop_token tok, std::atomic<int>& r,
                           std::atomic<int>& c) -> cotrait::boxed_task<> {
                try {
                    co_await p.schedule(std::move(tok));
                    ++r;
                } catch (const cotrait::operation_cancelled&) {
                    ++c;
                }
            }(pool, src.get_token(), ran, cancelled));
        }
        src.request_stop();
        cotrait::sync_wait(scope.join());
    }
    CHECK(ran + cancelled == 800);
}
