// Timers without asio: sleep_for / sleep_until on any cotrait executor (run_loop, thread_pool),
// and with_timeout.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/when_any.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace cotrait {

/// Something coroutines can move onto with `co_await ex.schedule()` (run_loop, thread_pool, or
/// your own), where the awaiter's `await_suspend` may be called from any thread.
template <class Ex>
concept scheduler = requires(Ex& ex) {
    { ex.schedule() } -> awaitable;
};

/// Thrown by `with_timeout` when the deadline passed before the operation completed.
class timed_out : public std::exception {
public:
    [[nodiscard]] const char* what() const noexcept override {
        return "cotrait: operation timed out";
    }
};

namespace detail {

// A pending timer; lives in the sleeping coroutine's awaiter. Its fields are guarded by the
// service's mutex until it is fired.
struct timer_node {
    enum class state : unsigned char { idle, pending, fired };
    std::chrono::steady_clock::time_point when{};
    std::uint64_t seq = 0;      // FIFO among equal deadlines
    std::size_t heap_index = 0; // valid while pending
    state st = state::idle;
    bool cancelled = false;
    void* owner = nullptr;
    void (*fire)(void* owner) noexcept = nullptr; // hands the coroutine to its executor
};

} // namespace detail

/// A thread that keeps deadlines and, when one passes, hands the sleeping coroutine back to the
/// executor it named (the timer thread itself runs no user code, except as noted below).
///
/// `sleep_for(ex, d, token)` / `sleep_until(ex, t, token)` return awaitables that suspend the
/// coroutine until the deadline and then resume it through `ex.schedule()`, i.e. on `ex`. They
/// allocate nothing: the timer entry lives in the awaiter; the service keeps a binary heap of
/// pointers (O(log n) insert and cancel). A deadline already passed skips the timer thread but
/// still goes through `ex`.
///
/// Cancellation: if stop is requested on `token` before the deadline, the timer is removed and the
/// coroutine is handed to `ex` at once; its `co_await` then throws `operation_cancelled`. Stop
/// requested before the `co_await` throws without suspending. A stop that comes after the deadline
/// fired is ignored.
///
/// Destroying the service hands every pending sleeper to its executor with `operation_cancelled`,
/// then joins the thread; the executors must still be alive. If an executor refuses the
/// coroutine (it shut down), the coroutine is resumed on the thread that fired the timer, with the
/// executor's `operation_cancelled` (the same rule as a thread_pool's shutdown). An executor whose
/// `schedule()` is ready at once (an inline executor) likewise continues the coroutine on the
/// thread that fired the timer (or, for a deadline already passed, in the `co_await` itself).
///
/// Most programs use the process-wide `default_timer_service()` through the free functions.
class timer_service {
public:
    using clock = std::chrono::steady_clock;

    timer_service() : thread_([this] { run(); }) {}
    timer_service(const timer_service&) = delete;
    timer_service& operator=(const timer_service&) = delete;

    ~timer_service() {
        std::vector<detail::timer_node*> left;
        {
            const std::lock_guard<std::mutex> lock(m_);
            stopping_ = true;
            left.swap(heap_);
            for (detail::timer_node* n : left) {
                n->st = detail::timer_node::state::fired;
                n->cancelled = true;
            }
            cv_.notify_all();
        }
        thread_.join();
        for (detail::timer_node* n : left) {
            n->fire(n->owner);
        }
    }

    // Quiet: for with_timeout. Cancellation resumes the sleeper inline, on the stopping thread,
    // and co_await yields false instead of throwing (true: the deadline passed).
    template <class Ex, bool Quiet = false>
    class sleep_awaiter;

    /// Suspends until `deadline`, then continues on `ex`. See the class comment.
    template <scheduler Ex>
    [[nodiscard]] sleep_awaiter<Ex> sleep_until(Ex& ex, clock::time_point deadline,
                                                std::stop_token token = {}) {
        return sleep_awaiter<Ex>(*this, ex, deadline, std::move(token));
    }

