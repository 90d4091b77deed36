// Test support: kv_server as a child process (with resource limits), and a blocking loopback
// client with receive timeouts, so that a server that stops answering fails a test instead of
// hanging it.
#pragma once

#include "kv_client.hpp"

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kvtest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// The server binary: KV_SERVER in the environment (to run these tests against another build),
/// else the one built with the tests.
inline std::string server_path() {
    const char* env = std::getenv("KV_SERVER");
    return env != nullptr && *env != '\0' ? env : KV_SERVER_PATH;
}

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A kv_server child process. Its stdout and stderr go to `log`.
class child {
public:
    /// Starts `kv_server --serve --port 0 <args>`; `limit` runs in the child before exec (to set
    /// resource limits). Waits (at most 10 s) for the "listening on" line; port() is 0 if the
    /// server exited instead (then exit_status() says how).
    child(std::vector<std::string> args, fs::path log, std::function<void()> limit = {})
        : log_(std::move(log)) {
        std::vector<std::string> argv = {server_path(), "--serve", "--port", "0"};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> cargv;
        for (std::string& a : argv) {
            cargv.push_back(a.data());
        }
        cargv.push_back(nullptr);
        std::error_code ec;
        fs::remove(log_, ec);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) {
                ::_exit(126);
            }
            if (limit) {
                limit();
            }
            ::execv(cargv[0], cargv.data());
            ::_exit(127);
        }
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            const std::string text = read_file(log_);
            const std::size_t at = text.find("listening on 127.0.0.1:");
            if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
                port_ = static_cast<unsigned short>(std::stoul(
                    text.substr(at + std::string_view("listening on 127.0.0.1:").size())));
                return;
            }
            if (reap(false)) {
                return;
            }
            std::this_thread::sleep_for(2ms); // polling the log for a line, with a deadline
        }
        FAIL("kv_server did not start within 10 s; log:\n" << read_file(log_));
    }
    ~child() {
        if (!exited_) {
            ::kill(pid_, SIGKILL);
            reap(true);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    [[nodiscard]] unsigned short port() const { return port_; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::string log() const { return read_file(log_); }
    [[nodiscard]] int exit_status() const { return status_; }

    /// SIGKILL, then wait. Returns true if the signal is what ended it.
    bool kill9() {
        ::kill(pid_, SIGKILL);
        reap(true);
        return WIFSIGNALED(status_) && WTERMSIG(status_) == SIGKILL;
    }
    /// SIGTERM (a clean stop), then wait; returns the exit code (-1 if killed by a signal).
    int stop() {
        ::kill(pid_, SIGTERM);
        reap(true);
        return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    }
    /// Waits for the child to end on its own; returns the exit code (-1 if killed by a signal).
    int wait() {
        reap(true);
        return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    }

    /// Resident set size in KiB (from /proc), 0 if unavailable.
    [[nodiscard]] long rss_kib() const {
        std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("VmRSS:", 0) == 0) {
                return std::stol(line.substr(6));
            }
        }
        return 0;
    }

private:
    bool reap(bool block) {
        if (exited_) {
            return true;
        }
        const pid_t r = ::waitpid(pid_, &status_, block ? 0 : WNOHANG);
        exited_ = r == pid_;
        return exited_;
    }

    fs::path log_;
    pid_t pid_ = -1;
    unsigned short port_ = 0;
    int status_ = 0;
    bool exited_ = false;
};

/// A blocking loopback connection; every receive gives up after `timeout`.
class conn {
public:
    explicit conn(unsigned short port, std::chrono::milliseconds timeout = 10s) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~conn() { close(); }
    conn(conn&& o) noexcept : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}
    conn(const conn&) = delete;
    conn& operator=(const conn&) = delete;
    conn& operator=(conn&&) = delete;

    [[nodiscard]] bool connected() const { return connected_; }
    [[nodiscard]] int fd() const { return fd_; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    /// The next reply, rendered as redis-cli prints it ("OK", "(nil)", "(integer) 1", "(error)
    /// ERR ...", a bulk string's bytes), or nullopt on EOF, error or timeout.
    std::optional<std::string> line() {
        for (;;) {
            if (const std::size_t n = kv::reply_size(buf_); n != 0) {
                std::string r = kv::render_reply(std::string_view(buf_).substr(0, n));
                buf_.erase(0, n);
                return r;
            }
            char chunk[65536];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) {
                return std::nullopt;
            }
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }
    /// Sends `req` as an inline command (words separated by spaces) and reads its reply.
    std::optional<std::string> request(std::string_view req) {
        std::string out(req);
        out += "\r\n";
        if (!send(out)) {
            return std::nullopt;
        }
        return line();
    }

private:
    int fd_ = -1;
    bool connected_ = false;
    std::string buf_;
};

/// A fresh temporary directory for one test, removed afterwards.
struct temp_dir {
    fs::path path;
    explicit temp_dir(const std::string& name)
        : path(fs::temp_directory_path() /
               ("cotrait_kv_" + name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

/// For child(): sets a resource limit (soft and hard) in the child.
inline std::function<void()> limit_resource(int resource, rlim_t value) {
    return [resource, value] {
        struct rlimit l {
            value, value
        };
        ::setrlimit(resource, &l);
    };
}

} // namespace kvtest
