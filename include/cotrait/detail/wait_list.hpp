// Intrusive FIFO lists of suspended coroutines for the synchronisation primitives (async_mutex,
// async_semaphore, async_event, channel), and the stack-safe way they resume waiters.
#pragma once

#include <cotrait/cancellation.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/transfer.hpp>

#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stop_token>

namespace cotrait::detail {

// Lives in the waiting coroutine's awaiter (its frame), so waiting allocates nothing.
struct wait_node {
    wait_node* next = nullptr;
    std::coroutine_handle<> handle{};
    // For waits with a stop token, guarded by the primitive's mutex: `settled` once the awaiter
    // has either completed at once or queued the node; `cancelled` if stop won.
    bool settled = false;
    bool cancelled = false;
};

// A singly linked FIFO; the owner guards it with its own mutex.
class wait_fifo {
public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] wait_node* front() const noexcept { return head_; }

    void push_back(wait_node& n) noexcept {
        n.next = nullptr;
        if (tail_ != nullptr) {
            tail_->next = &n;
        } else {
            head_ = &n;
        }
        tail_ = &n;
    }

    wait_node* pop_front() noexcept {
        wait_node* n = head_;
        if (n != nullptr) {
            head_ = n->next;
            if (head_ == nullptr) {
                tail_ = nullptr;
            }
            n->next = nullptr;
        }
        return n;
    }

    // Unlinks `n` if it is in the list (O(n): only cancellation uses it). True if it was.
    bool remove(wait_node& n) noexcept {
        wait_node* prev = nullptr;
        for (wait_node* p = head_; p != nullptr; prev = p, p = p->next) {
            if (p != &n) {
                continue;
            }
            (prev != nullptr ? prev->next : head_) = p->next;
            if (tail_ == p) {
                tail_ = prev;
            }
            p->next = nullptr;
            return true;
        }
        return false;
    }

    // Moves every node to `out` (appended), leaving this list empty.
    void splice_to(wait_fifo& out) noexcept {
        if (head_ == nullptr) {
            return;
        }
        if (out.tail_ != nullptr) {
            out.tail_->next = head_;
        } else {
            out.head_ = head_;
        }
        out.tail_ = tail_;
        head_ = tail_ = nullptr;
    }

private:
    wait_node* head_ = nullptr;
    wait_node* tail_ = nullptr;
};

// Waiters are resumed inline, on the thread that releases them (unlock, release, set, send...).
// Done naively, a chain in which each resumed waiter releases the next one (a mutex handed down a
// queue of a million coroutines on one thread) nests a million resumptions. So the outermost
// release on a thread drains a thread-local FIFO, and releases made while it runs only append to
// it: the stack depth stays constant and waiters still run in release order.
struct resume_fifo_state {
    wait_fifo pending;
    bool draining = false;
};
inline constinit thread_local resume_fifo_state tls_resume_fifo{};

// Resumes the coroutine waiting in `n` (now or, inside a drain, once the current one returns).
// `n` belongs to that coroutine and may be gone once it runs: nothing here touches it afterwards.
inline void resume_waiter(wait_node& n) noexcept {
    resume_fifo_state& s = tls_resume_fifo;
    if (s.draining) {
        s.pending.push_back(n);
        return;
    }
    s.draining = true;
    resume_root(n.handle);
    while (wait_node* next = s.pending.pop_front()) {
        resume_root(next->handle);
    }
    s.draining = false;
}

// Resumes every node of `list` in order.
inline void resume_all(wait_fifo& list) noexcept {
    while (wait_node* n = list.pop_front()) {
        resume_waiter(*n);
    }
}

// Stop-token support for a wait. The callback is registered before the node becomes visible to
// releasers; it takes the primitive's mutex, so exactly one of three things happens:
// - the awaiter has not settled yet: the node is marked cancelled and the awaiter, seeing that
//   under the same mutex, completes at once without taking anything;
// - the node is still queued: it is unlinked, marked cancelled and resumed here, on the thread
//   that requested stop;
// - the node was already granted (popped by a releaser): nothing, the wait succeeds.
// The awaiter's await_resume disarms (which waits for a callback running on another thread) and
// throws operation_cancelled if cancelled.
class wait_stop_guard {
public:
    wait_stop_guard() = default;
    // Awaiters are movable until awaited; a guard is armed only while awaited.
    wait_stop_guard(wait_stop_guard&& /*other*/) noexcept {}
    wait_stop_guard& operator=(wait_stop_guard&&) = delete;

    void arm(const std::stop_token& token, std::mutex& m, wait_fifo& list, wait_node& n) {
        if (token.stop_possible()) {
            cb_.emplace(token, canceller{&m, &list, &n});
        }
    }

    // Call from await_resume. Throws operation_cancelled if the wait was cancelled.
    void finish(const wait_node& n) {
        cb_.reset();
        if (n.cancelled) {
            detail::throw_exception(operation_cancelled{});
        }
    }

private:
    struct canceller {
        std::mutex* m;
        wait_fifo* list;
        wait_node* node;
        void operator()() const noexcept {
            {
                const std::lock_guard<std::mutex> lock(*m);
                if (!node->settled) {
                    node->cancelled = true;
                    return;
                }
                if (!list->remove(*node)) {
                    return;
                }
                node->cancelled = true;
            }
            resume_waiter(*node);
        }
    };
    std::optional<std::stop_callback<canceller>> cb_;
};

[[noreturn]] inline void fatal_primitive_misuse(const char* what) noexcept {
    std::fprintf(stderr, "cotrait: %s\n", what);
    std::abort();
}

} // namespace cotrait::detail
