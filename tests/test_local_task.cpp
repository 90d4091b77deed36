// local_task: thread-affine tasks and local (?Send-like) interfaces.
#include "support/test_support.hpp"

#include <cotrait/counting.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/local_task.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <coroutine>
#include <csignal>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__unix__)
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace {

using cotrait_test::counting_resource;

cotrait::local_task<int> answer() {
    co_return 42;
}
cotrait::local_task<int> add_one(int x) {
    co_return co_await answer() + x - 42 + 1;
}
cotrait::static_task<int> static_answer() {
    co_return 7;
}
cotrait::local_task<void> nothing() {
    co_return;
}

// Resumes the awaiting coroutine on a new thread, which the test joins.
struct hop_thread {
    std::optional<std::thread>* slot;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const {
        slot->emplace([h] { h.resume(); });
    }
    void await_resume() const noexcept {}
};

[[maybe_unused]] cotrait::local_task<int> migrates(std::optional<std::thread>* slot) {
    co_await hop_thread{slot};
    co_return 1; // not reached with thread checks: the resumption above is diagnosed
}

[[maybe_unused]] cotrait::task_errc misuse_code(const std::function<void()>& f) {
    try {
        f();
    } catch (const cotrait::task_misuse& e) {
        return e.code();
    }
    return cotrait::task_errc{};
}

} // namespace

TEST_CASE("local_task runs like boxed_task on its own thread") {
    CHECK(cotrait::sync_wait(answer()) == 42);
    CHECK(cotrait::sync_wait(add_one(1)) == 2);
    cotrait::sync_wait(nothing());
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<cotrait::local_task<int>>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<cotrait::local_task<int>>);
    // No way back to a task that could be handed to another thread.
    STATIC_REQUIRE_FALSE(
        std::is_convertible_v<cotrait::local_task<int>&&, cotrait::boxed_task<int>>);

    cotrait::local_task<int> empty;
    CHECK_FALSE(empty.valid());
    CHECK(misuse_code([&] { cotrait::sync_wait(empty); }) == cotrait::task_errc::empty_task);
    cotrait::local_task<int> t = answer();
    CHECK(cotrait::sync_wait(t) == 42);
    CHECK(t.done());
    CHECK(misuse_code([&] { cotrait::sync_wait(t); }) == cotrait::task_errc::already_awaited);
}

TEST_CASE("local_task adopts static_task and boxed_task frames") {
    counting_resource counter;
    {
        cotrait::frame_allocator_scope scope(counter);
        cotrait::local_task<int> a = static_answer();
        cotrait::local_task<int> b = cotrait::boxed_task<int>(static_answer());
        CHECK(cotrait::sync_wait(std::move(a)) == 7);
        CHECK(cotrait::sync_wait(std::move(b)) == 7);
    }
    CHECK(counter.allocations == 2);
    CHECK(counter.live == 0);
}

#if COTRAIT_THREAD_CHECKS

TEST_CASE("local_task awaited on another thread is diagnosed before it starts") {
    cotrait::local_task<int> t = answer();
    cotrait::task_errc code{};
    std::thread other([&] { code = misuse_code([&] { cotrait::sync_wait(t); }); });
    other.join();
    CHECK(code == cotrait::task_errc::wrong_thread);
    CHECK_FALSE(t.done());
    // Still usable by its owner.
    CHECK(cotrait::sync_wait(t) == 42);
}

TEST_CASE("local_task body resumed on another thread is diagnosed at the resumption") {
    std::optional<std::thread> hop;
    const cotrait::task_errc code = misuse_code([&] { cotrait::sync_wait(migrates(&hop)); });
    REQUIRE(hop.has_value());
    hop->join();
    CHECK(code == cotrait::task_errc::wrong_thread);
}

TEST_CASE("local_task awaited, then moved to and destroyed on another thread aborts") {
#if defined(__unix__) && !defined(COTRAIT_DETAIL_TSAN)
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        auto t = std::make_unique<cotrait::local_task<int>>(answer());
        // Only a task whose body ran is diagnosed; an unstarted one may be destroyed anywhere.
        if (cotrait::sync_wait(*t) != 42) {
            _exit(2);
        }
        std::thread other([p = std::move(t)]() mutable { p.reset(); });
        other.join();
        _exit(0); // not reached: the destruction aborts
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
#else
    SKIP("needs fork() outside ThreadSanitizer");
#endif
}

