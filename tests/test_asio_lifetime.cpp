// use_task(token) on an I/O object run by another thread: a stop requested while the awaiting
// coroutine is between registering its stop callback and starting the operation must still cancel
// the operation once it is started.
#include <cotrait/asio.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>

#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <functional>
#include <semaphore>
#include <stop_token>
#include <system_error>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

namespace {

// Runs `fn` (once) at the first move of a hooked_wait after its get_executor() was called: the
// awaiter calls get_executor() to register its stop callback and then moves the initiation out of
// its frame before starting it, so `fn` runs in that window. Moves before the co_await (the
// operation travelling through asio's layers) do not run it.
struct hook_state {
    bool armed = false;
    std::function<void()> fn;
};

// A timer wait whose initiation has the hook above.
struct hooked_wait {
    using executor_type = asio::steady_timer::executor_type;

    hooked_wait(asio::steady_timer& t, hook_state& h) noexcept : timer(&t), hook(&h) {}
    hooked_wait(hooked_wait&& other) noexcept : timer(other.timer), hook(other.hook) {
        if (hook->armed && hook->fn) {
            std::exchange(hook->fn, {})();
        }
    }
    hooked_wait& operator=(hooked_wait&&) = delete;

    [[nodiscard]] executor_type get_executor() const noexcept {
        hook->armed = true;
        return timer->get_executor();
    }
    template <class Handler>
    void operator()(Handler&& h) const {
        timer->async_wait(std::forward<Handler>(h));
    }

    asio::steady_timer* timer;
    hook_state* hook;
};

} // namespace

TEST_CASE("asio lifetime: a stop just before the operation starts still cancels it") {
    // Regression: the awaiter took the lock that holds a posted emit back until the operation is
    // connected to the cancellation signal only after registering its stop callback; a stop in
    // between posted an emit that the I/O thread ran at once, on a signal with nothing connected,
    // and the operation then ran to its end. The hook requests stop in that window and gives the
    // I/O thread the chance to run the emit (a marker posted after it): with the lock held, the
    // marker cannot run, and the wait for it ends by its timeout.
    asio::io_context ctx;
    auto work = asio::make_work_guard(ctx);
    std::thread io([&] { ctx.run(); });

    asio::steady_timer timer(ctx, 3s); // only the stop ends it early
    std::stop_source stop;
    std::binary_semaphore marker(0);
    bool marker_ran_first = false;
    hook_state hook;
    hook.fn = [&] {
        stop.request_stop(); // the callback is registered: it posts the emit
        asio::post(ctx, [&] { marker.release(); });
        marker_ran_first = marker.try_acquire_for(200ms);
    };
    auto body = [&]() -> cotrait::static_task<int> {
        cotrait::use_task_t token = cotrait::use_task(stop.get_token());
        try {
            co_await asio::async_initiate<cotrait::use_task_t, void(std::error_code)>(
                hooked_wait(timer, hook), token);
        } catch (const cotrait::operation_cancelled&) {
            co_return 1;
        }
        co_return 0; // the timer ran out: the stop was lost
    };
    const int outcome = cotrait::sync_wait(body());

    work.reset();
    io.join();
    CHECK_FALSE(hook.fn); // the hook ran
    CHECK_FALSE(marker_ran_first);
    CHECK(outcome == 1);
}
