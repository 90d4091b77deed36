// Timers under adversarial conditions: stop requests racing with firing and with the service's
// destruction, and with_timeout races.
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <memory>
#include <memory_resource>
#include <new>
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

namespace {

// An executor that runs the coroutine inline: its schedule() is ready at once (as stdexec's
// inline_scheduler or a test executor): `co_await ex.schedule()` never suspends.
struct inline_executor {
    static std::suspend_never schedule() noexcept { return {}; }
};

} // namespace

TEST_CASE("timer review: a deadline already passed on an inline executor continues at once") {
    inline_executor ex;
    cotrait::async_scope scope;
    bool woke = false;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        co_await cotrait::sleep_for(ex, 0ms);
        woke = true;
    });
    CHECK(woke);
    REQUIRE(scope.running() == 0);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("timer review: a timer fired for an inline executor resumes on the timer thread") {
    inline_executor ex;
    cotrait::async_scope scope;
    auto timers = std::make_unique<cotrait::timer_service>();
    std::thread::id woke_on{};
    scope.spawn([&]() -> cotrait::boxed_task<> {
        co_await timers->sleep_for(ex, 1ms);
        woke_on = std::this_thread::get_id();
    });
    while (timers->pending() != 0) {
        std::this_thread::yield();
    }
    timers.reset(); // joins the timer thread, which resumed the sleeper (fire happens-before)
    CHECK(woke_on != std::thread::id{});
    CHECK(woke_on != std::this_thread::get_id());
    REQUIRE(scope.running() == 0);
    cotrait::sync_wait(scope.join());
}

namespace {

// Refuses every allocation, as an exhausted arena would.
class refusing_resource final : public std::pmr::memory_resource {
    void* do_allocate(std::size_t /*n*/, std::size_t /*align*/) override { throw std::bad_alloc(); }
    void do_deallocate(void* /*p*/, std::size_t /*n*/, std::size_t /*align*/) override {}
    bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
        return this == &o;
    }
};

} // namespace

TEST_CASE("timer review: with_timeout whose frame cannot be allocated throws and starts nothing") {
    cotrait::run_loop loop;
    refusing_resource refuse;
    bool ran = false;
    auto op = [&]() -> cotrait::boxed_task<int> {
        ran = true;
        co_return 1;
    }(); // from the default resource
    const std::size_t pending_before = cotrait::default_timer_service().pending();
    {
        cotrait::frame_allocator_scope scope(refuse);
        CHECK_THROWS_AS(cotrait::with_timeout(loop, 1h, std::move(op)), std::bad_alloc);
    }
    CHECK_FALSE(ran);
    CHECK(cotrait::default_timer_service().pending() == pending_before);
}
