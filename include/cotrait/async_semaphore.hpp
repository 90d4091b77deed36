// async_semaphore: a counting semaphore whose waiters suspend instead of blocking their thread.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/wait_list.hpp>

#include <coroutine>
#include <cstddef>
#include <mutex>
#include <stop_token>
#include <utility>

namespace cotrait {

class async_semaphore;

/// Holds one permit of an `async_semaphore` and releases it when destroyed. Move-only.
class semaphore_permit {
public:
    /// Adopts a permit the caller already acquired.
    explicit semaphore_permit(async_semaphore& s) noexcept : s_(&s) {}
    semaphore_permit(semaphore_permit&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
    semaphore_permit& operator=(semaphore_permit&& other) noexcept;
    semaphore_permit(const semaphore_permit&) = delete;
    semaphore_permit& operator=(const semaphore_permit&) = delete;
    ~semaphore_permit();

    /// Releases the permit early.
    void release() noexcept;
    /// True while the permit is held.
    [[nodiscard]] bool holds() const noexcept { return s_ != nullptr; }

private:
    async_semaphore* s_;
};

/// A counting semaphore for coroutines: `co_await sem.acquire()` takes a permit, suspending the
/// coroutine while none is available; `release()` returns one. `co_await sem.scoped_acquire()`
/// yields a `semaphore_permit` that releases it (e.g. a connection limit).
///
/// Waiters are served in FIFO order: a released permit goes to the longest-waiting coroutine,
/// resumed on the releasing thread, and `acquire()`/`try_acquire()` never take a permit while a
/// coroutine is queued. Thread-safe; waiting allocates nothing. The count is not bounded: releasing
/// more than was acquired raises it. Destroying a semaphore that coroutines are waiting on is a
/// program error (a message and std::abort()).
class async_semaphore {
public:
    /// A semaphore with `initial` permits.
    explicit async_semaphore(std::size_t initial) noexcept : count_(initial) {}
    async_semaphore(const async_semaphore&) = delete;
    async_semaphore& operator=(const async_semaphore&) = delete;
    ~async_semaphore() {
        const std::lock_guard<std::mutex> lock(m_);
        if (!waiters_.empty()) {
            detail::fatal_primitive_misuse(
                "async_semaphore destroyed while coroutines wait for it");
        }
    }

    /// Takes a permit if one is free and nobody waits; never suspends.
    [[nodiscard]] bool try_acquire() noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        return try_acquire_locked();
    }

    /// The awaiter of `acquire()`.
    class acquire_awaiter {
    public:
        explicit acquire_awaiter(async_semaphore& s, std::stop_token token = {}) noexcept
            : s_(&s), token_(std::move(token)) {}
        bool await_ready() noexcept { return !token_.stop_requested() && s_->try_acquire(); }
        bool await_suspend(std::coroutine_handle<> h) {
            node_.handle = h;
            stop_.arm(token_, s_->m_, s_->waiters_, node_);
            const std::lock_guard<std::mutex> lock(s_->m_);
            node_.settled = true;
            if (node_.cancelled || s_->try_acquire_locked()) {
                return false;
            }
            s_->waiters_.push_back(node_);
            return true;
        }
        void await_resume() { stop_.finish(node_); }

    protected:
        async_semaphore* s_;

    private:
        std::stop_token token_;
        detail::wait_node node_;
        detail::wait_stop_guard stop_;
    };

    /// The awaiter of `scoped_acquire()`: as `acquire()`, yielding a permit guard.
    class scoped_acquire_awaiter : public acquire_awaiter {
    public:
        using acquire_awaiter::acquire_awaiter;
        [[nodiscard]] semaphore_permit await_resume() {
            acquire_awaiter::await_resume();
            return semaphore_permit(*s_);
        }
    };

    /// `co_await sem.acquire()` takes one permit; pair it with `release()`.
    [[nodiscard]] acquire_awaiter acquire() noexcept { return acquire_awaiter(*this); }
    /// `auto p = co_await sem.scoped_acquire()` takes a permit released when `p` is destroyed.
    [[nodiscard]] scoped_acquire_awaiter scoped_acquire() noexcept {
        return scoped_acquire_awaiter(*this);
    }

    /// As `acquire()`, but if stop is requested on `token` before a permit is granted, the
    /// `co_await` throws `operation_cancelled` (resumed on the thread that requested stop) and
    /// takes nothing.
    [[nodiscard]] acquire_awaiter acquire(std::stop_token token) noexcept {
        return acquire_awaiter(*this, std::move(token));
    }
    /// As `scoped_acquire()`, cancellable as `acquire(token)`.
    [[nodiscard]] scoped_acquire_awaiter scoped_acquire(std::stop_token token) noexcept {
        return scoped_acquire_awaiter(*this, std::move(token));
    }

    /// Returns `n` permits: up to `n` waiters get one each and are resumed on this thread.
    void release(std::size_t n = 1) noexcept {
        detail::resume_list wake;
        {
            const std::lock_guard<std::mutex> lock(m_);
            for (; n > 0; --n) {
                detail::wait_node* w = waiters_.pop_front();
                if (w == nullptr) {
                    break;
                }
                wake.push_back(*w);
            }
            count_ += n;
        }
        detail::resume_all(wake);
    }

    /// Free permits now (a snapshot).
    [[nodiscard]] std::size_t available() const noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        return count_;
    }

private:
    bool try_acquire_locked() noexcept {
        if (count_ == 0 || !waiters_.empty()) {
            return false;
        }
        --count_;
        return true;
    }

    mutable std::mutex m_;
    std::size_t count_;
    detail::wait_fifo waiters_;
};

inline semaphore_permit& semaphore_permit::operator=(semaphore_permit&& other) noexcept {
    if (this != &other) {
        release();
        s_ = std::exchange(other.s_, nullptr);
    }
    return *this;
}

inline semaphore_permit::~semaphore_permit() {
    release();
}

inline void semaphore_permit::release() noexcept {
    if (s_ != nullptr) {
        std::exchange(s_, nullptr)->release();
    }
}

} // namespace cotrait