    /// Suspends for `d` (measured on the steady clock), then continues on `ex`.
    template <scheduler Ex, class Rep, class Period>
    [[nodiscard]] sleep_awaiter<Ex> sleep_for(Ex& ex, std::chrono::duration<Rep, Period> d,
                                              std::stop_token token = {}) {
        return sleep_until(ex, deadline_after(d), std::move(token));
    }

    /// Timers waiting now (a snapshot).
    [[nodiscard]] std::size_t pending() const {
        const std::lock_guard<std::mutex> lock(m_);
        return heap_.size();
    }

    template <class Rep, class Period>
    static clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) {
        const clock::time_point now = clock::now();
        if (d <= d.zero()) {
            return now;
        }
        // Saturate rather than overflow for "forever"-like durations (hours::max()); compared in
        // floating point because converting d to the clock's unit is what would overflow.
        const auto left = clock::time_point::max() - now;
        if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(left)) {
            return clock::time_point::max();
        }
        return now + std::chrono::ceil<clock::duration>(d);
    }

private:
    // Inserts `n` unless it was cancelled already (then returns false: do not suspend).
    bool add(detail::timer_node& n) {
        const std::lock_guard<std::mutex> lock(m_);
        if (n.cancelled) {
            return false;
        }
        if (stopping_) {
            n.cancelled = true;
            return false;
        }
        // Grown first: if that throws (bad_alloc), the entry stays idle and out of the heap, so a
        // stop requested later (the awaiter, and its stop callback, may outlive the failed
        // co_await: when_any keeps with_timeout's sleeper) only marks it cancelled.
        heap_.push_back(&n);
        n.seq = next_seq_++;
        n.st = detail::timer_node::state::pending;
        n.heap_index = heap_.size() - 1;
        sift_up(n.heap_index);
        // Only a deadline earlier than the one the timer thread sleeps until needs a wake-up (a
        // futex call and a context switch, ~20 us here): a with_timeout whose operation wins
        // registers and cancels a timer per call, and usually needs none.
        if (n.when < wake_at_) {
            cv_.notify_one();
        }
        return true;
    }

    // Stop was requested for `n`: true if it was still pending (the caller must fire it). A timer
    // not added yet is marked so that add() refuses it; one already fired is left alone.
    bool cancel(detail::timer_node& n) noexcept {
        const std::lock_guard<std::mutex> lock(m_);
        switch (n.st) {
        case detail::timer_node::state::idle:
            n.cancelled = true;
            return false;
        case detail::timer_node::state::pending:
            n.cancelled = true;
            remove_at(n.heap_index);
            return true;
        case detail::timer_node::state::fired:
            break;
        }
        return false;
    }

    void run() {
        std::unique_lock<std::mutex> lock(m_);
        while (!stopping_) {
            // Awake: add() need not notify until this thread waits again.
            wake_at_ = clock::time_point::min();
            if (heap_.empty()) {
                wake_at_ = clock::time_point::max();
                cv_.wait(lock);
                continue;
            }
            detail::timer_node* top = heap_.front();
            const clock::time_point now = clock::now();
            if (now < top->when) {
                // Bounded: waiting until time_point::max() overflows inside some libstdc++
                // versions.
                wake_at_ = std::min(top->when, now + std::chrono::hours(24));
                cv_.wait_until(lock, wake_at_);
                continue;
            }
            remove_at(0);
            lock.unlock();
            top->fire(top->owner);
            lock.lock();
        }
    }

    static bool earlier(const detail::timer_node* a, const detail::timer_node* b) noexcept {
        return a->when < b->when || (a->when == b->when && a->seq < b->seq);
    }

    void place(std::size_t i, detail::timer_node* n) noexcept {
        heap_[i] = n;
        n->heap_index = i;
    }

    void sift_up(std::size_t i) noexcept {
        detail::timer_node* n = heap_[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / 2;
            if (!earlier(n, heap_[parent])) {
                break;
            }
            place(i, heap_[parent]);
            i = parent;
        }
        place(i, n);
    }

    void sift_down(std::size_t i) noexcept {
        detail::timer_node* n = heap_[i];
        const std::size_t size = heap_.size();
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && earlier(heap_[child + 1], heap_[child])) {
                ++child;
            }
            if (!earlier(heap_[child], n)) {
                break;
            }
            place(i, heap_[child]);
            i = child;
        }
        place(i, n);
    }

    void remove_at(std::size_t i) noexcept {
        detail::timer_node* gone = heap_[i];
        detail::timer_node* last = heap_.back();
        heap_.pop_back();
        gone->st = detail::timer_node::state::fired;
        if (gone != last) {
            place(i, last);
            sift_down(i);
            sift_up(last->heap_index);
        }
    }

    mutable std::mutex m_;
    std::condition_variable cv_;
    std::vector<detail::timer_node*> heap_;
    std::uint64_t next_seq_ = 0;
    // When the timer thread will wake up by itself: max() while it waits with nothing pending,
    // min() while it is awake.
    clock::time_point wake_at_ = clock::time_point::min();
    bool stopping_ = false;
    std::thread thread_; // last: started once everything above is initialised
};

