// asio interop: await any asio asynchronous operation from a cotrait task (`cotrait::use_task`),
// and run cotrait tasks on an asio executor. Needs standalone asio (define ASIO_STANDALONE);
// nothing else in cotrait includes this header.
#pragma once

#include <cotrait/async_scope.hpp>
#include <cotrait/awaitable_traits.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/driver.hpp>
#include <cotrait/detail/executor_thread.hpp>
#include <cotrait/detail/transfer.hpp>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/system_error.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cotrait {

/// The completion token that turns an asio asynchronous operation into something a cotrait task
/// can `co_await`: `std::size_t n = co_await sock.async_read_some(buf, cotrait::use_task);`.
///
/// - The operation starts when it is awaited (the returned object is lazy and awaitable once);
///   the coroutine resumes inside the completion handler, on a thread running the I/O object's
///   executor (for an io_context: a thread in `run()`).
/// - Result: the completion arguments after a leading `std::error_code` / `std::exception_ptr`:
///   none gives `void`, one gives that value, several give a `std::tuple`.
/// - Errors: a non-zero `std::error_code` is thrown as `asio::system_error` (with that code); a
///   non-null `std::exception_ptr` is rethrown.
/// - Cancellation: `cotrait::use_task(token)` binds a `std::stop_token`. Stop requested before the
///   operation starts throws `operation_cancelled` without starting it; stop requested while it
///   runs emits `asio::cancellation_type::terminal` on the operation's cancellation slot (posted to
///   the I/O object's executor, so the object must be used from one thread or a strand, as asio
///   requires for per-operation cancellation), and an operation that then completes with
///   `operation_aborted` throws `operation_cancelled` rather than `asio::system_error`.
/// - The I/O object's execution context must keep running until awaited operations complete: an
///   io_context destroyed with an operation pending destroys its handler without calling it, and
///   the awaiting coroutine then never resumes.
struct use_task_t {
    use_task_t() noexcept = default;
    /// A token whose operations can be cancelled through `token`.
    explicit use_task_t(std::stop_token token) noexcept : stop_token(std::move(token)) {}
    /// `use_task(token)`: the same token, bound to `token`.
    use_task_t operator()(std::stop_token token) const noexcept {
        return use_task_t(std::move(token));
    }
    /// The stop token operations awaited with this completion token watch (none by default).
    std::stop_token stop_token;
};

/// See `use_task_t`.
inline const use_task_t use_task{};

namespace detail {

template <class... Ts>
struct asio_value {
    using type = std::tuple<Ts...>;
};
template <>
struct asio_value<> {
    using type = void;
};
template <class T>
struct asio_value<T> {
    using type = T;
};

// How a completion signature's arguments become a result: a leading error_code or
// exception_ptr is the error channel, the rest is the value.
template <class... Args>
struct asio_completion {
    static constexpr int error_kind = 0; // none
    using value_type = typename asio_value<Args...>::type;
};
template <class... Rest>
struct asio_completion<std::error_code, Rest...> {
    static constexpr int error_kind = 1;
    using value_type = typename asio_value<Rest...>::type;
};
template <class... Rest>
struct asio_completion<std::exception_ptr, Rest...> {
    static constexpr int error_kind = 2;
    using value_type = typename asio_value<Rest...>::type;
};

// Shared between an operation and a stop callback that may fire after the operation is gone:
// the emit is posted to the I/O object's executor and must find out whether it is still wanted.
struct asio_cancel_state {
    asio::cancellation_signal signal;
    std::mutex mutex;              // held by the initiation: an emit waits until it has returned
    std::atomic<bool> done{false}; // the operation has completed: nothing left to cancel
};

// The executor an initiation's I/O object runs on (void if it does not say).
template <class I>
struct initiation_executor {
    using type = void;
};
template <class I>
requires requires(I& i) {
    i.get_executor();
}
struct initiation_executor<I> {
    using type = std::decay_t<decltype(std::declval<I&>().get_executor())>;
};

// The stop callback of a cancellable operation: posts the emit to the I/O object's executor.
template <class Executor>
struct asio_canceller {
    Executor ex;
    std::shared_ptr<asio_cancel_state> state;
    void operator()() const noexcept {
        try {
            asio::post(ex, [s = state] {
                const std::lock_guard<std::mutex> lock(s->mutex);
                if (!s->done.load(std::memory_order_relaxed)) {
                    s->signal.emit(asio::cancellation_type::terminal);
                }
            });
        } catch (...) {
            // Out of memory while posting: the operation simply runs to completion.
        }
    }
};
template <>
struct asio_canceller<void> {
    void operator()() const noexcept {}
};

template <class Sig, class Initiation, class... InitArgs>
class asio_operation;

template <class... Args, class Initiation, class... InitArgs>
class asio_operation<void(Args...), Initiation, InitArgs...> {
    using completion = asio_completion<std::decay_t<Args>...>;
    using executor_type = typename initiation_executor<Initiation>::type;

public:
    using value_type = typename completion::value_type;

