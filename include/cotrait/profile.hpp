// Frame profiling of async calls: how many coroutine frames (and bytes) one call allocates, per
// method of an interface, as a printable table. Kept apart from interface.hpp so that declaring an
// interface does not pull in the counting resource, sync_wait and iostreams.
#pragma once

#include <cotrait/counting.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <cstddef>
#include <ostream>
#include <span>
#include <string>
#include <utility>

namespace cotrait {

/// The frames one call allocated: how many and how many bytes (each frame's block, with the
/// allocation record, as handed out by the resource).
struct frame_usage {
    std::size_t frames = 0;
    std::size_t bytes = 0;
};

/// Calls `make()` (which returns an awaitable, typically a task), runs it to completion with
/// sync_wait and returns the coroutine frames allocated meanwhile on this thread from the
/// per-scope resource: the task's own frame and those of the coroutines it awaits. Frames given an
/// allocator per call (std::allocator_arg) or created on other threads are not seen, and neither
/// are static_task<T, A> frames with a fixed allocator A.
template <class F>
frame_usage measure_frames(F&& make) {
    counting_resource<> counter;
    {
        frame_allocator_scope scope(counter);
        sync_wait(std::forward<F>(make)());
    }
    const counting_stats s = counter.stats();
    return {static_cast<std::size_t>(s.allocations), static_cast<std::size_t>(s.bytes_allocated)};
}

/// One line of a per-method frame table.
struct method_profile {
    method_info info{};
    frame_usage per_call{};
};

/// Measures one call `(obj.*pm)(args...)` of an async method of `I` (see measure_frames).
template <class I, class PM, class Obj, class... A>
method_profile profile_method(Obj& obj, PM pm, A&&... args) {
    const method_info* info = find_method<I>(pm);
    method_profile out;
    if (info != nullptr) {
        out.info = *info;
    }
    out.per_call = measure_frames([&] { return (obj.*pm)(std::forward<A>(args)...); });
    return out;
}

/// Prints "method  frames/call  bytes/call" lines.
inline void print_profile(std::ostream& os, std::span<const method_profile> rows) {
    os << "method                          frames/call  bytes/call\n";
    for (const method_profile& r : rows) {
        std::string label(r.info.interface);
        label += "::";
        label += r.info.name;
        os << label;
        for (std::size_t i = label.size(); i < 32; ++i) {
            os << ' ';
        }
        os << ' ' << r.per_call.frames << "            " << r.per_call.bytes << '\n';
    }
}

} // namespace cotrait
