// expect-error: async method Counter::add has qualifiers that are not supported: write nothing
// A ref-qualified async method is reported once, naming the method and the qualifiers cotrait
// accepts (issue 9, item 9), instead of an incomplete internal trait.
#include <cotrait/interface.hpp>

ASYNC_INTERFACE(Counter, (add, (int), ((int)step) const&));

int main() {
    return 0;
}
