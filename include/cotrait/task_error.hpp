// The error raised when a task is used in a way its ownership rules forbid.
#pragma once

#include <cotrait/config.hpp>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace cotrait {

/// What went wrong when a task was misused.
enum class task_errc {
    empty_task = 1,  ///< awaited a default-constructed, moved-from or released task
    already_awaited, ///< awaited a task whose result was (or is being) consumed
    wrong_thread,    ///< a thread-affine (local) task was resumed or destroyed on another thread
    blocking_wait,   ///< sync_wait / run_loop::run on a thread that runs an executor's queue
};

/// Returns a human-readable description of `e`.
constexpr const char* to_string(task_errc e) noexcept {
    switch (e) {
    case task_errc::empty_task:
        return "cotrait: awaited an empty task (default-constructed, moved-from or released)";
    case task_errc::already_awaited:
        return "cotrait: awaited a task a second time (a task has exactly one consumer)";
    case task_errc::wrong_thread:
        return "cotrait: a thread-local task was used on a thread other than its creator's";
    case task_errc::blocking_wait:
        return "cotrait: sync_wait or run_loop::run called on a thread that runs an executor "
               "(a thread_pool thread, or inside run_loop::run): the awaited work may need this "
               "thread, so blocking it could deadlock; co_await the work instead";
    }
    return "cotrait: task misuse";
}

/// Thrown from `co_await` (or `sync_wait`) on a task that cannot be awaited. It is a logic error:
/// the program broke a task's ownership rules. The task involved is left unchanged.
class task_misuse : public std::logic_error {
public:
    explicit task_misuse(task_errc code) : std::logic_error(to_string(code)), code_(code) {}
    /// The kind of misuse.
    [[nodiscard]] task_errc code() const noexcept { return code_; }

private:
    task_errc code_;
};

namespace detail {

[[noreturn]] COTRAIT_NOINLINE inline void report_misuse(task_errc code) {
#if COTRAIT_MISUSE_MESSAGES
    std::fprintf(stderr, "%s\n", to_string(code));
#endif
#if COTRAIT_EXCEPTIONS
    throw task_misuse(code);
#else
#if !COTRAIT_MISUSE_MESSAGES
    std::fprintf(stderr, "%s\n", to_string(code));
#endif
    std::abort();
#endif
}

// For contexts that cannot throw (destructors, noexcept resumption paths).
[[noreturn]] COTRAIT_NOINLINE inline void fatal_misuse(task_errc code) noexcept {
    std::fprintf(stderr, "%s\n", to_string(code));
    std::abort();
}

} // namespace detail
} // namespace cotrait
