// async_event: a flag coroutines wait on, with manual or automatic reset.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/wait_list.hpp>

#include <coroutine>
#include <mutex>
#include <stop_token>

namespace cotrait {

/// How an `async_event` resets.
enum class reset_mode {
    manual,   ///< set() releases every waiter and the event stays set until reset()
    automatic ///< set() releases one waiter (or the next wait()); the event then resets itself
};

/// An event coroutines wait for with `co_await ev.wait()`.
///
/// - `reset_mode::manual`: `set()` resumes every waiting coroutine and leaves the event set, so
///   later waits complete at once, until `reset()`.
/// - `reset_mode::automatic`: each `set()` lets exactly one wait complete: the longest-waiting
///   coroutine if there is one, else the next `wait()`. Sets do not accumulate (two sets with
///   nobody waiting release one waiter), as with a Win32 auto-reset event.
///
/// Waiters are resumed in FIFO order on the thread that calls `set()`. Thread-safe; waiting
/// allocates nothing. Destroying an event that coroutines wait on is a program error (a message
/// and std::abort()).
class async_event {
public:
    /// An event, initially unset unless `initially_set`.
    explicit async_event(reset_mode mode = reset_mode::manual, bool initially_set = false) noexcept
        : mode_(mode), set_(initially_set) {}
    async_event(const async_event&) = delete;
    async_event& operator=(const async_event&) = delete;
    ~async_event() {
        const std::lock_guard<std::mutex> lock(m_);
        if (!waiters_.empty()) {
            detail::fatal_primitive_misuse("async_event destroyed while coroutines wait for it");
        }
    }

    /// The awaiter of `wait()`.
    class wait_awaiter {
    public:
        explicit wait_awaiter(async_event& e, std::stop_token token = {}) noexcept
            : e_(&e), token_(std::move(token)) {}
        bool await_ready() noexcept {
            if (token_.stop_requested()) {
                return false;
            }
            const std::lock_guard<std::mutex> lock(e_->m_);
            return e_->try_consume_locked();
        }
        bool await_suspend(std::coroutine_handle<> h) {
            node_.handle = h;
            stop_.arm(token_, e_->m_, e_->waiters_, node_);
            const std::lock_guard<std::mutex> lock(e_->m_);
            node_.settled = true;
            if (node_.cancelled || e_->try_consume_locked()) {
                return false;
            }
            e_->waiters_.push_back(node_);
            return true;
        }
        void await_resume() { stop_.finish(node_); }

    private:
        async_event* e_;
        std::stop_token token_;
        detail::wait_node node_;
        detail::wait_stop_guard stop_;
    };

    /// Completes once the event is set (consuming the set in automatic mode).
    [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter(*this); }

    /// As `wait()`, but if stop is requested on `token` first, the `co_await` throws
    /// `operation_cancelled` (resumed on the thread that requested stop) and consumes nothing.
    [[nodiscard]] wait_awaiter wait(std::stop_token token) noexcept {
        return wait_awaiter(*this, std::move(token));
    }

    /// Sets the event and resumes the waiters it releases (see the class comment) on this thread.
    void set() noexcept {
        detail::resume_list wake;
        {
            const std::lock_guard<std::mutex> lock(m_);
            if (mode_ == reset_mode::manual) {
                set_ = true;
                waiters_.move_all_to(wake);
            } else if (detail::wait_node* w = waiters_.pop_front()) {
                wake.push_back(*w);
            } else {
                set_ = true;
            }
        }
        detail::resume_all(wake);
    }

    /// Clears the event; waits issued afterwards suspend until the next set().
    void reset() noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        set_ = false;
    }

    /// True if the event is set now (a snapshot).
    [[nodiscard]] bool is_set() const noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        return set_;
    }

private:
    bool try_consume_locked() noexcept {
        if (!set_) {
            return false;
        }
        if (mode_ == reset_mode::automatic) {
            set_ = false;
        }
        return true;
    }

    mutable std::mutex m_;
    reset_mode mode_;
    bool set_;
    detail::wait_fifo waiters_;
};

} // namespace cotrait
