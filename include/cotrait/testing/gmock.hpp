// gMock actions for async interfaces: make `MOCK_METHOD(cotrait::boxed_task<int>, get, (int),
// (override));` practical. Each action builds a fresh task per call (a task has one consumer),
// with the outcome and timing a test needs: ready now, failing at the await, completing when a
// gate opens, completing on an executor, or relaying another awaitable. docs/interfaces.md,
// "Mocking with gMock". Requires GoogleTest's gMock; not part of the umbrella header.
//
// A mocked method called without an action returns an empty boxed_task (gMock's default value),
// which throws cotrait::task_misuse ("awaited an empty task") where the code under test awaits
// it: an unexpected call fails loudly, never hangs.
#pragma once

#include <cotrait/async_event.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/ready.hpp>

#include <gmock/gmock.h>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cotrait::testing {

namespace detail {

template <class R>
struct task_value {
    static_assert(sizeof(R) == 0, "cotrait::testing actions serve methods returning "
                                  "cotrait::boxed_task<T>");
};
template <class T>
struct task_value<boxed_task<T>> {
    using type = T;
};
template <class R>
using task_value_t = typename task_value<R>::type;

// The value to hand back, or nothing for boxed_task<void>.
template <class... V>
struct payload {
    std::tuple<V...> v;
    template <class T>
    ready_value<std::conditional_t<sizeof...(V) == 0, void, T>> make_ready() const {
        if constexpr (sizeof...(V) == 0) {
            return cotrait::ready();
        } else {
            return {T(std::get<0>(v))};
        }
    }
};

template <class... V>
class return_ready {
public:
    explicit return_ready(V... v) : p_{{std::move(v)...}} {}
    template <class Result, class Args>
    Result Perform(const Args& /*args*/) const {
        return p_.template make_ready<task_value_t<Result>>();
    }

private:
    payload<V...> p_;
};

template <class E>
class throw_async {
public:
    explicit throw_async(E e) : e_(std::move(e)) {}
    template <class Result, class Args>
    Result Perform(const Args& /*args*/) const {
        return cotrait::ready_error(e_); // a new exception object per call
    }

private:
    E e_;
};

template <class T, class Gate, class... V>
boxed_task<T> after(Gate gate, payload<V...> p) {
    co_await gate();
    if constexpr (!std::is_void_v<T>) {
        co_return T(std::get<0>(p.v));
    }
}

template <class... V>
class return_after {
public:
    return_after(async_event& gate, V... v) : gate_(&gate), p_{{std::move(v)...}} {}
    template <class Result, class Args>
    Result Perform(const Args& /*args*/) const {
        async_event* g = gate_;
        return after<task_value_t<Result>>([g] { return g->wait(); }, p_);
    }

private:
    async_event* gate_;
    payload<V...> p_;
};

template <class Scheduler, class... V>
class return_on {
public:
    return_on(Scheduler& s, V... v) : s_(&s), p_{{std::move(v)...}} {}
    template <class Result, class Args>
    Result Perform(const Args& /*args*/) const {
        Scheduler* s = s_;
        return after<task_value_t<Result>>([s] { return s->schedule(); }, p_);
    }

private:
    Scheduler* s_;
    payload<V...> p_;
};

template <class T, class A>
boxed_task<T> relay(A a) {
    if constexpr (std::is_void_v<T>) {
        co_await std::move(a);
    } else {
        co_return co_await std::move(a);
    }
}

template <class F>
class await_result {
public:
    explicit await_result(F f) : f_(std::move(f)) {}
    template <class Result, class Args>
    Result Perform(const Args& args) const {
        return relay<task_value_t<Result>>(std::apply(f_, args));
    }

private:
    F f_;
};

} // namespace detail

/// Returns an already-completed task holding a copy of `v` (no frame), or, without an argument,
/// a completed `boxed_task<void>`.
template <class... V>
requires(sizeof...(V) <= 1) auto ReturnReady(V... v) {
    return ::testing::MakePolymorphicAction(detail::return_ready<V...>(std::move(v)...));
}

/// Returns a task that throws a copy of `e` where it is awaited (not at the call), as an async
/// method's failure does.
template <class E>
auto ThrowAsync(E e) {
    return ::testing::MakePolymorphicAction(detail::throw_async<E>(std::move(e)));
}

/// Returns a task that completes with `v` (or, without a value, as `void`) once `gate` is set:
/// lets a test hold a call in flight and decide when it finishes. `gate` must outlive the task.
template <class... V>
requires(sizeof...(V) <= 1) auto ReturnAfter(async_event& gate, V... v) {
    return ::testing::MakePolymorphicAction(detail::return_after<V...>(gate, std::move(v)...));
}

/// Returns a task that moves to `scheduler` (`co_await scheduler.schedule()`: a run_loop, a
/// thread_pool) and completes there with `v`. `scheduler` must outlive the task.
template <class Scheduler, class... V>
requires(sizeof...(V) <= 1) auto ReturnOn(Scheduler& scheduler, V... v) {
    return ::testing::MakePolymorphicAction(
        detail::return_on<Scheduler, V...>(scheduler, std::move(v)...));
}

/// Calls `f` with the mocked call's arguments (at the call) and returns a task that awaits what
/// `f` returned and yields its result: delegate to a fake, or to another mock.
template <class F>
auto AwaitResult(F f) {
    return ::testing::MakePolymorphicAction(detail::await_result<F>(std::move(f)));
}

} // namespace cotrait::testing
