// A small eagerly-controlled coroutine that awaits one awaitable on behalf of a combinator
// (when_all, async_scope, run_loop) and reports completion through a callback.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/frame_policy.hpp>
#include <cotrait/detail/result.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/recycling.hpp>

#include <coroutine>
#include <type_traits>
#include <utility>

namespace cotrait::detail {

template <class R>
class driver;

template <class R>
class driver_promise : public result_slot<R>, public fixed_frame_policy<recycling_allocator<>> {
public:
    // Called once the awaited operation has finished (the outcome is in the promise). Returns the
    // coroutine to resume next, or a null handle. It may destroy `self`.
    using on_done_fn =
        std::coroutine_handle<> (*)(void* ctx, std::coroutine_handle<driver_promise> self) noexcept;

    driver<R> get_return_object() noexcept;
    std::suspend_always initial_suspend() const noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        transfer_result await_suspend(std::coroutine_handle<driver_promise> self) noexcept {
            driver_promise& p = self.promise();
            const std::coroutine_handle<> next = p.on_done_(p.ctx_, self);
            // `self` may be gone now; transfer_to only compares its address.
            if (next) {
                return transfer_to(self, next);
            }
            return transfer_to_nothing();
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }

    void unhandled_exception() noexcept {
        failed_ = true;
        result_slot<R>::unhandled_exception();
    }

    void set_completion(void* ctx, on_done_fn fn) noexcept {
        ctx_ = ctx;
        on_done_ = fn;
    }
    [[nodiscard]] bool failed() const noexcept { return failed_; }

private:
    void* ctx_ = nullptr;
    on_done_fn on_done_ = nullptr;
    bool failed_ = false;
};

// Owns the driver frame until release().
template <class R>
class driver {
public:
    using promise_type = driver_promise<R>;
    using handle = std::coroutine_handle<promise_type>;

    driver(driver&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    driver& operator=(driver&&) = delete;
    driver(const driver&) = delete;
    ~driver() {
        if (h_) {
            h_.destroy();
        }
    }
    [[nodiscard]] handle release() noexcept { return std::exchange(h_, {}); }
    [[nodiscard]] handle get() const noexcept { return h_; }

private:
    friend class driver_promise<R>;
    explicit driver(handle h) noexcept : h_(h) {}
    handle h_;
};

template <class R>
driver<R> driver_promise<R>::get_return_object() noexcept {
    return driver<R>(std::coroutine_handle<driver_promise>::from_promise(*this));
}

// What a driver stores for an awaitable's result: references as references, rvalue references as
// values.
template <class A>
using stored_result_t =
    std::conditional_t<std::is_rvalue_reference_v<await_result_t<A>>,
                       std::remove_reference_t<await_result_t<A>>, await_result_t<A>>;

// `A` is either a reference to an awaitable owned elsewhere or an awaitable the frame owns.
template <class R, class A>
driver<R> make_driver(A a) {
    if constexpr (std::is_void_v<R>) {
        co_await std::move(a);
    } else {
        co_return co_await std::move(a);
    }
}

// Awaits and drops the result (fire-and-forget).
template <class A>
driver<void> make_discarding_driver(A a) {
    (void)co_await std::move(a);
}

} // namespace cotrait::detail