/// The awaiter of `sleep_for` / `sleep_until`. Movable until awaited.
template <class Ex, bool Quiet>
class timer_service::sleep_awaiter {
    using schedule_t = decltype(std::declval<Ex&>().schedule());

public:
    sleep_awaiter(timer_service& s, Ex& ex, clock::time_point deadline, std::stop_token token)
        : service_(&s), ex_(&ex), token_(std::move(token)) {
        node_.when = deadline;
        node_.fire = &fire;
    }
    sleep_awaiter(sleep_awaiter&& other) noexcept
        : service_(other.service_), ex_(other.ex_), token_(std::move(other.token_)) {
        node_.when = other.node_.when;
        node_.fire = &fire;
    }
    sleep_awaiter& operator=(sleep_awaiter&&) = delete;

    bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> h) {
        handle_ = h;
        node_.owner = this; // here, not at construction: the awaiter may have been moved
        if (token_.stop_requested()) {
            node_.cancelled = true;
            return false;
        }
        if (node_.when <= clock::now()) {
            return hand_to_executor();
        }
        if (token_.stop_possible()) {
            // Before add(): once added, the timer thread may resume the coroutine (and destroy
            // this awaiter) at any moment. A stop that comes in between marks the node cancelled
            // and add() refuses it.
            callback_.emplace(token_, canceller{this});
        }
        if (!service_->add(node_)) {
            callback_.reset();
            return false;
        }
        return true;
    }

    std::conditional_t<Quiet, bool, void> await_resume() {
        // Waits for a callback running concurrently on another thread before this goes away.
        callback_.reset();
        if (node_.cancelled) {
            if constexpr (Quiet) {
                return false;
            } else {
                detail::throw_exception(operation_cancelled{});
            }
        }
#if COTRAIT_EXCEPTIONS
        if (error_) {
            std::rethrow_exception(error_);
        }
#endif
        if (sched_) {
            sched_->await_resume(); // the executor's own outcome (operation_cancelled if closed)
        }
        if constexpr (Quiet) {
            return true;
        }
    }

