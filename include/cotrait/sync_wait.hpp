// sync_wait: run an awaitable to completion from ordinary (non-coroutine) code.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/executor_thread.hpp>
#include <cotrait/detail/frame_policy.hpp>
#include <cotrait/detail/result.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/detail/wait_list.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/recycling.hpp>

#include <condition_variable>
#include <coroutine>
#include <mutex>
#include <type_traits>
#include <utility>

namespace cotrait {

namespace detail {

// Lives on sync_wait's stack; the driver signals it when the awaited operation has finished, on
// whichever thread that happens.
class sync_event {
public:
    void set() noexcept {
        // Notify while holding the lock: the waiter cannot return (and destroy this object) before
        // notify_one has returned.
        std::lock_guard<std::mutex> lock(mutex_);
        done_ = true;
        cv_.notify_one();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return done_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
};

template <class R>
class sync_driver {
public:
    // The driver's frame comes from the recycling caches directly: it is not the user's call and
    // must not show up in the user's frame-allocator scope or per-thread resource.
    class promise_type : public result_slot<R>, public fixed_frame_policy<recycling_allocator<>> {
    public:
        sync_driver get_return_object() noexcept {
            return sync_driver(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        struct final_awaiter {
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
                h.promise().event_->set();
            }
            void await_resume() const noexcept {}
        };
        final_awaiter final_suspend() const noexcept { return {}; }

        sync_event* event_ = nullptr;
    };

    sync_driver(sync_driver&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    sync_driver(const sync_driver&) = delete;
    sync_driver& operator=(const sync_driver&) = delete;
    sync_driver& operator=(sync_driver&&) = delete;
    ~sync_driver() {
        if (h_) {
            h_.destroy();
        }
    }

    R run() {
        sync_event event;
        h_.promise().event_ = &event;
        resume_root(h_);
        run_deferred_resumptions();
        event.wait();
        return h_.promise().take();
    }

private:
    explicit sync_driver(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

template <class R, class A>
sync_driver<R> make_sync_driver(A&& a) {
    if constexpr (std::is_void_v<R>) {
        co_await std::forward<A>(a);
    } else {
        co_return co_await std::forward<A>(a);
    }
}

} // namespace detail

/// Runs `a` to completion on the calling thread and returns its result (a reference for reference
/// results, otherwise by value) or rethrows its exception. If `a` suspends and is completed on
/// another thread, the calling thread blocks on a condition variable until then.
///
/// Called from a coroutine that a release (an event's set, a mutex's unlock...) is resuming, it
/// first resumes the waiters released meanwhile on this thread, which would otherwise wait for the
/// blocked coroutine to return, in release order.
///
/// Throws `task_misuse{task_errc::blocking_wait}`, before starting `a`, when called on a thread
/// that runs an executor's queue (a `thread_pool` thread, or inside `run_loop::run`): the awaited
/// work may need that thread, and blocking it would deadlock silently. `co_await` instead.
template <awaitable A>
decltype(auto) sync_wait(A&& a) {
    detail::check_may_block();
    using result = await_result_t<A>;
    using stored = std::conditional_t<std::is_rvalue_reference_v<result>,
                                      std::remove_reference_t<result>, result>;
    return detail::make_sync_driver<stored>(std::forward<A>(a)).run();
}

} // namespace cotrait
