// Concepts and traits for things that can be co_awaited.
#pragma once

#include <concepts>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace cotrait {

namespace detail {

template <class S>
concept valid_await_suspend_result = std::same_as<S, void> || std::same_as<S, bool> ||
    std::convertible_to<S, std::coroutine_handle<>>;

} // namespace detail

/// A type with await_ready/await_suspend/await_resume usable from any coroutine.
template <class A>
concept awaiter = requires(A& a, std::coroutine_handle<> h) {
    { a.await_ready() } -> std::convertible_to<bool>;
    requires detail::valid_await_suspend_result<decltype(a.await_suspend(h))>;
    a.await_resume();
};

namespace detail {

template <class A>
concept has_member_co_await = requires(A&& a) {
    std::forward<A>(a).operator co_await();
};
template <class A>
concept has_free_co_await = requires(A&& a) {
    operator co_await(std::forward<A>(a));
};

template <class A>
decltype(auto) get_awaiter(A&& a) {
    if constexpr (has_member_co_await<A>) {
        return std::forward<A>(a).operator co_await();
    } else if constexpr (has_free_co_await<A>) {
        return operator co_await(std::forward<A>(a));
    } else {
        return std::forward<A>(a);
    }
}

} // namespace detail

/// Something `co_await` accepts in a coroutine whose promise has no await_transform.
template <class A>
concept awaitable = requires(A&& a) {
    { detail::get_awaiter(std::forward<A>(a)) } -> awaiter;
};

/// The type `co_await std::declval<A>()` produces.
template <awaitable A>
using await_result_t = decltype(detail::get_awaiter(std::declval<A>()).await_resume());

} // namespace cotrait
