// expect-error: .find_user. cannot be called with the parameters of the async method
// Repository::find_user .wrong parameter types, or not const The interface method is const, the
// implementation's is not.
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

struct NotConst {
    cotrait::static_task<std::string> find_user(int /*id*/) { co_return "x"; }
    cotrait::static_task<void> save_user(int /*id*/, std::string /*name*/) { co_return; }
};

int main() {
    cotrait::adapter<Repository, NotConst> a{NotConst{}};
    return 0;
}
