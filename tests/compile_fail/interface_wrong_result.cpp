// expect-error: .find_user. returns an awaitable whose result type does not match the async method
// Repository::find_user The result type must convert to the interface's (exactly void for void).
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

struct WrongResult {
    cotrait::static_task<int*> find_user(int /*id*/) const { co_return nullptr; }
    cotrait::static_task<void> save_user(int /*id*/, std::string /*name*/) { co_return; }
};

int main() {
    cotrait::adapter<Repository, WrongResult> a{WrongResult{}};
    return 0;
}
