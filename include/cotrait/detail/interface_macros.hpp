// The code COTRAIT_INTERFACE generates per method entry (interface.hpp declares the public macros
// on top of it): the virtual, its dispatch struct, the per-method checks and the adapter's
// override. The generic preprocessor machinery is in interface_pp.hpp.
#pragma once

#include <cotrait/detail/interface_pp.hpp>

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
