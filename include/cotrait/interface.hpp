// COTRAIT_INTERFACE (alias ASYNC_INTERFACE): declares a virtual async interface, the concept that
// static implementations satisfy, the adapter that turns a static implementation into the virtual
// interface, and the reflection data of its async methods. Grammar and rationale:
// docs/interfaces.md.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/interface_pp.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/local_task.hpp>
#include <cotrait/static_task.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <memory_resource>
#include <span>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

namespace cotrait {

/// What the reflection of an interface says about one of its async methods.
struct method_info {
    std::string_view name;      ///< the method's name
    std::size_t arity;          ///< number of parameters
    bool is_const;              ///< declared `const`
    bool provided;              ///< has a default body that implementations may override
    std::string_view interface; ///< the interface that declares it (differs for inherited ones)
};

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

template <std::size_t N, std::size_t M>
constexpr std::array<method_info, N + M> concat_methods(const std::array<method_info, N>& a,
                                                        const std::array<method_info, M>& b) {
    std::array<method_info, N + M> out{};
    for (std::size_t i = 0; i < N; ++i) {
        out[i] = a[i];
    }
    for (std::size_t i = 0; i < M; ++i) {
        out[N + i] = b[i];
    }
    return out;
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

/// Opt-in for an implementation `Impl` whose methods return cotrait tasks of another result type
/// than the interface's (e.g. `static_task<int>` for a `std::size_t` method). Such a result cannot
/// be adopted, so the adapter awaits it in a coroutine of its own: a second frame per call. The
/// adapter rejects this unless `Impl` opts in:
///     template <> inline constexpr bool cotrait::allow_result_conversion<MyImpl> = true;
template <class Impl>
inline constexpr bool allow_result_conversion = false;

/// Not found (reflection lookups).
inline constexpr std::size_t npos_method = static_cast<std::size_t>(-1);

/// The root of every interface declared with COTRAIT_INTERFACE: polymorphic, destroyed through a
/// virtual destructor, neither copyable nor movable (an interface object is always used through
/// a reference or pointer, so it cannot be sliced).
class async_interface {
public:
    async_interface(const async_interface&) = delete;
    async_interface& operator=(const async_interface&) = delete;
    virtual ~async_interface() = default;

    // The adapter's bottom layer; each interface's layer (generated) derives from its base's.
    template <class Top, class Impl>
    class cotrait_layer;

protected:
    async_interface() = default;
};

// The bottom of every adapter: the most-derived interface `Top` and the implementation.
template <class Top, class Impl>
class async_interface::cotrait_layer : public Top {
public:
    /// The implementation type (cv-qualified if the adapter holds a const reference).
    using cotrait_impl_type = typename detail::impl_storage<Impl>::value_type;

    /// The wrapped implementation. Named with the reserved `cotrait_` prefix so that it cannot
    /// collide with an async method of the interface (a plain `impl()` did).
    cotrait_impl_type& cotrait_impl() noexcept { return cotrait_storage_.get(); }
    /// The wrapped implementation.
    const cotrait_impl_type& cotrait_impl() const noexcept { return cotrait_storage_.get(); }

    /// Deprecated spelling of cotrait_impl(). A template, so that it never overrides an async
    /// method named `impl`; declared at the bottom of the adapter, so that such a method's
    /// override (in a layer above) hides it.
    template <class Cotrait_Self = void>
    [[deprecated("use cotrait_impl() (a method named `impl` may belong to the "
                 "interface)")]] cotrait_impl_type&
    impl() noexcept {
        return cotrait_storage_.get();
    }
    /// Deprecated spelling of cotrait_impl().
    template <class Cotrait_Self = void>
    [[deprecated("use cotrait_impl() (a method named `impl` may belong to the "
                 "interface)")]] const cotrait_impl_type&
    impl() const noexcept {
        return cotrait_storage_.get();
    }

    /// True if the storage hooks every call (the generated overrides then use cotrait_enter).
    static constexpr bool cotrait_hooked = detail::hooked_storage<Impl>::value;
    /// The hook around one call of the method whose dispatch struct is M: constructed before the
    /// call to the implementation, handed its task (finish) right after.
    template <class M>
    auto cotrait_enter() const noexcept {
        return cotrait_storage_.template enter<Top, M>();
    }

protected:
    /// The storage itself (decorators keep their own state there).
    const detail::impl_storage<Impl>& cotrait_storage() const noexcept { return cotrait_storage_; }

    template <class... A>
    explicit cotrait_layer(std::in_place_t /*tag*/, A&&... a)
        : cotrait_storage_(std::forward<A>(a)...) {}

private:
    detail::impl_storage<Impl> cotrait_storage_;
};

namespace detail {

// The dispatch structs of the methods an interface declares itself (its bases' excluded), in
// declaration order. The macro spells the list with a leading `void` so that an entry never needs
// to know whether it is the last one.
template <class... M>
struct method_list {};

// Everything below works on the dispatch struct M that the macro generates per method entry; M
// provides what needs the method's name: cotrait_pm (pointer-to-virtual type), cotrait_result,
// cotrait_info() (its reflection entry), cotrait_result_of<Self> (the type of calling the method
// on a Self), cotrait_has_member<T>(), cotrait_ptr() (the virtual's address) and the diagnosing
// checks.

// How well `Impl` serves the method M (method_ok, method_missing, ...).
template <class M, class Impl>
constexpr int method_status() noexcept {
    using self = self_for<typename M::cotrait_pm, Impl>;
    if constexpr (requires { typename M::template cotrait_result_of<self>; }) {
        return result_status<typename M::template cotrait_result_of<self>,
                             typename M::cotrait_result>();
    } else if constexpr (M::template cotrait_has_member<std::remove_cv_t<Impl>>()) {
        return method_wrong_signature;
    } else {
        return method_missing;
    }
}

// A status the adapter accepts: served, or a provided method left to its default body.
constexpr bool status_accepted(int status, bool provided) noexcept {
    return status == method_ok || (provided && status == method_missing);
}

// False if serving M from `Impl` would cost a second frame per call without the opt-in.
template <class M, class Impl>
constexpr bool costs_one_frame() noexcept {
    if constexpr (method_status<M, Impl>() == method_ok) {
        using result =
            typename M::template cotrait_result_of<self_for<typename M::cotrait_pm, Impl>>;
        return !converting_task_v<result, typename M::cotrait_result> ||
               allow_result_conversion<std::remove_cv_t<Impl>>;
    } else {
        return true;
    }
}

// What the adapter's override of M does with `Impl`: adopt the implementation's task, await it
// in a frame of its own (await_into), or run the interface's default body.
inline constexpr int call_adopt = 0;
inline constexpr int call_await = 1;
inline constexpr int call_default = 2;
inline constexpr int call_hooked = 3; // adopt, through the layer's hook
template <class M, class Task, class Impl, bool Hooked>
constexpr int call_kind() noexcept {
    if constexpr (method_status<M, Impl>() != method_ok) {
        return call_default;
    } else if constexpr (Hooked) {
        static_assert(adoptable_v<Task, typename M::template cotrait_result_of<
                                            self_for<typename M::cotrait_pm, Impl>>>,
                      "cotrait: a hooked layer wraps an interface, whose tasks it adopts");
        return call_hooked;
    } else if constexpr (adoptable_v<Task, typename M::template cotrait_result_of<
                                               self_for<typename M::cotrait_pm, Impl>>>) {
        return call_adopt;
    } else {
        return call_await;
    }
}

// Interface-wide versions, over the interface's own methods and then recursively its base's.
// Every check runs, so that all mismatching methods are reported at once.
template <class I, class Impl, bool Diagnose>
constexpr bool interface_check() noexcept {
    if constexpr (std::is_same_v<I, async_interface>) {
        return true;
    } else {
        return []<class... M>(method_list<void, M...>) {
            return all_true({interface_check<typename I::cotrait_base_interface, Impl, Diagnose>(),
                             M::template cotrait_check<Impl, Diagnose>()...});
        }(typename I::cotrait_own_methods{});
    }
}

template <class I, class Impl>
constexpr bool interface_cost_check() noexcept {
    if constexpr (std::is_same_v<I, async_interface>) {
        return true;
    } else {
        return []<class... M>(method_list<void, M...>) {
            return all_true({interface_cost_check<typename I::cotrait_base_interface, Impl>(),
                             M::template cotrait_cost_check<Impl>()...});
        }(typename I::cotrait_own_methods{});
    }
}

template <class I>
constexpr auto interface_methods() noexcept {
    if constexpr (std::is_same_v<I, async_interface>) {
        return std::array<method_info, 0>{};
    } else {
        return []<class... M>(method_list<void, M...>) {
            return concat_methods(interface_methods<typename I::cotrait_base_interface>(),
                                  std::array<method_info, sizeof...(M)>{{M::cotrait_info()...}});
        }(typename I::cotrait_own_methods{});
    }
}

// The position of the dispatch struct M in async_methods_v<I> (bases' methods first).
template <class I, class M>
constexpr std::size_t method_position() noexcept {
    if constexpr (std::is_same_v<I, async_interface>) {
        return npos_method;
    } else {
        using base = typename I::cotrait_base_interface;
        constexpr std::size_t in_base = method_position<base, M>();
        if constexpr (in_base != npos_method) {
            return in_base;
        } else {
            return []<class... Own>(method_list<void, Own...>) {
                std::size_t i = interface_methods<base>().size();
                std::size_t found = npos_method;
                ((found = (found == npos_method && std::is_same_v<Own, M>) ? i : found, ++i), ...);
                return found;
            }(typename I::cotrait_own_methods{});
        }
    }
}

// `pm` designates M's virtual (an overloaded name has one M per overload, told apart by type).
template <class M, class PM>
bool designates(PM pm) noexcept {
    if constexpr (std::is_same_v<PM, typename M::cotrait_pm>) {
        return pm == M::cotrait_ptr();
    } else {
        return false;
    }
}

template <class I, class PM>
std::size_t interface_index_of(PM pm) noexcept {
    if constexpr (std::is_same_v<I, async_interface>) {
        return npos_method;
    } else {
        using base = typename I::cotrait_base_interface;
        const std::size_t in_base = interface_index_of<base>(pm);
        if (in_base != npos_method) {
            return in_base;
        }
        return [pm]<class... M>(method_list<void, M...>) {
            std::size_t i = interface_methods<base>().size();
            std::size_t found = npos_method;
            const auto visit = [&]<class One>() {
                if (found == npos_method && designates<One>(pm)) {
                    found = i;
                }
                ++i;
            };
            (visit.template operator()<M>(), ...);
            static_cast<void>(visit); // an interface may declare no method of its own
            return found;
        }(typename I::cotrait_own_methods{});
    }
}

// Named so that a failed `implements` constraint, which compilers report by quoting this
// expression, tells the user where to look.
template <class T, class I>
inline constexpr bool see_why_with_static_assert_check_implements = interface_check<I, T, false>();
} // namespace detail

/// Satisfied by a type whose objects can serve every required async method of interface `I`
/// (and every provided one they declare): for each method `m`, `t.m(args...)` is valid with the
/// interface's parameter types (on a const `t` for const methods) and returns an awaitable whose
/// result converts to the method's result type. Used as `template <cotrait::implements<I> T>`.
/// A concept cannot say *why* it is not satisfied; `static_assert(check_implements<I, T>())` does.
template <class T, class I>
concept implements = std::derived_from<I, async_interface> &&
    detail::see_why_with_static_assert_check_implements<T, I>;

/// `implements<T, I>`, diagnosed: for each async method of `I` that `T` cannot serve, a
/// static_assert names the method and what is wrong (missing, wrong parameters or constness, not
/// awaitable, wrong result). Use as `static_assert(cotrait::check_implements<I, T>());` to see why
/// a type does not satisfy the concept.
template <class I, class T>
constexpr bool check_implements() noexcept {
    static_assert(std::is_base_of_v<async_interface, I>,
                  "cotrait::check_implements<I, T>: I must be declared with COTRAIT_INTERFACE");
    if constexpr (std::is_base_of_v<async_interface, I>) {
        return detail::interface_check<I, T, true>();
    } else {
        return false;
    }
}

/// Wraps a static implementation `Impl` (held by value, or by reference for `Impl = T&`) into the
/// virtual interface `I`. Each virtual call forwards its arguments to `Impl`'s method and adopts
/// the task it returns: a `static_task<R, A>` or `boxed_task<R>` result costs exactly the one frame
/// of the implementation's coroutine. A provided method that `Impl` does not define runs the
/// interface's default body. A mismatch between `Impl` and `I` is a compile error naming the
/// method.
template <class I, class Impl>
class adapter final : public I::template cotrait_layer<I, Impl> {
    static_assert(std::is_base_of_v<async_interface, I>,
                  "cotrait::adapter<I, Impl>: I must be declared with COTRAIT_INTERFACE");
    static_assert(detail::interface_check<I, std::remove_reference_t<Impl>, true>(),
                  "cotrait::adapter<I, Impl>: Impl does not implement I (see the errors above)");
    static_assert(detail::interface_cost_check<I, std::remove_reference_t<Impl>>(),
                  "cotrait::adapter<I, Impl>: a method of Impl would cost a second frame per call "
                  "(see the errors above)");
    // Every name the adapter declares is reserved (`cotrait_` prefix or the constructor), so that
    // the interface's methods, whatever their names, are reachable through the adapter's type.
    using cotrait_base = typename I::template cotrait_layer<I, Impl>;

public:
    /// Holds `impl` (moved in, or referred to when `Impl` is a reference).
    explicit adapter(Impl impl) : cotrait_base(std::in_place, static_cast<Impl&&>(impl)) {}
    /// Constructs the implementation in place from `args`.
    template <class... A>
    explicit adapter(std::in_place_t tag, A&&... args)
        : cotrait_base(tag, std::forward<A>(args)...) {}
};

/// An owning virtual handle on a static implementation: the analog of dynosaur's `new_box`.
template <class I, class Impl>
std::unique_ptr<I> make_adapter(Impl&& impl) {
    return std::make_unique<adapter<I, std::remove_cvref_t<Impl>>>(std::forward<Impl>(impl));
}

/// A virtual view of `impl`, which must outlive the returned adapter: the analog of dynosaur's
/// `from_ref` / `from_mut`.
template <class I, class Impl>
adapter<I, Impl&> adapt_ref(Impl& impl) {
    return adapter<I, Impl&>(impl);
}

/// A forwarding decorator base: implements the interface `I` by forwarding every async method,
/// provided ones included, to an inner `I` held as `Inner`: `I&` (which must outlive the
/// decorator), `std::unique_ptr<I>` or `std::shared_ptr<I>` (or a pointer-like owner of a type
/// derived from `I`). A decorator derives from it and overrides only the methods it changes,
/// reaching the wrapped object through cotrait_inner(). A forwarded call returns the inner call's
/// task itself: no coroutine frame of its own. Construction from a null owner throws
/// std::invalid_argument. See docs/interfaces.md, "Forwarding decorators".
template <class I, class Inner = I&>
class forwarding : public I::template cotrait_layer<I, detail::forward_to<Inner>> {
    static_assert(std::is_base_of_v<async_interface, I>,
                  "cotrait::forwarding<I, Inner>: I must be declared with COTRAIT_INTERFACE");
    using cotrait_base = typename I::template cotrait_layer<I, detail::forward_to<Inner>>;
    using cotrait_inner_type = typename cotrait_base::cotrait_impl_type;
    static_assert(std::is_base_of_v<I, cotrait_inner_type> && !std::is_const_v<cotrait_inner_type>,
                  "cotrait::forwarding<I, Inner>: Inner must refer to a mutable I (I&, "
                  "std::unique_ptr<I>, std::shared_ptr<I>)");

public:
    /// Holds `inner` (referred to when `Inner` is a reference, else moved in).
    explicit forwarding(Inner inner) : cotrait_base(std::in_place, static_cast<Inner&&>(inner)) {}
    /// Wraps another forwarding of the same type (one more layer). Without it, stacking
    /// `forwarding<I> outer(inner_layer)` would pick the deleted copy constructor: an interface is
    /// never copied.
    explicit forwarding(forwarding& inner) requires std::is_lvalue_reference_v<Inner>
        : forwarding(static_cast<Inner>(inner)) {}

    /// The wrapped interface.
    cotrait_inner_type& cotrait_inner() noexcept { return this->cotrait_impl(); }
    /// The wrapped interface.
    const cotrait_inner_type& cotrait_inner() const noexcept { return this->cotrait_impl(); }
};

/// The async methods of interface `I`, its bases' first, in declaration order.
template <class I>
inline constexpr auto async_methods_v = detail::interface_methods<I>();

/// The async methods of interface `I`, its bases' first, in declaration order.
template <class I>
constexpr std::span<const method_info> async_methods() noexcept {
    return async_methods_v<I>;
}

/// The reflection entry of the method `pm` points to (`&I::m`, or `&Base::m` for an inherited
/// one), or nullptr if `pm` is not an async method of `I`.
template <class I, class PM>
const method_info* find_method(PM pm) noexcept {
    const std::size_t i = detail::interface_index_of<I>(pm);
    return i == npos_method ? nullptr : &async_methods_v<I>[i];
}

} // namespace cotrait

// ---- The macro layer --------------------------------------------------------------------------
//
// Every generated helper is named after its entry's method *and* index (COTRAIT_DETAIL_ID), so
// that overloaded names do not collide, and every generated member name starts with `cotrait_`,
// the only prefix an interface reserves (docs/interfaces.md, "Reserved names").

// Per entry, the macro declares the virtual and a dispatch struct cotrait_method_<name>_<index>
// holding what needs the method's *name* and nothing else: the pointer-to-virtual type, the call
// expression on an implementation (cotrait_result_of), the member probe, the address of the
// virtual, the reflection entry, and the static_asserts whose messages name the method.
// Everything computed from these (statuses, reflection tables, lookups, interface-wide checks) is
// ordinary C++ in namespace cotrait::detail above. The adapter's override must call the method by
// name, so it stays here too. tests/interface_snapshot/expected.txt records the expansion of one
// interface: a change here must update it (docs/interfaces.md, "Generated code").
#define COTRAIT_DETAIL_MT(name, i) COTRAIT_DETAIL_ID(cotrait_method_, name, i)

// The virtual method (pure, or with the entry's body as default), declared with the user's
// spelling so that default arguments live here and only here, preceded by its dispatch struct.
#define COTRAIT_DETAIL_DECL(c, i, m) COTRAIT_DETAIL_METHOD(COTRAIT_DETAIL_DECL_IMPL, c, i, m)
#define COTRAIT_DETAIL_DECL_IMPL(c, i, name, ret, params, quals, no_body, ...)                     \
    struct COTRAIT_DETAIL_MT(name, i) {                                                            \
        /* Spelled out, not decltype(&Name::name): that would be ambiguous for an overload. */     \
        using cotrait_pm = COTRAIT_DETAIL_CTX_TASK(c)<COTRAIT_DETAIL_RESULT(ret)> (                \
            COTRAIT_DETAIL_CTX_NAME(c)::*)(COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PTYPEONLY,          \
                                                                params)) quals;                    \
        static_assert(::cotrait::detail::member_fn_traits<cotrait_pm>::supported,                  \
                      "cotrait: the async method " COTRAIT_DETAIL_STR(COTRAIT_DETAIL_CTX_NAME(     \
                          c)) "::" #name " has qualifiers that are not supported: write nothing, " \
                              "`const`, `noexcept` or `const noexcept` after its parameter list"); \
        using cotrait_result = COTRAIT_DETAIL_RESULT(ret);                                         \
        /* Functions, not static data members: Clang warns about unused ones. */                   \
        static constexpr ::cotrait::method_info cotrait_info() noexcept {                          \
            return {#name, COTRAIT_DETAIL_ARITY(params),                                           \
                    ::cotrait::detail::member_fn_traits<cotrait_pm>::is_const, no_body == 0,       \
                    COTRAIT_DETAIL_STR(COTRAIT_DETAIL_CTX_NAME(c))};                               \
        }                                                                                          \
        template <class Cotrait_Self>                                                              \
        using cotrait_result_of = decltype(::std::declval<Cotrait_Self&>().name(                   \
            COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PDECLVAL, params)));                               \
        template <class Cotrait_Plain>                                                             \
        static constexpr bool cotrait_has_member() noexcept {                                      \
            return requires {                                                                      \
                &Cotrait_Plain::name;                                                              \
            };                                                                                     \
        }                                                                                          \
        static cotrait_pm cotrait_ptr() noexcept {                                                 \
            return static_cast<cotrait_pm>(&COTRAIT_DETAIL_CTX_NAME(c)::name);                     \
        }                                                                                          \
        COTRAIT_DETAIL_CHECKS(c, i, name)                                                          \
    };                                                                                             \
    virtual COTRAIT_DETAIL_CTX_TASK(c)<COTRAIT_DETAIL_RESULT(ret)>                                 \
    name(COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PDECL, params)) quals COTRAIT_PP_CAT(                 \
        COTRAIT_DETAIL_BODY_, no_body)(__VA_ARGS__)
