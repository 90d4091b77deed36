// cotrait::ready(v) / ready_error(e): an already-known result that converts to boxed_task<T>
// without a coroutine frame (a cache hit, a validation error). docs/interfaces.md, "Ready values".
#pragma once

#include <cotrait/detail/throw.hpp>

#include <exception>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace cotrait {

/// A value to hand back as an already-completed task: `return cotrait::ready(v);` from a function
/// returning `boxed_task<T>` (which must then not be a coroutine itself). Converts to any
/// `boxed_task<T>` whose `T` is constructible from `V`.
template <class V>
struct ready_value {
    V value;
};
/// The ready result of a `boxed_task<void>`.
template <>
struct ready_value<void> {};

/// A ready failure: awaiting the task it converts to rethrows `error`.
struct ready_exception {
    std::exception_ptr error;
};

/// Wraps `v` (decayed; pass `std::ref(x)` for a `boxed_task<T&>`) as a ready value.
template <class V>
ready_value<std::decay_t<V>> ready(V&& v) {
    return {std::forward<V>(v)};
}
/// The ready result of a `boxed_task<void>`.
inline ready_value<void> ready() noexcept {
    return {};
}

/// A ready failure rethrowing `e`. An empty exception_ptr is rejected with std::invalid_argument
/// here: rethrowing it later would be undefined behaviour.
inline ready_exception ready_error(std::exception_ptr e) {
    if (!e) {
        detail::throw_exception(
            std::invalid_argument("cotrait::ready_error: the exception_ptr is empty"));
    }
    return {std::move(e)};
}
/// A ready failure rethrowing a copy of the exception object `e`.
template <class E>
requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>) ready_exception ready_error(E&& e) {
    return ready_error(std::make_exception_ptr(std::forward<E>(e)));
}

} // namespace cotrait
