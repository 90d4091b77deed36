// Stop-token cancellation of waits on async_mutex, async_semaphore, async_event and channel: a
// cancelled wait takes nothing and leaves the queue to the others; a stress test races stop
// requests with releases across threads.
#include <cotrait/async_event.hpp>
#include <cotrait/async_mutex.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/async_semaphore.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/channel.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>
#include <cotrait/when_any.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

TEST_CASE("async_semaphore: a cancelled acquire takes no permit and leaves its place") {
    cotrait::async_semaphore s(0);
    cotrait::async_scope scope;
    std::vector<int> got;
    int cancelled = 0;
    std::stop_source stop1;
    auto waiter = [&](int id, std::stop_token t) -> cotrait::boxed_task<> {
        try {
            co_await s.acquire(std::move(t));
            got.push_back(id);
        } catch (const cotrait::operation_cancelled&) {
            ++cancelled;
        }
    };
    scope.spawn(waiter(0, {}));
    scope.spawn(waiter(1, stop1.get_token()));
    scope.spawn(waiter(2, {}));
    stop1.request_stop(); // resumes waiter 1 here, with the exception
    CHECK(cancelled == 1);
    s.release(2);
    CHECK(got == std::vector<int>{0, 2});
    CHECK(s.available() == 0);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("async_semaphore: stop already requested throws even with a free permit") {
    cotrait::async_semaphore s(1);
    std::stop_source stop;
    stop.request_stop();
    CHECK_THROWS_AS(cotrait::sync_wait(s.acquire(stop.get_token())), cotrait::operation_cancelled);
    CHECK(s.available() == 1);
}

TEST_CASE("async_mutex: a cancelled lock does not get the lock; the next waiter does") {
    cotrait::async_mutex m;
    cotrait::async_scope scope;
    std::vector<int> order;
    bool cancelled = false;
    std::stop_source stop;
    REQUIRE(m.try_lock());
    scope.spawn([&]() -> cotrait::boxed_task<> {
        try {
            auto g = co_await m.scoped_lock(stop.get_token());
            order.push_back(1);
        } catch (const cotrait::operation_cancelled&) {
            cancelled = true;
        }
    });
    scope.spawn([&]() -> cotrait::boxed_task<> {
        auto g = co_await m.scoped_lock();
        order.push_back(2);
    });
    stop.request_stop();
    CHECK(cancelled);
    m.unlock();
    CHECK(order == std::vector<int>{2});
    CHECK(m.try_lock());
    m.unlock();
    cotrait::sync_wait(scope.join());
}

TEST_CASE("async_event: cancellable waits make events usable as when_any losers") {
    cotrait::async_event a;
    cotrait::async_event b;
    cotrait::async_scope scope;
    std::size_t winner = 9;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        std::stop_source stop;
        auto r =
            co_await cotrait::when_any(stop, a.wait(stop.get_token()), b.wait(stop.get_token()));
        winner = r.index;
    });
    CHECK(winner == 9);
    b.set(); // b wins; a's wait is cancelled and the when_any completes
    CHECK(winner == 1);
    cotrait::sync_wait(scope.join());
    a.set(); // nobody waits on `a` any more
    CHECK(a.is_set());
}

TEST_CASE("channel: cancelled receive and send deliver nothing") {
    cotrait::channel<int> ch(1);
    cotrait::async_scope scope;
    int cancelled = 0;
    std::stop_source rs;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        try {
            (void)co_await ch.receive(rs.get_token());
        } catch (const cotrait::operation_cancelled&) {
            ++cancelled;
        }
    });
    rs.request_stop();
    CHECK(cancelled == 1);
    int one = 1;
    REQUIRE(ch.try_send(one)); // buffered: the cancelled receiver is gone
    CHECK(ch.size() == 1);
    std::stop_source ss;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        try {
            co_await ch.send(2, ss.get_token()); // full: waits
        } catch (const cotrait::operation_cancelled&) {
            ++cancelled;
        }
    });
    ss.request_stop();
    CHECK(cancelled == 2);
    CHECK(ch.try_receive() == std::optional<int>(1));
    CHECK(ch.try_receive() == std::nullopt); // 2 was never delivered
    cotrait::sync_wait(scope.join());
}

TEST_CASE("wait cancellation stress: stops race with releases, permits are conserved") {
    constexpr int waiters = 400;
    constexpr std::size_t permits = 2;
    cotrait::thread_pool pool(4);
    cotrait::async_semaphore s(permits);
    std::vector<std::stop_source> stops(waiters);
    std::atomic<int> acquired{0};
    std::atomic<int> cancelled{0};
    std::atomic<int> started{0};
    cotrait::async_scope scope;
    for (int i = 0; i < waiters; ++i) {
        scope.spawn([&, i]() -> cotrait::boxed_task<> {
            co_await pool.schedule();
            ++started;
            try {
                auto p = co_await s.scoped_acquire(stops[static_cast<std::size_t>(i)].get_token());
                ++acquired;
                co_await pool.schedule(); // hold the permit across a hop
            } catch (const cotrait::operation_cancelled&) {
                ++cancelled;
            }
        });
    }
    std::thread stopper([&] {
        for (std::size_t i = 0; i < stops.size(); i += 2) {
            stops[i].request_stop();
        }
    });
    stopper.join();
    cotrait::sync_wait(scope.join());
    CHECK(acquired + cancelled == waiters);
    CHECK(cancelled <= waiters / 2);
    CHECK(s.available() == permits);
}

TEST_CASE("with_timeout bounds a semaphore acquire (the connection-limit pattern)") {
    cotrait::run_loop loop;
    cotrait::async_semaphore limit(1);
    auto acquire_within = [&](std::chrono::milliseconds d) {
        return cotrait::with_timeout(
            loop, d, [&](std::stop_token t) { return limit.scoped_acquire(std::move(t)); });
    };
    loop.run([&]() -> cotrait::boxed_task<> {
        cotrait::semaphore_permit held = co_await acquire_within(std::chrono::hours(1));
        CHECK(held.holds());
        CHECK(limit.available() == 0);
        bool timed_out = false;
        try {
            (void)co_await acquire_within(std::chrono::milliseconds(10));
        } catch (const cotrait::timed_out&) {
            timed_out = true;
        }
        CHECK(timed_out);
        held.release();
        CHECK(limit.available() == 1); // the timed-out waiter left the queue
    }());
}
