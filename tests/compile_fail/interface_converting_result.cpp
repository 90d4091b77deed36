// expect-error: .size. returns a cotrait task of another result type than .* Sized::size.*second
// A static_task<int> implementing a std::size_t method would silently cost a second coroutine frame
// per call; the adapter rejects it, naming the method and the opt-in
// cotrait::allow_result_conversion (issue 9, item 12).
#include <cotrait/interface.hpp>

#include <cstddef>

ASYNC_INTERFACE(Sized, (size, (std::size_t), ()));

struct Narrow {
    cotrait::static_task<int> size() { co_return 7; }
};

int main() {
    cotrait::adapter<Sized, Narrow> a{Narrow{}};
    return 0;
}
