// A Repository interface with two implementations used through `Repository&`, as a Rust user would
// write `Box<dyn Repository>` with #[async_trait]:
//   - InMemoryRepository derives from the interface and overrides with boxed_task coroutines;
//   - FileRepository is a static implementation (static_task methods, no base class) that
//     cotrait::make_adapter turns into a Repository, one frame per call.
#include <cotrait/cotrait.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

struct User {
    int id = 0;
    std::string name;
    std::string email;
};

// clang-format off
ASYNC_INTERFACE(Repository,
    (find_user, (std::optional<User>), ((int) id) const),
    (save_user, (void),                ((User) user)),
    // A provided method: implementations may override it, or inherit this body.
    (rename_user, (bool), ((int) id, (std::string) name), {
        std::optional<User> user = co_await find_user(id);
        if (!user) {
            co_return false;
        }
        user->name = std::move(name);
        co_await save_user(std::move(*user));
        co_return true;
    }));
// clang-format on

class InMemoryRepository final : public Repository {
public:
    cotrait::boxed_task<std::optional<User>> find_user(int id) const override {
        auto it = users_.find(id);
        co_return it == users_.end() ? std::nullopt : std::optional<User>(it->second);
    }
    cotrait::boxed_task<void> save_user(User user) override {
        const int id = user.id;
        users_.insert_or_assign(id, std::move(user));
        co_return;
    }

private:
    std::map<int, User> users_;
};

// One line per user, "id<TAB>name<TAB>email"; the last line for an id wins.
class FileRepository {
public:
    explicit FileRepository(std::filesystem::path path) : path_(std::move(path)) {
        std::ofstream(path_, std::ios::trunc).flush();
    }

    cotrait::static_task<std::optional<User>> find_user(int id) const {
        std::ifstream in(path_);
        std::optional<User> found;
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            User u;
            std::string id_text;
            std::getline(fields, id_text, '\t');
            std::getline(fields, u.name, '\t');
            std::getline(fields, u.email);
            u.id = std::stoi(id_text);
            if (u.id == id) {
                found = std::move(u);
            }
        }
        co_return found;
    }
    cotrait::static_task<void> save_user(User user) {
        std::ofstream out(path_, std::ios::app);
        out << user.id << '\t' << user.name << '\t' << user.email << '\n';
        co_return;
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

static_assert(cotrait::implements<FileRepository, Repository>);

// Code that only knows the interface.
cotrait::boxed_task<int> onboard(Repository& repo) {
    // Named first: GCC 12 mishandles a class prvalue passed by value to a call inside a
    // co_await expression (docs/interfaces.md, "Compiler notes").
    User ada{1, "ada", "ada@example.org"};
    User grace{2, "grace", "grace@example.org"};
    co_await repo.save_user(std::move(ada));
    co_await repo.save_user(std::move(grace));
    const bool renamed = co_await repo.rename_user(2, "grace hopper");
    const bool missing = co_await repo.rename_user(3, "nobody");
    std::optional<User> u = co_await repo.find_user(2);
    std::printf("  user 2: %s <%s>, renamed=%d, rename of a missing user=%d\n",
                u ? u->name.c_str() : "?", u ? u->email.c_str() : "?", renamed, missing);
    co_return renamed && !missing && u && u->name == "grace hopper" ? 0 : 1;
}

int main() {
    const std::filesystem::path file =
        std::filesystem::temp_directory_path() / "cotrait-example-users.tsv";
    std::vector<std::pair<const char*, std::unique_ptr<Repository>>> repos;
    repos.emplace_back("in-memory", std::make_unique<InMemoryRepository>());
    repos.emplace_back("file", cotrait::make_adapter<Repository>(FileRepository(file)));

    int failures = 0;
    for (auto& [label, repo] : repos) {
        std::printf("%s repository:\n", label);
        failures += cotrait::sync_wait(onboard(*repo));
    }
    std::error_code ec;
    std::filesystem::remove(file, ec);
    return failures;
}
