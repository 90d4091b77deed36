// expect-error: .save_user. must return an awaitable .e\.g\. cotrait::static_task<R>. for the async
// method Repository::save_user A synchronous implementation method is rejected with a hint.
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

struct Sync {
    cotrait::static_task<std::string> find_user(int /*id*/) const { co_return "x"; }
    void save_user(int /*id*/, std::string /*name*/) {}
};

int main() {
    cotrait::adapter<Repository, Sync> a{Sync{}};
    return 0;
}
