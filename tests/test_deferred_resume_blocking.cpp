// Waiters released while a thread is already resuming a waiter are deferred to that thread's
// resume FIFO (constant stack depth). A coroutine resumed that way which then blocks its thread in
// sync_wait on work that one of those deferred waiters must do used to deadlock: the deferred
// waiter could only run once the blocked coroutine returned.
#include <cotrait/async_event.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

// Runs `f` on a thread of its own; a hang is reported (and the process ended) instead of
// waiting for ctest's timeout.
template <class F>
void within(std::chrono::seconds limit, F f) {
    std::packaged_task<void()> job(std::move(f));
    std::future<void> done = job.get_future();
    std::thread t(std::move(job));
    if (done.wait_for(limit) != std::future_status::ready) {
        std::fputs("deadlock: the blocking wait never returned\n", stderr);
        std::fflush(stderr);
        std::_Exit(1);
    }
    t.join();
    done.get();
}

} // namespace

TEST_CASE("a coroutine resumed by a release may block on a waiter it released itself") {
    within(10s, [] {
        cotrait::async_event go(cotrait::reset_mode::manual);
        cotrait::async_event second(cotrait::reset_mode::manual);
        cotrait::async_event answered(cotrait::reset_mode::manual);
        cotrait::async_scope scope;
        bool blocked_wait_returned = false;
        // Waits for `second`, then answers.
        scope.spawn([&]() -> cotrait::boxed_task<> {
            co_await second.wait();
            answered.set();
        });
        // Resumed inline by go.set(); releases the one above (deferred: a resumption is running
        // on this thread), then blocks until it has answered.
        scope.spawn([&]() -> cotrait::boxed_task<> {
            co_await go.wait();
            second.set();
            cotrait::sync_wait(answered.wait());
            blocked_wait_returned = true;
        });
        go.set();
        cotrait::sync_wait(scope.join());
        CHECK(blocked_wait_returned);
    });
}

TEST_CASE("deferred waiters still run in release order around a blocking wait") {
    within(10s, [] {
        cotrait::async_event go(cotrait::reset_mode::manual);
        cotrait::async_event first(cotrait::reset_mode::manual);
        cotrait::async_event second(cotrait::reset_mode::manual);
        cotrait::async_scope scope;
        std::string order;
        scope.spawn([&]() -> cotrait::boxed_task<> {
            co_await first.wait();
            order += '1';
        });
        scope.spawn([&]() -> cotrait::boxed_task<> {
            co_await second.wait();
            order += '2';
        });
        scope.spawn([&]() -> cotrait::boxed_task<> {
            co_await go.wait();
            first.set();
            second.set();
            order += 'g';
            cotrait::sync_wait(second.wait()); // already set: does not suspend
            order += 'w';
        });
        go.set();
        cotrait::sync_wait(scope.join());
        CHECK(order == "g12w"); // the deferred ones ran, in order, before the wait went on
    });
}

TEST_CASE("a run_loop run from a coroutine resumed by a release resumes waiters inside it") {
    // Inside the loop, one coroutine releases another: that release must not wait for the loop
    // to return (it used to be deferred behind the coroutine running the loop: a hang).
    within(10s, [] {
        cotrait::async_event go(cotrait::reset_mode::manual);
        cotrait::async_scope scope;
        int sum = 0;
        scope.spawn([&]() -> cotrait::boxed_task<> {
            co_await go.wait();
            cotrait::run_loop loop;
            cotrait::async_event ping(cotrait::reset_mode::manual);
            auto waiter = [&]() -> cotrait::boxed_task<int> {
                co_await ping.wait();
                co_return 1;
            };
            auto setter = [&]() -> cotrait::boxed_task<int> {
                co_await loop.schedule();
                ping.set();
                co_return 2;
            };
            auto [a, b] = loop.run(cotrait::when_all(waiter(), setter()));
            sum = a + b;
        });
        go.set();
        cotrait::sync_wait(scope.join());
        CHECK(sum == 3);
    });
}
