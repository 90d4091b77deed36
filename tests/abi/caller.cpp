// One half of the ABI-mismatch link test (tests/CMakeLists.txt, "ABI tag"): calls a function
// defined in callee.cpp that takes a local_task. Built with and without NDEBUG /
// COTRAIT_THREAD_CHECKS against callee.cpp: the link must fail exactly when the two disagree.
#include <cotrait/local_task.hpp>

cotrait::local_task<int> make_local(int v);
bool owns_frame(const cotrait::local_task<int>& t);

int main() {
    const cotrait::local_task<int> t = make_local(7);
    return owns_frame(t) ? 0 : 1;
}
