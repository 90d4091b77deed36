// expect-error: see_why_with_static_assert_check_implements<.*NotARepository.*Repository
// A failed cotrait::implements constraint quotes an expression that tells the user how to get the
// per-method diagnosis (issue 9, item 10).
#include <cotrait/interface.hpp>

#include <string>

ASYNC_INTERFACE(Repository, (find_user, (std::string), ((int)id) const));

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