    template <class I, class... A>
    asio_operation(I&& init, std::stop_token token, A&&... args)
        : init_(std::forward<I>(init)), args_(std::forward<A>(args)...), token_(std::move(token)) {}

    // Movable until awaited: asio's initiating functions return it through several layers.
    asio_operation(asio_operation&& other) noexcept(
        std::is_nothrow_move_constructible_v<Initiation>&&
            std::is_nothrow_move_constructible_v<std::tuple<InitArgs...>>)
        : init_(std::move(other.init_)), args_(std::move(other.args_)),
          token_(std::move(other.token_)) {}
    asio_operation& operator=(asio_operation&&) = delete;

    bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> h) {
        if (token_.stop_requested()) {
            cancelled_ = true;
            return false;
        }
        continuation_ = h;
        std::shared_ptr<asio_cancel_state> cancel;
        std::unique_lock<std::mutex> lock;
        if constexpr (!std::is_void_v<executor_type>) {
            if (token_.stop_possible()) {
                cancel = std::make_shared<asio_cancel_state>();
                // Locked before the callback exists, until the initiation has returned: an emit
                // posted by a stop from now on waits until the operation is connected to the
                // signal (taken after registering, a stop in between had its emit run on another
                // thread on a signal with nothing connected, and was lost).
                lock = std::unique_lock<std::mutex>(cancel->mutex);
                // Before the initiation: afterwards the frame may already be gone.
                callback_.emplace(token_,
                                  asio_canceller<executor_type>{init_.get_executor(), cancel});
            }
        }
        // The handler always resumes the coroutine, on the I/O object's executor; from the
        // moment the operation is started it may do so on another thread, and the coroutine may
        // then destroy this frame. So the initiation and its arguments move to this stack first
        // and nothing below touches the frame.
        Initiation init(std::move(init_));
        std::tuple<InitArgs...> args(std::move(args_));
        std::apply(
            [&](auto&... a) {
                std::move(init)(handler{this, cancel}, std::move(a)...);
            },
            args);
        return true;
    }

    value_type await_resume() {
        callback_.reset();
        if (cancelled_) {
            throw operation_cancelled{};
        }
        auto& r = *result_;
        if constexpr (completion::error_kind == 1) {
            const std::error_code& ec = std::get<0>(r);
            if (ec) {
                if (ec == asio::error::operation_aborted && token_.stop_requested()) {
                    throw operation_cancelled{};
                }
                throw asio::system_error(ec);
            }
        } else if constexpr (completion::error_kind == 2) {
            if (std::get<0>(r)) {
                std::rethrow_exception(std::get<0>(r));
            }
        }
        constexpr std::size_t skip = completion::error_kind == 0 ? 0 : 1;
        return value(r, std::make_index_sequence<sizeof...(Args) - skip>{});
    }

private:
    using result_tuple = std::tuple<std::decay_t<Args>...>;

    template <std::size_t... I>
    value_type value(result_tuple& r, std::index_sequence<I...> /*unused*/) {
        constexpr std::size_t skip = completion::error_kind == 0 ? 0 : 1;
        if constexpr (std::is_void_v<value_type>) {
            (void)r;
            return;
        } else if constexpr (sizeof...(I) == 1) {
            return std::move(std::get<skip + I>(r)...);
        } else {
            return value_type(std::move(std::get<skip + I>(r))...);
        }
    }

    // The completion handler asio calls (once) with the completion arguments.
    struct handler {
        asio_operation* op;
        std::shared_ptr<asio_cancel_state> cancel;

        using cancellation_slot_type = asio::cancellation_slot;
        [[nodiscard]] cancellation_slot_type get_cancellation_slot() const noexcept {
            return cancel ? cancel->signal.slot() : cancellation_slot_type();
        }

        template <class... Xs>
        void operator()(Xs&&... xs) {
            if (cancel) {
                cancel->done.store(true, std::memory_order_relaxed);
            }
            op->result_.emplace(std::forward<Xs>(xs)...);
            resume_root(op->continuation_);
        }
    };

    Initiation init_;
    std::tuple<InitArgs...> args_;
    std::stop_token token_;
    std::coroutine_handle<> continuation_{};
    std::optional<result_tuple> result_;
    bool cancelled_ = false;
    std::shared_ptr<asio_cancel_state> cancel_;
    std::optional<std::stop_callback<asio_canceller<executor_type>>> callback_;
};

} // namespace detail
} // namespace cotrait

