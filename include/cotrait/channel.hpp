// channel<T>: a bounded multi-producer multi-consumer queue between coroutines.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/wait_list.hpp>

#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace cotrait {

/// Thrown by `co_await ch.send(v)` when the channel is closed (before or while the send waited);
/// the value was not delivered.
class channel_closed : public std::exception {
public:
    [[nodiscard]] const char* what() const noexcept override {
        return "cotrait: send on a closed channel";
    }
};

/// A bounded FIFO channel for any number of sending and receiving coroutines.
///
/// - `co_await ch.send(v)` stores `v` if there is room (or hands it straight to a waiting
///   receiver); when `capacity()` values are buffered the sender suspends until a receiver makes
///   room (backpressure). Waiting senders are served in FIFO order.
/// - `co_await ch.receive()` yields `std::optional<T>`: the oldest value, suspending while the
///   channel is empty; `std::nullopt` once the channel is closed *and* drained.
/// - `close()` (idempotent): values already buffered can still be received; waiting and later
///   senders get `channel_closed` (their values are dropped); waiting receivers get `nullopt`.
/// - A coroutine released by another's send/receive/close is resumed on that caller's thread.
/// - A value whose move constructor throws is never lost silently and never strands a waiter: a
///   send whose hand-over to a waiting receiver throws rethrows to the sender (the receiver keeps
///   waiting); a receive that makes room and cannot move the first waiting sender's value in still
///   yields the value it took, and that sender's `co_await` rethrows (its value not delivered).
/// - Thread-safe. Waiting allocates nothing; the buffer is a `std::deque<T>`. Destroying a channel
///   that coroutines wait on is a program error (a message and std::abort()): close it and let
///   them finish first.
template <class T>
class channel {
    static_assert(std::is_object_v<T> && !std::is_const_v<T> && std::is_move_constructible_v<T>,
                  "cotrait::channel<T>: T must be a non-const, move-constructible object type");

public:
    /// A channel that buffers up to `capacity` values. Throws std::invalid_argument if
    /// `capacity` is 0 (a rendezvous channel is not supported).
    explicit channel(std::size_t capacity) : capacity_(capacity) {
        if (capacity == 0) {
            detail::throw_exception(
                std::invalid_argument("cotrait::channel: capacity must be at least 1"));
        }
    }
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;
    ~channel() {
        const std::lock_guard<std::mutex> lock(m_);
        if (!senders_.empty() || !receivers_.empty()) {
            detail::fatal_primitive_misuse("channel destroyed while coroutines wait on it");
        }
    }

    /// The awaiter of `send(v)`; owns the value until it is delivered.
    class send_awaiter {
    public:
        send_awaiter(channel& ch, T&& v,
                     std::stop_token token = {}) noexcept(std::is_nothrow_move_constructible_v<T>)
            : ch_(&ch), value_(std::move(v)), token_(std::move(token)) {}
        bool await_ready() {
            return !token_.stop_requested() && ch_->try_send_or_queue(*this, nullptr);
        }
        bool await_suspend(std::coroutine_handle<> h) {
            node_.node.handle = h;
            node_.self = this; // here, not at construction: the awaiter may have been moved
            stop_.arm(token_, ch_->m_, ch_->senders_, node_.node);
            return !ch_->try_send_or_queue(*this, &node_);
        }
        void await_resume() {
            stop_.finish(node_.node);
            if (closed_) {
                detail::throw_exception(channel_closed{});
            }
#if COTRAIT_EXCEPTIONS
            if (error_) {
                std::rethrow_exception(error_);
            }
#endif
        }

    private:
        friend class channel;
        struct node_t {
            detail::wait_node node;
            send_awaiter* self;
        };
        channel* ch_;
        T value_;
        std::stop_token token_;
        bool closed_ = false;
#if COTRAIT_EXCEPTIONS
        // Set when a receive took this sender off the queue but moving its value in threw.
        std::exception_ptr error_;
#endif
        node_t node_{};
        detail::wait_stop_guard stop_;
    };

    /// The awaiter of `receive()`.
    class receive_awaiter {
    public:
        explicit receive_awaiter(channel& ch, std::stop_token token = {}) noexcept
            : ch_(&ch), token_(std::move(token)) {}
        bool await_ready() {
            return !token_.stop_requested() && ch_->try_receive_or_queue(*this, nullptr);
        }
        bool await_suspend(std::coroutine_handle<> h) {
            node_.node.handle = h;
            node_.self = this;
            stop_.arm(token_, ch_->m_, ch_->receivers_, node_.node);
            return !ch_->try_receive_or_queue(*this, &node_);
        }
        std::optional<T> await_resume() {
            stop_.finish(node_.node);
            return std::move(value_);
        }

    private:
        friend class channel;
        struct node_t {
            detail::wait_node node;
            receive_awaiter* self;
        };
        channel* ch_;
        std::stop_token token_;
        std::optional<T> value_;
        node_t node_{};
        detail::wait_stop_guard stop_;
    };

    /// `co_await ch.send(std::move(v))`: see the class comment. Throws channel_closed.
    [[nodiscard]] send_awaiter send(T v) noexcept(std::is_nothrow_move_constructible_v<T>) {
        return send_awaiter(*this, std::move(v));
    }

    /// `std::optional<T> v = co_await ch.receive()`: see the class comment.
    [[nodiscard]] receive_awaiter receive() noexcept {
        return receive_awaiter(*this);
    }

    /// As `send(v)`, but if stop is requested on `token` before the value is taken, the
    /// `co_await` throws `operation_cancelled` (resumed on the thread that requested stop) and
    /// the value is not delivered.
    [[nodiscard]] send_awaiter
    send(T v, std::stop_token token) noexcept(std::is_nothrow_move_constructible_v<T>) {
        return send_awaiter(*this, std::move(v), std::move(token));
    }

