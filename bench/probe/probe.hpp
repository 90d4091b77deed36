// The callgrind probes' interfaces. Their implementations live in probe_impls.cpp, compiled
// separately and without LTO, so every call through them is a real indirect call.
#pragma once

#include "../support/reference_task.hpp"

#include <cotrait/boxed_task.hpp>

#if COTRAIT_PROBE_ASIO
#include <asio/awaitable.hpp>
#endif

namespace probe {

struct sync_iface {
    virtual ~sync_iface();
    virtual int compute(int x) = 0;
};

struct ref_iface {
    virtual ~ref_iface();
    virtual bench::ref_task<int> compute(int x) = 0;
    /// Awaits `call(depth - 1, x)` through this interface down to depth 0.
    virtual bench::ref_task<int> call(int depth, int x) = 0;
};

struct boxed_iface {
    virtual ~boxed_iface();
    virtual cotrait::boxed_task<int> compute(int x) = 0;
    virtual cotrait::boxed_task<int> call(int depth, int x) = 0;
    /// Answers with `cotrait::ready(x + 1)`: no frame (a cache hit).
    virtual cotrait::boxed_task<int> ready(int x) = 0;
};

#if COTRAIT_PROBE_ASIO
/// The peer: asio's coroutine type through a virtual method (its own recycling frame allocator).
struct asio_iface {
    virtual ~asio_iface();
    virtual asio::awaitable<int> compute(int x) = 0;
};
asio_iface& asio_impl();
#endif

sync_iface& sync_impl();
ref_iface& ref_impl();
boxed_iface& boxed_impl();

} // namespace probe
