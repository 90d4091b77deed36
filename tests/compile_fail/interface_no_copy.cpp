// expect-error: (deleted function 'Repository::Repository\(const|'Repository' has a deleted copy)
// Interfaces cannot be copied, so an implementation cannot be sliced into one.
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

struct Impl final : Repository {
    cotrait::boxed_task<std::string> find_user(int /*id*/) const override { co_return "x"; }
    cotrait::boxed_task<void> save_user(int /*id*/, std::string /*name*/) override { co_return; }
};

int main() {
    Impl impl;
    Impl copy = impl;
    return 0;
}
