// Preprocessor machinery behind COTRAIT_INTERFACE (interface.hpp): counting, iteration, and the
// picking apart of `(name, (result), (params) qualifiers, body...)` method entries. Generated
// tables are bounded: at most 32 methods per interface and 16 parameters per method.
#pragma once

#define COTRAIT_PP_CAT(a, b) COTRAIT_PP_CAT_I(a, b)
#define COTRAIT_PP_CAT_I(a, b) a##b
#define COTRAIT_PP_UNPAREN(...) __VA_ARGS__
#define COTRAIT_PP_EAT(...)

// Number of arguments; 0 for an empty list.
#define COTRAIT_PP_NARGS(...)                                                                      \
    COTRAIT_PP_NARGS_I(__VA_ARGS__ __VA_OPT__(, ) 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21,  \
                       20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define COTRAIT_PP_NARGS_I(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16,  \
                           _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30,   \
                           _31, _32, N, ...)                                                       \
    N

// 1 if x starts with a parenthesised group, else 0.
#define COTRAIT_PP_IS_PAREN(...) COTRAIT_PP_IS_PAREN_I(COTRAIT_PP_IS_PAREN_PROBE __VA_ARGS__)
#define COTRAIT_PP_IS_PAREN_PROBE(...) ~, 1,
#define COTRAIT_PP_IS_PAREN_I(...) COTRAIT_PP_IS_PAREN_II(__VA_ARGS__, 0, ~)
#define COTRAIT_PP_IS_PAREN_II(probe, r, ...) r

// 1 if the argument list is empty, else 0.
#define COTRAIT_PP_IS_EMPTY(...) COTRAIT_PP_IS_EMPTY_I(__VA_OPT__(0, ) 1, ~)
#define COTRAIT_PP_IS_EMPTY_I(r, ...) r

// Methods: M(ctx, index, entry) for each entry, juxtaposed. The index (counting down from the
// number of entries) is unique within one interface, so that generated helpers stay distinct when a
// name is overloaded.
#define COTRAIT_DETAIL_MFE(M, c, ...)                                                              \
    COTRAIT_PP_CAT(COTRAIT_DETAIL_MFE_, COTRAIT_PP_NARGS(__VA_ARGS__))(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_0(M, c, ...)
#define COTRAIT_DETAIL_MFE_1(M, c, x) M(c, 1, x)
#define COTRAIT_DETAIL_MFE_2(M, c, x, ...) M(c, 2, x) COTRAIT_DETAIL_MFE_1(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_3(M, c, x, ...) M(c, 3, x) COTRAIT_DETAIL_MFE_2(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_4(M, c, x, ...) M(c, 4, x) COTRAIT_DETAIL_MFE_3(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_5(M, c, x, ...) M(c, 5, x) COTRAIT_DETAIL_MFE_4(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_6(M, c, x, ...) M(c, 6, x) COTRAIT_DETAIL_MFE_5(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_7(M, c, x, ...) M(c, 7, x) COTRAIT_DETAIL_MFE_6(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_8(M, c, x, ...) M(c, 8, x) COTRAIT_DETAIL_MFE_7(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_9(M, c, x, ...) M(c, 9, x) COTRAIT_DETAIL_MFE_8(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_10(M, c, x, ...) M(c, 10, x) COTRAIT_DETAIL_MFE_9(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_11(M, c, x, ...) M(c, 11, x) COTRAIT_DETAIL_MFE_10(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_12(M, c, x, ...) M(c, 12, x) COTRAIT_DETAIL_MFE_11(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_13(M, c, x, ...) M(c, 13, x) COTRAIT_DETAIL_MFE_12(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_14(M, c, x, ...) M(c, 14, x) COTRAIT_DETAIL_MFE_13(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_15(M, c, x, ...) M(c, 15, x) COTRAIT_DETAIL_MFE_14(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_16(M, c, x, ...) M(c, 16, x) COTRAIT_DETAIL_MFE_15(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_17(M, c, x, ...) M(c, 17, x) COTRAIT_DETAIL_MFE_16(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_18(M, c, x, ...) M(c, 18, x) COTRAIT_DETAIL_MFE_17(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_19(M, c, x, ...) M(c, 19, x) COTRAIT_DETAIL_MFE_18(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_20(M, c, x, ...) M(c, 20, x) COTRAIT_DETAIL_MFE_19(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_21(M, c, x, ...) M(c, 21, x) COTRAIT_DETAIL_MFE_20(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_22(M, c, x, ...) M(c, 22, x) COTRAIT_DETAIL_MFE_21(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_23(M, c, x, ...) M(c, 23, x) COTRAIT_DETAIL_MFE_22(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_24(M, c, x, ...) M(c, 24, x) COTRAIT_DETAIL_MFE_23(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_25(M, c, x, ...) M(c, 25, x) COTRAIT_DETAIL_MFE_24(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_26(M, c, x, ...) M(c, 26, x) COTRAIT_DETAIL_MFE_25(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_27(M, c, x, ...) M(c, 27, x) COTRAIT_DETAIL_MFE_26(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_28(M, c, x, ...) M(c, 28, x) COTRAIT_DETAIL_MFE_27(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_29(M, c, x, ...) M(c, 29, x) COTRAIT_DETAIL_MFE_28(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_30(M, c, x, ...) M(c, 30, x) COTRAIT_DETAIL_MFE_29(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_31(M, c, x, ...) M(c, 31, x) COTRAIT_DETAIL_MFE_30(M, c, __VA_ARGS__)
#define COTRAIT_DETAIL_MFE_32(M, c, x, ...) M(c, 32, x) COTRAIT_DETAIL_MFE_31(M, c, __VA_ARGS__)

// Parameters: M(index, param) for each `(type) name` item, comma-separated.
#define COTRAIT_DETAIL_PLIST(M, params) COTRAIT_DETAIL_PLIST_I(M, COTRAIT_PP_UNPAREN params)
#define COTRAIT_DETAIL_PLIST_I(M, ...)                                                             \
    COTRAIT_PP_CAT(COTRAIT_DETAIL_PFE_, COTRAIT_PP_NARGS(__VA_ARGS__))(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_0(M, ...)
#define COTRAIT_DETAIL_PFE_1(M, x) M(1, x)
#define COTRAIT_DETAIL_PFE_2(M, x, ...) M(2, x), COTRAIT_DETAIL_PFE_1(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_3(M, x, ...) M(3, x), COTRAIT_DETAIL_PFE_2(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_4(M, x, ...) M(4, x), COTRAIT_DETAIL_PFE_3(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_5(M, x, ...) M(5, x), COTRAIT_DETAIL_PFE_4(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_6(M, x, ...) M(6, x), COTRAIT_DETAIL_PFE_5(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_7(M, x, ...) M(7, x), COTRAIT_DETAIL_PFE_6(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_8(M, x, ...) M(8, x), COTRAIT_DETAIL_PFE_7(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_9(M, x, ...) M(9, x), COTRAIT_DETAIL_PFE_8(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_10(M, x, ...) M(10, x), COTRAIT_DETAIL_PFE_9(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_11(M, x, ...) M(11, x), COTRAIT_DETAIL_PFE_10(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_12(M, x, ...) M(12, x), COTRAIT_DETAIL_PFE_11(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_13(M, x, ...) M(13, x), COTRAIT_DETAIL_PFE_12(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_14(M, x, ...) M(14, x), COTRAIT_DETAIL_PFE_13(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_15(M, x, ...) M(15, x), COTRAIT_DETAIL_PFE_14(M, __VA_ARGS__)
#define COTRAIT_DETAIL_PFE_16(M, x, ...) M(16, x), COTRAIT_DETAIL_PFE_15(M, __VA_ARGS__)

// The result type of an entry, which must be parenthesised.
#define COTRAIT_DETAIL_RESULT(ret)                                                                 \
    COTRAIT_PP_CAT(COTRAIT_DETAIL_RESULT_, COTRAIT_PP_IS_PAREN(ret))(ret)
#define COTRAIT_DETAIL_RESULT_1(ret) COTRAIT_PP_UNPAREN ret
#define COTRAIT_DETAIL_RESULT_0(ret)                                                               \
    ::cotrait::detail::syntax_error_write_the_result_type_in_parentheses

#define COTRAIT_DETAIL_ARITY(params) COTRAIT_DETAIL_ARITY_I(COTRAIT_PP_UNPAREN params)
#define COTRAIT_DETAIL_ARITY_I(...) COTRAIT_PP_NARGS(__VA_ARGS__)

// A parameter item `(type) name`. The type is spelled through std::type_identity_t so that any
// type, including function pointers and arrays, is declared correctly in `T name` position.
#define COTRAIT_DETAIL_PSPLIT(...) (__VA_ARGS__),
#define COTRAIT_DETAIL_PTYPE(p) COTRAIT_PP_CAT(COTRAIT_DETAIL_PTYPE_, COTRAIT_PP_IS_PAREN(p))(p)
#define COTRAIT_DETAIL_PTYPE_1(p) COTRAIT_DETAIL_PTYPE_I(COTRAIT_DETAIL_PSPLIT p)
#define COTRAIT_DETAIL_PTYPE_I(...) COTRAIT_DETAIL_PTYPE_II(__VA_ARGS__)
#define COTRAIT_DETAIL_PTYPE_II(t, ...) ::std::type_identity_t<COTRAIT_PP_UNPAREN t>
// Not `(type) name`: an undeclared name that reads as the error message.
#define COTRAIT_DETAIL_PTYPE_0(p)                                                                  \
    ::cotrait::detail::syntax_error_write_each_parameter_as_parenthesised_type_then_name
// What follows the type: the name, and possibly `= default-argument`. It is only ever used
// verbatim in the interface's own declaration; the preprocessor cannot split a default off it.
#define COTRAIT_DETAIL_PNAME(p) COTRAIT_PP_CAT(COTRAIT_DETAIL_PNAME_, COTRAIT_PP_IS_PAREN(p))(p)
#define COTRAIT_DETAIL_PNAME_1(p) COTRAIT_PP_EAT p
#define COTRAIT_DETAIL_PNAME_0(p)
// The interface's declaration: the user's spelling, default argument included.
#define COTRAIT_DETAIL_PDECL(i, p) COTRAIT_DETAIL_PTYPE(p) COTRAIT_DETAIL_PNAME(p)
// The adapter's override declares and forwards generated names (cotrait_p<index>): the user's
// tail may carry a default (`id = 5`), which must neither be repeated nor evaluated there.
#define COTRAIT_DETAIL_PGEN(i) COTRAIT_PP_CAT(cotrait_p, i)
#define COTRAIT_DETAIL_PARG(i, p) COTRAIT_DETAIL_PTYPE(p) COTRAIT_DETAIL_PGEN(i)
#define COTRAIT_DETAIL_PFWD(i, p) static_cast<COTRAIT_DETAIL_PTYPE(p) &&>(COTRAIT_DETAIL_PGEN(i))
#define COTRAIT_DETAIL_PTYPEONLY(i, p) COTRAIT_DETAIL_PTYPE(p)
#define COTRAIT_DETAIL_PDECLVAL(i, p) ::std::declval<COTRAIT_DETAIL_PTYPE(p)>()

// `(params) qualifiers` -> `(params)` / `qualifiers`.
#define COTRAIT_DETAIL_PARAMS_OF(pq) COTRAIT_DETAIL_PARAMS_OF_I(COTRAIT_DETAIL_PSPLIT pq)
#define COTRAIT_DETAIL_PARAMS_OF_I(...) COTRAIT_DETAIL_PARAMS_OF_II(__VA_ARGS__)
#define COTRAIT_DETAIL_PARAMS_OF_II(p, ...) p
#define COTRAIT_DETAIL_QUALS_OF(pq) COTRAIT_PP_EAT pq

// (Name, Task) context of the per-method macros.
#define COTRAIT_DETAIL_CTX_NAME(c) COTRAIT_DETAIL_CTX_NAME_I c
#define COTRAIT_DETAIL_CTX_NAME_I(n, t) n
#define COTRAIT_DETAIL_CTX_TASK(c) COTRAIT_DETAIL_CTX_TASK_I c
#define COTRAIT_DETAIL_CTX_TASK_I(n, t) t

// Unpacks a method entry and calls
//   IMPL(ctx, index, name, (result), (params), qualifiers, no_body, body...)
// where no_body is 1 for a required method and 0 for one with a default body.
#define COTRAIT_DETAIL_METHOD(IMPL, c, i, m)                                                       \
    COTRAIT_DETAIL_METHOD_I(IMPL, c, i, COTRAIT_PP_UNPAREN m)
#define COTRAIT_DETAIL_METHOD_I(IMPL, c, i, ...) COTRAIT_DETAIL_METHOD_II(IMPL, c, i, __VA_ARGS__)
#define COTRAIT_DETAIL_METHOD_II(IMPL, c, i, name, ret, pq, ...)                                   \
    IMPL(c, i, name, ret, COTRAIT_DETAIL_PARAMS_OF(pq), COTRAIT_DETAIL_QUALS_OF(pq),               \
         COTRAIT_PP_IS_EMPTY(__VA_ARGS__), __VA_ARGS__)

// Per-entry helper names: the method's name for readable diagnostics, the index for uniqueness.
#define COTRAIT_DETAIL_ID(prefix, name, i)                                                         \
    COTRAIT_PP_CAT(COTRAIT_PP_CAT(prefix, name), COTRAIT_PP_CAT(_, i))
