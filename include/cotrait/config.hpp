// Compile-time configuration of cotrait: how resumption is made stack-safe, whether frames are
// recycled, which debug checks are on, and which compiler attributes are available. Every option
// (every macro below guarded by `#if !defined`) can be predefined by the user, on the command line
// or before the first cotrait include, to override the automatic choice; docs/design.md
// ("Configuration") has the table. All translation units of a program must agree on every option;
// a mismatch in one that changes a type's layout (COTRAIT_THREAD_CHECKS) is a link error, see
// COTRAIT_ABI_NAMESPACE at the end.
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

// Largest frame alignment the allocation functions provide. Neither GCC nor Clang tells a promise's
// operator new how aligned the frame must be (they call operator new(size_t) and lay the frame out
// as if the block were aligned like the frame's most aligned member). A frame's size is a multiple
// of its alignment, so a frame whose size is a multiple of 32 may need up to
// min(size & -size, COTRAIT_MAX_FRAME_ALIGNMENT) and gets it; other frames are never over-aligned.
// Define it to 16 to turn the handling off (only if no coroutine has locals aligned beyond 16).
// Checked (power of two, at least 16) in detail/frame_alignment.hpp.
#if !defined(COTRAIT_MAX_FRAME_ALIGNMENT)
#define COTRAIT_MAX_FRAME_ALIGNMENT 128
#endif

// ---- Exceptions ---------------------------------------------------------------------------------
// 0 turns every throw into a message and std::abort (detail/throw.hpp). Forcing 0 with exceptions
// on is allowed (errors then abort); forcing 1 without them cannot compile a throw.
#if !defined(COTRAIT_EXCEPTIONS)
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define COTRAIT_EXCEPTIONS 1
#else
#define COTRAIT_EXCEPTIONS 0
#endif
#elif COTRAIT_EXCEPTIONS && !defined(__cpp_exceptions) && !defined(__EXCEPTIONS)
#error "COTRAIT_EXCEPTIONS=1 needs exceptions enabled (drop -fno-exceptions or define it to 0)"
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
// operator delete(void*, size_t) then has to record the size itself. Forcing 0 is always valid;
// forcing 1 needs the global sized operator delete, which <new> only declares with the feature.
#if !defined(COTRAIT_SIZED_DEALLOCATION)
#if defined(__cpp_sized_deallocation)
#define COTRAIT_SIZED_DEALLOCATION 1
#else
#define COTRAIT_SIZED_DEALLOCATION 0
#endif
#elif COTRAIT_SIZED_DEALLOCATION && !defined(__cpp_sized_deallocation)
#error "COTRAIT_SIZED_DEALLOCATION=1 needs -fsized-deallocation (or define it to 0)"
#endif

// ---- Debug checks -------------------------------------------------------------------------------
// COTRAIT_THREAD_CHECKS == 1 makes local_task record its creating thread and diagnose use on any
// other (local_task.hpp). It changes local_task's layout, hence COTRAIT_ABI_NAMESPACE below.
#if !defined(COTRAIT_THREAD_CHECKS)
#if defined(NDEBUG)
#define COTRAIT_THREAD_CHECKS 0
#else
#define COTRAIT_THREAD_CHECKS 1
#endif
#endif

// COTRAIT_ARENA_CHECKS == 1: releasing or destroying an arena_resource or an inline_resource while
// frames allocated from it are alive aborts with a message, instead of leaving those frames to be
// destroyed later through dangling memory, or leaked. Behaviour only (the counters exist either
// way), so no ABI tag.
#if !defined(COTRAIT_ARENA_CHECKS)
#if defined(NDEBUG)
#define COTRAIT_ARENA_CHECKS 0
#else
#define COTRAIT_ARENA_CHECKS 1
#endif
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

// ---- ABI tag ------------------------------------------------------------------------------------
// Types whose layout depends on an option live in `inline namespace COTRAIT_ABI_NAMESPACE` inside
// namespace cotrait, whose name spells the option's value. Code keeps writing
// `cotrait::local_task<T>`, but the mangled name of every function that takes or returns one
// carries the tag, so two translation units built with different settings (typically one with
// NDEBUG and one without) fail to link instead of silently disagreeing about the type (an ODR
// violation that would corrupt memory at run time). Guarded by tests/abi/.
#if COTRAIT_THREAD_CHECKS != 0 && COTRAIT_THREAD_CHECKS != 1
#error "COTRAIT_THREAD_CHECKS must be 0 or 1"
#endif
#if COTRAIT_THREAD_CHECKS
#define COTRAIT_ABI_NAMESPACE abi_tc1
#else
#define COTRAIT_ABI_NAMESPACE abi_tc0
#endif
