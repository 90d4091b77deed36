// Helpers shared by the cotrait tests: counted objects and a counting memory resource.
#pragma once

#include <cotrait/cotrait.hpp>

#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <mutex>

namespace cotrait_test {

// Counts constructions, copies, moves and destructions of instances, to check ownership rules.
struct counters {
    int constructed = 0;
    int copied = 0;
    int moved = 0;
    int destroyed = 0;
    [[nodiscard]] int alive() const { return constructed + copied + moved - destroyed; }
};

class counted {
public:
    explicit counted(counters& c, int value = 0) : c_(&c), value_(value) { ++c_->constructed; }
    counted(const counted& o) : c_(o.c_), value_(o.value_) { ++c_->copied; }
    counted(counted&& o) noexcept : c_(o.c_), value_(o.value_) { ++c_->moved; }
    counted& operator=(const counted&) = delete;
    counted& operator=(counted&&) = delete;
    ~counted() { ++c_->destroyed; }
    [[nodiscard]] int value() const { return value_; }

private:
    counters* c_;
    int value_;
};

// Counts the blocks a single-threaded test's frames take from it.
class counting_resource final : public std::pmr::memory_resource {
public:
    std::size_t allocations = 0;
    std::size_t deallocations = 0;
    std::size_t live = 0;       // blocks not yet returned
    std::size_t bytes = 0;      // bytes handed out in all
    std::size_t live_bytes = 0; // bytes not yet returned
    std::size_t last_size = 0;

private:
    void* do_allocate(std::size_t n, std::size_t align) override {
        ++allocations;
        ++live;
        bytes += n;
        live_bytes += n;
        last_size = n;
        return std::pmr::new_delete_resource()->allocate(n, align);
    }
    void do_deallocate(void* p, std::size_t n, std::size_t align) override {
        ++deallocations;
        --live;
        live_bytes -= n;
        std::pmr::new_delete_resource()->deallocate(p, n, align);
    }
    bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
        return this == &o;
    }
};

// Counts live instances across threads, for checking that nothing outlives its owner.
struct tracked {
    static inline std::atomic<int> alive{0};
    tracked() noexcept { ++alive; }
    tracked(const tracked& /*other*/) noexcept { ++alive; }
    tracked(tracked&& /*other*/) noexcept { ++alive; }
    tracked& operator=(const tracked&) = default;
    tracked& operator=(tracked&&) = default;
    ~tracked() { --alive; }
};

// Families let one test body run against both task types.
struct boxed_family {
    template <class T>
    using task = cotrait::boxed_task<T>;
    static constexpr const char* name = "boxed_task";
};
struct static_family {
    template <class T>
    using task = cotrait::static_task<T>;
    static constexpr const char* name = "static_task";
};

} // namespace cotrait_test
