// expect-error: implements<.*Repository
// Generic code constrained with cotrait::implements rejects a type that lacks the methods.
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const),
                (save_user, (void), ((int)id, (std::string)name)));

template <cotrait::implements<Repository> R>
cotrait::static_task<std::string> first_user(const R& repo) {
    co_return co_await repo.find_user(1);
}

struct NotARepository {
    int find_user(int /*id*/) const { return 0; }
};

int main() {
    NotARepository n;
    auto t = first_user(n);
    return 0;
}