private:
    struct canceller {
        sleep_awaiter* self;
        void operator()() const noexcept {
            if (self->service_->cancel(self->node_)) {
                if constexpr (Quiet) {
                    detail::resume_root(self->handle_);
                } else {
                    continue_via_executor(self);
                }
            }
        }
    };

    // Called by the service (its thread, or its destructor) once the entry left the heap.
    static void fire(void* owner) noexcept {
        auto* self = static_cast<sleep_awaiter*>(owner);
        // The service is done with the entry, and may be destroyed before the coroutine runs on
        // its executor: a stop request from now on must not call into it. Disarming waits for a
        // callback running on another thread (which finds the entry fired and does nothing).
        self->callback_.reset();
        continue_via_executor(self);
    }

    static void continue_via_executor(sleep_awaiter* self) noexcept {
        if (!self->hand_to_executor()) {
            // Refused (the executor shut down): nobody else will resume it. Read nothing after.
            detail::resume_root(self->handle_);
        }
    }

    // Queues the coroutine on the executor. False if the coroutine is to continue on the caller's
    // thread now: the executor runs it inline (its schedule() is ready at once, as an inline
    // executor's is), refused it (its await_resume then reports why), or threw (an allocation
    // that failed): the exception is kept for await_resume, since on the timer thread it could
    // only terminate the process.
    bool hand_to_executor() noexcept {
#if COTRAIT_EXCEPTIONS
        try {
            return hand_to_executor_or_throw();
        } catch (...) {
            sched_.reset();
            error_ = std::current_exception();
            return false;
        }
#else
        return hand_to_executor_or_throw();
#endif
    }

    bool hand_to_executor_or_throw() {
        sched_.emplace(ex_->schedule());
        if (sched_->await_ready()) {
            return false;
        }
        using R = decltype(sched_->await_suspend(handle_));
        if constexpr (std::is_void_v<R>) {
            sched_->await_suspend(handle_);
            return true;
        } else if constexpr (std::is_same_v<R, bool>) {
            return sched_->await_suspend(handle_);
        } else {
            detail::resume_root(sched_->await_suspend(handle_));
            return true;
        }
    }

    detail::timer_node node_;
    timer_service* service_;
    Ex* ex_;
    std::stop_token token_;
    std::coroutine_handle<> handle_{};
    std::optional<schedule_t> sched_;
    std::exception_ptr error_; // thrown by the executor while handing it the coroutine
    std::optional<std::stop_callback<canceller>> callback_;
};

/// The process-wide timer service used by the free `sleep_for` / `sleep_until` / `with_timeout`.
/// Started on first use and never destroyed (so that a sleeper pending at exit is not handed to an
/// executor that static destruction already destroyed).
inline timer_service& default_timer_service() {
    static timer_service* const s = new timer_service();
    return *s;
}

/// `co_await cotrait::sleep_for(ex, 10ms)`: suspends for the duration, then continues on `ex`.
/// With a token, stop requested first makes the `co_await` throw `operation_cancelled` promptly.
template <scheduler Ex, class Rep, class Period>
[[nodiscard]] auto sleep_for(Ex& ex, std::chrono::duration<Rep, Period> d,
                             std::stop_token token = {}) {
    return default_timer_service().sleep_for(ex, d, std::move(token));
}

/// `co_await cotrait::sleep_until(ex, deadline)`: as sleep_for, until a steady_clock time point.
template <scheduler Ex>
[[nodiscard]] auto sleep_until(Ex& ex, std::chrono::steady_clock::time_point deadline,
                               std::stop_token token = {}) {
    return default_timer_service().sleep_until(ex, deadline, std::move(token));
}

namespace detail {

// The operation's result out of the race's (alternative 0), unwrapping a reference.
template <class R, class Race>
R timeout_result(Race&& r) {
    if constexpr (std::is_reference_v<R>) {
        return std::get<0>(r.value).get();
    } else {
        return std::move(std::get<0>(r.value));
    }
}

// Awaits a when_any without taking the winner's result: await_resume would rethrow a failed
// winner's exception (the sleep's, when its executor refused it) before the operation's late
// result could be looked at, and drop that result.
template <class Race>
struct race_settled {
    Race& race;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) { return race.await_suspend(h); }
    void await_resume() const noexcept {}
};

