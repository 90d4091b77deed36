// The other half of the ABI-mismatch link test: see caller.cpp.
#include <cotrait/local_task.hpp>

cotrait::local_task<int> make_local(int v) {
    co_return v;
}

bool owns_frame(const cotrait::local_task<int>& t) {
    return t.valid() && !t.done();
}
