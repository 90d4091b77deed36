// expect-error: use cotrait::counting_resource.*use cotrait::sync_counting_resource.*use
// cotrait::inline_resource Every renamed type still compiles for one release, but warns and names
// its replacement (docs/design.md, "Names"). The pragma turns the warnings into errors so that this
// compile-fail test sees them, in source order.
#pragma GCC diagnostic error "-Wdeprecated-declarations"

#if defined(__clang__) && __clang_major__ < 15
#error cotrait-compile-fail-skip: Clang 14 ignores [[deprecated]] on alias templates
#endif

#include <cotrait/cotrait.hpp>

int main() {
    cotrait::counting<> one_thread;
    cotrait::sync_counting<> any_thread;
    cotrait::inline_storage<256> buffer;
    return 0;
}
