// Built with -fno-exceptions (tests/CMakeLists.txt): the umbrella header compiles, tasks,
// interfaces, allocators and executors work, and every error cotrait would throw becomes a message
// on stderr followed by abort (issue 9, item 8). No Catch2: its library is built with exceptions.
// Each check prints what failed; the process exits non-zero if any did.
#include <cotrait/cotrait.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>

#if defined(__unix__)
#include <sys/wait.h>
#include <unistd.h>
#endif

#if COTRAIT_EXCEPTIONS
#error "this test must be built with -fno-exceptions"
#endif

namespace {

int failures = 0;

void check(bool ok, const char* what, int line) {
    if (!ok) {
        std::fprintf(stderr, "FAILED line %d: %s\n", line, what);
        ++failures;
    }
}
#define CHECK(...) check(static_cast<bool>(__VA_ARGS__), #__VA_ARGS__, __LINE__)

cotrait::boxed_task<int> boxed_one() {
    co_return 1;
}
cotrait::static_task<int> static_two() {
    co_return 2;
}
cotrait::boxed_task<std::string> text(int n) {
    co_return std::string(static_cast<std::size_t>(n), 'x');
}
cotrait::boxed_task<void> nothing() {
    co_return;
}
cotrait::boxed_task<long> sum_loop(long n) {
    long s = 0;
    for (long i = 0; i < n; ++i) {
        s += co_await boxed_one() + co_await static_two();
    }
    co_await nothing();
    co_return s;
}
cotrait::local_task<int> local_three() {
    co_return 3;
}

} // namespace

ASYNC_INTERFACE(Counter, (next, (int), ((int)step)), (value, (int), () const),
                (twice, (int), ((int)step), {
                    co_await next(step);
                    co_return co_await next(step);
                }));

