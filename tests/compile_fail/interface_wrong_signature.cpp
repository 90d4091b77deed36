// expect-error: .save_user. cannot be called with the parameters of the async method
// Repository::save_user A method whose parameters do not accept the interface's arguments is named
// in the error.
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

struct WrongParams {
    cotrait::static_task<std::string> find_user(int /*id*/) const { co_return "x"; }
    cotrait::static_task<void> save_user(int /*id*/, int* /*name*/) { co_return; }
};

int main() {
    cotrait::adapter<Repository, WrongParams> a{WrongParams{}};
    return 0;
}
