// boxed_task<T>: the type-erased task that virtual async methods return.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_policy.hpp>
#include <cotrait/detail/promise.hpp>
#include <cotrait/detail/ready_box.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/ready.hpp>
#include <cotrait/static_task.hpp>

#include <concepts>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace cotrait {

namespace detail {
// Whether a ready_value<V> can become a boxed_task<T>.
template <class T, class V>
struct ready_convertible_s : std::bool_constant<std::constructible_from<T, V&&>> {};
template <class V>
struct ready_convertible_s<void, V> : std::is_void<V> {};
template <class T>
struct ready_convertible_s<T, void> : std::is_void<T> {};
template <>
struct ready_convertible_s<void, void> : std::true_type {};
template <class T, class V>
concept ready_convertible = ready_convertible_s<T, V>::value;
} // namespace detail

/// A lazy, move-only coroutine task whose type says nothing about how its frame was allocated or
/// which coroutine produced it: the C++ counterpart of Rust's `Pin<Box<dyn Future<Output = T>>>`.
///
/// - Lazy: the body starts when the task is first awaited.
/// - One consumer: `co_await` moves the result out (a `T&` result is returned as a reference);
///   awaiting an empty task, or a task a second time, throws `task_misuse`.
/// - An exception escaping the body is rethrown at the `co_await`.
/// - Destroying a task frees its frame, with the coroutine's parameters and locals, on any thread.
/// - The frame comes from the allocator chosen when the coroutine is called: a leading
///   `std::allocator_arg, alloc` pair (after the object parameter for member functions), else the
///   innermost `frame_allocator_scope` of the calling thread, else the thread's default, else the
///   process default (the recycling resource unless changed).
/// - Completion resumes the awaiting coroutine by symmetric transfer, or through the per-thread
///   trampoline where the compiler would not make that a tail call (see config.hpp).
/// - A task may instead hold a ready outcome (`cotrait::ready(v)`, `cotrait::ready_error(e)`): no
///   frame; awaiting it does not suspend. The one-consumer and misuse rules are the same.
template <class T = void>
class [[nodiscard]] COTRAIT_CORO_TASK_ATTRS boxed_task {
    using base_handle = std::coroutine_handle<detail::task_promise<T>>;

public:
    class promise_type : public detail::task_promise<T>, public detail::dynamic_frame_policy {
    public:
        boxed_task get_return_object() noexcept {
            return boxed_task(base_handle::from_address(
                std::coroutine_handle<promise_type>::from_promise(*this).address()));
        }
    };

    using value_type = T;

    /// An empty task; awaiting it throws `task_misuse`.
    boxed_task() noexcept = default;
    boxed_task(boxed_task&& other) noexcept : h_(std::exchange(other.h_, empty_handle())) {}
    boxed_task& operator=(boxed_task&& other) noexcept {
        if (this != &other) {
            reset();
            h_ = std::exchange(other.h_, empty_handle());
        }
        return *this;
    }
    boxed_task(const boxed_task&) = delete;
    boxed_task& operator=(const boxed_task&) = delete;

    /// Adopts the frame of a static_task: ownership of the coroutine moves, nothing is allocated.
    template <class Alloc>
    boxed_task(static_task<T, Alloc>&& other) noexcept // NOLINT(google-explicit-constructor)
        : h_(other.h_ ? detail::as_base_handle<T>(std::exchange(other.h_, {})) : empty_handle()) {}

    /// An already-completed task holding `r.value` (`return cotrait::ready(v);`): no coroutine
    /// frame; the outcome lives in a small block recycled per thread. Awaiting it does not suspend.
    template <class V>
    requires detail::ready_convertible<T, V>
    boxed_task(ready_value<V>&& r) // NOLINT(google-explicit-constructor)
        : h_(ready_frame::make([&r](detail::task_promise<T>& p) {
              if constexpr (std::is_void_v<T>) {
                  static_cast<void>(r);
                  p.return_void();
              } else {
                  p.return_value(std::move(r.value));
              }
          })) {}

    /// An already-failed task (`return cotrait::ready_error(e);`): awaiting it rethrows.
    boxed_task(ready_exception&& e) // NOLINT(google-explicit-constructor)
        : h_(ready_frame::make(
              [&e](detail::task_promise<T>& p) { p.set_error(std::move(e.error)); })) {}

    /// Destroys the frame (and with it the coroutine's parameters and locals) if the task owns one.
    ~boxed_task() { h_.destroy(); } // an empty task's destroy does nothing

    /// Starts the task and suspends the caller until it completes; yields the result (moved out)
    /// or rethrows the exception. Throws `task_misuse` if the task is empty or was awaited before.
    auto operator co_await() const {
        return detail::checked_nonnull_awaiter<T, true>(
            h_, [](base_handle h) { return h == empty_handle(); });
    }

    /// True if the task owns a frame or a ready outcome.
    [[nodiscard]] bool valid() const noexcept { return h_ != empty_handle(); }
    explicit operator bool() const noexcept { return valid(); }
    /// True if the task owns a frame whose body has finished, or holds a ready outcome.
    [[nodiscard]] bool done() const noexcept { return valid() && h_.done(); }
    /// True if the task holds a ready outcome (made from cotrait::ready / ready_error), not a
    /// frame.
    [[nodiscard]] bool is_ready_value() const noexcept { return ready_frame::holds(h_); }

private:
    using ready_frame = detail::ready_frame<T>;

    explicit boxed_task(base_handle h) noexcept : h_(h) {}

    static constexpr base_handle empty_handle() noexcept {
        return base_handle::from_address(&detail::empty_frame_v<T>.frame);
    }

    void reset() noexcept { std::exchange(h_, empty_handle()).destroy(); }

    // One pointer: a frame, a ready outcome laid out as a finished frame, or the empty sentinel
    // (detail/ready_box.hpp); never null.
    // Every promise a boxed_task can own starts with task_promise<T>, so the shared part of the
    // promise sits at the same place in every frame (see as_base_handle).
    base_handle h_ = empty_handle();
};

} // namespace cotrait
