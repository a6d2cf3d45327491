// The reloading passwd-file passdb: start-up load, reload on change with a
// fake clock, broken rewrites that keep the old data, a missing file.
#include "auth/passwd_file_passdb.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace submitd::auth {
namespace {

using namespace std::chrono_literals;

class passdb_file_test : public testing::Test {
protected:
    void SetUp() override {
        std::string pattern = testing::TempDir() + "submitd-passdb-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        path_ = dir_ + "/users";
    }
    void TearDown() override {
        std::remove(path_.c_str());
        std::remove((path_ + ".tmp").c_str());
        ::rmdir(dir_.c_str());
    }

    /// Replaces the file the way editors and scripts do (write, rename), with
    /// an mtime of its own so that no two versions look alike.
    void write_users(const std::string& text) {
        std::string tmp = path_ + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out << text;
        }
        timespec times[2] = {{1'700'000'000 + ++version_, 0}, {1'700'000'000 + version_, 0}};
        ASSERT_EQ(::utimensat(AT_FDCWD, tmp.c_str(), times, 0), 0);
        ASSERT_EQ(std::rename(tmp.c_str(), path_.c_str()), 0);
    }

    passwd_file_passdb make_passdb() {
        return passwd_file_passdb(path_, 1s, [this] { return now_; });
    }

    std::string dir_;
    std::string path_;
    int version_ = 0;
    passwd_file_passdb::clock::time_point now_{};
};

int count_lines(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
        ++n;
    }
    return n;
}

TEST_F(passdb_file_test, load_sample) {
    auto result = passwd_file_passdb::load(SUBMITD_TEST_DATA "/auth/users.passwd");
    ASSERT_NE(result.db, nullptr) << result.error;
    EXPECT_EQ(result.db->size(), 4U);
    EXPECT_TRUE(result.error.empty());
}

TEST_F(passdb_file_test, load_names_path_and_line) {
    write_users("bob:{PLAIN}x\n\ncarol:{XYZ}y\n");
    auto result = passwd_file_passdb::load(path_);
    EXPECT_EQ(result.db, nullptr);
    EXPECT_EQ(result.error, path_ + ":3: unknown password scheme \"XYZ\"");
}

TEST_F(passdb_file_test, load_missing_file) {
    auto result = passwd_file_passdb::load(path_);
    EXPECT_EQ(result.db, nullptr);
    EXPECT_EQ(result.error, path_ + ": No such file or directory");
}

TEST_F(passdb_file_test, load_directory) {
    auto result = passwd_file_passdb::load(dir_);
    EXPECT_EQ(result.db, nullptr);
    EXPECT_EQ(result.error, dir_ + ": not a regular file");
}

TEST_F(passdb_file_test, lookup) {
    write_users("bob:{PLAIN}x:1000\n");
    auto passdb = make_passdb();
    auto found = passdb.lookup("bob");
    ASSERT_EQ(found.status, lookup_status::found);
    EXPECT_EQ(found.entry->password, "{PLAIN}x");
    EXPECT_EQ(found.entry->uid, "1000");
    EXPECT_EQ(passdb.lookup("BOB").status, lookup_status::not_found);
    EXPECT_EQ(passdb.lookup("").status, lookup_status::not_found);
}

TEST_F(passdb_file_test, reloads_after_interval_when_changed) {
    write_users("bob:{PLAIN}x\n");
    auto passdb = make_passdb();
    EXPECT_EQ(passdb.lookup("carol").status, lookup_status::not_found);

    write_users("bob:{PLAIN}x\ncarol:{PLAIN}y\n");
    now_ += 500ms;  // not yet: at most one check per second
    EXPECT_EQ(passdb.lookup("carol").status, lookup_status::not_found);
    now_ += 500ms;
    EXPECT_EQ(passdb.lookup("carol").status, lookup_status::found);

    // Same size as before, only the mtime differs.
    write_users("bob:{PLAIN}x\ncarol:{PLAIN}z\n");
    now_ += 1s;
    auto carol = passdb.lookup("carol");
    ASSERT_EQ(carol.status, lookup_status::found);
    EXPECT_EQ(carol.entry->password, "{PLAIN}z");
}

TEST_F(passdb_file_test, lookup_if_fresh_never_touches_the_file) {
    write_users("bob:{PLAIN}x\n");
    auto passdb = make_passdb();
    EXPECT_EQ(passdb.lookup("bob").status, lookup_status::found);  // checked now
    auto bob = passdb.lookup_if_fresh("bob");
    ASSERT_TRUE(bob);
    EXPECT_EQ(bob->status, lookup_status::found);
    EXPECT_EQ(bob->entry->password, "{PLAIN}x");
    write_users("carol:{PLAIN}y\n");
    now_ += 500ms;  // within the interval: the snapshot as it was
    auto carol = passdb.lookup_if_fresh("carol");
    ASSERT_TRUE(carol);
    EXPECT_EQ(carol->status, lookup_status::not_found);
    now_ += 500ms;  // a check is due: only lookup() does it
    EXPECT_FALSE(passdb.lookup_if_fresh("carol"));
    EXPECT_FALSE(passdb.lookup_if_fresh("bob"));
    EXPECT_EQ(passdb.lookup("carol").status, lookup_status::found);
    carol = passdb.lookup_if_fresh("carol");
    ASSERT_TRUE(carol);
    EXPECT_EQ(carol->status, lookup_status::found);
}

