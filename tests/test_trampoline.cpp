// Forces the trampoline in every build (it is otherwise chosen only for GCC -O0 and sanitizer
// builds) so its correctness and stack safety are tested with every compiler, including the cases
// where coroutines are resumed by code other than the trampoline.
#define COTRAIT_SYMMETRIC_TRANSFER 0
#include "support/test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <coroutine>
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

} // namespace

TEST_CASE("trampoline: ten million synchronously-completing co_awaits", "[trampoline][stack]") {
    CHECK(sync_wait(loop(10'000'000)) == 10'000'000);
}

TEST_CASE("trampoline: a chain of one million nested tasks", "[trampoline][stack]") {
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
