// Deprecated header: `inline_storage<N>` is now `inline_resource<N>` in cotrait/inline_resource.hpp
// (docs/design.md, "Names"). Kept for one release.
#pragma once

#include <cotrait/inline_resource.hpp>
