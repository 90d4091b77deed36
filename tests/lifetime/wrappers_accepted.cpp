// Must compile cleanly (-Werror) with COTRAIT_LIFETIME_CHECKS on Clang >= 18: everything the
// interface layer generates that returns a task without being a coroutine is a coro_wrapper, and
// the safe patterns raise no -Wdangling.
#define COTRAIT_LIFETIME_CHECKS 1
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <coroutine>
#include <string>
#include <string_view>

constexpr std::string_view text = "temporary, awaited at once";

ASYNC_INTERFACE(Greeter, (greet, (std::size_t), ((const std::string&)name)),
                (twice, (std::size_t), ((const std::string&)name),
                 { co_return co_await greet(name) + co_await greet(name); }));
ASYNC_LOCAL_INTERFACE(Local, (get, (int), ()));

struct Impl {
    cotrait::static_task<std::size_t> greet(const std::string& name) { co_return name.size(); }
};
struct LocalImpl {
    cotrait::static_task<int> get() { co_return 1; }
};
struct ready {
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<> /*h*/) const noexcept {}
    std::size_t await_resume() const noexcept { return 1; }
};
struct ReadyImpl {
    ready greet(const std::string& /*name*/) { return {}; }
};

cotrait::boxed_task<std::size_t> caller(Greeter& g) {
    // Safe: the temporary lives until the end of the full expression, which contains the co_await.
    co_return co_await g.greet(std::string(text));
}

int main() {
    cotrait::adapter<Greeter, Impl> g{Impl{}};
    cotrait::adapter<Greeter, ReadyImpl> r{ReadyImpl{}};
    cotrait::adapter<Local, LocalImpl> l{LocalImpl{}};
    // Safe: a named string outlives the task.
    const std::string name = "named";
    auto task = g.twice(name);
    std::size_t total = cotrait::sync_wait(std::move(task));
    total += cotrait::sync_wait(caller(g)) + cotrait::sync_wait(caller(r));
    total += static_cast<std::size_t>(cotrait::sync_wait(l.get()));
    return total == 2 * name.size() + text.size() + 1 + 1 ? 0 : 1;
}
