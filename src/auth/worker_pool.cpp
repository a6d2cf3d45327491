// The hashing thread pool; see worker_pool.hpp.
#include "auth/worker_pool.hpp"

#include <exception>

#include "core/log.hpp"

namespace submitd::auth {

worker_pool::worker_pool(std::size_t threads, std::size_t max_queued) : max_queued_(max_queued) {
    if (threads == 0) threads = 1;
    threads_.reserve(threads);
    try {
        for (std::size_t i = 0; i < threads; ++i)
            threads_.emplace_back([this] { run(); });
    } catch (...) {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : threads_)
            t.join();
        throw;
    }
}

worker_pool::~worker_pool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
        t.join();
}

bool worker_pool::post(job work) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queue_.size() >= max_queued_) return false;
        queue_.push_back(std::move(work));
    }
    wake_.notify_one();
    return true;
}

std::size_t worker_pool::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void worker_pool::run() {
    for (;;) {
        job work;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and nothing left to run
            work = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            work();
        } catch (const std::exception& e) {
            core::log_error("worker-job-failed reason={}", core::quoted(e.what()));
        } catch (...) {
            core::log_error("worker-job-failed reason=unknown");
        }
    }
}

}  // namespace submitd::auth
