// async_mutex: mutual exclusion, FIFO hand-off, no barging, stack-safe hand-off chains, and a
// bounded multi-threaded stress test (run under TSan by the tsan preset).
#include <cotrait/async_event.hpp>
#include <cotrait/async_mutex.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>

#include <catch2/catch_test_macros.hpp>

#include <vector>

TEST_CASE("async_mutex: uncontended lock, try_lock while held, guard unlocks") {
    cotrait::async_mutex m;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        {
            auto g = co_await m.scoped_lock();
            CHECK(g.owns_lock());
            CHECK_FALSE(m.try_lock());
        }
        CHECK(m.try_lock());
        m.unlock();
        co_await m.lock();
        CHECK_FALSE(m.try_lock());
        m.unlock();
    }());
    CHECK(m.try_lock());
    m.unlock();
}

TEST_CASE("async_mutex: waiters get the lock in FIFO order and a late locker does not barge") {
    cotrait::async_mutex m;
    cotrait::async_event hold; // B keeps the lock until this is set
    cotrait::async_scope scope;
    std::vector<char> order;

    REQUIRE(m.try_lock()); // "A" holds it
    auto locker = [&](char name, bool wait_while_holding) -> cotrait::boxed_task<> {
        auto g = co_await m.scoped_lock();
        order.push_back(name);
        if (wait_while_holding) {
            co_await hold.wait();
        }
    };
    scope.spawn(locker('B', true));
    scope.spawn(locker('C', false));
    scope.spawn(locker('D', false));
    CHECK(order.empty());
    m.unlock(); // hands the lock to B, which parks holding it
    REQUIRE(order == std::vector<char>{'B'});
    // The lock is held by B and C, D are queued: a new locker must queue behind them even if it
    // arrives exactly when B releases.
    scope.spawn(locker('E', false));
    CHECK_FALSE(m.try_lock());
    hold.set();
    cotrait::sync_wait(scope.join());
    CHECK(order == std::vector<char>{'B', 'C', 'D', 'E'});
    CHECK(m.try_lock());
    m.unlock();
}

TEST_CASE("async_mutex: a long chain of hand-offs on one thread does not grow the stack") {
    // Each waiter is resumed by the previous one's unlock. Resumed inline and nested, 300,000
    // hand-offs overflow an 8 MiB stack; the thread-local resume queue keeps the depth constant.
    constexpr int n = 300000;
    cotrait::async_mutex m;
    cotrait::async_scope scope;
    int count = 0;
    REQUIRE(m.try_lock());
    for (int i = 0; i < n; ++i) {
        scope.spawn([](cotrait::async_mutex& mu, int& c) -> cotrait::boxed_task<> {
            auto g = co_await mu.scoped_lock();
            ++c;
        }(m, count));
    }
    CHECK(count == 0);
    m.unlock();
    CHECK(count == n);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("async_mutex: stress, coroutines on a pool increment a plain counter under the lock") {
    constexpr int workers = 8;
    constexpr int rounds = 2000;
    cotrait::thread_pool pool(4);
    cotrait::async_mutex m;
    long counter = 0; // deliberately not atomic: TSan reports any access outside the lock
    int inside = 0;
    int overlap = 0;
    cotrait::async_scope scope;
    for (int w = 0; w < workers; ++w) {
        scope.spawn([&]() -> cotrait::boxed_task<> {
            for (int i = 0; i < rounds; ++i) {
                co_await pool.schedule();
                auto g = co_await m.scoped_lock();
                if (++inside != 1) {
                    ++overlap;
                }
                ++counter;
                --inside;
            }
        });
    }
    cotrait::sync_wait(scope.join());
    CHECK(overlap == 0);
    CHECK(counter == long{workers} * rounds);
}
