// run_loop: a single-threaded executor driven by the calling thread.
#include "support/test_support.hpp"

#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using cotrait_test::tracked;

cotrait::boxed_task<> record(cotrait::run_loop& loop, std::vector<int>& log, int id) {
    for (int step = 0; step < 3; ++step) {
        co_await loop.schedule();
        log.push_back(id * 10 + step);
    }
}

} // namespace

TEST_CASE("run(awaitable) runs on the calling thread and returns the result") {
    cotrait::run_loop loop;
    auto t = [](cotrait::run_loop& l) -> cotrait::static_task<std::thread::id> {
        co_await l.schedule();
        CHECK(l.running_in_this_thread());
        co_return std::this_thread::get_id();
    };
    CHECK(loop.run(t(loop)) == std::this_thread::get_id());
    CHECK_FALSE(loop.running_in_this_thread());
}

TEST_CASE("run(awaitable) rethrows the task's exception") {
    cotrait::run_loop loop;
    auto t = []() -> cotrait::boxed_task<int> {
        throw std::runtime_error("loop failure");
        co_return 0;
    };
    CHECK_THROWS_WITH(loop.run(t()), "loop failure");
}

TEST_CASE("coroutines on one loop interleave in FIFO order") {
    cotrait::run_loop loop;
    std::vector<int> log;
    auto both = [&]() -> cotrait::boxed_task<> {
        co_await cotrait::when_all(record(loop, log, 1), record(loop, log, 2));
    };
    loop.run(both());
    CHECK(log == std::vector<int>{10, 20, 11, 21, 12, 22});
}

TEST_CASE("run() drains the queue until finish()") {
    cotrait::run_loop loop;
    std::vector<int> log;
    cotrait::async_scope scope;
    cotrait::async_scope stopper;
    scope.spawn(record(loop, log, 1));
    stopper.spawn([](cotrait::run_loop& l, cotrait::async_scope& s,
                     std::vector<int>& lg) -> cotrait::boxed_task<> {
        co_await l.schedule();
        lg.push_back(99);
        co_await s.join(); // waits for the other task, then stops the loop
        l.finish();
    }(loop, scope, log));
    loop.run();
    CHECK(log == std::vector<int>{10, 99, 11, 12});
    CHECK(scope.running() == 0);
    CHECK(stopper.running() == 0);
    // A finished loop can run again.
    scope.spawn(record(loop, log, 3));
    loop.finish();
    loop.run();
    CHECK(log.size() == 7);
    cotrait::sync_wait(scope.join());
    cotrait::sync_wait(stopper.join());
}

TEST_CASE("work hops from a pool back onto the loop thread") {
    cotrait::thread_pool pool(2);
    cotrait::run_loop loop;
    const auto main_id = std::this_thread::get_id();
    auto t = [&]() -> cotrait::boxed_task<int> {
        int hops = 0; // counts round trips that landed on the right thread each way
        for (int i = 0; i < 50; ++i) {
            co_await pool.schedule();
            const bool on_pool = std::this_thread::get_id() != main_id;
            co_await loop.schedule();
            if (on_pool && std::this_thread::get_id() == main_id) {
                ++hops;
            }
        }
        co_return hops;
    };
    CHECK(loop.run(t()) == 50);
}

TEST_CASE("finish() from another thread stops run() while it waits for work") {
    cotrait::run_loop loop;
    const long loop_tid = cotrait_test::this_thread_kernel_id();
    bool idle_blocked = false;
    std::thread t([&] {
        // finish() only once run() sleeps on the empty queue: the wake-up path, not the one where
        // run() finds the request already there.
        idle_blocked = cotrait_test::blocked_in_kernel(loop_tid);
        loop.finish();
    });
    loop.run();
    t.join();
    CHECK(idle_blocked);

    // run() cleared the request on return: the loop runs again, until the next finish().
    int ran = 0;
    cotrait::async_scope scope;
    scope.spawn([](cotrait::run_loop& l, int& r) -> cotrait::boxed_task<> {
        co_await l.schedule();
        ++r;
        l.finish();
    }(loop, ran));
    CHECK(ran == 0);
    loop.run();
    CHECK(ran == 1);
    CHECK(scope.running() == 0);
}

TEST_CASE("schedule(token) on a loop is cancelled when stop is requested while queued") {
    cotrait::run_loop loop;
    std::stop_source src;
    cotrait::async_scope scope;
    std::atomic<int> outcome{0};
    scope.spawn([](cotrait::run_loop& l, std::stop_token tok,
                   std::atomic<int>& out) -> cotrait::boxed_task<> {
        try {
            co_await l.schedule(std::move(tok));
            out = 1;
        } catch (const cotrait::operation_cancelled&) {
            out = 2;
        }
    }(loop, src.get_token(), outcome));
    src.request_stop();
    loop.finish();
    loop.run();
    CHECK(outcome == 2);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("a loop destroyed with queued coroutines cancels them; nothing leaks") {
    tracked::alive = 0;
    cotrait::async_scope scope;
    {
        cotrait::run_loop loop;
        for (int i = 0; i < 3; ++i) {
            scope.spawn([](cotrait::run_loop& l, tracked /*param*/) -> cotrait::boxed_task<> {
                co_await l.schedule();
            }(loop, tracked{}));
        }
        CHECK(scope.running() == 3);
        CHECK(tracked::alive == 3);
    }
    CHECK(tracked::alive == 0);
    CHECK(scope.running() == 0);
    CHECK_THROWS_AS(cotrait::sync_wait(scope.join()), cotrait::operation_cancelled);
}
