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
    wait_node* prev = nullptr; // while queued in a wait_fifo
    std::coroutine_handle<> handle{};
    // Guarded by the primitive's mutex: true while the node is in the primitive's wait_fifo (not
    // once a releaser has taken it, even while it then sits in a resume_list).
    bool queued = false;
    // For waits with a stop token, guarded by the primitive's mutex: `settled` once the awaiter
    // has either completed at once or queued the node; `cancelled` if stop won.
    bool settled = false;
    bool cancelled = false;
};

// A singly linked FIFO of nodes taken off a primitive's queue, to be resumed: a releaser's local
// list and the thread's drain queue. It touches only `next`, never `queued`/`prev`, so it needs
// no lock even while a stop callback inspects the node under the primitive's mutex.
class resume_list {
public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

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

private:
    friend class wait_fifo;
    wait_node* head_ = nullptr;
    wait_node* tail_ = nullptr;
};

// A primitive's FIFO of waiting coroutines, guarded by the primitive's mutex. Doubly linked, so
// that a cancelled waiter leaves in O(1) wherever it is: a stop that cancels n waiters of one
// list at once (a shared token, a scope shutting down) costs O(n), not O(n^2).
class wait_fifo {
public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] wait_node* front() const noexcept { return head_; }

    void push_back(wait_node& n) noexcept {
        n.next = nullptr;
        n.prev = tail_;
        if (tail_ != nullptr) {
            tail_->next = &n;
        } else {
            head_ = &n;
        }
        tail_ = &n;
        n.queued = true;
    }

    wait_node* pop_front() noexcept {
        wait_node* n = head_;
        if (n != nullptr) {
            unlink(*n);
        }
        return n;
    }

    // Unlinks `n` if it is still queued here (a releaser may have taken it). True if it was.
    bool remove(wait_node& n) noexcept {
        if (!n.queued) {
            return false;
        }
        unlink(n);
        return true;
    }

    // Moves every node to the back of `out`, leaving this list empty.
    void move_all_to(resume_list& out) noexcept {
        for (wait_node* p = head_; p != nullptr; p = p->next) {
            p->queued = false;
            p->prev = nullptr;
        }
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
    void unlink(wait_node& n) noexcept {
        (n.prev != nullptr ? n.prev->next : head_) = n.next;
        (n.next != nullptr ? n.next->prev : tail_) = n.prev;
        n.next = n.prev = nullptr;
        n.queued = false;
    }

    wait_node* head_ = nullptr;
    wait_node* tail_ = nullptr;
};

// Waiters are resumed inline, on the thread that releases them (unlock, release, set, send...).
// Done naively, a chain in which each resumed waiter releases the next one (a mutex handed down a
// queue of a million coroutines on one thread) nests a million resumptions. So the outermost
// release on a thread drains a thread-local FIFO, and releases made while it runs only append to
// it: the stack depth stays constant and waiters still run in release order.
struct resume_fifo_state {
    resume_list pending;
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

// A thread about to block (sync_wait) inside a drain would strand the waiters released so far:
// only this thread resumes them, once the coroutine now running returns, and the blocking wait
// may be waiting for one of them (a deadlock, as nothing else would run them). So they run first,
// in order; releases they make append to the same FIFO and run here too.
inline void run_deferred_resumptions() noexcept {
    resume_fifo_state& s = tls_resume_fifo;
    while (wait_node* next = s.pending.pop_front()) {
        resume_root(next->handle);
    }
}

// For run_loop::run called from inside a drain (a coroutine that a release resumed runs a loop):
// the loop is a resumption context of its own. The deferred waiters run first, and releases made
// inside the loop resume inline as on any thread, instead of all waiting for the loop to return.
class fresh_resume_context {
public:
    fresh_resume_context() noexcept : saved_(tls_resume_fifo.draining) {
        run_deferred_resumptions();
        tls_resume_fifo.draining = false;
    }
    fresh_resume_context(const fresh_resume_context&) = delete;
    fresh_resume_context& operator=(const fresh_resume_context&) = delete;
    ~fresh_resume_context() { tls_resume_fifo.draining = saved_; }

private:
    bool saved_;
};

// Resumes every node of `list` in order.
inline void resume_all(resume_list& list) noexcept {
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