#define COTRAIT_DETAIL_BODY_1(...) = 0;
#define COTRAIT_DETAIL_BODY_0(...) __VA_ARGS__

// The dispatch struct's checks: C++20 static_assert messages must be string literals, so the
// ones naming the method are generated; the statuses come from detail::method_status.
#define COTRAIT_DETAIL_CHECKS(c, i, name)                                                          \
    template <class Cotrait_Impl, bool Cotrait_Diagnose>                                           \
    static constexpr bool cotrait_check() noexcept {                                               \
        constexpr int cotrait_st =                                                                 \
            ::cotrait::detail::method_status<COTRAIT_DETAIL_MT(name, i), Cotrait_Impl>();          \
        static_assert(!Cotrait_Diagnose || cotrait_info().provided ||                              \
                          cotrait_st != ::cotrait::detail::method_missing,                         \
                      "cotrait: the implementation has no method `" #name                          \
                      "` callable as the async method " COTRAIT_DETAIL_STR(                        \
                          COTRAIT_DETAIL_CTX_NAME(c)) "::" #name " requires");                     \
        static_assert(                                                                             \
            !Cotrait_Diagnose || cotrait_st != ::cotrait::detail::method_wrong_signature,          \
            "cotrait: the implementation's `" #name                                                \
            "` cannot be called with the parameters of the async method " COTRAIT_DETAIL_STR(      \
                COTRAIT_DETAIL_CTX_NAME(                                                           \
                    c)) "::" #name                                                                 \
                        " (wrong parameter types, or not const where the interface method is)");   \
        static_assert(!Cotrait_Diagnose || cotrait_st != ::cotrait::detail::method_not_awaitable,  \
                      "cotrait: the implementation's `" #name                                      \
                      "` must return an awaitable (e.g. cotrait::static_task<R>) for the async "   \
                      "method " COTRAIT_DETAIL_STR(COTRAIT_DETAIL_CTX_NAME(c)) "::" #name);        \
        static_assert(!Cotrait_Diagnose || cotrait_st != ::cotrait::detail::method_wrong_result,   \
                      "cotrait: the implementation's `" #name                                      \
                      "` returns an awaitable whose result type does not match the async "         \
                      "method " COTRAIT_DETAIL_STR(COTRAIT_DETAIL_CTX_NAME(c)) "::" #name);        \
        return ::cotrait::detail::status_accepted(cotrait_st, cotrait_info().provided);            \
    }                                                                                              \
    template <class Cotrait_Impl>                                                                  \
    static constexpr bool cotrait_cost_check() noexcept {                                          \
        constexpr bool cotrait_ok =                                                                \
            ::cotrait::detail::costs_one_frame<COTRAIT_DETAIL_MT(name, i), Cotrait_Impl>();        \
        static_assert(cotrait_ok,                                                                  \
                      "cotrait: the implementation's `" #name                                      \
                      "` returns a cotrait task of another result type than the async "            \
                      "method " COTRAIT_DETAIL_STR(COTRAIT_DETAIL_CTX_NAME(                        \
                          c)) "::" #name ", so every call through the adapter would allocate "     \
                              "a second coroutine frame to convert the result: return the "        \
                              "interface's exact result type, or opt in with "                     \
                              "cotrait::allow_result_conversion<Impl> = true");                    \
        return cotrait_ok;                                                                         \
    }
#define COTRAIT_DETAIL_STR(x) COTRAIT_DETAIL_STR_I(x)
#define COTRAIT_DETAIL_STR_I(x) #x

// `, cotrait_method_<name>_<index>` per entry (the list starts with `void`).
#define COTRAIT_DETAIL_LIST(c, i, m) COTRAIT_DETAIL_METHOD(COTRAIT_DETAIL_LIST_IMPL, c, i, m)
#define COTRAIT_DETAIL_LIST_IMPL(c, i, name, ret, params, quals, no_body, ...)                     \
    , COTRAIT_DETAIL_MT(name, i)

// The adapter's override: forward to the implementation and adopt its task, or run the default.
// Its parameters have generated names (see COTRAIT_DETAIL_PARG) and no default arguments: the
// defaults apply to calls through the interface, whose declaration carries them.
#define COTRAIT_DETAIL_OVERRIDE(c, i, m)                                                           \
    COTRAIT_DETAIL_METHOD(COTRAIT_DETAIL_OVERRIDE_IMPL, c, i, m)
#define COTRAIT_DETAIL_OVERRIDE_IMPL(c, i, name, ret, params, quals, no_body, ...)                 \
    COTRAIT_CORO_WRAPPER COTRAIT_DETAIL_CTX_TASK(c)<COTRAIT_DETAIL_RESULT(ret)> name(              \
        COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PARG, params)) quals override {                        \
        using cotrait_task = COTRAIT_DETAIL_CTX_TASK(c)<COTRAIT_DETAIL_RESULT(ret)>;               \
        constexpr int cotrait_kind =                                                               \
            ::cotrait::detail::call_kind<COTRAIT_DETAIL_MT(name, i), cotrait_task,                 \
                                         typename cotrait_next::cotrait_impl_type,                 \
                                         cotrait_next::cotrait_hooked>();                          \
        if constexpr (cotrait_kind == ::cotrait::detail::call_adopt) {                             \
            /* The task is constructed here, not in a helper function, so that Clang's */          \
            /* coro_lifetimebound analysis sees a plain move of a prvalue. */                      \
            return cotrait_task(                                                                   \
                this->cotrait_impl().name(COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PFWD, params)));     \
        } else if constexpr (cotrait_kind == ::cotrait::detail::call_hooked) {                     \
            auto cotrait_hook = this->template cotrait_enter<COTRAIT_DETAIL_MT(name, i)>();        \
            return cotrait_hook.finish(cotrait_task(                                               \
                this->cotrait_impl().name(COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PFWD, params))));    \
        } else if constexpr (cotrait_kind == ::cotrait::detail::call_await) {                      \
            return ::cotrait::detail::await_into<cotrait_task>(                                    \
                this->cotrait_impl().name(COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PFWD, params)));     \
        } else {                                                                                   \
            COTRAIT_PP_CAT(COTRAIT_DETAIL_FALLBACK_, no_body)                                      \
            (COTRAIT_DETAIL_CTX_NAME(c)::name(COTRAIT_DETAIL_PLIST(COTRAIT_DETAIL_PFWD, params)))  \
        }                                                                                          \
    }
