// expect-error: use cotrait::global_new_delete_resource\(\).*use
// cotrait::set_this_thread_frame_resource\(\).*use cotrait::this_thread_frame_resource\(\).*use
// cotrait::current_recycling_limits\(\) Every renamed function still compiles for one release, but
// warns and names its replacement (docs/design.md, "Names"). The pragma turns the warnings into
// errors so that this compile-fail test sees them, in source order.
#pragma GCC diagnostic error "-Wdeprecated-declarations"

#include <cotrait/cotrait.hpp>

int main() {
    [[maybe_unused]] std::pmr::memory_resource* heap = cotrait::new_delete_resource();
    cotrait::set_thread_frame_resource(cotrait::recycling_resource());
    [[maybe_unused]] std::pmr::memory_resource* mine = cotrait::thread_frame_resource();
    [[maybe_unused]] cotrait::recycling_limits limits = cotrait::get_recycling_limits();
    cotrait::set_this_thread_frame_resource(nullptr);
    return 0;
}
