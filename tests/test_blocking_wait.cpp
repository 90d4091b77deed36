// Blocking waits on a thread that runs an executor's queue (issue 9, item 4): sync_wait on a
// thread_pool thread, sync_wait or run_loop::run inside run_loop::run. The awaited work may need
// that very thread (with thread_pool(1) it always does), so the wait would deadlock silently;
// instead it throws task_misuse{blocking_wait} before starting anything. Every test here finished
// by hanging before the fix; the ctest TIMEOUT bounds them.
#include "support/test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <functional>
#include <string>

using namespace cotrait;

namespace {

boxed_task<int> inner(thread_pool& pool) {
    co_await pool.schedule();
    co_return 7;
}

boxed_task<int> value(int v) {
    co_return v;
}

task_errc misuse_code(const std::function<void()>& f) {
    try {
        f();
    } catch (const task_misuse& e) {
        return e.code();
    }
    return task_errc{};
}

// The reproduction: a coroutine on the only pool thread blocks on work that needs it.
boxed_task<task_errc> sync_wait_on_pool_thread(thread_pool& pool, boxed_task<int>& work) {
    co_await pool.schedule();
    co_return misuse_code([&] { (void)sync_wait(work); });
}

boxed_task<task_errc> sync_wait_in_run_loop(run_loop& loop, boxed_task<int>& work) {
    co_await loop.schedule();
    co_return misuse_code([&] { (void)sync_wait(work); });
}

boxed_task<task_errc> run_inside_run(run_loop& loop) {
    co_return misuse_code([&] { (void)loop.run(value(1)); });
}

boxed_task<task_errc> plain_run_inside_run(run_loop& loop) {
    co_return misuse_code([&] { loop.run(); });
}

} // namespace

TEST_CASE("sync_wait on a thread_pool thread throws task_misuse{blocking_wait}") {
    thread_pool pool(1);
    boxed_task<int> work = inner(pool);
    CHECK(sync_wait(sync_wait_on_pool_thread(pool, work)) == task_errc::blocking_wait);
    // Nothing was started: the task is intact and runs when awaited properly.
    CHECK_FALSE(work.done());
    CHECK(sync_wait(work) == 7);
}

TEST_CASE("sync_wait inside run_loop::run throws task_misuse{blocking_wait}") {
    thread_pool pool(1);
    run_loop loop;
    boxed_task<int> work = inner(pool);
    CHECK(loop.run(sync_wait_in_run_loop(loop, work)) == task_errc::blocking_wait);
    CHECK(sync_wait(work) == 7);
}

TEST_CASE("run_loop::run(awaitable) called from inside run throws task_misuse{blocking_wait}") {
    run_loop loop;
    CHECK(loop.run(run_inside_run(loop)) == task_errc::blocking_wait);
    // The loop still works afterwards.
    CHECK(loop.run(value(3)) == 3);
}

TEST_CASE("run_loop::run() called from inside run throws task_misuse{blocking_wait}") {
    run_loop loop;
    CHECK(loop.run(plain_run_inside_run(loop)) == task_errc::blocking_wait);
}

TEST_CASE("the blocking_wait message says what to do") {
    const std::string msg = to_string(task_errc::blocking_wait);
    CHECK(msg.find("co_await") != std::string::npos);
    CHECK(msg.find("thread_pool") != std::string::npos);
}

TEST_CASE("sync_wait outside any executor still blocks on pool work") {
    thread_pool pool(1);
    CHECK(sync_wait(inner(pool)) == 7);
}
