// expect-error: temporary whose address is used as value of local variable 'task'.*Wdangling
// With COTRAIT_LIFETIME_CHECKS on Clang >= 18, binding a temporary to a reference parameter of a
// coroutine whose task outlives the full expression is diagnosed (-Wdangling, made an error here).
#define COTRAIT_LIFETIME_CHECKS 1
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <string>

#pragma clang diagnostic error "-Wdangling"

ASYNC_INTERFACE(Greeter, (greet, (std::size_t), ((const std::string&)name)));

struct Impl {
    cotrait::static_task<std::size_t> greet(const std::string& name) { co_return name.size(); }
};

int main() {
    Impl impl;
    // The std::string temporary dies at the end of this line; the task reads it later.
    auto task = impl.greet(std::string("a temporary that the task outlives"));
    return static_cast<int>(cotrait::sync_wait(std::move(task)));
}
