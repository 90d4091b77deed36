// Executor affinity: without resume_on a coroutine continues where the awaited work finished;
// resume_on brings it back to the named executor (and skips the hop when already there).
#include "support/test_support.hpp"

#include <cotrait/boxed_task.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/resume_on.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>

namespace {

cotrait::boxed_task<int> work_on(cotrait::thread_pool& pool, int v) {
    co_await pool.schedule();
    co_return v * 2;
}

cotrait::boxed_task<int> fail_on(cotrait::thread_pool& pool) {
    co_await pool.schedule();
    throw std::runtime_error("pool failure");
}

// Forwards to a run_loop and counts hops.
struct counting_executor {
    cotrait::run_loop* loop;
    int schedules = 0;
    auto schedule() {
        ++schedules;
        return loop->schedule();
    }
    [[nodiscard]] bool running_in_this_thread() const noexcept {
        return loop->running_in_this_thread();
    }
};

} // namespace

TEST_CASE("the rule: after awaiting work that hops to a pool, the caller runs on the pool") {
    cotrait::thread_pool pool(1);
    cotrait::run_loop loop;
    const bool on_loop_after = loop.run([&]() -> cotrait::boxed_task<bool> {
        CHECK(loop.running_in_this_thread());
        const int v = co_await work_on(pool, 1);
        CHECK(v == 2);
        co_return loop.running_in_this_thread();
    }());
    CHECK_FALSE(on_loop_after);
}

TEST_CASE("resume_on brings the caller back to its executor, with the result") {
    cotrait::thread_pool pool(1);
    cotrait::run_loop loop;
    const auto loop_thread = std::this_thread::get_id();
    const bool ok = loop.run([&]() -> cotrait::boxed_task<bool> {
        for (int i = 0; i < 100; ++i) {
            const int v = co_await cotrait::resume_on(loop, work_on(pool, i));
            if (v != 2 * i || std::this_thread::get_id() != loop_thread ||
                !loop.running_in_this_thread()) {
                co_return false;
            }
        }
        co_return true;
    }());
    CHECK(ok);
}

TEST_CASE("resume_on delivers an exception on the executor too") {
    cotrait::thread_pool pool(1);
    cotrait::run_loop loop;
    const bool caught_on_loop = loop.run([&]() -> cotrait::boxed_task<bool> {
        try {
            co_await cotrait::resume_on(loop, fail_on(pool));
        } catch (const std::runtime_error&) {
            co_return loop.running_in_this_thread();
        }
        co_return false;
    }());
    CHECK(caught_on_loop);
}

TEST_CASE("resume_on does not hop when the awaited work finished on the executor already") {
    cotrait::run_loop loop;
    counting_executor ex{&loop};
    int x = 1;
    loop.run([&]() -> cotrait::boxed_task<> {
        const int v =
            co_await cotrait::resume_on(ex, []() -> cotrait::boxed_task<int> { co_return 3; }());
        CHECK(v == 3);
        int& r =
            co_await cotrait::resume_on(ex, [&]() -> cotrait::static_task<int&> { co_return x; }());
        CHECK(&r == &x);
        co_await cotrait::resume_on(ex, []() -> cotrait::boxed_task<> { co_return; }());
    }());
    CHECK(ex.schedules == 0);
}

TEST_CASE("resume_on hops from a pool back to a pool-affine caller under load (stress)") {
    cotrait::thread_pool work(2);
    cotrait::thread_pool home(2);
    const int ok = cotrait::sync_wait([&]() -> cotrait::boxed_task<int> {
        co_await home.schedule();
        int good = 0;
        for (int i = 0; i < 2000; ++i) {
            co_await cotrait::resume_on(home, work_on(work, i));
            good += home.running_in_this_thread() ? 1 : 0;
        }
        co_return good;
    }());
    CHECK(ok == 2000);
}

TEST_CASE("resume_on and with_timeout frames come from the frame allocator in effect at the call") {
    cotrait_test::counting_resource res;
    cotrait::run_loop loop;
    loop.run([&]() -> cotrait::boxed_task<> {
        auto inner = []() -> cotrait::boxed_task<int> { co_return 4; }(); // default resource
        std::optional<cotrait::static_task<int>> wrapped;
        std::optional<cotrait::static_task<int>> timed;
        {
            cotrait::frame_allocator_scope scope(res);
            wrapped.emplace(cotrait::resume_on(loop, std::move(inner)));
            CHECK(res.allocations == 1);
            auto op = []() -> cotrait::boxed_task<int> { co_return 5; }(); // from res too
            timed.emplace(cotrait::with_timeout(loop, std::chrono::hours(1), std::move(op)));
            CHECK(res.allocations == 3);
        }
        const int a = co_await std::move(*wrapped);
        const int b = co_await std::move(*timed);
        CHECK(a + b == 9);
        wrapped.reset();
        timed.reset();
        CHECK(res.live == 0);
    }());
}