// Required method: unreachable, the adapter's static_assert has already failed; returning an
// empty task keeps that the only error.
#define COTRAIT_DETAIL_FALLBACK_1(call) return {};
#define COTRAIT_DETAIL_FALLBACK_0(call) return this->call;

// The adapter's layer is defined inside the interface (not out of class, as `Name::cotrait_layer`)
// so that an interface may be declared at namespace scope, as a member of a class, or as a class
// template (`template <class T> ASYNC_INTERFACE(...)`).
#define COTRAIT_DETAIL_INTERFACE(Name, Base, Task, ...)                                            \
    struct Name : Base {                                                                           \
        COTRAIT_DETAIL_MFE(COTRAIT_DETAIL_DECL, (Name, Task), __VA_ARGS__)                         \
        using cotrait_base_interface = Base;                                                       \
        using cotrait_own_methods = ::cotrait::detail::method_list<void COTRAIT_DETAIL_MFE(        \
            COTRAIT_DETAIL_LIST, (Name, Task), __VA_ARGS__)>;                                      \
        template <class Cotrait_Top, class Cotrait_Impl>                                           \
        class cotrait_layer : public Base::template cotrait_layer<Cotrait_Top, Cotrait_Impl> {     \
            using cotrait_next = typename Base::template cotrait_layer<Cotrait_Top, Cotrait_Impl>; \
                                                                                                   \
        protected:                                                                                 \
            using cotrait_next::cotrait_next;                                                      \
                                                                                                   \
        public:                                                                                    \
            COTRAIT_DETAIL_MFE(COTRAIT_DETAIL_OVERRIDE, (Name, Task), __VA_ARGS__)                 \
        };                                                                                         \
                                                                                                   \
    protected:                                                                                     \
        Name() = default;                                                                          \
    }

