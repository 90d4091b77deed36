// resume_on: await something, then come back to a given executor (opt-in executor affinity).
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/driver.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/timer.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace cotrait {

namespace detail {

template <class Ex>
bool already_on(Ex& ex) noexcept {
    if constexpr (requires {
                      { ex.running_in_this_thread() } -> std::convertible_to<bool>;
                  }) {
        return ex.running_in_this_thread();
    } else {
        return false;
    }
}

} // namespace detail

/// Awaits `a`, then continues on `ex`, whatever thread `a` finished on: the caller's result (or
/// exception) is delivered on `ex`.
///
/// cotrait's rule is *no implicit affinity*: a coroutine continues on the thread where the thing
/// it awaited finished. After `co_await svc.work()` where `work` hops to a pool, the caller runs on
/// that pool thread even if it started on a `run_loop`. `co_await resume_on(loop, svc.work())`
/// brings it back.
///
/// - If `ex` has `running_in_this_thread()` (run_loop, thread_pool) and it returns true when `a`
///   completes, there is no hop; otherwise the coroutine is scheduled onto `ex` (one queue round
///   trip).
/// - If `ex` refuses the coroutine (it shut down), its `operation_cancelled` replaces the result.
/// - The wrapper is a `static_task` coroutine: one frame, from the frame allocator in effect at
///   the call (per call, scope, thread, default), like any task.
template <scheduler Ex, awaitable A>
[[nodiscard]] static_task<detail::stored_result_t<A>> resume_on(Ex& ex, A a) {
    using R = detail::stored_result_t<A>;
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
#if COTRAIT_EXCEPTIONS
        try {
#endif
            co_await std::move(a);
#if COTRAIT_EXCEPTIONS
        } catch (...) {
            error = std::current_exception();
        }
#endif
        if (!detail::already_on(ex)) {
            co_await ex.schedule();
        }
        if (error) {
            std::rethrow_exception(error);
        }
    } else {
        using slot = std::conditional_t<std::is_reference_v<R>, std::remove_reference_t<R>*,
                                        std::optional<R>>;
        slot result{};
#if COTRAIT_EXCEPTIONS
        try {
#endif
            if constexpr (std::is_reference_v<R>) {
                result = std::addressof(co_await std::move(a));
            } else {
                result.emplace(co_await std::move(a));
            }
#if COTRAIT_EXCEPTIONS
        } catch (...) {
            error = std::current_exception();
        }
#endif
        if (!detail::already_on(ex)) {
            co_await ex.schedule();
        }
        if (error) {
            std::rethrow_exception(error);
        }
        if constexpr (std::is_reference_v<R>) {
            co_return *result;
        } else {
            co_return std::move(*result);
        }
    }
}

} // namespace cotrait
