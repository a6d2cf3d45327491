// A fixed set of threads that run posted jobs in order, with a bounded queue,
// for the CPU-heavy password hashing the event loops must not do (DESIGN.md
// section 2.6). post() never blocks: when the queue is full it refuses the
// job, and the caller answers "try again later" instead of piling up work.
//
// The destructor runs the jobs still queued, then joins the threads, so every
// accepted job runs exactly once. A job that throws is logged and dropped;
// the thread goes on.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace submitd::auth {

class worker_pool {
public:
    using job = std::function<void()>;

    /// Starts `threads` threads (at least one).
    /// @param max_queued most jobs waiting to start; jobs already running do
    /// not count.
    worker_pool(std::size_t threads, std::size_t max_queued);
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;
    ~worker_pool();

    /// Queues `work` to run on one of the threads.
    /// @return false, without queueing, when max_queued jobs are waiting.
    bool post(job work);

    /// @return the number of jobs waiting to start.
    std::size_t queued() const;

    std::size_t size() const { return threads_.size(); }

private:
    void run();

    const std::size_t max_queued_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<job> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace submitd::auth