/// Declares the virtual async interface `Name`; each further argument is a method entry
///     (name, (result type), ((type) param, ...) [const] [, { default body }])
/// Methods return `cotrait::boxed_task<result type>`. See docs/interfaces.md.
#define COTRAIT_INTERFACE(Name, ...)                                                               \
    COTRAIT_DETAIL_INTERFACE(Name, ::cotrait::async_interface, ::cotrait::boxed_task, __VA_ARGS__)
/// Like COTRAIT_INTERFACE, with the interface `Base` as base: `Name` has Base's methods and its
/// own.
#define COTRAIT_INTERFACE_EXTENDS(Name, Base, ...)                                                 \
    COTRAIT_DETAIL_INTERFACE(Name, Base, ::cotrait::boxed_task, __VA_ARGS__)
/// Like COTRAIT_INTERFACE, but its methods return thread-affine `cotrait::local_task`s (the analog
/// of `#[async_trait(?Send)]`).
#define COTRAIT_LOCAL_INTERFACE(Name, ...)                                                         \
    COTRAIT_DETAIL_INTERFACE(Name, ::cotrait::async_interface, ::cotrait::local_task, __VA_ARGS__)
/// Like COTRAIT_INTERFACE_EXTENDS, with thread-affine `cotrait::local_task` methods.
#define COTRAIT_LOCAL_INTERFACE_EXTENDS(Name, Base, ...)                                           \
    COTRAIT_DETAIL_INTERFACE(Name, Base, ::cotrait::local_task, __VA_ARGS__)

// Short spellings, unless the user opts out (e.g. because another library uses these names).
#if !defined(COTRAIT_NO_SHORT_MACROS)
/// Alias of COTRAIT_INTERFACE.
#define ASYNC_INTERFACE(...) COTRAIT_INTERFACE(__VA_ARGS__)
/// Alias of COTRAIT_INTERFACE_EXTENDS.
#define ASYNC_INTERFACE_EXTENDS(...) COTRAIT_INTERFACE_EXTENDS(__VA_ARGS__)
/// Alias of COTRAIT_LOCAL_INTERFACE.
#define ASYNC_LOCAL_INTERFACE(...) COTRAIT_LOCAL_INTERFACE(__VA_ARGS__)
/// Alias of COTRAIT_LOCAL_INTERFACE_EXTENDS.
#define ASYNC_LOCAL_INTERFACE_EXTENDS(...) COTRAIT_LOCAL_INTERFACE_EXTENDS(__VA_ARGS__)
#endif
