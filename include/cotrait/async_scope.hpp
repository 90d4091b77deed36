// async_scope: owns fire-and-forget tasks so that none outlives the resources it uses.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/driver.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/transfer.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace cotrait {

/// An owner for spawned tasks: `spawn(awaitable)` starts an awaitable that nobody awaits, and
/// `co_await scope.join()` (or `sync_wait(scope.join())` from ordinary code) waits until every
/// task spawned so far has finished. Declare the scope after (inside) the resources its tasks use
/// and join it before they go away.
///
/// - `spawn` starts the awaitable at once, on the calling thread, and returns when it first
///   suspends (or finishes). Its result, if any, is dropped. The frame that drives it is freed
///   when it finishes, on the thread where it finished.
/// - Exceptions: a spawned task's exception is captured, not lost. `join()` rethrows the first one
///   captured (in completion order) once every task has finished, and clears it; later ones are
///   dropped and only counted (`dropped_exceptions()`). The scope never terminates the program
///   because of a task's exception.
/// - Cancellation: the scope has a stop source. Tasks that take `scope.get_token()` (the
///   parameter convention) can be told to stop with `request_stop()`.
/// - `join()` may be awaited repeatedly (e.g. after spawning more), but by one coroutine at a time;
///   a second concurrent joiner gets std::logic_error.
/// - Destroying a scope while tasks are still running is a program error (they would outlive
///   the resources the scope protects): the destructor prints a message and aborts.
class async_scope {
public:
    async_scope() = default;
    async_scope(const async_scope&) = delete;
    async_scope& operator=(const async_scope&) = delete;

    ~async_scope() {
        std::size_t running = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            running = running_;
        }
        if (running != 0) {
            std::fprintf(stderr,
                         "cotrait: async_scope destroyed with %zu task(s) still running; "
                         "co_await scope.join() first\n",
                         running);
            std::abort();
        }
    }

    /// Starts `a` (moved or copied into a frame the scope owns) on the calling thread. Thread-safe.
    /// Throws std::bad_alloc if the frame cannot be allocated (nothing is started then).
    template <awaitable A>
    void spawn(A&& a) {
        detail::driver<void> d =
            detail::make_discarding_driver<std::remove_cvref_t<A>>(std::forward<A>(a));
        d.get().promise().set_completion(this, &async_scope::on_task_done);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++running_;
        }
        detail::resume_root(d.release());
    }

    /// The awaitable returned by `join()`.
    class join_awaitable {
    public:
        explicit join_awaitable(async_scope& s) noexcept : scope_(&s) {}
        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) {
            std::lock_guard<std::mutex> lock(scope_->mutex_);
            if (scope_->running_ == 0) {
                return false;
            }
            if (scope_->joiner_) {
                detail::throw_exception(
                    std::logic_error("cotrait: async_scope::join awaited by two coroutines"));
            }
            scope_->joiner_ = h;
            return true;
        }
        void await_resume() const {
            std::exception_ptr e;
            {
                std::lock_guard<std::mutex> lock(scope_->mutex_);
                e = std::exchange(scope_->first_error_, nullptr);
            }
            if (e) {
                std::rethrow_exception(e);
            }
        }

    private:
        async_scope* scope_;
    };

    /// Completes when every task spawned so far has finished (at once if none is running), on the
    /// thread where the last one finished; then rethrows the first captured exception, if any.
    [[nodiscard]] join_awaitable join() noexcept { return join_awaitable(*this); }

    /// How many spawned tasks have not finished yet (a snapshot).
    [[nodiscard]] std::size_t running() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return running_;
    }

    /// How many task exceptions were dropped because an earlier one was still waiting for join().
    [[nodiscard]] std::size_t dropped_exceptions() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return dropped_;
    }

    /// A token stopped by `request_stop()`, for tasks spawned into this scope.
    [[nodiscard]] std::stop_token get_token() const noexcept { return stop_.get_token(); }
    /// Asks the tasks that watch `get_token()` to stop.
    bool request_stop() noexcept { return stop_.request_stop(); }

private:
    static std::coroutine_handle<>
    on_task_done(void* ctx, std::coroutine_handle<detail::driver_promise<void>> self) noexcept {
        auto* scope = static_cast<async_scope*>(ctx);
        std::exception_ptr error;
#if COTRAIT_EXCEPTIONS
        if (self.promise().failed()) {
            try {
                self.promise().take();
            } catch (...) {
                error = std::current_exception();
            }
        }
#endif
        // The frame goes first: once the count drops, a joiner may destroy the scope.
        self.destroy();
        std::coroutine_handle<> next;
        {
            std::lock_guard<std::mutex> lock(scope->mutex_);
            if (error) {
                if (scope->first_error_) {
                    ++scope->dropped_;
                } else {
                    scope->first_error_ = std::move(error);
                }
            }
            if (--scope->running_ == 0) {
                next = std::exchange(scope->joiner_, {});
            }
        }
        return next;
    }

    mutable std::mutex mutex_;
    std::size_t running_ = 0;
    std::size_t dropped_ = 0;
    std::coroutine_handle<> joiner_{};
    std::exception_ptr first_error_;
    std::stop_source stop_;
};

} // namespace cotrait
