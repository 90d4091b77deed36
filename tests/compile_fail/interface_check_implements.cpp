// expect-error: no method .save_user. callable as the async method Repository::save_user
// static_assert(cotrait::check_implements<I, T>()) says why T does not satisfy
// cotrait::implements<T, I>: each failing method is named (issue 9, item 10).
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

struct NoSave {
    cotrait::static_task<std::string> find_user(int /*id*/) const { co_return "x"; }
};

static_assert(cotrait::check_implements<Repository, NoSave>());

int main() {
    return 0;
}