TEST_F(passdb_file_test, check_now_ignores_interval) {
    write_users("bob:{PLAIN}x\n");
    auto passdb = make_passdb();
    write_users("carol:{PLAIN}y\n");
    passdb.check_now();
    EXPECT_EQ(passdb.lookup("carol").status, lookup_status::found);
    EXPECT_EQ(passdb.lookup("bob").status, lookup_status::not_found);
}

TEST_F(passdb_file_test, entry_outlives_reload) {
    write_users("bob:{PLAIN}old\n");
    auto passdb = make_passdb();
    auto old = passdb.lookup("bob");
    write_users("bob:{PLAIN}new\n");
    passdb.check_now();
    EXPECT_EQ(passdb.lookup("bob").entry->password, "{PLAIN}new");
    EXPECT_EQ(old.entry->password, "{PLAIN}old");
}

TEST_F(passdb_file_test, broken_rewrite_keeps_old_data_and_warns_once) {
    write_users("bob:{PLAIN}x\n");
    auto passdb = make_passdb();

    testing::internal::CaptureStderr();
    write_users("bob:{PLAIN}x\ncarol:{XYZ}secret\n");
    for (int i = 0; i < 3; ++i) {
        now_ += 1s;
        EXPECT_EQ(passdb.lookup("bob").status, lookup_status::found);
        EXPECT_EQ(passdb.lookup("carol").status, lookup_status::not_found);
    }
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_EQ(count_lines(log, "\n"), 1) << log;
    EXPECT_EQ(count_lines(log, " warn passdb-load-failed path=" + path_ + " line=2 " +
                                   "reason=\"unknown password scheme \\\"XYZ\\\"\" " +
                                   "action=keeping_previous"),
              1)
        << log;
    EXPECT_EQ(log.find("secret"), std::string::npos);

    // Fixed: picked up on the next check.
    write_users("bob:{PLAIN}x\ncarol:{PLAIN}y\n");
    now_ += 1s;
    EXPECT_EQ(passdb.lookup("carol").status, lookup_status::found);
}

TEST_F(passdb_file_test, removed_file_keeps_old_data) {
    write_users("bob:{PLAIN}x\n");
    auto passdb = make_passdb();
    ASSERT_EQ(std::remove(path_.c_str()), 0);
    testing::internal::CaptureStderr();
    for (int i = 0; i < 3; ++i) {
        now_ += 1s;
        EXPECT_EQ(passdb.lookup("bob").status, lookup_status::found);
    }
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_EQ(count_lines(log, "reason=\"No such file or directory\" action=keeping_previous"), 1)
        << log;
}

TEST_F(passdb_file_test, unavailable_until_the_file_appears) {
    testing::internal::CaptureStderr();
    auto passdb = make_passdb();
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("action=unavailable"), std::string::npos) << log;
    EXPECT_EQ(passdb.lookup("bob").status, lookup_status::unavailable);
    EXPECT_EQ(passdb.snapshot(), nullptr);

    write_users("bob:{PLAIN}x\n");
    EXPECT_EQ(passdb.lookup("bob").status, lookup_status::unavailable);  // within the interval
    now_ += 1s;
    EXPECT_EQ(passdb.lookup("bob").status, lookup_status::found);
}

TEST_F(passdb_file_test, broken_from_start_is_unavailable) {
    write_users("bob:{XYZ}x\n");
    testing::internal::CaptureStderr();
    auto passdb = make_passdb();
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(passdb.lookup("bob").status, lookup_status::unavailable);
}

TEST_F(passdb_file_test, concurrent_lookups_during_reloads) {
    write_users("bob:{PLAIN}x\n");
    passwd_file_passdb passdb(path_, 0ms);  // checks on every lookup
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    readers.reserve(3);
    for (int i = 0; i < 3; ++i) {
        readers.emplace_back([&] {
            while (!stop.load()) {
                auto found = passdb.lookup("bob");
                if (found.status != lookup_status::found || found.entry->user != "bob") ++bad;
            }
        });
    }
    testing::internal::CaptureStderr();
    for (int i = 0; i < 50; ++i) {
        write_users("bob:{PLAIN}x" + std::to_string(i) + "\n");
    }
    stop = true;
    for (auto& t : readers)
        t.join();
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(bad.load(), 0);
    passdb.check_now();
    EXPECT_EQ(passdb.lookup("bob").entry->password, "{PLAIN}x49");
}

}  // namespace
}  // namespace submitd::auth
