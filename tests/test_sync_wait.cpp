// sync_wait: tasks, user awaitables, references, exceptions, completion on another thread.
#include "support/test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <condition_variable>
#include <coroutine>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

using namespace cotrait;

namespace {

// A user awaitable that is ready at once.
struct ready_int {
    int v;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<> /*h*/) const noexcept {}
    int await_resume() const noexcept { return v; }
};

// Completes on a separate thread, once the thread that called sync_wait is blocked in it.
struct on_other_thread {
    std::thread* worker;
    std::thread::id* resumed_on;
    bool* waiter_was_blocked;
    long waiter_tid;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const {
        *worker = std::thread([h, this] {
            // Resuming only once sync_wait's thread sleeps makes this the blocking path, not the
            // one where the result is already there when sync_wait looks.
            *waiter_was_blocked = cotrait_test::blocked_in_kernel(waiter_tid);
            *resumed_on = std::this_thread::get_id();
            h.resume();
        });
    }
    std::string await_resume() const { return "from worker"; }
};

// An awaitable through a member operator co_await.
struct wrapped {
    int v;
    ready_int operator co_await() const noexcept { return ready_int{v}; }
};

boxed_task<std::string> hop(std::thread& worker, std::thread::id& resumed_on, bool& blocked,
                            long tid) {
    std::string s = co_await on_other_thread{&worker, &resumed_on, &blocked, tid};
    co_return s + " via task";
}

boxed_task<int> fails() {
    co_await ready_int{0};
    throw std::runtime_error("failed");
}

int global_value = 3;
boxed_task<int&> global_ref() {
    co_return global_value;
}

} // namespace

TEST_CASE("sync_wait runs user awaitables", "[sync_wait]") {
    CHECK(sync_wait(ready_int{7}) == 7);
    CHECK(sync_wait(wrapped{8}) == 8);
}

TEST_CASE("sync_wait blocks until a task completed on another thread", "[sync_wait]") {
    std::thread worker;
    std::thread::id resumed_on;
    bool blocked = false;
    const std::string s =
        sync_wait(hop(worker, resumed_on, blocked, cotrait_test::this_thread_kernel_id()));
    CHECK(blocked);
    CHECK(s == "from worker via task");
    CHECK(resumed_on == worker.get_id());
    CHECK(resumed_on != std::this_thread::get_id());
    worker.join();
}

TEST_CASE("sync_wait rethrows and returns references", "[sync_wait]") {
    CHECK_THROWS_AS(sync_wait(fails()), std::runtime_error);
    int& r = sync_wait(global_ref());
    CHECK(&r == &global_value);
}

TEST_CASE("sync_wait on many threads at once", "[sync_wait]") {
    std::vector<std::thread> threads;
    std::vector<int> results(8, 0);
    for (std::size_t i = 0; i < results.size(); ++i) {
        threads.emplace_back([&results, i] {
            for (int k = 0; k < 1000; ++k) {
                results[i] += sync_wait(ready_int{1});
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (int r : results) {
        CHECK(r == 1000);
    }
}