    /// As `receive()`, but if stop is requested on `token` before a value arrives, the
    /// `co_await` throws `operation_cancelled` (resumed on the thread that requested stop).
    [[nodiscard]] receive_awaiter receive(std::stop_token token) noexcept {
        return receive_awaiter(*this, std::move(token));
    }

    /// Sends without waiting: false (and `v` untouched) if the buffer is full or the channel is
    /// closed.
    [[nodiscard]] bool try_send(T& v) {
        std::unique_lock<std::mutex> lock(m_);
        if (closed_) {
            return false;
        }
        if (receive_node* r = hand_to_receiver(v)) {
            lock.unlock();
            detail::resume_waiter(r->node);
            return true;
        }
        if (buffer_.size() >= capacity_) {
            return false;
        }
        buffer_.push_back(std::move(v));
        return true;
    }

    /// Receives without waiting: the oldest buffered value, or nullopt if there is none.
    [[nodiscard]] std::optional<T> try_receive() {
        std::optional<T> out;
        detail::resume_list wake;
        {
            const std::lock_guard<std::mutex> lock(m_);
            if (buffer_.empty()) {
                return out;
            }
            take_front_locked(out, wake);
        }
        detail::resume_all(wake);
        return out;
    }

    /// Closes the channel (see the class comment). Idempotent, thread-safe.
    void close() noexcept {
        detail::resume_list wake;
        {
            const std::lock_guard<std::mutex> lock(m_);
            closed_ = true;
            while (detail::wait_node* n = senders_.pop_front()) {
                reinterpret_cast<send_node*>(n)->self->closed_ = true;
                wake.push_back(*n);
            }
            receivers_.move_all_to(wake); // their value_ stays empty: nullopt
        }
        detail::resume_all(wake);
    }

    /// True once close() was called.
    [[nodiscard]] bool closed() const noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        return closed_;
    }
    /// Buffered values now (a snapshot).
    [[nodiscard]] std::size_t size() const noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        return buffer_.size();
    }
    /// The most values the channel buffers.
    [[nodiscard]] std::size_t capacity() const noexcept {
        return capacity_;
    }

private:
    using send_node = typename send_awaiter::node_t;
    using receive_node = typename receive_awaiter::node_t;
    // node_t's first member is the wait_node, and node_t is standard-layout, so the list's
    // wait_node* converts back to its node_t.
    static_assert(std::is_standard_layout_v<send_node> && std::is_standard_layout_v<receive_node>);

    // Moves `v` into the first waiting receiver and dequeues it (to be resumed by the caller once
    // the lock is released); null if none waits. The receiver leaves the queue only once the move
    // succeeded: if it throws, the exception goes to the sender and the receiver keeps waiting.
    receive_node* hand_to_receiver(T& v) {
        auto* r = reinterpret_cast<receive_node*>(receivers_.front());
        if (r != nullptr) {
            r->self->value_.emplace(std::move(v));
            (void)receivers_.pop_front();
        }
        return r;
    }

    // Moves the front value to `out`; if a sender waits, its value takes the freed place and the
    // sender goes to `wake` (to be resumed by the caller once the lock is released). If that move
    // throws, the sender still leaves the queue and its send rethrows the exception (its value was
    // not delivered), the receive keeps the value it took, and the next waiting sender gets the
    // place (a waiting sender must never be left behind a buffer with room).
    void take_front_locked(std::optional<T>& out, detail::resume_list& wake) {
        out.emplace(std::move(buffer_.front()));
        buffer_.pop_front();
        while (auto* s = reinterpret_cast<send_node*>(senders_.pop_front())) {
            wake.push_back(s->node);
#if COTRAIT_EXCEPTIONS
            try {
                buffer_.push_back(std::move(s->self->value_));
                return;
            } catch (...) {
                s->self->error_ = std::current_exception();
            }
#else
            buffer_.push_back(std::move(s->self->value_));
            return;
#endif
        }
    }

    // Completes the send now if it can (true); otherwise queues `node` if given (false).
    bool try_send_or_queue(send_awaiter& a, send_node* node) {
        std::unique_lock<std::mutex> lock(m_);
        if (node != nullptr) {
            node->node.settled = true;
            if (node->node.cancelled) {
                return true; // await_resume throws operation_cancelled
            }
        }
        if (closed_) {
            a.closed_ = true;
            return true;
        }
        if (receive_node* r = hand_to_receiver(a.value_)) {
            lock.unlock();
            detail::resume_waiter(r->node);
            return true;
        }
        if (buffer_.size() < capacity_ && senders_.empty()) {
            buffer_.push_back(std::move(a.value_));
            return true;
        }
        if (node != nullptr) {
            senders_.push_back(node->node);
        }
        return false;
    }

    bool try_receive_or_queue(receive_awaiter& a, receive_node* node) {
        detail::resume_list wake;
        {
            const std::lock_guard<std::mutex> lock(m_);
            if (node != nullptr) {
                node->node.settled = true;
                if (node->node.cancelled) {
                    return true;
                }
            }
            if (!buffer_.empty()) {
                take_front_locked(a.value_, wake);
            } else if (closed_) {
                return true;
            } else {
                if (node != nullptr) {
                    receivers_.push_back(node->node);
                }
                return false;
            }
        }
        detail::resume_all(wake);
        return true;
    }

    mutable std::mutex m_;
    std::size_t capacity_;
    std::deque<T> buffer_;
    detail::wait_fifo senders_;   // each waits with its value; buffer_ is full
    detail::wait_fifo receivers_; // each waits for a value; buffer_ is empty
    bool closed_ = false;
};

} // namespace cotrait
