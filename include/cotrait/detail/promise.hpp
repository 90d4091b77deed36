// What boxed_task and static_task promises share: laziness, the continuation, the result, and the
// awaiter that runs a task from inside another coroutine.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/result.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/task_error.hpp>

#include <cassert>
#include <coroutine>
#include <type_traits>

namespace cotrait::detail {

template <class T>
class task_promise : public result_slot<T> {
    static_assert(!std::is_rvalue_reference_v<T>,
                  "a cotrait task cannot produce an rvalue reference: return the value instead");

public:
    std::suspend_always initial_suspend() const noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        // A task's body only ever starts from task_awaiter::await_suspend, which sets the
        // continuation first, so there is always one to resume.
        template <class P>
        transfer_result await_suspend(std::coroutine_handle<P> self) noexcept {
            std::coroutine_handle<> next = self.promise().continuation_;
            assert(next);
            return transfer_to(self, next);
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }

    // The coroutine to resume on completion. Set once, by the first (and only) await.
    std::coroutine_handle<> continuation_{};
};

// A task refers to its frame through coroutine_handle<task_promise<T>> whatever its concrete
// promise type P. coroutine_handle<Q>::from_address/promise() locate the promise from the frame
// address using only Q's alignment, so this is exact when task_promise<T> is P's first base (at
// offset 0, checked in debug builds) and both have the same alignment (checked here).
template <class T, class P>
std::coroutine_handle<task_promise<T>> as_base_handle(std::coroutine_handle<P> h) noexcept {
    static_assert(std::is_base_of_v<task_promise<T>, P>);
    static_assert(alignof(P) == alignof(task_promise<T>),
                  "a task promise must not be more aligned than its task_promise<T> base");
    auto base = std::coroutine_handle<task_promise<T>>::from_address(h.address());
    assert(!h || static_cast<void*>(&base.promise()) ==
                     static_cast<void*>(static_cast<task_promise<T>*>(&h.promise())));
    return base;
}

// A ready outcome (detail/ready_box.hpp) is laid out like a coroutine frame that has finished: its
// resume pointer is null, so `done()` is true for it and false for a lazy frame that has not
// started. An awaiter that may meet one (MaybeReady) tests that in await_ready and then reads the
// result exactly as from a frame; awaiters of static_task never meet one and test nothing.
template <class T, bool MaybeReady = false>
class task_awaiter {
public:
    explicit task_awaiter(std::coroutine_handle<task_promise<T>> h) noexcept : h_(h) {}

    bool await_ready() noexcept {
        if constexpr (MaybeReady) {
            if (h_.done()) {
                // Claimed: a second await sees a continuation and reports already_awaited. Any
                // non-null handle does; this one is at hand (a ready frame never resumes it).
                h_.promise().continuation_ = h_;
                return true;
            }
        }
        return false;
    }
    transfer_result await_suspend(std::coroutine_handle<> caller) noexcept {
        h_.promise().continuation_ = caller;
        return transfer_to(caller, h_);
    }
    T await_resume() { return h_.promise().take(); }

private:
    std::coroutine_handle<task_promise<T>> h_;
};

// Cold: keeps the diagnostics' code out of every await.
[[noreturn]] COTRAIT_NOINLINE inline void report_await_misuse(bool empty) {
    report_misuse(empty ? task_errc::empty_task : task_errc::already_awaited);
}

// The misuse checks every await goes through; throws task_misuse.
template <class T, bool MaybeReady = false>
task_awaiter<T, MaybeReady> checked_awaiter(std::coroutine_handle<task_promise<T>> h) {
    // continuation_ is set by the first await and never cleared.
    if (COTRAIT_UNLIKELY(!h || h.promise().continuation_)) {
        report_await_misuse(!h);
    }
    return task_awaiter<T, MaybeReady>(h);
}

// The same for a task that is never null (boxed_task: empty is a sentinel frame whose continuation
// is set): one test; `is_empty` tells the cold path which misuse it was.
template <class T, bool MaybeReady, class IsEmpty>
task_awaiter<T, MaybeReady> checked_nonnull_awaiter(std::coroutine_handle<task_promise<T>> h,
                                                    IsEmpty is_empty) {
    if (COTRAIT_UNLIKELY(static_cast<bool>(h.promise().continuation_))) {
        report_await_misuse(is_empty(h));
    }
    return task_awaiter<T, MaybeReady>(h);
}

template <class T, class P>
task_awaiter<T> checked_awaiter(std::coroutine_handle<P> h) {
    return checked_awaiter<T>(as_base_handle<T>(h));
}

} // namespace cotrait::detail
