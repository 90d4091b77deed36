// run_loop: a single-threaded executor that runs coroutines on the thread that calls run().
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/driver.hpp>
#include <cotrait/detail/executor_thread.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/detail/wait_list.hpp>
#include <cotrait/detail/work_queue.hpp>

#include <coroutine>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace cotrait {

/// A queue of suspended coroutines drained by whichever thread calls `run()`: the way to drive a
/// group of tasks on one thread (a main loop, a test) without a pool.
///
/// `co_await loop.schedule()` queues the calling coroutine; `run()` resumes queued coroutines in
/// FIFO order on the calling thread until `finish()` has been called and the queue is empty.
/// `run(awaitable)` runs one awaitable to completion on the calling thread (it starts after a
/// `schedule()`, and everything it schedules onto the loop meanwhile runs too) and returns its
/// result or rethrows its exception; work still queued when it completes stays queued.
///
/// `schedule()` and `finish()` may be called from any thread (a coroutine on a thread_pool can
/// hop back to the loop); `run` must not run on two threads at once. `schedule(token)` ends with
/// `operation_cancelled` if stop is requested before the loop resumes the coroutine.
///
/// Destroying the loop with coroutines still queued resumes them on the destroying thread with
/// `operation_cancelled` from their `schedule()`, so their owners unwind and free them (the same
/// rule as `thread_pool`'s shutdown); a `schedule()` issued after that point also throws.
class run_loop {
public:
    run_loop() = default;
    run_loop(const run_loop&) = delete;
    run_loop& operator=(const run_loop&) = delete;
    ~run_loop() { detail::work_queue::resume_cancelled(queue_.close()); }

    /// An awaitable that queues the awaiting coroutine; it continues inside `run()`.
    [[nodiscard]] detail::schedule_awaiter schedule() noexcept {
        return detail::schedule_awaiter(queue_);
    }

    /// Like `schedule()`, but throws `operation_cancelled` from the `co_await` if stop is
    /// requested on `token` before the loop resumes the coroutine.
    [[nodiscard]] detail::schedule_awaiter schedule(std::stop_token token) noexcept {
        return detail::schedule_awaiter(queue_, std::move(token));
    }

    /// Resumes queued coroutines on the calling thread, blocking while the queue is empty, until
    /// `finish()` has been called and the queue is empty. Clears the finish request on return, so
    /// the loop can be run again.
    ///
    /// Throws `task_misuse{task_errc::blocking_wait}` if the calling thread already runs an
    /// executor's queue (this loop's `run`, another loop's, a `thread_pool` thread): the loop
    /// would block the work that thread owes.
    void run() {
        detail::check_may_block();
        const detail::fresh_resume_context resumptions;
        const thread_mark mark(this);
        while (detail::work_item* it = queue_.pop_wait_until([this] { return finishing_; })) {
            detail::resume_root(it->handle);
        }
        queue_.update([this] { finishing_ = false; });
    }

    /// Makes `run()` return once the queue is empty. Thread-safe.
    void finish() {
        queue_.update([this] { finishing_ = true; });
    }

    /// Runs `a` on the calling thread until it completes, together with everything else that is
    /// scheduled onto the loop meanwhile, and returns its result (or rethrows its exception).
    /// Throws `task_misuse{task_errc::blocking_wait}`, before starting `a`, if the calling thread
    /// already runs an executor's queue (as `run()`).
    template <awaitable A>
    decltype(auto) run(A&& a) {
        detail::check_may_block();
        using result = detail::stored_result_t<A>;
        struct state {
            run_loop* loop;
            bool done = false; // guarded by the queue's mutex
        } st{this};
        auto body = [](run_loop& loop, A& aw) -> detail::driver<result> {
            co_await loop.schedule();
            if constexpr (std::is_void_v<result>) {
                co_await std::forward<A>(aw);
            } else {
                co_return co_await std::forward<A>(aw);
            }
        };
        detail::driver<result> d = body(*this, a);
        d.get().promise().set_completion(
            &st,
            [](void* ctx, std::coroutine_handle<detail::driver_promise<result>> /*self*/) noexcept
            -> std::coroutine_handle<> {
                auto* s = static_cast<state*>(ctx);
                s->loop->queue_.update([s] { s->done = true; });
                return {};
            });
        {
            const detail::fresh_resume_context resumptions;
            const thread_mark mark(this);
            detail::resume_root(d.get());
            while (detail::work_item* it = queue_.pop_wait_until([&st] { return st.done; })) {
                detail::resume_root(it->handle);
                bool finished = false;
                queue_.update([&] { finished = st.done; });
                if (finished) {
                    break;
                }
            }
        }
        return d.get().promise().take();
    }

    /// True if the calling thread is inside this loop's `run`.
    [[nodiscard]] bool running_in_this_thread() const noexcept { return current == this; }

private:
    // Marks the calling thread as inside run() for running_in_this_thread(); nests.
    struct thread_mark {
        const run_loop* saved;
        detail::executor_thread_mark executor;
        explicit thread_mark(const run_loop* l) noexcept
            : saved(std::exchange(current, l)), executor(l) {}
        thread_mark(const thread_mark&) = delete;
        thread_mark& operator=(const thread_mark&) = delete;
        ~thread_mark() { current = saved; }
    };

    static inline thread_local const run_loop* current = nullptr;

    detail::work_queue queue_;
    bool finishing_ = false; // guarded by queue_'s mutex
};

} // namespace cotrait
