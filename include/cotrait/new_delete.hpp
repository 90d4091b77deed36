// Frames from the global operator new, one allocation per call: the faithful analog of Box::pin.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_record.hpp>

#include <cstddef>
#include <memory_resource>
#include <new>

namespace cotrait {

/// A `std::pmr::memory_resource` that calls the global `operator new` and `operator delete` once
/// per allocation. Used as the "what Rust's async_trait does" reference in benchmarks. Frames
/// allocated through it are recognised by the frame machinery and freed without a virtual call.
class new_delete_memory_resource final : public std::pmr::memory_resource {
private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
        if (alignment > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
            return ::operator new (bytes, std::align_val_t{alignment});
        }
        return ::operator new(bytes);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
        if (alignment > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
            ::operator delete (p, std::align_val_t{alignment});
            return;
        }
        detail::global_free(p, bytes);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
        return dynamic_cast<const new_delete_memory_resource*>(&other) != nullptr;
    }
};

namespace detail {
inline new_delete_memory_resource g_new_delete_resource{};
} // namespace detail

/// The process-wide resource calling the global `operator new` / `operator delete`. (Named so that
/// it cannot be confused with, or made ambiguous by, `std::pmr::new_delete_resource()`.)
inline std::pmr::memory_resource* global_new_delete_resource() noexcept {
    return &detail::g_new_delete_resource;
}

/// Deprecated name of `global_new_delete_resource()`: with `using namespace std::pmr` in scope, an
/// unqualified call was ambiguous.
[[deprecated("use cotrait::global_new_delete_resource()")]] inline std::pmr::memory_resource*
new_delete_resource() noexcept {
    return global_new_delete_resource();
}

/// A stateless standard Allocator calling the global operator new/delete, for `static_task<T, A>`.
template <class T = std::byte>
class new_delete_allocator {
public:
    using value_type = T;
    using is_always_equal = std::true_type;

    new_delete_allocator() noexcept = default;
    template <class U>
    new_delete_allocator(const new_delete_allocator<U>& /*other*/) noexcept {}

    [[nodiscard]] T* allocate(std::size_t n) {
        if (COTRAIT_UNLIKELY(n > detail::max_request_bytes / sizeof(T))) {
            detail::throw_bad_alloc(); // n * sizeof(T) would wrap around
        }
        return static_cast<T*>(::operator new(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { detail::global_free(p, n * sizeof(T)); }
    template <class U>
    friend bool operator==(const new_delete_allocator& /*a*/,
                           const new_delete_allocator<U>& /*b*/) noexcept {
        return true;
    }
};

} // namespace cotrait
