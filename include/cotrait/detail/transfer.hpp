// How control passes from one coroutine to the next without growing the stack.
#pragma once

#include <cotrait/config.hpp>

#include <coroutine>
#include <cstdint>

namespace cotrait::detail {

#if COTRAIT_SYMMETRIC_TRANSFER && COTRAIT_STACK_GUARD

// Symmetric transfer with a stack guard, for compilers that make the transfer a tail call only at
// some optimisation levels (GCC: -O2 and up) without saying which in a macro. Each thread has a
// pump state. A pump (every resume_root, i.e. sync_wait and the executors) records how deep the
// stack may grow below it; a transfer compares the stack pointer with that limit and returns the
// next handle while above it, which costs a thread-local load and a compare. When a tail call was
// emitted the stack never grows and the limit is never reached. When it was not (GCC -O0/-O1/-Og),
// every transfer nests one call deeper; past the limit the transfer starts a trampoline pump right
// there, which runs the rest of the chain from a loop in constant stack (the trampoline below,
// same rules: only a transfer from the coroutine the trampoline itself resumed is deferred to it).
// A transfer with no pump below it (a coroutine resumed by user code, asio, another library)
// starts a guarded pump first, so the limit is always measured from a known base.
enum class pump_mode : unsigned char { none, guarded, trampoline };

struct pump_state {
    // While the stack pointer is at or above this, a transfer is a plain symmetric transfer. The
    // maximum (no pump, or a trampoline pump) sends every transfer to transfer_slow.
    std::uintptr_t limit = UINTPTR_MAX;
    void* running = nullptr; // the coroutine the innermost trampoline pump resumed last
    std::coroutine_handle<> next{};
    pump_mode mode = pump_mode::none;
};

inline constinit thread_local pump_state tls_pump{};

// The stack pointer, without taking the address of a local: an address-taken local would stop GCC
// from emitting the very tail call this guard relies on at -O2.
__attribute__((always_inline)) inline std::uintptr_t stack_pointer() noexcept {
    std::uintptr_t sp;
#if defined(__x86_64__)
    __asm__("movq %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__("mov %0, sp" : "=r"(sp));
#else
    sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
#endif
    return sp;
}

inline void run_pump(std::coroutine_handle<> h, pump_mode mode) noexcept {
    pump_state& p = tls_pump;
    const pump_state saved = p;
    p.mode = mode;
    p.limit =
        mode == pump_mode::guarded ? stack_pointer() - COTRAIT_STACK_GUARD_BYTES : UINTPTR_MAX;
    do {
        p.running = h.address();
        p.next = {};
        h.resume();
        h = p.next;
    } while (h);
    p = saved;
}

// Deep below the pump (or no pump at all): never inlined, so the fast path stays small.
COTRAIT_NOINLINE inline std::coroutine_handle<>
transfer_slow(std::coroutine_handle<> self, std::coroutine_handle<> next) noexcept {
    pump_state& p = tls_pump;
    switch (p.mode) {
    case pump_mode::trampoline:
        if (p.running == self.address()) {
            p.next = next;
            break;
        }
        run_pump(next, pump_mode::trampoline);
        break;
    case pump_mode::guarded:
        run_pump(next, pump_mode::trampoline);
        break;
    case pump_mode::none:
        run_pump(next, pump_mode::guarded);
        break;
    }
    // `self` may be gone by now; nothing below touches it.
    return std::noop_coroutine();
}

using transfer_result = std::coroutine_handle<>;

__attribute__((always_inline)) inline std::coroutine_handle<>
transfer_to(std::coroutine_handle<> self, std::coroutine_handle<> next) noexcept {
    if (COTRAIT_LIKELY(stack_pointer() >= tls_pump.limit)) {
        return next;
    }
    return transfer_slow(self, next);
}

inline std::coroutine_handle<> transfer_to_nothing() noexcept {
    return std::noop_coroutine();
}

inline void resume_root(std::coroutine_handle<> h) {
    run_pump(h, pump_mode::guarded);
}

#elif COTRAIT_SYMMETRIC_TRANSFER

// The compiler resumes the returned handle with a tail call.
using transfer_result = std::coroutine_handle<>;

inline std::coroutine_handle<> transfer_to(std::coroutine_handle<> /*self*/,
                                           std::coroutine_handle<> next) noexcept {
    return next;
}

inline std::coroutine_handle<> transfer_to_nothing() noexcept {
    return std::noop_coroutine();
}

inline void resume_root(std::coroutine_handle<> h) {
    h.resume();
}

#else

// Trampoline. Each thread has a pump loop; a coroutine that wants to hand control to `next` records
// it and returns to its resumer. When that resumer is the pump, the pump resumes `next` from its
// loop, so the stack depth stays constant. A coroutine resumed by anything else (a user callback,
// another library's symmetric transfer) is not directly below the pump; deferring there could lose
// the handle, so it runs a nested pump instead, which is bounded by the depth of such foreign
// resumes.
struct pump_state {
    void* running = nullptr; // the coroutine the innermost pump resumed last
    std::coroutine_handle<> next{};
};

inline constinit thread_local pump_state tls_pump{};

inline void run_pump(std::coroutine_handle<> h) noexcept {
    pump_state& p = tls_pump;
    const pump_state saved = p;
    do {
        p.running = h.address();
        p.next = {};
        h.resume();
        h = p.next;
    } while (h);
    p = saved;
}

using transfer_result = void;

inline void transfer_to(std::coroutine_handle<> self, std::coroutine_handle<> next) noexcept {
    pump_state& p = tls_pump;
    if (p.running == self.address()) {
        p.next = next;
        return;
    }
    run_pump(next);
}

inline void transfer_to_nothing() noexcept {}

inline void resume_root(std::coroutine_handle<> h) {
    run_pump(h);
}

#endif

} // namespace cotrait::detail
