// Timers under adversarial conditions: stop requests racing with firing and with the service's
// destruction, and with_timeout races.
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <memory>
#include <stop_token>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("timer review: a stop after the service was destroyed does not touch the service") {
    cotrait::run_loop loop;
    cotrait::async_scope scope;
    std::stop_source stop;
    auto timers = std::make_unique<cotrait::timer_service>();
    bool cancelled = false;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        try {
            co_await timers->sleep_for(loop, 1h, stop.get_token());
        } catch (const cotrait::operation_cancelled&) {
            cancelled = true;
        }
    });
    REQUIRE(timers->pending() == 1);
    timers.reset(); // the sleeper is handed to the loop (queued there, not run yet)
    // Its stop callback is still registered until it runs: it must not reach the dead service.
    stop.request_stop();
    loop.run(scope.join());
    CHECK(cancelled);
}

TEST_CASE("timer review: a stop after the timer fired and the service went away is ignored") {
    cotrait::run_loop loop;
    cotrait::async_scope scope;
    std::stop_source stop;
    auto timers = std::make_unique<cotrait::timer_service>();
    bool woke = false;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        co_await timers->sleep_for(loop, 1ms, stop.get_token());
        woke = true;
    });
    // The timer thread takes the entry off its heap, then hands the sleeper to the loop; the
    // service's destructor joins that thread, so afterwards the sleeper is queued on the loop.
    while (timers->pending() != 0) {
        std::this_thread::yield();
    }
    timers.reset();
    stop.request_stop(); // after the deadline fired: ignored, and the service is gone
    loop.run(scope.join());
    CHECK(woke);
}