namespace asio {

/// Makes `cotrait::use_task` a completion token for every asio asynchronous operation: the
/// initiating function returns a lazy awaitable (see `cotrait::use_task_t`).
template <class R, class... Args>
class async_result<cotrait::use_task_t, R(Args...)> {
public:
    template <class Initiation, class... InitArgs>
    static auto initiate(Initiation&& init, cotrait::use_task_t token, InitArgs&&... args) {
        return cotrait::detail::asio_operation<void(Args...), std::decay_t<Initiation>,
                                               std::decay_t<InitArgs>...>(
            std::forward<Initiation>(init), std::move(token.stop_token),
            std::forward<InitArgs>(args)...);
    }
};

} // namespace asio

namespace cotrait {

/// An awaitable that resumes the awaiting coroutine on `ex` (an asio executor, e.g.
/// `io_context::get_executor()`), always by posting, even if already running there.
template <class Executor>
[[nodiscard]] auto schedule_on(const Executor& ex) {
    return asio::post(ex, use_task);
}

/// Like `schedule_on(ex)`, but throws `operation_cancelled` instead if stop was requested on
/// `token` before the coroutine got there.
template <class Executor>
[[nodiscard]] boxed_task<> schedule_on(Executor ex, std::stop_token token) {
    co_await asio::post(ex, use_task);
    throw_if_cancelled(token);
}

/// A task that first moves onto `ex` and then awaits `a` there (as `co_await a`).
template <class Executor, awaitable A>
boxed_task<detail::stored_result_t<A>> starts_on(Executor ex, A a) {
    co_await asio::post(ex, use_task);
    co_return co_await std::move(a);
}

/// Spawns `a` into `scope`, starting on `ex`: the asio counterpart of `asio::co_spawn(ex, a,
/// detached)` with an owner. `co_await scope.join()` (or `sync_wait`) before the resources `a`
/// uses, the scope and the execution context go away.
template <class Executor, awaitable A>
void spawn_on(async_scope& scope, const Executor& ex, A&& a) {
    scope.spawn(starts_on(ex, std::forward<A>(a)));
}

/// Runs `a` on `ctx` from the calling thread: runs `ctx`'s handlers (`run_one`) until `a` has
/// completed and returns its result or rethrows its exception. `a` starts on `ctx` and its
/// completion is delivered back through `ctx`, so other threads may run `ctx` at the same time
/// (run_on then notices completion within a few milliseconds at worst). Work left when `a`
/// completes stays queued. Like `sync_wait`, it blocks the calling thread: called on a
/// `thread_pool` or `run_loop` thread, or from a handler that `ctx` itself is running (asio forbids
/// running an io_context from inside its own run), it throws `task_misuse{blocking_wait}` before
/// starting anything, instead of hanging.
template <awaitable A>
decltype(auto) run_on(asio::io_context& ctx, A&& a) {
    detail::check_may_block();
    if (COTRAIT_UNLIKELY(ctx.get_executor().running_in_this_thread())) {
        detail::report_misuse(task_errc::blocking_wait);
    }
    using result = detail::stored_result_t<A>;
    using held =
        std::conditional_t<std::is_reference_v<result>, std::remove_reference_t<result>*, result>;
    std::atomic<bool> done{false};
    auto body = [](asio::io_context& c, A& aw) -> detail::driver<result> {
        co_await asio::post(c.get_executor(), use_task);
        std::exception_ptr error;
        [[maybe_unused]] std::optional<std::conditional_t<std::is_void_v<result>, int, held>> r;
        try {
            if constexpr (std::is_void_v<result>) {
                co_await std::forward<A>(aw);
            } else if constexpr (std::is_reference_v<result>) {
                r.emplace(std::addressof(co_await std::forward<A>(aw)));
            } else {
                r.emplace(co_await std::forward<A>(aw));
            }
        } catch (...) {
            error = std::current_exception();
        }
        // Complete on ctx, wherever `a` finished, so that run_one() sees it.
        co_await asio::post(c.get_executor(), use_task);
        if (error) {
            std::rethrow_exception(error);
        }
        if constexpr (std::is_reference_v<result>) {
            co_return **r;
        } else if constexpr (!std::is_void_v<result>) {
            co_return std::move(*r);
        }
    };
    detail::driver<result> d = body(ctx, a);
    d.get().promise().set_completion(
        &done,
        [](void* p, std::coroutine_handle<detail::driver_promise<result>> /*self*/) noexcept
        -> std::coroutine_handle<> {
            static_cast<std::atomic<bool>*>(p)->store(true, std::memory_order_release);
            return {};
        });
    auto guard = asio::make_work_guard(ctx);
    if (ctx.stopped()) {
        ctx.restart();
    }
    detail::resume_root(d.get());
    while (!done.load(std::memory_order_acquire)) {
        // Bounded wait: another thread running ctx may have taken the completion handler.
        if (ctx.run_one_for(std::chrono::milliseconds(5)) == 0 && ctx.stopped()) {
            ctx.restart();
        }
    }
    return d.get().promise().take();
}

} // namespace cotrait