// KeepLate: the operation was handed the stop token, so a successful completion after the
// deadline is a result that exists (a received value, an acquired permit) and is returned, not
// dropped; without a token the deadline decides (see the public forms).
template <bool KeepLate, scheduler Ex, class Rep, class Period, awaitable A>
static_task<stored_result_t<A>> timeout_race(Ex& ex, std::chrono::duration<Rep, Period> d,
                                             std::stop_source stop, A a) {
    // Arguments are named before the co_await: GCC 12 mishandles class prvalues passed to a call
    // inside a co_await operand (see design.md).
    // A quiet sleeper: when the operation wins, the timer is cancelled without an exception and
    // without a trip through `ex` (a thrown and dropped operation_cancelled cost ~1-2 us a call).
    using sleeper_t = timer_service::sleep_awaiter<Ex, true>;
    when_any_awaitable<A, sleeper_t> race(
        stop, std::move(a),
        sleeper_t(default_timer_service(), ex, timer_service::deadline_after(d), stop.get_token()));
    race_settled<when_any_awaitable<A, sleeper_t>> settled{race};
    co_await settled;
    using R = stored_result_t<A>;
    if (race.winner_index() == 0 || (KeepLate && race.template succeeded<0>())) {
        // The operation's result, or its exception if it finished first.
        if constexpr (std::is_void_v<R>) {
            (void)race.template take_child<0>();
            co_return;
        } else {
            co_return timeout_result<R>(race.template take_child<0>());
        }
    }
    // The sleep's own exception if it had one (its executor refused it), else the verdict.
    if (!std::get<1>(race.template take_child<1>().value)) {
        throw_exception(operation_cancelled{}); // `stop` was requested by someone else, first
    }
    throw_exception(timed_out{});
}

} // namespace detail

/// Awaits `a` with a deadline, handing it the token of `stop`: yields its result (or rethrows its
/// exception) if it completes first. Otherwise calls `stop.request_stop()` and waits for `a` to
/// finish (it is never detached); then, if `a` completed successfully all the same (it had
/// already received its value, acquired its permit, or ignored the token), yields that result: a
/// result that exists is never dropped, even when the sleep itself failed (`ex` refused it: its
/// exception is thrown only if `a` has no result). If `a` ended with an exception (typically the
/// operation_cancelled that the stop caused), throws `timed_out`. `stop` is requested in either
/// case (it also ends the sleep when `a` wins), so use a fresh source per call, not one shared
/// with other work. If `stop` is requested by someone else before either finishes and `a` then
/// fails, throws `operation_cancelled`. The caller continues where `a` finished if it won, on `ex`
/// if the deadline did (as with any `when_any`, on the thread of whichever finished last). The
/// coroutine frame comes from the frame allocator in effect at the call (as for any
/// `static_task`); the race is a `when_any` of `a` and a sleep.
template <scheduler Ex, class Rep, class Period, awaitable A>
[[nodiscard]] static_task<detail::stored_result_t<A>>
with_timeout(Ex& ex, std::chrono::duration<Rep, Period> d, std::stop_source stop, A a) {
    return detail::timeout_race<true>(ex, d, std::move(stop), std::move(a));
}

/// As above for an operation that takes no stop token: it is not interrupted by the deadline, so
/// this waits for it to finish and then, if the deadline passed first, throws `timed_out` and
/// drops its result (a deadline report, as a client-side timeout is). Do not use this form with an
/// operation whose result must not be lost (a channel receive, an acquire): hand those a token
/// with the forms above or below, which keep a late result.
template <scheduler Ex, class Rep, class Period, awaitable A>
[[nodiscard]] static_task<detail::stored_result_t<A>>
with_timeout(Ex& ex, std::chrono::duration<Rep, Period> d, A a) {
    return detail::timeout_race<false>(ex, d, std::stop_source(), std::move(a));
}

/// As above with a stop source of its own: `f(token)` makes the operation, and the token is
/// stopped when the deadline passes. `co_await with_timeout(pool, 50ms, [&](std::stop_token t) {
/// return fetch(t, key); })`. The callable is kept alive until the operation finishes.
template <scheduler Ex, class Rep, class Period, class F>
requires std::invocable<F&, std::stop_token> && awaitable<std::invoke_result_t<F&, std::stop_token>>
[[nodiscard]] static_task<detail::stored_result_t<std::invoke_result_t<F&, std::stop_token>>>
with_timeout(Ex& ex, std::chrono::duration<Rep, Period> d, F f) {
    std::stop_source stop;
    auto op = f(stop.get_token());
    co_return co_await with_timeout(ex, d, stop, std::move(op));
}

} // namespace cotrait
