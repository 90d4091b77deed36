// Intrusive FIFO lists of suspended coroutines for the synchronisation primitives (async_mutex,
// async_semaphore, async_event, channel), and the stack-safe way they resume waiters.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/transfer.hpp>

#include <coroutine>
#include <cstdio>
#include <cstdlib>

namespace cotrait::detail {

// Lives in the waiting coroutine's awaiter (its frame), so waiting allocates nothing.
struct wait_node {
    wait_node* next = nullptr;
    std::coroutine_handle<> handle{};
};

// A singly linked FIFO; the owner guards it with its own mutex.
class wait_fifo {
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

[[noreturn]] inline void fatal_primitive_misuse(const char* what) noexcept {
    std::fprintf(stderr, "cotrait: %s\n", what);
    std::abort();
}

} // namespace cotrait::detail
