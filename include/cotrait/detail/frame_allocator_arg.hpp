// Turning what follows `std::allocator_arg` in a coroutine's parameters (a memory resource, a
// polymorphic allocator, any standard Allocator) into a frame with its record.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_record.hpp>
#include <cotrait/detail/frame_selection.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <type_traits>
#include <utility>

namespace cotrait::detail {

// Blocks handed out by standard Allocators are arrays of these, so alignment is that of new.
struct alignas(frame_granule) granule {
    unsigned char bytes[frame_granule];
};

template <class A>
using granule_allocator_t = typename std::allocator_traits<A>::template rebind_alloc<granule>;

template <class A>
inline constexpr bool is_stateless_allocator_v =
    std::conjunction_v<std::is_empty<A>, std::is_default_constructible<A>,
                       typename std::allocator_traits<A>::is_always_equal>;

template <class A>
struct is_polymorphic_allocator : std::false_type {};
template <class T>
struct is_polymorphic_allocator<std::pmr::polymorphic_allocator<T>> : std::true_type {};

template <class A>
concept standard_allocator = requires(A& a, std::size_t n) {
    typename A::value_type;
    { *a.allocate(n) } -> std::same_as<typename A::value_type&>;
    a.deallocate(a.allocate(n), n);
    requires std::copy_constructible<A>;
};

// A stateful allocator's copy lives after the frame; this is its footprint there.
template <class RA>
inline constexpr std::size_t stored_allocator_size = is_stateless_allocator_v<RA>
                                                         ? 0
                                                         : round_to_granule(sizeof(RA));

template <class RA>
void deallocate_with_allocator(void* block, std::size_t bytes) noexcept {
    using traits = std::allocator_traits<RA>;
    auto* g = static_cast<granule*>(block);
    if constexpr (is_stateless_allocator_v<RA>) {
        RA ra;
        traits::deallocate(ra, g, bytes / frame_granule);
    } else {
        auto* stored = std::launder(reinterpret_cast<RA*>(static_cast<unsigned char*>(block) +
                                                          bytes - stored_allocator_size<RA>));
        RA ra(std::move(*stored));
        stored->~RA();
        traits::deallocate(ra, g, bytes / frame_granule);
    }
}

template <class RA>
inline constexpr dealloc_record dealloc_record_for{&deallocate_with_allocator<RA>};

template <class A>
void* allocate_frame_with_allocator(std::size_t frame_size, const A& a) {
    using RA = granule_allocator_t<A>;
    using traits = std::allocator_traits<RA>;
    static_assert(alignof(RA) <= frame_granule, "allocator objects must not be over-aligned");
    RA ra(a);
    const std::size_t frame_block = frame_block_size(frame_size);
    const std::size_t bytes = frame_block + stored_allocator_size<RA>;
    void* block = std::to_address(traits::allocate(ra, bytes / frame_granule));
    if constexpr (!is_stateless_allocator_v<RA>) {
        ::new (static_cast<void*>(static_cast<unsigned char*>(block) + frame_block))
            RA(std::move(ra));
    }
    return stamp_frame(
        block, reinterpret_cast<std::uintptr_t>(&dealloc_record_for<RA>) | owner_tag_dealloc,
        bytes);
}

template <class A>
void* allocate_frame_for_arg(std::size_t frame_size, A&& a) {
    using D = std::remove_cvref_t<A>;
    if constexpr (std::convertible_to<A, std::pmr::memory_resource*>) {
        std::pmr::memory_resource* r = a;
        return r != nullptr ? allocate_frame_from(r, frame_size) : allocate_frame(frame_size);
    } else if constexpr (std::derived_from<D, std::pmr::memory_resource>) {
        // The resource is mutated through allocate(); the caller passed it by (non-const)
        // reference.
        return allocate_frame_from(const_cast<D*>(std::addressof(a)), frame_size);
    } else if constexpr (is_polymorphic_allocator<D>::value) {
        return allocate_frame_from(a.resource(), frame_size);
    } else {
        return allocate_frame_with_allocator(frame_size, a);
    }
}

} // namespace cotrait::detail
