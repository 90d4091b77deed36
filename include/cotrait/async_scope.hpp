// async_scope: owns fire-and-forget tasks so that none outlives the resources it uses.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/driver.hpp>
#include <cotrait/detail/result.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/task_error.hpp>

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace cotrait {

class async_scope;

namespace detail {

// A callable whose call makes an awaitable: what spawn(f) accepts besides awaitables.
template <class F>
concept awaitable_factory = !awaitable<F> && std::invocable<std::remove_cvref_t<F>&> &&
                            awaitable<std::invoke_result_t<std::remove_cvref_t<F>&>>;

template <class F>
using factory_result_t = stored_result_t<std::invoke_result_t<std::remove_cvref_t<F>&>>;

// The driver body for spawn(f): `f` lives in this frame until the awaitable it made finishes.
template <class R, class F>
driver<R> make_factory_driver(F f) {
    if constexpr (std::is_void_v<R>) {
        co_await std::invoke(f);
    } else {
        co_return co_await std::invoke(f);
    }
}

// What a join_handle and its spawned task share: the outcome, and who frees this.
//
// `state` is 0 while the task runs and nobody waits, the waiting coroutine's address while
// the handle is awaited, or one of two markers: `done` (the task finished first) or `detached`
// (the handle was dropped first). Whoever arrives second frees the state; the task routes its
// exception to the scope if the handle was dropped first.
template <class R>
struct join_state {
    static constexpr std::uintptr_t done = 1;
    static constexpr std::uintptr_t detached = 2;

    explicit join_state(async_scope* s) noexcept : scope(s) {}

    std::atomic<std::uintptr_t> state{0};
    async_scope* scope; // for the task's completion only
    result_slot<R> result;
    bool failed = false;
};

} // namespace detail

/// The handle `async_scope::spawn_with_handle` returns (Rust's `JoinHandle<T>`): `co_await h`
/// yields the task's result or rethrows its exception, on the thread where the task finished (or
/// at once if it has). Move-only; awaitable once.
///
/// Dropping the handle detaches it: the task keeps running under the scope, its result is
/// dropped, and its exception goes to the scope's `join()` if the handle was dropped before the
/// task finished. A handle dropped unawaited after its task failed drops the exception with a
/// message on stderr (in builds with misuse messages, the default in debug builds).
template <class R>
class join_handle {
public:
    join_handle() noexcept = default;
    join_handle(join_handle&& other) noexcept
        : s_(std::exchange(other.s_, nullptr)), awaited_(other.awaited_), taken_(other.taken_) {}
    join_handle& operator=(join_handle&& other) noexcept {
        if (this != &other) {
            detach();
            s_ = std::exchange(other.s_, nullptr);
            awaited_ = other.awaited_;
            taken_ = other.taken_;
        }
        return *this;
    }
    join_handle(const join_handle&) = delete;
    join_handle& operator=(const join_handle&) = delete;
    ~join_handle() { detach(); }

    /// True if the handle refers to a task (not default-constructed, moved-from or detached).
    [[nodiscard]] bool valid() const noexcept { return s_ != nullptr; }

    /// True once the task has finished (a snapshot); false for an invalid handle.
    [[nodiscard]] bool done() const noexcept {
        return s_ != nullptr && s_->state.load(std::memory_order_acquire) == state_t::done;
    }

    /// Gives up the result; see the class comment.
    void detach() noexcept {
        state_t* s = std::exchange(s_, nullptr);
        if (s == nullptr) {
            return;
        }
        const std::uintptr_t prev = s->state.exchange(state_t::detached, std::memory_order_acq_rel);
        if (prev == state_t::done) {
#if COTRAIT_MISUSE_MESSAGES
            if (s->failed && !taken_) {
                std::fputs("cotrait: a join_handle was dropped without being awaited and its task "
                           "failed; the exception is lost\n",
                           stderr);
            }
#endif
            delete s;
        }
    }

    /// The awaiter of `co_await handle`.
    class awaiter {
    public:
        explicit awaiter(join_handle& h) noexcept : h_(&h) {}
        bool await_ready() const noexcept {
            return h_->s_->state.load(std::memory_order_acquire) == state_t::done;
        }
        bool await_suspend(std::coroutine_handle<> caller) noexcept {
            std::uintptr_t expected = 0;
            return h_->s_->state.compare_exchange_strong(
                expected, reinterpret_cast<std::uintptr_t>(caller.address()),
                std::memory_order_acq_rel, std::memory_order_acquire);
        }
        R await_resume() {
            // The task's writes to the result happen-before its exchange to `done`.
            (void)h_->s_->state.load(std::memory_order_acquire);
            h_->taken_ = true;
            return h_->s_->result.take();
        }

    private:
        join_handle* h_;
    };

    /// `co_await handle`: the task's result. Throws task_misuse{empty_task} on an invalid handle
    /// and task_misuse{already_awaited} on a second await.
    awaiter operator co_await() & {
        check();
        return awaiter(*this);
    }
    /// As above, for `co_await std::move(handle)` and temporaries.
    awaiter operator co_await() && {
        check();
        return awaiter(*this);
    }

private:
    friend class async_scope;
    using state_t = detail::join_state<R>;

    explicit join_handle(state_t* s) noexcept : s_(s) {}

    void check() {
        if (s_ == nullptr) {
            detail::report_misuse(task_errc::empty_task);
        }
        if (awaited_) {
            detail::report_misuse(task_errc::already_awaited);
        }
        awaited_ = true;
    }

    state_t* s_ = nullptr;
    bool awaited_ = false;
    bool taken_ = false;
};

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
        d.get().promise().set_completion(this, &async_scope::on_task_done<void>);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++running_;
        }
        detail::resume_root(d.release());
    }

    /// Starts the awaitable that `f()` returns, with `f` (moved or copied) owned by the scope
    /// until that awaitable finishes: the safe way to spawn a lambda coroutine with captures, whose
    /// captures would otherwise die with the lambda object while the task still uses them.
    /// Otherwise as `spawn(awaitable)`; an exception thrown by `f()` itself is captured the same
    /// way.
    template <class F>
    requires detail::awaitable_factory<F>
    void spawn(F&& f) {
        using R = detail::factory_result_t<F>;
        detail::driver<R> d =
            detail::make_factory_driver<R, std::remove_cvref_t<F>>(std::forward<F>(f));
        start_discarding(std::move(d));
    }

    /// As `spawn`, and returns a `join_handle` whose `co_await` yields the task's result (or
    /// rethrows its exception): `auto h = scope.spawn_with_handle(fetch(k)); ... co_await h`.
    /// Accepts an awaitable or a callable returning one (then owned by the scope, as `spawn(f)`).
    /// The task still counts for `join()`; its exception goes to the handle, not to `join()`
    /// (unless the handle was dropped first). Allocates the shared result (one `new`) besides the
    /// driver frame; throws std::bad_alloc with nothing started if either fails.
    template <class X>
    requires(awaitable<X> || detail::awaitable_factory<X>)
        [[nodiscard]] auto spawn_with_handle(X&& x) {
        if constexpr (awaitable<X>) {
            using R = detail::stored_result_t<std::remove_cvref_t<X>>;
            return start_with_handle<R>(
                detail::make_driver<R, std::remove_cvref_t<X>>(std::forward<X>(x)));
        } else {
            using R = detail::factory_result_t<X>;
            return start_with_handle<R>(
                detail::make_factory_driver<R, std::remove_cvref_t<X>>(std::forward<X>(x)));
        }
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
    template <class R>
    void start_discarding(detail::driver<R> d) {
        d.get().promise().set_completion(this, &async_scope::on_task_done<R>);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++running_;
        }
        detail::resume_root(d.release());
    }

    template <class R>
    join_handle<R> start_with_handle(detail::driver<R> d) {
        auto* st = new detail::join_state<R>(this);
        d.get().promise().set_completion(st, &async_scope::on_handle_task_done<R>);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++running_;
        }
        join_handle<R> h(st);
        detail::resume_root(d.release());
        return h;
    }

    template <class R>
    static std::coroutine_handle<>
    on_handle_task_done(void* ctx, std::coroutine_handle<detail::driver_promise<R>> self) noexcept {
        auto* st = static_cast<detail::join_state<R>*>(ctx);
        async_scope* scope = st->scope;
        // Move the outcome out, so the driver frame (and the awaitable or callable it owns) is
        // freed now, as for spawn(), not when the handle goes away.
#if COTRAIT_EXCEPTIONS
        try {
#endif
            if constexpr (std::is_void_v<R>) {
                self.promise().take();
                st->result.return_void();
            } else {
                st->result.return_value(self.promise().take());
            }
#if COTRAIT_EXCEPTIONS
        } catch (...) {
            st->failed = true;
            st->result.unhandled_exception();
        }
#endif
        self.destroy();
        const std::uintptr_t prev =
            st->state.exchange(detail::join_state<R>::done, std::memory_order_acq_rel);
        std::exception_ptr orphan;
        std::coroutine_handle<> waiter;
        if (prev == detail::join_state<R>::detached) {
#if COTRAIT_EXCEPTIONS
            if (st->failed) {
                try {
                    st->result.take();
                } catch (...) {
                    orphan = std::current_exception();
                }
            }
#endif
            delete st;
        } else if (prev != 0) {
            waiter = std::coroutine_handle<>::from_address(reinterpret_cast<void*>(prev));
        }
        std::coroutine_handle<> joiner = scope->finish_one(std::move(orphan));
        // After finish_one the scope may be destroyed by the joiner only, which has not run yet.
        if (waiter && joiner) {
            detail::resume_root(waiter);
            return joiner;
        }
        return waiter ? waiter : joiner;
    }

    // Records a finished task (and its exception, if any); returns the joiner to resume, if this
    // was the last task.
    std::coroutine_handle<> finish_one(std::exception_ptr error) noexcept {
        std::coroutine_handle<> next;
        std::lock_guard<std::mutex> lock(mutex_);
        if (error) {
            if (first_error_) {
                ++dropped_;
            } else {
                first_error_ = std::move(error);
            }
        }
        if (--running_ == 0) {
            next = std::exchange(joiner_, {});
        }
        return next;
    }

    template <class R>
    static std::coroutine_handle<>
    on_task_done(void* ctx, std::coroutine_handle<detail::driver_promise<R>> self) noexcept {
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
        return scope->finish_one(std::move(error));
    }

    mutable std::mutex mutex_;
    std::size_t running_ = 0;
    std::size_t dropped_ = 0;
    std::coroutine_handle<> joiner_{};
    std::exception_ptr first_error_;
    std::stop_source stop_;
};

} // namespace cotrait
