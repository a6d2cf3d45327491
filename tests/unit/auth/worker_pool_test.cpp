// The hashing thread pool: runs jobs, refuses beyond the queue bound, drains
// the queue on destruction, survives a throwing job.
#include "auth/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>

namespace submitd::auth {
namespace {

TEST(worker_pool, runs_posted_jobs) {
    std::atomic<int> ran{0};
    {
        worker_pool pool(2, 100);
        EXPECT_EQ(pool.size(), 2U);
        for (int i = 0; i < 50; ++i)
            EXPECT_TRUE(pool.post([&] { ++ran; }));
    }
    EXPECT_EQ(ran.load(), 50);
}

TEST(worker_pool, zero_threads_means_one) {
    worker_pool pool(0, 1);
    EXPECT_EQ(pool.size(), 1U);
    std::promise<void> done;
    ASSERT_TRUE(pool.post([&] { done.set_value(); }));
    done.get_future().wait();
}

TEST(worker_pool, refuses_when_queue_full) {
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    std::promise<void> started;
    std::atomic<int> ran{0};
    {
        worker_pool pool(1, 2);
        // Occupy the only thread, then fill the queue.
        ASSERT_TRUE(pool.post([&] {
            started.set_value();
            gate.wait();
            ++ran;
        }));
        started.get_future().wait();
        EXPECT_TRUE(pool.post([&] { ++ran; }));
        EXPECT_TRUE(pool.post([&] { ++ran; }));
        EXPECT_EQ(pool.queued(), 2U);
        EXPECT_FALSE(pool.post([&] { ++ran; }));
        release.set_value();
    }
    EXPECT_EQ(ran.load(), 3);  // the refused job never ran; the queued ones did
}

TEST(worker_pool, throwing_job_does_not_stop_the_thread) {
    testing::internal::CaptureStderr();
    std::promise<void> done;
    {
        worker_pool pool(1, 10);
        ASSERT_TRUE(pool.post([] { throw std::runtime_error("boom"); }));
        ASSERT_TRUE(pool.post([&] { done.set_value(); }));
        done.get_future().wait();
    }
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("error worker-job-failed reason=boom"), std::string::npos) << log;
}

}  // namespace
}  // namespace submitd::auth
