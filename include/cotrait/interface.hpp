// COTRAIT_INTERFACE (alias ASYNC_INTERFACE): declares a virtual async interface, the concept that
// static implementations satisfy, the adapter that turns a static implementation into the virtual
// interface, and the reflection data of its async methods. Grammar and rationale:
// docs/interfaces.md.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/interface_macros.hpp>
#include <cotrait/detail/interface_traits.hpp>
#include <cotrait/local_task.hpp>
#include <cotrait/static_task.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
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
