// async_mutex: a mutual-exclusion lock whose waiters suspend instead of blocking their thread.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/wait_list.hpp>

#include <coroutine>
#include <mutex>
#include <stop_token>
#include <utility>

namespace cotrait {

class async_mutex;

/// Owns a lock on an `async_mutex` and unlocks it when destroyed (or on `unlock()`). Move-only.
class async_lock_guard {
public:
    /// Adopts a lock the caller already holds.
    explicit async_lock_guard(async_mutex& m, std::adopt_lock_t /*unused*/) noexcept : m_(&m) {}
    async_lock_guard(async_lock_guard&& other) noexcept : m_(std::exchange(other.m_, nullptr)) {}
    async_lock_guard& operator=(async_lock_guard&& other) noexcept;
    async_lock_guard(const async_lock_guard&) = delete;
    async_lock_guard& operator=(const async_lock_guard&) = delete;
    ~async_lock_guard();

    /// Unlocks early; the guard then owns nothing.
    void unlock() noexcept;
    /// True while the guard owns the lock.
    [[nodiscard]] bool owns_lock() const noexcept { return m_ != nullptr; }

private:
    async_mutex* m_;
};

/// A mutex for coroutines: `co_await m.lock()` suspends the coroutine (not the thread) while
/// another holds it. Prefer `auto guard = co_await m.scoped_lock();`.
///
/// - Fairness: strict FIFO. `unlock()` hands the lock directly to the longest-waiting coroutine,
///   which is resumed on the unlocking thread; a new `lock()` never overtakes a queued waiter.
///   (The resumption is stack-safe: a chain of hand-offs on one thread does not nest.)
/// - Not recursive: locking it again from the owner deadlocks that coroutine, as std::mutex does.
/// - Any thread may unlock (ownership belongs to the coroutine, which may have moved).
/// - `unlock()` of an unlocked mutex, or destroying a mutex that coroutines are waiting on, is a
///   program error: a message and std::abort().
/// - Waiting allocates nothing (the queue node lives in the awaiter).
class async_mutex {
public:
    async_mutex() = default;
    async_mutex(const async_mutex&) = delete;
    async_mutex& operator=(const async_mutex&) = delete;
    ~async_mutex() {
        const std::lock_guard<std::mutex> lock(m_);
        if (!waiters_.empty()) {
            detail::fatal_primitive_misuse("async_mutex destroyed while coroutines wait for it");
        }
    }

    /// Takes the lock if it is free and nobody waits; never suspends.
    [[nodiscard]] bool try_lock() noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        return try_lock_locked();
    }

    /// The awaiter of `lock()`: completes once the awaiting coroutine holds the lock.
    class lock_awaiter {
    public:
        explicit lock_awaiter(async_mutex& m, std::stop_token token = {}) noexcept
            : m_(&m), token_(std::move(token)) {}
        bool await_ready() noexcept { return !token_.stop_requested() && m_->try_lock(); }
        bool await_suspend(std::coroutine_handle<> h) {
            node_.handle = h;
            stop_.arm(token_, m_->m_, m_->waiters_, node_);
            const std::lock_guard<std::mutex> lock(m_->m_);
            node_.settled = true;
            if (node_.cancelled || m_->try_lock_locked()) {
                return false;
            }
            m_->waiters_.push_back(node_);
            return true;
        }
        void await_resume() { stop_.finish(node_); }

    protected:
        async_mutex* m_;

    private:
        std::stop_token token_;
        detail::wait_node node_;
        detail::wait_stop_guard stop_;
    };

    /// The awaiter of `scoped_lock()`: as `lock()`, yielding a guard.
    class scoped_lock_awaiter : public lock_awaiter {
    public:
        using lock_awaiter::lock_awaiter;
        [[nodiscard]] async_lock_guard await_resume() {
            lock_awaiter::await_resume();
            return async_lock_guard(*m_, std::adopt_lock);
        }
    };

    /// `co_await m.lock()` acquires the lock; pair it with `unlock()`.
    [[nodiscard]] lock_awaiter lock() noexcept { return lock_awaiter(*this); }

    /// `auto g = co_await m.scoped_lock()` acquires the lock, released when `g` is destroyed.
    [[nodiscard]] scoped_lock_awaiter scoped_lock() noexcept { return scoped_lock_awaiter(*this); }

    /// As `lock()`, but if stop is requested on `token` before the lock is granted, the
    /// `co_await` throws `operation_cancelled` (resumed on the thread that requested stop) without
    /// the lock.
    [[nodiscard]] lock_awaiter lock(std::stop_token token) noexcept {
        return lock_awaiter(*this, std::move(token));
    }
    /// As `scoped_lock()`, cancellable as `lock(token)`.
    [[nodiscard]] scoped_lock_awaiter scoped_lock(std::stop_token token) noexcept {
        return scoped_lock_awaiter(*this, std::move(token));
    }

    /// Releases the lock: the first waiter (if any) now owns it and is resumed on this thread.
    void unlock() noexcept {
        detail::wait_node* next = nullptr;
        {
            const std::lock_guard<std::mutex> lock(m_);
            if (!locked_) {
                detail::fatal_primitive_misuse("async_mutex::unlock called on an unlocked mutex");
            }
            next = waiters_.pop_front();
            if (next == nullptr) {
                locked_ = false;
            }
        }
        if (next != nullptr) {
            detail::resume_waiter(*next);
        }
    }

private:
    bool try_lock_locked() noexcept {
        if (locked_) {
            return false;
        }
        locked_ = true;
        return true;
    }

    std::mutex m_;
    bool locked_ = false; // stays true while ownership passes from one waiter to the next
    detail::wait_fifo waiters_;
};

inline async_lock_guard& async_lock_guard::operator=(async_lock_guard&& other) noexcept {
    if (this != &other) {
        unlock();
        m_ = std::exchange(other.m_, nullptr);
    }
    return *this;
}

inline async_lock_guard::~async_lock_guard() {
    unlock();
}

inline void async_lock_guard::unlock() noexcept {
    if (m_ != nullptr) {
        std::exchange(m_, nullptr)->unlock();
    }
}

} // namespace cotrait
