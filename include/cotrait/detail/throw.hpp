// Raising an error with or without exceptions: built with -fno-exceptions, every error cotrait
// would throw prints its message and aborts instead (docs/design.md, "Without exceptions").
#pragma once

#include <cotrait/config.hpp>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace cotrait::detail {

template <class E>
[[noreturn]] COTRAIT_NOINLINE void throw_exception(E&& e) {
#if COTRAIT_EXCEPTIONS
    throw std::forward<E>(e);
#else
    std::fprintf(stderr, "%s (exceptions are disabled: aborting)\n", e.what());
    std::fflush(stderr);
    std::abort();
#endif
}

} // namespace cotrait::detail
