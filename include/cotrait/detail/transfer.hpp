// How control passes from one coroutine to the next without growing the stack.
#pragma once

#include <cotrait/config.hpp>

#include <coroutine>

namespace cotrait::detail {

#if COTRAIT_SYMMETRIC_TRANSFER

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
