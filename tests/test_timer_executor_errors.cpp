// A sleep hands its coroutine to its executor when the deadline passes, on the timer thread. An
// executor whose schedule() throws there (an allocation that fails, an executor that refuses with
// an exception) must not terminate the process: the sleep's co_await rethrows the exception, as it
// reports a refusal.
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <stop_token>
#include <thread>

using namespace std::chrono_literals;

namespace {

// An executor that cannot take work: its schedule awaiter throws from await_suspend, or its
// schedule() itself throws.
struct failing_executor {
    bool throw_in_schedule = false;
    std::atomic<int> attempts{0};

    struct awaiter {
        failing_executor* ex;
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> /*h*/) const {
            throw std::runtime_error("executor cannot queue work");
        }
        void await_resume() const noexcept {}
    };
    awaiter schedule() {
        ++attempts;
        if (throw_in_schedule) {
            throw std::runtime_error("executor cannot make a schedule operation");
        }
        return awaiter{this};
    }
};

} // namespace

TEST_CASE("a sleep whose executor throws when the deadline passes rethrows it") {
    for (const bool in_schedule : {false, true}) {
        INFO("throws in " << (in_schedule ? "schedule()" : "await_suspend"));
        failing_executor ex;
        ex.throw_in_schedule = in_schedule;
        std::thread::id resumed_on{};
        auto sleeper = [&]() -> cotrait::boxed_task<> {
            try {
                co_await cotrait::sleep_for(ex, 5ms);
            } catch (...) {
                resumed_on = std::this_thread::get_id();
                throw;
            }
        };
        CHECK_THROWS_WITH(cotrait::sync_wait(sleeper()),
                          Catch::Matchers::ContainsSubstring("executor cannot"));
        CHECK(ex.attempts == 1);
        CHECK(resumed_on != std::this_thread::get_id()); // on the timer thread, as a refusal is
    }
}

TEST_CASE("a sleep already due, or cancelled, with a throwing executor rethrows it") {
    failing_executor ex;
    auto due = [&]() -> cotrait::boxed_task<> { co_await cotrait::sleep_for(ex, 0ms); };
    CHECK_THROWS_WITH(cotrait::sync_wait(due()),
                      Catch::Matchers::ContainsSubstring("executor cannot"));

    // A stop while pending also goes through the executor (from the stopping thread); the stop
    // is what the co_await reports.
    std::stop_source stop;
    std::atomic<bool> started{false};
    auto cancelled = [&]() -> cotrait::boxed_task<> {
        started = true;
        co_await cotrait::sleep_for(ex, 1h, stop.get_token());
    };
    std::thread stopper([&] {
        while (!started || cotrait::default_timer_service().pending() == 0) {
            std::this_thread::yield();
        }
        stop.request_stop();
    });
    CHECK_THROWS_AS(cotrait::sync_wait(cancelled()), cotrait::operation_cancelled);
    stopper.join();
    CHECK(cotrait::default_timer_service().pending() == 0);
}
