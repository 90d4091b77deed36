// Compile-time configuration of cotrait: how resumption is made stack-safe, whether frames are
// recycled, and which compiler attributes are available. Every macro here can be predefined by the
// user to override the automatic choice.
#pragma once

#include <version>

#if !defined(__cpp_impl_coroutine) || __cpp_impl_coroutine < 201902L
#error "cotrait requires C++20 coroutines (-std=c++20)"
#endif

// ---- Sanitizers ---------------------------------------------------------------------------------
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COTRAIT_DETAIL_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define COTRAIT_DETAIL_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(COTRAIT_DETAIL_ASAN)
#define COTRAIT_DETAIL_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(COTRAIT_DETAIL_TSAN)
#define COTRAIT_DETAIL_TSAN 1
#endif

// ---- Stack-safe resumption ----------------------------------------------------------------------
// COTRAIT_SYMMETRIC_TRANSFER == 1: await_suspend returns the next coroutine handle for the
// compiler to resume, ideally with a tail call (constant stack). == 0: a per-thread trampoline
// resumes the next coroutine from a loop instead, which is stack-safe whatever the compiler does,
// at the price of thread-local stores per transfer.
//
// COTRAIT_STACK_GUARD == 1 (with symmetric transfer): each transfer also compares the stack pointer
// with a per-thread limit set COTRAIT_STACK_GUARD_BYTES below the innermost resume_root, and past
// it falls back to the trampoline (detail/transfer.hpp). That is a load and a compare per transfer
// when the compiler emits the tail call, and stack safety when it does not.
//
// Clang emits a guaranteed tail call (musttail) for symmetric transfer at every optimisation level
// and under the sanitizers: plain symmetric transfer. GCC only emits the tail call when
// sibling-call optimisation is on (-O2/-O3/-Os) and neither ASan nor TSan instruments the function,
// and its macros cannot tell -O1/-Og (or -fno-optimize-sibling-calls) from -O2: symmetric transfer
// with the guard, except under ASan/TSan, where it never helps and the trampoline is used.
#if !defined(COTRAIT_SYMMETRIC_TRANSFER)
#if defined(__clang__)
#define COTRAIT_SYMMETRIC_TRANSFER 1
#elif defined(__GNUC__) && !defined(COTRAIT_DETAIL_ASAN) && !defined(COTRAIT_DETAIL_TSAN)
#define COTRAIT_SYMMETRIC_TRANSFER 1
#else
#define COTRAIT_SYMMETRIC_TRANSFER 0
#endif
#endif

#if !defined(COTRAIT_STACK_GUARD)
#if COTRAIT_SYMMETRIC_TRANSFER && !defined(__clang__) && defined(__GNUC__)
#define COTRAIT_STACK_GUARD 1
#else
#define COTRAIT_STACK_GUARD 0
#endif
#endif

// How far the stack may grow below a resume_root through transfers that were not tail calls
// before the guard switches to the trampoline. Small enough for threads with small stacks, large
// enough that the switch is rare.
#if !defined(COTRAIT_STACK_GUARD_BYTES)
#define COTRAIT_STACK_GUARD_BYTES (64 * 1024)
#endif

// ---- Frame recycling ----------------------------------------------------------------------------
// The default frame resource keeps freed frames in per-thread size-class caches. Under ASan a
// reused block would hide use-after-free of a destroyed frame, so recycling is off there unless
// forced.
#if !defined(COTRAIT_RECYCLING)
#if defined(COTRAIT_DETAIL_ASAN)
#define COTRAIT_RECYCLING 0
#else
#define COTRAIT_RECYCLING 1
#endif
#endif

// Largest block (frame + 16-byte record) kept by the recycling caches; larger frames always go to
// the global operator new. One cache slot per 16 bytes, so this sizes the per-thread table.
#if !defined(COTRAIT_RECYCLING_MAX_BLOCK)
#define COTRAIT_RECYCLING_MAX_BLOCK 4096
#endif

// ---- Exceptions ---------------------------------------------------------------------------------
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define COTRAIT_EXCEPTIONS 1
#else
#define COTRAIT_EXCEPTIONS 0
#endif

// ---- Misuse diagnostics -------------------------------------------------------------------------
// In debug builds a misuse (awaiting an empty task, awaiting twice...) also prints a message to
// stderr before the exception is thrown, so it is visible even when the exception is swallowed.
#if !defined(COTRAIT_MISUSE_MESSAGES)
#if defined(NDEBUG)
#define COTRAIT_MISUSE_MESSAGES 0
#else
#define COTRAIT_MISUSE_MESSAGES 1
#endif
#endif

// ---- Sized deallocation -------------------------------------------------------------------------
// Clang < 19 leaves sized deallocation off by default; a promise that relies on
// operator delete(void*, size_t) then has to record the size itself.
#if defined(__cpp_sized_deallocation)
#define COTRAIT_SIZED_DEALLOCATION 1
#else
#define COTRAIT_SIZED_DEALLOCATION 0
#endif

// ---- Clang coroutine attributes -----------------------------------------------------------------
// COTRAIT_LIFETIME_CHECKS=1 (Clang >= 18) marks the task types [[clang::coro_return_type,
// clang::coro_lifetimebound]]: Clang then warns (-Wdangling) when a temporary binds to a reference
// parameter of a coroutine whose task outlives the full expression. It is opt-in because Clang also
// rejects every non-coroutine function that returns such a type unless it is marked
// [[clang::coro_wrapper]] (COTRAIT_CORO_WRAPPER), and that includes std::invoke and std::function
// instantiations, which the library and most users rely on.
#if !defined(COTRAIT_LIFETIME_CHECKS)
#define COTRAIT_LIFETIME_CHECKS 0
#endif
#if defined(__has_cpp_attribute)
#if COTRAIT_LIFETIME_CHECKS && __has_cpp_attribute(clang::coro_return_type) &&                     \
    __has_cpp_attribute(clang::coro_lifetimebound)
#define COTRAIT_CORO_TASK_ATTRS [[clang::coro_return_type, clang::coro_lifetimebound]]
#define COTRAIT_CORO_WRAPPER [[clang::coro_wrapper]]
#endif
#if __has_cpp_attribute(clang::coro_await_elidable)
// Clang >= 20: `co_await f()` on a prvalue task may place f's frame inside the caller's frame.
#define COTRAIT_CORO_AWAIT_ELIDABLE [[clang::coro_await_elidable]]
#endif
#endif
#if !defined(COTRAIT_CORO_TASK_ATTRS)
#define COTRAIT_CORO_TASK_ATTRS
#endif
/// Marks a non-coroutine function that returns a task (needed only with COTRAIT_LIFETIME_CHECKS).
#if !defined(COTRAIT_CORO_WRAPPER)
#define COTRAIT_CORO_WRAPPER
#endif
#if !defined(COTRAIT_CORO_AWAIT_ELIDABLE)
#define COTRAIT_CORO_AWAIT_ELIDABLE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define COTRAIT_NOINLINE __attribute__((noinline))
#define COTRAIT_LIKELY(x) __builtin_expect(!!(x), 1)
#define COTRAIT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define COTRAIT_NOINLINE
#define COTRAIT_LIKELY(x) (x)
#define COTRAIT_UNLIKELY(x) (x)
#endif
