// async_event: manual and automatic reset, FIFO wake-up, and a cross-thread ping-pong stress test.
#include <cotrait/async_event.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>

#include <catch2/catch_test_macros.hpp>

#include <vector>

namespace {
cotrait::boxed_task<> wait_and_record(cotrait::async_event& e, std::vector<int>& out, int id) {
    co_await e.wait();
    out.push_back(id);
}
} // namespace

TEST_CASE("async_event manual: set releases every waiter and stays set until reset") {
    cotrait::async_event e(cotrait::reset_mode::manual);
    cotrait::async_scope scope;
    std::vector<int> woke;
    for (int i = 0; i < 4; ++i) {
        scope.spawn(wait_and_record(e, woke, i));
    }
    CHECK(woke.empty());
    CHECK_FALSE(e.is_set());
    e.set();
    CHECK(woke == std::vector<int>{0, 1, 2, 3});
    CHECK(e.is_set());
    scope.spawn(wait_and_record(e, woke, 4)); // completes at once
    CHECK(woke.size() == 5);
    e.reset();
    scope.spawn(wait_and_record(e, woke, 5));
    CHECK(woke.size() == 5);
    e.set();
    CHECK(woke.size() == 6);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("async_event automatic: each set releases exactly one wait") {
    cotrait::async_event e(cotrait::reset_mode::automatic);
    cotrait::async_scope scope;
    std::vector<int> woke;
    for (int i = 0; i < 3; ++i) {
        scope.spawn(wait_and_record(e, woke, i));
    }
    e.set();
    CHECK(woke == std::vector<int>{0});
    CHECK_FALSE(e.is_set());
    e.set();
    e.set();
    CHECK(woke == std::vector<int>{0, 1, 2});
    // Nobody waits: the set is kept for the next wait, and sets do not accumulate.
    e.set();
    e.set();
    CHECK(e.is_set());
    scope.spawn(wait_and_record(e, woke, 3));
    CHECK(woke.size() == 4);
    CHECK_FALSE(e.is_set());
    scope.spawn(wait_and_record(e, woke, 4));
    CHECK(woke.size() == 4);
    e.set();
    CHECK(woke.size() == 5);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("async_event: initially set") {
    cotrait::async_event e(cotrait::reset_mode::automatic, true);
    CHECK(e.is_set());
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> { co_await e.wait(); }());
    CHECK_FALSE(e.is_set());
}

TEST_CASE("async_event stress: ping-pong between two coroutines on a pool loses no wake-up") {
    constexpr int rounds = 20000;
    cotrait::thread_pool pool(2);
    cotrait::async_event ping(cotrait::reset_mode::automatic);
    cotrait::async_event pong(cotrait::reset_mode::automatic);
    long shared = 0; // plain: the events must order every access (TSan checks)
    cotrait::async_scope scope;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        co_await pool.schedule();
        for (int i = 0; i < rounds; ++i) {
            co_await ping.wait();
            ++shared;
            co_await pool.schedule();
            pong.set();
        }
    });
    scope.spawn([&]() -> cotrait::boxed_task<> {
        co_await pool.schedule();
        for (int i = 0; i < rounds; ++i) {
            ++shared;
            ping.set();
            co_await pong.wait();
            co_await pool.schedule();
        }
    });
    cotrait::sync_wait(scope.join());
    CHECK(shared == 2L * rounds);
}
