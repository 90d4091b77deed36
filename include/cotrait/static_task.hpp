// static_task<T, Alloc>: the non-type-erased task, the analog of a native `async fn` in a trait.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_policy.hpp>
#include <cotrait/detail/promise.hpp>
#include <cotrait/frame_allocator.hpp>

#include <coroutine>
#include <utility>

namespace cotrait {

template <class T>
class boxed_task;

/// A lazy, move-only coroutine task with a concrete promise type: nothing is type-erased, so the
/// compiler sees the whole ramp and awaiter. Semantics are those of `boxed_task<T>` (one consumer,
/// exceptions rethrown at `co_await`, misuse throws `task_misuse`).
///
/// `Alloc` fixes the frame allocator at compile time. With the default, `default_frame_allocator`,
/// the frame resource is chosen per call exactly as for `boxed_task` (std::allocator_arg, scope,
/// thread, process). With a stateless standard Allocator (`recycling_allocator<>`,
/// `new_delete_allocator<>`, `std::allocator<std::byte>`...) the frame carries no allocation record
/// and is freed with no indirect call.
///
/// A `static_task<T, A>&&` converts to `boxed_task<T>` by handing over its frame: no new frame, no
/// allocation.
template <class T = void, class Alloc = default_frame_allocator>
class [[nodiscard]] COTRAIT_CORO_TASK_ATTRS COTRAIT_CORO_AWAIT_ELIDABLE static_task {
public:
    class promise_type : public detail::task_promise<T>,
                         public detail::frame_policy_for<Alloc>::type {
    public:
        static_task get_return_object() noexcept {
            return static_task(std::coroutine_handle<promise_type>::from_promise(*this));
        }
    };

    using value_type = T;
    using allocator_type = Alloc;

    /// An empty task; awaiting it throws `task_misuse`.
    static_task() noexcept = default;
    static_task(static_task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    static_task& operator=(static_task&& other) noexcept {
        if (this != &other) {
            reset();
            h_ = std::exchange(other.h_, {});
        }
        return *this;
    }
    static_task(const static_task&) = delete;
    static_task& operator=(const static_task&) = delete;
    /// Destroys the frame (and with it the coroutine's parameters and locals) if the task owns one.
    ~static_task() { reset(); }

    /// Starts the task and suspends the caller until it completes; yields the result (moved out)
    /// or rethrows the exception. Throws `task_misuse` if the task is empty or was awaited before.
    auto operator co_await() const { return detail::checked_awaiter<T>(h_); }

    /// True if the task owns a frame.
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(h_); }
    explicit operator bool() const noexcept { return valid(); }
    /// True if the task owns a frame whose body has finished.
    [[nodiscard]] bool done() const noexcept { return h_ && h_.done(); }

private:
    template <class U>
    friend class boxed_task;

    explicit static_task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}

    void reset() noexcept {
        if (h_) {
            std::exchange(h_, {}).destroy();
        }
    }

    std::coroutine_handle<promise_type> h_;
};

} // namespace cotrait
