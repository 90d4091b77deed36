// thread_pool: a fixed set of threads that coroutines move onto with `co_await pool.schedule()`.
#pragma once

#include <cotrait/cancellation.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/executor_thread.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/detail/work_queue.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

namespace cotrait {

/// A fixed number of threads sharing one FIFO queue of suspended coroutines.
///
/// `co_await pool.schedule()` suspends the calling coroutine and resumes it on one of the pool's
/// threads. Scheduling allocates nothing: the queue entry lives in the awaiter, in the coroutine's
/// frame. `co_await pool.schedule(token)` does the same but ends with `operation_cancelled` instead
/// if stop is requested on `token` before a thread picks the coroutine up (a cancelled entry jumps
/// the queue, so it is resumed, on a pool thread, promptly).
///
/// Shutdown (`shutdown()` or the destructor) stops taking work, lets every thread finish the
/// coroutine it is running until that coroutine next suspends, and joins the threads. A coroutine
/// whose `schedule()` has not run by then (still queued), or that calls `schedule()` afterwards, is
/// not dropped and its frame is not destroyed behind its owner's back: it is resumed on the thread
/// that calls `shutdown()`, and its `schedule()` throws `operation_cancelled`. The exception
/// unwinds it to whatever owns it (a task's awaiter, `when_all`, `async_scope`, `sync_wait`), which
/// then destroys its frame as usual, so nothing leaks and no owner is left with a dangling handle.
/// Destroying a frame from the pool would free a coroutine that a task object still refers to.
///
/// A pool thread must not block waiting for other work: `sync_wait` (and `run_loop::run`) called
/// on a pool thread throws `task_misuse{task_errc::blocking_wait}` instead of deadlocking.
class thread_pool {
public:
    /// Starts `threads` threads (at least one).
    explicit thread_pool(std::size_t threads = default_thread_count()) {
        if (threads == 0) {
            threads = 1;
        }
        threads_.reserve(threads);
#if COTRAIT_EXCEPTIONS
        try {
            for (std::size_t i = 0; i < threads; ++i) {
                threads_.emplace_back([this] { worker(); });
            }
        } catch (...) {
            shutdown();
            throw;
        }
#else
        // std::thread's constructor aborts by itself when it cannot start a thread.
        for (std::size_t i = 0; i < threads; ++i) {
            threads_.emplace_back([this] { worker(); });
        }
#endif
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    /// Shuts down (see the class comment). Must not run on one of the pool's own threads.
    ~thread_pool() {
        if (running_in_this_thread()) {
            std::fputs("cotrait: thread_pool destroyed from one of its own threads\n", stderr);
            std::abort();
        }
        shutdown();
    }

    /// An awaitable that moves the awaiting coroutine onto a pool thread. Throws
    /// `operation_cancelled` from the `co_await` if the pool shuts down first.
    [[nodiscard]] detail::schedule_awaiter schedule() noexcept {
        return detail::schedule_awaiter(queue_);
    }

    /// Like `schedule()`, but if stop is requested on `token` before a pool thread picks the
    /// coroutine up (or was already requested), the `co_await` throws `operation_cancelled`
    /// instead; the coroutine is then resumed on a pool thread (or inline, if stop was requested
    /// before it suspended).
    [[nodiscard]] detail::schedule_awaiter schedule(std::stop_token token) noexcept {
        return detail::schedule_awaiter(queue_, std::move(token));
    }

    /// Stops the pool: threads finish what they are running and exit, then every coroutine still
    /// queued is resumed here with `operation_cancelled`. Idempotent and thread-safe. Throws
    /// std::logic_error if called from one of the pool's threads (it would have to join itself).
    void shutdown() {
        if (running_in_this_thread()) {
            detail::throw_exception(
                std::logic_error("cotrait: thread_pool::shutdown called from a pool thread"));
        }
        std::lock_guard<std::mutex> lock(shutdown_mutex_);
        detail::work_item* leftovers = queue_.close();
        for (std::thread& t : threads_) {
            if (t.joinable()) {
                t.join();
            }
        }
        detail::work_queue::resume_cancelled(leftovers);
        // Anything scheduled after close() was refused by push() and resumed by its awaiter.
    }

    /// The number of threads the pool was started with.
    [[nodiscard]] std::size_t thread_count() const noexcept {
        return threads_.size();
    }

    /// True if the calling thread is one of this pool's threads.
    [[nodiscard]] bool running_in_this_thread() const noexcept {
        return current_pool == this;
    }

    /// How many coroutines are waiting for a thread (a snapshot, for tests and monitoring).
    [[nodiscard]] std::size_t queued() const {
        return queue_.size();
    }

    /// std::thread::hardware_concurrency(), or 1 if unknown.
    static std::size_t default_thread_count() noexcept {
        const unsigned n = std::thread::hardware_concurrency();
        return n == 0 ? 1 : n;
    }

private:
    void worker() {
        current_pool = this;
        const detail::executor_thread_mark mark(this);
        while (detail::work_item* it = queue_.pop_wait()) {
            // The trampoline (where symmetric transfer is not a guaranteed tail call) needs the
            // pump at the bottom of every thread that resumes coroutines.
            detail::resume_root(it->handle);
        }
        current_pool = nullptr;
    }

    static inline thread_local const thread_pool* current_pool = nullptr;

    detail::work_queue queue_;
    std::mutex shutdown_mutex_;
    std::vector<std::thread> threads_;
};

} // namespace cotrait
