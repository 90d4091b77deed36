// What the interface layer knows about one async method and one implementation, before any
// interface exists: the qualifiers of a pointer to a virtual, how well a result type serves the
// interface's (the method statuses), whether a task can be adopted without a second frame, and
// how an adapter or decorator holds its implementation (impl_storage). interface.hpp builds the
// interfaces, adapters and reflection on top of it.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/local_task.hpp>
#include <cotrait/static_task.hpp>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace cotrait {

namespace detail {

// What the qualifiers of an async method's virtual say. Anything but nothing, `const`,
// `noexcept` and `const noexcept` (ref-qualifiers, volatile) is reported as unsupported by a
// static_assert naming the method, not as an incomplete type.
template <class M>
struct member_fn_traits {
    static constexpr bool supported = false;
    static constexpr bool is_const = false;
};
template <class R, class C, class... A>
struct member_fn_traits<R (C::*)(A...)> {
    static constexpr bool supported = true;
    static constexpr bool is_const = false;
};
template <class R, class C, class... A>
struct member_fn_traits<R (C::*)(A...) const> {
    static constexpr bool supported = true;
    static constexpr bool is_const = true;
};
template <class R, class C, class... A>
struct member_fn_traits<R (C::*)(A...) noexcept> {
    static constexpr bool supported = true;
    static constexpr bool is_const = false;
};
template <class R, class C, class... A>
struct member_fn_traits<R (C::*)(A...) const noexcept> {
    static constexpr bool supported = true;
    static constexpr bool is_const = true;
};

// The object type an implementation method is called on: const for a const interface method.
template <class M, class Impl>
using self_for = std::conditional_t<member_fn_traits<M>::is_const, const Impl, Impl>;

inline constexpr int method_ok = 0;
inline constexpr int method_missing = 1;         // nothing callable under that name
inline constexpr int method_wrong_signature = 2; // a member of that name exists, not callable so
inline constexpr int method_not_awaitable = 3;
inline constexpr int method_wrong_result = 4;

// How an implementation method returning X serves an interface method returning R.
template <class X, class R>
constexpr int result_status() noexcept {
    if constexpr (!awaitable<X>) {
        return method_not_awaitable;
    } else {
        using res = await_result_t<X>;
        if constexpr (std::is_void_v<R>) {
            return std::is_void_v<res> ? method_ok : method_wrong_result;
        } else if constexpr (std::is_reference_v<R>) {
            // A reference must refer to something that outlives the task, never to a temporary.
            return std::is_reference_v<res> && std::is_convertible_v<res, R> ? method_ok
                                                                             : method_wrong_result;
        } else {
            return std::is_convertible_v<res, R> ? method_ok : method_wrong_result;
        }
    }
}

// The fallback for implementations returning an awaitable that is not a cotrait task (or a task
// of another result type): a second frame that awaits it.
template <class Task, class A>
Task await_into(A a) {
    if constexpr (std::is_void_v<typename Task::value_type>) {
        co_await std::move(a);
    } else {
        co_return co_await std::move(a);
    }
}

// An implementation's task that the interface's task adopts as is (a static_task<R, A> or
// boxed_task<R>): its frame is the only frame of the call. Anything else goes through await_into.
template <class Task, class X>
inline constexpr bool adoptable_v = std::is_convertible_v<X&&, Task>;

template <class X>
struct is_cotrait_task : std::false_type {};
template <class T, class A>
struct is_cotrait_task<static_task<T, A>> : std::true_type {};
template <class T>
struct is_cotrait_task<boxed_task<T>> : std::true_type {};
template <class T>
struct is_cotrait_task<local_task<T>> : std::true_type {};

// A cotrait task whose result type differs from the method's R (static_task<int> for a
// std::size_t method): it cannot be adopted, so the adapter would wrap it in a second frame.
// Almost always an oversight, since the implementation could return R directly.
template <class X, class R>
constexpr bool converting_task() noexcept {
    using x = std::remove_cvref_t<X>;
    if constexpr (is_cotrait_task<x>::value) {
        return !std::is_same_v<typename x::value_type, R>;
    } else {
        return false;
    }
}
template <class X, class R>
inline constexpr bool converting_task_v = converting_task<X, R>();

constexpr bool all_true(std::initializer_list<bool> results) noexcept {
    for (bool r : results) {
        if (!r) {
            return false;
        }
    }
    return true;
}

// A storage tag whose layer wraps every call (cotrait::instrumented): the generated override then
// asks the layer for a hook (cotrait_enter) around the call to the implementation.
template <class Tag>
struct hooked_storage : std::false_type {};

// Where the adapter keeps the implementation: by value, or by address for `Impl = T&`.
// value_type is what the generated overrides call the methods on.
template <class Impl>
class impl_storage {
public:
    using value_type = Impl;
    template <class... A>
    explicit impl_storage(A&&... a) : impl_(std::forward<A>(a)...) {}
    Impl& get() noexcept { return impl_; }
    const Impl& get() const noexcept { return impl_; }

private:
    Impl impl_;
};
template <class Impl>
class impl_storage<Impl&> {
public:
    using value_type = Impl;
    explicit impl_storage(Impl& i) noexcept : impl_(std::addressof(i)) {}
    Impl& get() noexcept { return *impl_; }
    const Impl& get() const noexcept { return *impl_; }

private:
    Impl* impl_;
};

// The tag under which cotrait::forwarding stores its inner interface: `Inner` is a reference
// (kept as an address) or a pointer-like owner (std::unique_ptr, std::shared_ptr) that the
// overrides dereference on every call.
template <class Inner>
struct forward_to;

template <class Inner>
class impl_storage<forward_to<Inner>> {
    using held_type =
        std::conditional_t<std::is_reference_v<Inner>, std::remove_reference_t<Inner>*, Inner>;

public:
    using value_type = std::remove_reference_t<decltype(*std::declval<const held_type&>())>;

    explicit impl_storage(Inner inner) : held_(hold(static_cast<Inner&&>(inner))) {
        // A null owner would only fail at the first call, far from the mistake.
        if (!held_) {
            throw_exception(
                std::invalid_argument("cotrait::forwarding: the inner interface pointer is null"));
        }
    }
    value_type& get() noexcept { return *held_; }
    const value_type& get() const noexcept { return *held_; }

private:
    static held_type hold(Inner&& inner) noexcept {
        if constexpr (std::is_reference_v<Inner>) {
            return std::addressof(inner);
        } else {
            return static_cast<Inner&&>(inner);
        }
    }

    held_type held_;
};

} // namespace detail

} // namespace cotrait