TEST_CASE("local_task moved out of its thread unawaited and destroyed at home is fine") {
    // Only destroying (or awaiting) it away from home is diagnosed; the move itself, on another
    // thread, is not. Both tasks come back home: one is destroyed there, one awaited there.
    counting_resource frames;
    cotrait::local_task<int> t;
    cotrait::local_task<int> u;
    {
        cotrait::frame_allocator_scope scope(frames);
        t = answer();
        u = answer();
    }
    REQUIRE(frames.live == 2);
    cotrait::local_task<int> moved;
    cotrait::local_task<int> moved_u;
    std::thread other([&] {
        moved = std::move(t);
        moved_u = std::move(u);
    });
    other.join();
    CHECK_FALSE(t.valid()); // NOLINT(bugprone-use-after-move): checking the moved-from state
    REQUIRE(moved.valid());
    moved = {}; // destroyed at home, unawaited: no abort, and the frame is freed
    CHECK(frames.live == 1);
    CHECK(cotrait::sync_wait(moved_u) == 42);
    moved_u = {};
    CHECK(frames.live == 0);
}

#else

TEST_CASE("without thread checks local_task is a boxed_task") {
    STATIC_REQUIRE(sizeof(cotrait::local_task<int>) == sizeof(cotrait::boxed_task<int>));
    cotrait::local_task<int> t = answer();
    std::thread other([&] { CHECK(cotrait::sync_wait(t) == 42); });
    other.join();
}

#endif

namespace {

// A service with non-thread-safe state behind a local interface.
ASYNC_LOCAL_INTERFACE(Journal, (append, (std::size_t), ((std::string)line)),
                      (size, (std::size_t), () const),
                      (append_twice, (std::size_t), ((std::string)line), {
                          co_await append(line);
                          co_return co_await append(std::move(line));
                      }));

struct VectorJournal {
    std::vector<std::string> lines; // not thread-safe, and need not be
    cotrait::static_task<std::size_t> append(std::string line) {
        lines.push_back(std::move(line));
        co_return lines.size();
    }
    cotrait::static_task<std::size_t> size() const { co_return lines.size(); }
};

} // namespace

TEST_CASE("local interface: methods return local_task, the adapter adopts static frames") {
    STATIC_REQUIRE(std::is_same_v<decltype(std::declval<Journal&>().append("")),
                                  cotrait::local_task<std::size_t>>);
    STATIC_REQUIRE(cotrait::implements<VectorJournal, Journal>);
    counting_resource counter;
    cotrait::adapter<Journal, VectorJournal> j{VectorJournal{}};
    Journal& journal = j;
    {
        cotrait::frame_allocator_scope scope(counter);
        CHECK(cotrait::sync_wait(journal.append("a")) == 1);
        CHECK(counter.allocations == 1);
        CHECK(cotrait::sync_wait(journal.append_twice("b")) == 3);
        CHECK(counter.allocations == 4);
    }
    CHECK(cotrait::sync_wait(journal.size()) == 3);
#if COTRAIT_THREAD_CHECKS
    cotrait::local_task<std::size_t> pending = journal.size();
    cotrait::task_errc code{};
    std::thread other([&] { code = misuse_code([&] { cotrait::sync_wait(pending); }); });
    other.join();
    CHECK(code == cotrait::task_errc::wrong_thread);
#endif
    CHECK(counter.live == 0);
}

namespace {

ASYNC_INTERFACE(Clock, (now, (long), () const));
// A local interface extending a thread-safe one: inherited methods keep returning boxed_task.
ASYNC_LOCAL_INTERFACE_EXTENDS(LocalClock, Clock, (tick, (long), ()));

struct CountingClock {
    long ticks = 0;
    cotrait::static_task<long> now() const { co_return ticks; }
    cotrait::static_task<long> tick() { co_return ++ticks; }
};

} // namespace

TEST_CASE("local interface extending a thread-safe interface") {
    STATIC_REQUIRE(
        std::is_same_v<decltype(std::declval<LocalClock&>().now()), cotrait::boxed_task<long>>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(std::declval<LocalClock&>().tick()), cotrait::local_task<long>>);
    cotrait::adapter<LocalClock, CountingClock> c{CountingClock{}};
    LocalClock& clock = c;
    CHECK(cotrait::sync_wait(clock.tick()) == 1);
    CHECK(cotrait::sync_wait(clock.tick()) == 2);
    Clock& base = clock;
    CHECK(cotrait::sync_wait(base.now()) == 2);
    CHECK(cotrait::async_methods<LocalClock>().size() == 2);
}
