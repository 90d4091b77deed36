// Which executor, if any, the calling thread is draining: blocking waits check it, because the
// work they wait for may need that very thread to make progress.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/task_error.hpp>

#include <utility>

namespace cotrait::detail {

// The thread_pool or run_loop whose queue the calling thread is running, or null.
inline constinit thread_local const void* tls_executor = nullptr;

// Marks the calling thread as running `executor`'s queue for the lifetime of the mark; nests.
class executor_thread_mark {
public:
    explicit executor_thread_mark(const void* executor) noexcept
        : saved_(std::exchange(tls_executor, executor)) {}
    executor_thread_mark(const executor_thread_mark&) = delete;
    executor_thread_mark& operator=(const executor_thread_mark&) = delete;
    ~executor_thread_mark() { tls_executor = saved_; }

private:
    const void* saved_;
};

// A blocking wait (sync_wait, run_loop::run) on an executor's thread could wait for work queued
// behind the wait itself: with one thread it always deadlocks, with more it does once every
// thread blocks. Refusing it outright turns a silent hang into a diagnosed misuse.
inline void check_may_block() {
    if (COTRAIT_UNLIKELY(tls_executor != nullptr)) {
        report_misuse(task_errc::blocking_wait);
    }
}

} // namespace cotrait::detail
