// Forces the trampoline in every build (it is otherwise chosen only for GCC -O0 and sanitizer
// builds) so its correctness and stack safety are tested with every compiler, including the cases
// where coroutines are resumed by code other than the trampoline.
#define COTRAIT_SYMMETRIC_TRANSFER 0
#include "support/test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <coroutine>
#include <deque>
#include <exception>
#include <thread>
#include <vector>

static_assert(COTRAIT_SYMMETRIC_TRANSFER == 0);

using namespace cotrait;

namespace {

boxed_task<int> one() {
    co_return 1;
}

boxed_task<long> loop(long n) {
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        sum += co_await one();
    }
    co_return sum;
}

boxed_task<long> chain(long depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await chain(depth - 1);
}

// An awaiter that resumes the awaiting coroutine itself, inside await_suspend (legal, if unusual).
struct resume_inline {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { h.resume(); }
    void await_resume() const noexcept {}
};

// An awaiter that uses symmetric transfer itself, back into the awaiting coroutine.
struct transfer_back {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) const noexcept { return h; }
    void await_resume() const noexcept {}
};

// A hand-written "foreign" coroutine type that awaits cotrait tasks and is resumed directly.
struct foreign {
    struct promise_type {
        long result = 0;
        foreign get_return_object() {
            return foreign{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_value(long v) { result = v; }
        void unhandled_exception() { throw; }
    };
    std::coroutine_handle<promise_type> h;
    foreign(foreign&& o) noexcept : h(std::exchange(o.h, {})) {}
    explicit foreign(std::coroutine_handle<promise_type> h) : h(h) {}
    foreign(const foreign&) = delete;
    foreign& operator=(const foreign&) = delete;
    foreign& operator=(foreign&&) = delete;
    ~foreign() {
        if (h) {
            h.destroy();
        }
    }
};

foreign foreign_loop(long n) {
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        sum += co_await one();
    }
    co_return sum;
}

boxed_task<long> with_foreign_resumes(long n) {
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        co_await resume_inline{};
        co_await transfer_back{};
        sum += co_await one();
    }
    co_return sum;
}

// A plain run queue drained with direct h.resume(): no pump below the resumed coroutines.
struct plain_queue {
    std::deque<std::coroutine_handle<>> ready;
    struct later {
        plain_queue* q;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) const { q->ready.push_back(h); }
        void await_resume() const noexcept {}
    };
    later next() { return later{this}; }
    void drain() {
        while (!ready.empty()) {
            std::coroutine_handle<> h = ready.front();
            ready.pop_front();
            h.resume();
        }
    }
};

boxed_task<long> suspend_then(plain_queue& q, long v) {
    co_await q.next();
    co_return v;
}

boxed_task<long> nested_suspend(plain_queue& q, long v) {
    co_return 1 + co_await suspend_then(q, v);
}

// An eager foreign coroutine (starts at the call, frees itself at the end) that stores the result
// of one cotrait task.
struct eager {
    struct promise_type {
        eager get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
};

eager store_result(boxed_task<long> task, long* out) {
    *out = co_await std::move(task);
}

} // namespace

TEST_CASE("trampoline: ten million synchronously-completing co_awaits",
          "[trampoline][stack][slow]") {
    CHECK(sync_wait(loop(10'000'000)) == 10'000'000);
}

TEST_CASE("trampoline: a chain of one million nested tasks", "[trampoline][stack][slow]") {
    CHECK(sync_wait(chain(1'000'000)) == 1'000'000);
}

TEST_CASE("trampoline: a foreign coroutine resumed directly awaits cotrait tasks", "[trampoline]") {
    foreign f = foreign_loop(100'000);
    f.h.resume(); // not through the trampoline: each await must run its own pump
    REQUIRE(f.h.done());
    CHECK(f.h.promise().result == 100'000);
}

TEST_CASE("trampoline: awaiters that resume inline or transfer symmetrically", "[trampoline]") {
    CHECK(sync_wait(with_foreign_resumes(10'000)) == 10'000);
}

TEST_CASE("trampoline: independent pumps on several threads", "[trampoline]") {
    std::vector<long> results(4, 0);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i) {
        threads.emplace_back([&results, i] { results[i] = sync_wait(loop(100'000)); });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (long r : results) {
        CHECK(r == 100'000);
    }
}

TEST_CASE("trampoline: an eager foreign coroutine awaits a task that a plain queue resumes",
          "[trampoline]") {
    // The foreign coroutine's await starts a pump, which ends when the task suspends on the queue.
    // That pump must leave the thread's state as it found it: the queue later resumes the task
    // directly, and its completion must resume the foreign coroutine, not be deferred to a pump
    // that is no longer there.
    plain_queue q;
    long direct = 0;
    store_result(suspend_then(q, 41), &direct);
    REQUIRE(q.ready.size() == 1);
    CHECK(direct == 0);
    q.drain();
    CHECK(direct == 41);

    // The same one level deeper: the queue resumes the inner task, which completes into the outer
    // one, which completes into the foreign coroutine.
    long nested = 0;
    store_result(nested_suspend(q, 41), &nested);
    REQUIRE(q.ready.size() == 1);
    CHECK(nested == 0);
    q.drain();
    CHECK(nested == 42);
}