namespace {

struct LocalCounter {
    int v = 0;
    cotrait::static_task<int> next(int step) { co_return v += step; }
    cotrait::static_task<int> value() const { co_return v; }
};

struct VirtualCounter final : Counter {
    int v = 0;
    cotrait::boxed_task<int> next(int step) override { co_return v += step; }
    cotrait::boxed_task<int> value() const override { co_return v; }
};

template <cotrait::implements<Counter> C>
cotrait::static_task<int> bump(C& c) {
    co_return co_await c.next(1);
}

cotrait::boxed_task<int> on_pool(cotrait::thread_pool& pool) {
    co_await pool.schedule();
    co_return pool.running_in_this_thread() ? 10 : -1;
}

cotrait::boxed_task<int> on_loop(cotrait::run_loop& loop) {
    co_await loop.schedule();
    co_return loop.running_in_this_thread() ? 20 : -1;
}

cotrait::boxed_task<void> add_to(int& target, int v) {
    target += v;
    co_return;
}

void basics() {
    CHECK(cotrait::sync_wait(boxed_one()) == 1);
    CHECK(cotrait::sync_wait(static_two()) == 2);
    CHECK(cotrait::sync_wait(text(300)) == std::string(300, 'x'));
    CHECK(cotrait::sync_wait(sum_loop(100'000)) == 300'000);
    CHECK(cotrait::sync_wait(local_three()) == 3);
    cotrait::boxed_task<int> adopted = static_two();
    CHECK(cotrait::sync_wait(std::move(adopted)) == 2);
}

void interfaces() {
    LocalCounter direct;
    CHECK(cotrait::sync_wait(bump(direct)) == 1);
    std::unique_ptr<Counter> adapted = cotrait::make_adapter<Counter>(LocalCounter{});
    CHECK(cotrait::sync_wait(adapted->twice(2)) == 4);
    CHECK(cotrait::sync_wait(adapted->value()) == 4);
    VirtualCounter v;
    Counter& c = v;
    CHECK(cotrait::sync_wait(c.twice(3)) == 6);
}

void allocators() {
    cotrait::counting_resource<> counter;
    {
        cotrait::frame_allocator_scope scope(counter);
        CHECK(cotrait::sync_wait(boxed_one()) == 1);
    }
    CHECK(counter.stats().allocations == 1);
    CHECK(counter.stats().live_allocations() == 0);

    cotrait::arena_resource arena;
    {
        cotrait::frame_allocator_scope scope(arena);
        CHECK(cotrait::sync_wait(sum_loop(10)) == 30);
    }
}

void executors() {
    cotrait::thread_pool pool(2);
    CHECK(cotrait::sync_wait(on_pool(pool)) == 10);
    cotrait::run_loop loop;
    CHECK(loop.run(on_loop(loop)) == 20);
    const auto [a, b] = cotrait::sync_wait(cotrait::when_all(boxed_one(), static_two()));
    CHECK(a == 1);
    CHECK(b == 2);
    int total = 0;
    cotrait::async_scope scope;
    scope.spawn(add_to(total, 5));
    scope.spawn(add_to(total, 6));
    cotrait::sync_wait(scope.join());
    CHECK(total == 11);
}

// with_timeout's result paths (detail::timeout_race) instantiated without exceptions: on time, and
// late results kept (a value, a reference) when the operation was handed the token.
void timeouts() {
    using namespace std::chrono_literals;
    cotrait::run_loop loop;
    int storage = 0;
    auto late = [&](std::stop_token) -> cotrait::boxed_task<int> {
        co_await cotrait::sleep_for(loop, 10ms);
        co_return 7;
    };
    auto late_ref = [&](std::stop_token) -> cotrait::boxed_task<int&> {
        co_await cotrait::sleep_for(loop, 10ms);
        co_return storage;
    };
    CHECK(loop.run(cotrait::with_timeout(loop, 1ms, late)) == 7);
    CHECK(&loop.run(cotrait::with_timeout(loop, 1ms, late_ref)) == &storage);
    CHECK(loop.run(cotrait::with_timeout(loop, 1h, boxed_one())) == 1);
    loop.run(cotrait::with_timeout(loop, 1h, nothing()));
}

#if defined(__unix__) && !defined(COTRAIT_DETAIL_TSAN)
// Runs `f` in a child process; it must abort (SIGABRT) after writing `expected` to stderr.
template <class F>
void expect_abort_with(const char* expected, F f, int line) {
    int fds[2];
    if (pipe(fds) != 0) {
        check(false, "pipe", line);
        return;
    }
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        f();
        _exit(0); // not reached if f aborts
    }
    close(fds[1]);
    std::string out;
    char buf[512];
    ssize_t n = 0;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    check(aborted, "the child aborted", line);
    check(out.find(expected) != std::string::npos, expected, line);
    if (!aborted || out.find(expected) == std::string::npos) {
        std::fprintf(stderr, "  child stderr: %s\n", out.c_str());
    }
}

cotrait::boxed_task<int> sync_wait_on_pool(cotrait::thread_pool& pool) {
    co_await pool.schedule();
    co_return cotrait::sync_wait(boxed_one());
}

void errors_abort_with_a_message() {
    expect_abort_with(
        "awaited an empty task",
        [] {
            cotrait::boxed_task<int> empty;
            (void)cotrait::sync_wait(empty);
        },
        __LINE__);
    expect_abort_with(
        "operation cancelled (exceptions are disabled: aborting)",
        [] {
            std::stop_source stop;
            stop.request_stop();
            cotrait::throw_if_cancelled(stop.get_token());
        },
        __LINE__);
    expect_abort_with(
        "sync_wait or run_loop::run called on a thread that runs an executor",
        [] {
            cotrait::thread_pool pool(1);
            (void)cotrait::sync_wait(sync_wait_on_pool(pool));
        },
        __LINE__);
}
#endif

} // namespace

int main() {
    basics();
    interfaces();
    allocators();
    executors();
    timeouts();
#if defined(__unix__) && !defined(COTRAIT_DETAIL_TSAN)
    errors_abort_with_a_message();
#endif
    if (failures != 0) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::puts("no_exceptions: all checks passed");
    return 0;
}
