// expect-error: .find_user. returns an awaitable whose result type does not match .*find_user
// check_implements reports every kind of mismatch, here a wrong result type (issue 9, item 10).
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const));

struct WrongResult {
    cotrait::static_task<int*> find_user(int /*id*/) const { co_return nullptr; }
};

static_assert(cotrait::check_implements<Repository, WrongResult>());

int main() {
    return 0;
}
