// expect-error: no method .save_user. callable as the async method Repository::save_user
// An implementation without a required method cannot be adapted; the error names the method.
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

struct NoSave {
    cotrait::static_task<std::string> find_user(int /*id*/) const { co_return "x"; }
};

int main() {
    cotrait::adapter<Repository, NoSave> a{NoSave{}};
    return a.impl().find_user(1).valid() ? 0 : 1;
}
