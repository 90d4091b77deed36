// The deprecated names of docs/design.md ("Names") are the new entities under their old spelling:
// same types, same resources, same per-thread state. (compile_fail/deprecated_* checks that each
// one warns.)
#include <catch2/catch_test_macros.hpp>

#include <cotrait/cotrait.hpp>
#include <cotrait/inline_storage.hpp>

#include <type_traits>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

TEST_CASE("deprecated type names are aliases of the new ones") {
    STATIC_REQUIRE(std::is_same_v<cotrait::counting<>, cotrait::counting_resource<>>);
    STATIC_REQUIRE(std::is_same_v<cotrait::sync_counting<>, cotrait::sync_counting_resource<>>);
    STATIC_REQUIRE(std::is_same_v<cotrait::inline_storage<64>, cotrait::inline_resource<64>>);
    STATIC_REQUIRE(std::is_same_v<cotrait::inline_storage<64, cotrait::overflow_policy::heap>,
                                  cotrait::inline_resource<64, cotrait::overflow_policy::heap>>);
}

TEST_CASE("deprecated functions act on the same state as the new ones") {
    CHECK(cotrait::new_delete_resource() == cotrait::global_new_delete_resource());

    cotrait::counting_resource<> mine;
    cotrait::set_thread_frame_resource(&mine);
    CHECK(cotrait::this_thread_frame_resource() == &mine);
    CHECK(cotrait::thread_frame_resource() == &mine);
    cotrait::set_this_thread_frame_resource(nullptr);
    CHECK(cotrait::thread_frame_resource() == nullptr);

    const cotrait::recycling_limits old_name = cotrait::get_recycling_limits();
    const cotrait::recycling_limits new_name = cotrait::current_recycling_limits();
    CHECK(old_name.per_class == new_name.per_class);
    CHECK(old_name.total_bytes == new_name.total_bytes);
}
