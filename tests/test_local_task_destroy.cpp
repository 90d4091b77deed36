// local_task destruction away from its owner thread (issue 9, item 5): a task whose body never ran
// may be destroyed anywhere (only its parameter copies are destroyed, no code of the body runs), so
// the task_misuse thrown by awaiting it on the wrong thread unwinds normally. Destroying a task
// whose body has run elsewhere is still diagnosed (message, then abort).
#include "support/test_support.hpp"

#include <cotrait/local_task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <csignal>
#include <memory>
#include <thread>
#include <utility>

#if defined(__unix__)
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace {

cotrait::local_task<int> local_value(cotrait_test::counters& c) {
    const cotrait_test::counted inside(c, 1);
    co_return inside.value();
}

// The scenario of the issue: the task is created on the calling thread, the coroutine that owns it
// (as a local, so unwinding destroys it on the thread where the exception is thrown) hops to a pool
// thread and awaits it there.
cotrait::boxed_task<int> await_after_hop(cotrait::thread_pool& pool, cotrait_test::counters& c) {
    cotrait::local_task<int> t = local_value(c);
    co_await pool.schedule();
    co_return co_await std::move(t);
}

} // namespace

#if COTRAIT_THREAD_CHECKS

TEST_CASE("awaiting a local_task on the wrong thread throws, and unwinding destroys it there") {
    cotrait_test::counters c;
    cotrait::thread_pool pool(1);
    cotrait::task_errc code{};
    try {
        (void)cotrait::sync_wait(await_after_hop(pool, c));
    } catch (const cotrait::task_misuse& e) {
        code = e.code();
    }
    CHECK(code == cotrait::task_errc::wrong_thread);
    CHECK(c.constructed == 0); // the body never ran
}

TEST_CASE("an unawaited local_task may be destroyed on another thread") {
    cotrait_test::counters c;
    auto t = std::make_unique<cotrait::local_task<int>>(local_value(c));
    std::thread other([p = std::move(t)]() mutable { p.reset(); });
    other.join();
    CHECK(c.constructed == 0);
}

TEST_CASE("a local_task whose body ran, destroyed on another thread, aborts") {
#if defined(__unix__) && !defined(COTRAIT_DETAIL_TSAN)
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        cotrait_test::counters c;
        auto t = std::make_unique<cotrait::local_task<int>>(local_value(c));
        if (cotrait::sync_wait(*t) != 1) {
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

#else

TEST_CASE("without thread checks a local_task is destroyed anywhere") {
    cotrait_test::counters c;
    auto t = std::make_unique<cotrait::local_task<int>>(local_value(c));
    std::thread other([p = std::move(t)]() mutable { p.reset(); });
    other.join();
    CHECK(c.constructed == 0);
}

#endif
