// The queue behind thread_pool and run_loop: an intrusive FIFO of suspended coroutines whose nodes
// live in the awaiters (so scheduling allocates nothing), with cancellation of queued entries.
#pragma once

#include <cotrait/cancellation.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/transfer.hpp>

#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stop_token>

namespace cotrait::detail {

enum class work_state : unsigned char {
    idle,    // not (yet) handed to the queue
    queued,  // in the list
    dequeued // taken by a consumer; nobody but the resumed coroutine touches it any more
};

struct work_item {
    work_item* prev = nullptr;
    work_item* next = nullptr;
    std::coroutine_handle<> handle{};
    // Written only under the queue's mutex while the item is idle or queued; read by the resumed
    // coroutine, which the dequeue (under the same mutex) happens-before.
    work_state state = work_state::idle;
    bool cancelled = false;
};

class work_queue {
public:
    work_queue() = default;
    work_queue(const work_queue&) = delete;
    work_queue& operator=(const work_queue&) = delete;

    // Appends `it`. Returns false, leaving it dequeued and cancelled, if the queue is closed or
    // stop was requested for it before it got here: the caller then resumes at once.
    bool push(work_item& it) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_ || it.cancelled) {
            it.cancelled = true;
            it.state = work_state::dequeued;
            return false;
        }
        link_back(it);
        // Notified under the lock: once it is released, the consumer may run the coroutine to
        // completion and destroy the queue's owner (a run_loop on its stack).
        cv_.notify_one();
        return true;
    }

    // Stop was requested for `it`: if still queued it jumps to the front, flagged, so a consumer
    // resumes it promptly (with operation_cancelled); if not yet pushed, push will refuse it; if
    // already taken, cancellation came too late and the work runs.
    void cancel(work_item& it) noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        if (it.state == work_state::dequeued) {
            return;
        }
        it.cancelled = true;
        if (it.state != work_state::queued) {
            return;
        }
        unlink(it);
        link_front(it);
        cv_.notify_all();
    }

    // Blocks until an item is available (returned dequeued) or the queue is closed (nullptr).
    work_item* pop_wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return closed_ || head_ != nullptr; });
        if (closed_) {
            return nullptr;
        }
        return pop_front_locked();
    }

    // Blocks until an item is available (returned dequeued) or `done()` holds (nullptr); `done` is
    // evaluated under the queue's mutex, and whoever makes it true does so through update().
    template <class Pred>
    work_item* pop_wait_until(Pred done) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return head_ != nullptr || done(); });
        if (head_ == nullptr) {
            return nullptr;
        }
        return pop_front_locked();
    }

    // Runs `f` under the queue's mutex and wakes every waiter.
    template <class F>
    void update(F f) {
        std::lock_guard<std::mutex> lock(mutex_);
        f();
        cv_.notify_all();
    }

    // Closes the queue (later pushes are refused) and returns what was still queued, as a list
    // linked through `next`, every item dequeued and cancelled.
    work_item* close() {
        work_item* first = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            closed_ = true;
            first = head_;
            for (work_item* p = head_; p != nullptr; p = p->next) {
                p->state = work_state::dequeued;
                p->cancelled = true;
            }
            head_ = tail_ = nullptr;
            cv_.notify_all();
        }
        return first;
    }

    // Takes what is queued now (each item dequeued and cancelled) without closing the queue.
    work_item* take_all_cancelled() {
        std::lock_guard<std::mutex> lock(mutex_);
        work_item* first = head_;
        for (work_item* p = head_; p != nullptr; p = p->next) {
            p->state = work_state::dequeued;
            p->cancelled = true;
        }
        head_ = tail_ = nullptr;
        return first;
    }

    [[nodiscard]] bool closed() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return closed_;
    }

    [[nodiscard]] std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const work_item* p = head_; p != nullptr; p = p->next) {
            ++n;
        }
        return n;
    }

    // Resumes every item of a list returned by close()/take_all_cancelled(), on this thread.
    static void resume_cancelled(work_item* first) {
        while (first != nullptr) {
            // The resumed coroutine may destroy the item: read the link first.
            work_item* next = first->next;
            std::coroutine_handle<> h = first->handle;
            resume_root(h);
            first = next;
        }
    }

private:
    work_item* pop_front_locked() noexcept {
        work_item* it = head_;
        unlink(*it);
        it->state = work_state::dequeued;
        return it;
    }

    void link_back(work_item& it) noexcept {
        it.prev = tail_;
        it.next = nullptr;
        if (tail_ != nullptr) {
            tail_->next = &it;
        } else {
            head_ = &it;
        }
        tail_ = &it;
        it.state = work_state::queued;
    }

    void link_front(work_item& it) noexcept {
        it.prev = nullptr;
        it.next = head_;
        if (head_ != nullptr) {
            head_->prev = &it;
        } else {
            tail_ = &it;
        }
        head_ = &it;
        it.state = work_state::queued;
    }

    void unlink(work_item& it) noexcept {
        if (it.prev != nullptr) {
            it.prev->next = it.next;
        } else {
            head_ = it.next;
        }
        if (it.next != nullptr) {
            it.next->prev = it.prev;
        } else {
            tail_ = it.prev;
        }
        it.prev = it.next = nullptr;
    }

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    work_item* head_ = nullptr;
    work_item* tail_ = nullptr;
    bool closed_ = false;
};

// The awaiter of `schedule()` / `schedule(token)` on a work_queue-based scheduler. The coroutine
// suspends, is queued, and is resumed by a consumer of the queue; await_resume throws
// operation_cancelled if the entry was cancelled (stop requested while queued, or the queue
// closed).
class schedule_awaiter {
public:
    explicit schedule_awaiter(work_queue& q) noexcept : queue_(&q) {}
    schedule_awaiter(work_queue& q, std::stop_token token) noexcept
        : queue_(&q), token_(std::move(token)) {}
    // Copyable before it is awaited only (the item must not move while queued).
    schedule_awaiter(const schedule_awaiter& other) noexcept
        : queue_(other.queue_), token_(other.token_) {}
    schedule_awaiter& operator=(const schedule_awaiter&) = delete;

    bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> h) {
        item_.handle = h;
        if (token_.stop_possible()) {
            // Registered before the push: once queued, a consumer may resume (and run) the
            // coroutine on another thread at any moment, and this frame must not be touched then.
            // If stop was already requested the callback runs here and push refuses the item.
            callback_.emplace(token_, canceller{queue_, &item_});
        }
        return queue_->push(item_);
    }

    void await_resume() {
        // Waits for a callback running concurrently on another thread (which found the item
        // already taken) before the item goes away with this awaiter.
        callback_.reset();
        if (item_.cancelled) {
            throw_exception(operation_cancelled{});
        }
    }

private:
    struct canceller {
        work_queue* queue;
        work_item* item;
        void operator()() const noexcept { queue->cancel(*item); }
    };

    work_queue* queue_;
    std::stop_token token_;
    work_item item_;
    std::optional<std::stop_callback<canceller>> callback_;
};

} // namespace cotrait::detail
